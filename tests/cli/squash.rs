//! `squash --to V`: one migration replacing the migrations up to V, which databases that applied
//! the old ones record without running.

use crate::common::Project;
use crate::workflow_db::Db;

fn project() -> Project {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.write("migrations/2_b.up.sql", "CREATE TABLE b (id INTEGER);\n");
    p.write("migrations/2_b.down.sql", "DROP TABLE b;\n");
    p.write("migrations/3_c/up.sql", "CREATE TABLE c (id INTEGER);\n");
    p.write("migrations/3_c/down.sql", "DROP TABLE c;\n");
    p.migration(4, "d", "CREATE TABLE d (id INTEGER);", Some("DROP TABLE d;"));
    p
}

fn squash(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.ok(&["squash", "--to", "3", "--yes", "--json"])).unwrap()
}

fn versions(v: &serde_json::Value) -> Vec<(i64, String, String)> {
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_i64().unwrap(), m["name"].as_str().unwrap().to_string(), m["state"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn without_yes_nothing_is_written() {
    let p = project();
    let v: serde_json::Value = serde_json::from_str(&p.ok(&["squash", "--to", "3", "--json"])).unwrap();
    assert_eq!(v["written"], false);
    assert_eq!(v["replaces"], serde_json::json!([1, 2, 3]));
    assert!(!p.path().join("migrations/3_squashed.sql").exists() && p.path().join("migrations/1_a.sql").exists());
}

#[test]
fn databases_that_applied_the_old_migrations_keep_working() {
    // MariaDB too: the history rows a reverted squash forgets are removed after its migration
    // committed, where a run there has autocommit off (they were rolled back at the lock's release).
    for db in Db::all_and_mariadb() {
        let p = project();
        db.json(&p, &["up", "--json"]);
        let v = squash(&p);
        assert_eq!(v["written"], true);
        assert_eq!(v["reversible"], true);
        assert_eq!(v["moved"].as_array().unwrap().len(), 4, "{v}");
        for moved in ["1_a.sql", "2_b.up.sql", "2_b.down.sql", "3_c"] {
            assert!(p.path().join("migrations/squashed").join(moved).exists(), "{moved}");
        }
        let text = std::fs::read_to_string(p.path().join("migrations/3_squashed.sql")).unwrap();
        assert!(text.starts_with("-- migrate:up\n-- db-migrate:replaces 1,2,3\n"), "{text}");

        // Applied already: status shows it applied, nothing missing; `up` records it, runs nothing.
        let status = db.json(&p, &["status", "--json", "--check"]);
        assert_eq!(versions(&status), [(3, "squashed".into(), "applied".into()), (4, "d".into(), "applied".into())], "{}", db.name());
        let (code, _, err) = db.run(&p, &["validate"]);
        assert_eq!(code, 0, "{}: {err}", db.name());
        let run = db.json(&p, &["up", "--json"]);
        assert!(run["steps"].as_array().unwrap().is_empty(), "{}: {run}", db.name());
        assert!(db.query(&p, "SELECT name FROM db_migrate_history WHERE version = 3").contains(&"squashed".to_string()), "{}", db.name());

        // Reverting it runs the reversed downs and forgets the replaced versions; `up` runs it.
        db.json(&p, &["down", "--all", "--json"]);
        assert!(db.query(&p, "SELECT version FROM db_migrate_history").is_empty(), "{}", db.name());
        let snap = db.snapshot(&p);
        assert!(!["a", "b", "c", "d"].iter().any(|t| snap.lines().any(|l| l.starts_with(&format!("{t}: ")) || l.contains(&format!("\"{t}\"")))), "{}: {snap}", db.name());
        let run = db.json(&p, &["up", "--json"]);
        let ran: Vec<i64> = run["steps"].as_array().unwrap().iter().map(|s| s["version"].as_i64().unwrap()).collect();
        assert_eq!(ran, [3, 4], "{}", db.name());
    }
}

#[test]
fn fresh_databases_run_it_and_partly_applied_ones_are_refused() {
    for db in Db::all() {
        let p = project();
        db.json(&p, &["up", "--to", "1", "--json"]);
        squash(&p);
        let before = db.snapshot(&p);
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("3_squashed replaces migrations 1, 2, 3") && err.contains("applied only 1"), "{}: {err}", db.name());
        assert_eq!(db.snapshot(&p), before, "{}", db.name());
        let status = db.json(&p, &["status", "--json"]);
        assert_eq!(versions(&status)[0], (1, "a".into(), "missing".into()), "{}", db.name());
    }
    let p = project();
    squash(&p);
    let run: serde_json::Value = serde_json::from_str(&p.ok(&["up", "--json"])).unwrap();
    let ran: Vec<i64> = run["steps"].as_array().unwrap().iter().map(|s| s["version"].as_i64().unwrap()).collect();
    assert_eq!(ran, [3, 4]);
    assert_eq!(p.tables(), ["a", "b", "c", "d", "db_migrate_history"]);
}

#[test]
fn data_changes_and_non_sql_migrations_are_refused_unless_said() {
    let p = project();
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);\nINSERT INTO b VALUES (1);", None);
    std::fs::remove_file(p.path().join("migrations/2_b.up.sql")).unwrap();
    std::fs::remove_file(p.path().join("migrations/2_b.down.sql")).unwrap();
    let err = p.fails(&["squash", "--to", "3", "--yes"]);
    assert!(err.contains("migrations/2_b.sql:3 INSERT") && err.contains("--keep-data"), "{err}");
    assert!(p.path().join("migrations/1_a.sql").exists() && !p.path().join("migrations/squashed").exists());
    let v: serde_json::Value = serde_json::from_str(&p.ok(&["squash", "--to", "3", "--yes", "--drop-data", "--json"])).unwrap();
    assert_eq!(v["data_dropped"], serde_json::json!(["migrations/2_b.sql:3 INSERT"]));
    assert_eq!(v["reversible"], false, "2_b has no down");
    p.ok(&["up"]);
    assert!(p.query("SELECT * FROM b").is_empty(), "the INSERT was left out");

    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
    p.write("migrations/2_users.mongo.json", r#"{"up": [{"create": "users"}], "down": [{"drop": "users"}]}"#);
    let err = p.fails(&["squash", "--to", "2", "--yes"]);
    assert!(err.contains("2_users.mongo.json (commands)") && err.contains("not SQL"), "{err}");
}

#[test]
fn squashing_again_keeps_databases_that_ran_the_first_squash_working() {
    for db in Db::all() {
        let p = project();
        squash(&p);
        db.json(&p, &["up", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&p.ok(&["squash", "--to", "4", "--yes", "--json"])).unwrap();
        assert_eq!(v["replaces"], serde_json::json!([1, 2, 3, 4]));
        assert!(p.path().join("migrations/squashed/3_squashed.sql").exists());
        let status = db.json(&p, &["status", "--json", "--check"]);
        assert_eq!(versions(&status), [(4, "squashed".into(), "applied".into())], "{}", db.name());
        let run = db.json(&p, &["up", "--json"]);
        assert!(run["steps"].as_array().unwrap().is_empty(), "{}: {run}", db.name());
    }
}
