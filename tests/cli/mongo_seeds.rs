//! `seed` on MongoDB: `seeds/*.json` (documents by collection, or commands), tracked in the seed
//! history collection like SQL seeds.

use mongodb::bson::doc;

use crate::common::Project;
use crate::mongo::TestDb;

fn run(p: &Project, db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let url = db.url();
    let mut all = vec!["--database-url", url.as_str()];
    all.extend_from_slice(args);
    p.run(&all)
}

fn json(p: &Project, db: &TestDb, args: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(p, db, args);
    assert_eq!(code, 0, "db-migrate {args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn json_seeds_insert_documents_and_run_commands_once() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("migrations/1_users.mongo.json", r#"{"up": [{"create": "users"}], "down": [{"drop": "users"}]}"#);
    p.write("seeds/01_users.json", r#"{"users": [{"_id": 1, "email": "a@example.com"}, {"_id": 2, "email": "b@example.com", "joined": {"$date": "2024-01-01T00:00:00Z"}}], "plans": [{"_id": "free"}]}"#);
    p.write("seeds/02_flag.json", r#"{"up": [{"update": "users", "updates": [{"q": {}, "u": {"$set": {"plan": "free"}}, "multi": true}]}]}"#);
    json(&p, &db, &["up", "--json"]);
    let report = json(&p, &db, &["seed", "--json"]);
    let seeds = report["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 2, "{report}");
    assert_eq!((seeds[0]["name"].as_str(), seeds[0]["kind"].as_str(), seeds[0]["total_rows"].as_u64()), (Some("01_users"), Some("json"), Some(3)));
    assert_eq!(seeds[0]["rows"]["users"], 2);
    assert_eq!(db.count("users"), 2);
    assert_eq!(db.count("plans"), 1);
    let users = db.docs("users");
    assert!(users.iter().all(|u| u.get_str("plan") == Ok("free")), "{users:?}");
    assert!(users[1].get_datetime("joined").is_ok(), "Extended JSON dates become BSON dates: {users:?}");
    let history = db.docs("db_migrate_seeds");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].get_str("kind"), Ok("json"));

    // Same content: skipped; --force runs it again (and the duplicate _id says so).
    let again = json(&p, &db, &["seed", "--json"]);
    assert!(again["seeds"].as_array().unwrap().is_empty() && again["skipped"].as_array().unwrap().len() == 2, "{again}");
    let (code, _, err) = run(&p, &db, &["seed", "01_users", "--force"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("01_users") && err.contains("users"), "{err}");
    let _ = doc! {};
}

#[test]
fn sql_seeds_and_bad_json_are_refused_on_mongodb() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("seeds/bad.json", "{\"users\": [1]}");
    let (code, _, err) = run(&p, &db, &["seed"]);
    assert_eq!(code, 2);
    assert!(err.contains("seeds/bad.json") && err.contains("element 1 is not a document"), "{err}");
    std::fs::remove_file(p.path().join("seeds/bad.json")).unwrap();
    p.write("seeds/x.sql", "INSERT INTO t VALUES (1);");
    let (code, _, err) = run(&p, &db, &["seed"]);
    assert_eq!(code, 2);
    assert!(err.contains("seeds/x.sql is a SQL seed") && err.contains("seeds/*.json"), "{err}");
    assert!(db.collections().is_empty(), "nothing was written: {:?}", db.collections());
}
