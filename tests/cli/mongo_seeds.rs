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

fn seed_component(p: &Project, file: &str) {
    std::fs::create_dir_all(p.path().join("seeds")).unwrap();
    std::fs::copy(crate::common::guests().join("mongo_seed.wasm"), p.path().join(file)).unwrap();
}

#[test]
fn a_seed_component_writes_documents_once_per_content_args_and_seed() {
    let db = TestDb::new();
    let p = Project::new();
    p.write("seeds/01_plans.json", r#"{"plans": [{"_id": "free"}]}"#);
    seed_component(&p, "seeds/02_people.wasm");
    let report = json(&p, &db, &["seed", "--json", "--seed", "7", "--arg", "people=1200"]);
    let seeds = report["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 2, "{report}");
    assert_eq!((seeds[1]["name"].as_str(), seeds[1]["kind"].as_str()), (Some("02_people"), Some("component")), "{report}");
    let top = db.docs("people").iter().filter(|d| d.get_bool("top") == Ok(true)).count() as u64;
    assert_eq!(seeds[1]["rows"]["people"].as_u64(), Some(1200 + top), "inserted plus tagged: {report}");
    assert_eq!(db.count("people"), 1200);
    assert_eq!(db.count("plans"), 1);
    let record = db.docs("db_migrate_seeds").into_iter().find(|d| d.get_str("_id") == Ok("02_people")).unwrap();
    assert_eq!(record.get_str("kind"), Ok("component"));
    assert_eq!(record.get_str("args"), Ok(r#"{"people":"1200"}"#));
    // A small number is stored as a BSON int32, a large one as int64: either is the number.
    assert_eq!(record.get_i64("seed").or_else(|_| record.get_i32("seed").map(i64::from)), Ok(7));

    // The same content, arguments and random seed: skipped. `--list` shows both runs.
    let again = json(&p, &db, &["seed", "--json", "--seed", "7", "--arg", "people=1200"]);
    assert!(again["seeds"].as_array().unwrap().is_empty(), "{again}");
    let list = json(&p, &db, &["seed", "--list", "--json"]);
    let names: Vec<(&str, &str)> = list["seeds"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["kind"].as_str().unwrap())).collect();
    assert_eq!(names, vec![("01_plans", "json"), ("02_people", "component")], "{list}");
    assert_eq!(list["seeds"][1]["last_run"]["seed"], 7, "{list}");

    // The same random seed gives the same documents.
    let first = db.docs("people");
    let db2 = TestDb::new();
    json(&p, &db2, &["seed", "02_people", "--json", "--seed", "7", "--arg", "people=1200"]);
    assert_eq!(db2.docs("people"), first);
}

#[test]
fn a_seed_component_is_held_to_its_grants_and_a_failure_says_what_stays() {
    let db = TestDb::new();
    let p = Project::new();
    seed_component(&p, "seeds/people.wasm");
    p.write("db-migrate.toml", "[components.people]\nallow = [\"read\", \"write\"]\ntables = [\"people\"]\n");
    for (mode, expect) in [
        ("denied", "the collection `secrets` is not among this component's granted collections (people)"),
        ("forge", "db-migrate's own"),
    ] {
        let before = db.snapshot();
        let (code, out, err) = run(&p, &db, &["seed", "--json", "--arg", &format!("mode={mode}")]);
        assert_eq!(code, 2, "{mode}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["error"]["kind"], "seed_failed", "{mode}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(expect) && msg.contains("denied"), "{mode}: {msg}");
        assert_eq!(db.snapshot(), before, "{mode}: nothing written, the seed history untouched");
    }

    // Without any grant configured (every collection), the seed history is still not a guest's.
    let open = Project::new();
    seed_component(&open, "seeds/people.wasm");
    let before = db.snapshot();
    let (code, _, err) = run(&open, &db, &["seed", "--arg", "mode=forge"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`db_migrate_seeds` is db-migrate's own") && err.contains("denied"), "{err}");
    assert_eq!(db.snapshot(), before);

    // MongoDB keeps what a failing seed wrote; the message and --json say so, and nothing is recorded.
    let (code, out, _) = run(&p, &db, &["seed", "--json", "--arg", "mode=fail"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["kept"], "partial", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("failed after inserting three people") && msg.contains("stays") && !msg.contains("rolled back"), "{msg}");
    assert_eq!(db.count("people"), 3);
    assert!(db.docs("db_migrate_seeds").is_empty());

    // A JSON seed that fails part-way says the same (it used to claim a rollback).
    let q = Project::new();
    q.write("seeds/dup.json", r#"{"people": [{"_id": 0}], "more": [{"_id": 1}]}"#);
    let (code, out, _) = run(&q, &db, &["seed", "--json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["kept"], "partial", "{v}");
}

#[test]
fn packs_run_on_mongodb_and_reset_empties_only_their_collections() {
    let db = TestDb::new();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("packs")).unwrap();
    std::fs::copy(crate::common::guests().join("mongo_seed.wasm"), p.path().join("packs/people.wasm")).unwrap();
    p.write("seeds/01_keep.json", r#"{"keep": [{"_id": 1}]}"#);
    p.write(
        "db-migrate.toml",
        "[[seeds.pack]]\nname = \"demo\"\ncomponent = \"packs/people.wasm\"\ntables = [\"people\"]\nargs = { people = \"40\" }\n",
    );
    let report = json(&p, &db, &["seed", "--json"]);
    assert_eq!(report["seeds"][1]["kind"], "pack", "{report}");
    assert_eq!(db.count("people"), 40);
    let report = json(&p, &db, &["seed", "demo", "--reset", "--json", "--arg", "people=25"]);
    assert_eq!(report["seeds"][0]["reset"], serde_json::json!(["people"]), "{report}");
    assert_eq!(db.count("people"), 25);
    assert_eq!(db.count("keep"), 1, "a collection outside the pack is untouched");
    // A pack may not step outside its collections.
    let (code, _, err) = run(&p, &db, &["seed", "demo", "--force", "--arg", "mode=denied"]);
    assert_eq!(code, 2);
    assert!(err.contains("`secrets` is not among"), "{err}");
}

#[test]
fn a_sql_seed_component_is_refused_on_mongodb_and_a_mongodb_one_on_sql() {
    let db = TestDb::new();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("seeds")).unwrap();
    // faker writes through `sql` (world `seed`).
    std::fs::copy(crate::common::plugins().join("faker.wasm"), p.path().join("seeds/sql_seed.wasm")).unwrap();
    let (code, _, err) = run(&p, &db, &["seed"]);
    assert_eq!(code, 2);
    assert!(err.contains("imports the `sql` interface") && err.contains("document-seed"), "{err}");
    assert!(db.user_collections().is_empty(), "{:?}", db.collections());

    let q = Project::new();
    seed_component(&q, "seeds/people.wasm");
    let (code, _, err) = q.run(&["seed"]);
    assert_eq!(code, 2);
    assert!(err.contains("imports the `documents` interface") && err.contains("SQLite"), "{err}");
}
