//! Repeatable migrations: `migrations/repeatable/*.sql` and `R__name.sql`, applied after the
//! versioned ones whenever their checksum changes; shown by `status` and `--dry-run`.

use crate::common::Project;
use crate::workflow_db::Db;

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn applied_after_versioned_ones_and_again_when_changed() {
    for db in Db::all() {
        let p = Project::new();
        p.migration(1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER);\nINSERT INTO items VALUES (1, 10), (2, 20);", None);
        p.write("migrations/repeatable/views.sql", "DROP VIEW IF EXISTS cheap;\nCREATE VIEW cheap AS SELECT id FROM items WHERE price < 15;\n");
        p.write("migrations/R__totals.sql", "DROP VIEW IF EXISTS totals;\nCREATE VIEW totals AS SELECT SUM(price) AS total FROM items;\n");

        let status = db.json(&p, &["status", "--json"]);
        assert_eq!(names(&status["repeatable"]), ["totals", "views"], "{}", db.name());
        assert!(status["repeatable"].as_array().unwrap().iter().all(|r| r["state"] == "pending"), "{}: {status}", db.name());
        assert_eq!(status["warnings"].as_array().unwrap().len(), 0, "{}: R__ files and the folder are not warned about", db.name());

        let plan = db.json(&p, &["up", "--dry-run", "--json"]);
        assert_eq!(plan["steps"].as_array().unwrap().len(), 1);
        assert_eq!(names(&plan["repeatable"]), ["totals", "views"], "{}", db.name());
        assert!(plan["repeatable"][1]["sql"].as_str().unwrap().contains("CREATE VIEW cheap"));
        assert!(!db.snapshot(&p).contains("items"), "{}: a dry run changes nothing", db.name());

        let run = db.json(&p, &["up", "--json"]);
        assert_eq!(run["steps"].as_array().unwrap().len(), 1, "{}", db.name());
        assert_eq!(names(&run["repeatable"]), ["totals", "views"], "{}", db.name());
        assert_eq!(db.query(&p, "SELECT id FROM cheap"), ["1"], "{}", db.name());
        assert_eq!(db.query(&p, "SELECT total FROM totals"), ["30"], "{}", db.name());

        // Unchanged: nothing to do, `status --check` is clean.
        let again = db.json(&p, &["up", "--json"]);
        assert!(again["steps"].as_array().unwrap().is_empty() && again["repeatable"].as_array().unwrap().is_empty(), "{}: {again}", db.name());
        let (code, _, _) = db.run(&p, &["status", "--check"]);
        assert_eq!(code, 0, "{}", db.name());

        // Changed: `status` says so, the next `up` applies it again (and only it).
        p.write("migrations/repeatable/views.sql", "DROP VIEW IF EXISTS cheap;\nCREATE VIEW cheap AS SELECT id FROM items WHERE price < 25;\n");
        let status = db.json(&p, &["status", "--json"]);
        let states: Vec<&str> = status["repeatable"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["applied", "changed"], "{}", db.name());
        let (code, _, _) = db.run(&p, &["status", "--check"]);
        assert_eq!(code, 1, "{}: a changed repeatable is not up to date", db.name());
        assert_eq!(names(&db.json(&p, &["up", "--dry-run", "--json"])["repeatable"]), ["views"], "{}", db.name());
        let run = db.json(&p, &["up", "--json"]);
        assert_eq!(names(&run["repeatable"]), ["views"], "{}", db.name());
        assert_eq!(db.query(&p, "SELECT id FROM cheap ORDER BY id"), ["1", "2"], "{}", db.name());
    }
}

#[test]
fn a_failing_repeatable_names_file_and_line_and_is_not_recorded() {
    for db in Db::all_and_mariadb() {
        let p = Project::new();
        p.migration(1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY);", None);
        p.write("migrations/repeatable/broken.sql", "CREATE VIEW fine AS SELECT id FROM items;\nINSERT INTO missing_table VALUES (1);\n");
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("repeatable migration broken failed at migrations/repeatable/broken.sql:2 (it was rolled back"), "{}: {err}", db.name());
        // The versioned migration stays; the repeatable rolled back and stays pending (on
        // MariaDB its `CREATE VIEW` committed by itself, which the message says).
        assert_eq!(db.query(&p, "SELECT version FROM db_migrate_history"), ["1"], "{}", db.name());
        let ddl_commits = db.name() == "mariadb";
        assert_eq!(err.contains("except what its DDL statements committed"), ddl_commits, "{}: {err}", db.name());
        assert_eq!(db.snapshot(&p).contains("fine"), ddl_commits, "{}: {}", db.name(), db.snapshot(&p));
        let status = db.json(&p, &["status", "--json"]);
        assert_eq!(status["repeatable"][0]["state"], "pending", "{}", db.name());
        p.write("migrations/repeatable/broken.sql", "DROP VIEW IF EXISTS fine;\nCREATE VIEW fine AS SELECT id FROM items;\n");
        assert_eq!(names(&db.json(&p, &["up", "--json"])["repeatable"]), ["broken"], "{}", db.name());
    }
}

#[test]
fn a_repeatable_without_a_transaction_is_kept_and_recorded_after_migrations() {
    // On MariaDB a run keeps autocommit off once a migration ran: what a script without a
    // transaction did, and its record, must still be committed (not rolled back at the end).
    for db in Db::all_and_mariadb() {
        let p = Project::new();
        p.migration(1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY);", None);
        p.write("migrations/repeatable/fill.sql", "-- no-transaction\nDELETE FROM items;\nINSERT INTO items VALUES (1);\n");
        let run = db.json(&p, &["up", "--json"]);
        assert_eq!(names(&run["repeatable"]), ["fill"], "{}", db.name());
        assert_eq!(db.query(&p, "SELECT id FROM items"), ["1"], "{}", db.name());
        let status = db.json(&p, &["status", "--json"]);
        assert_eq!(status["repeatable"][0]["state"], "applied", "{}: {status}", db.name());
        assert!(names(&db.json(&p, &["up", "--json"])["repeatable"]).is_empty(), "{}", db.name());
        // Failing part-way, it keeps what ran before the failure, as the message says.
        p.write("migrations/repeatable/fill.sql", "-- no-transaction\nINSERT INTO items VALUES (2);\nINSERT INTO nowhere VALUES (1);\n");
        p.migration(2, "more", "CREATE TABLE more_items (id INTEGER);", None);
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("fill.sql:3 (it ran outside a transaction, so part of it may have been applied"), "{}: {err}", db.name());
        assert_eq!(db.query(&p, "SELECT id FROM items ORDER BY id"), ["1", "2"], "{}", db.name());
    }
}

#[test]
fn placeholders_reach_repeatables_without_changing_their_checksum() {
    let p = Project::new();
    p.migration(1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, price INTEGER);\nINSERT INTO items VALUES (1, 10), (2, 20);", None);
    p.write("migrations/repeatable/cheap.sql", "DROP VIEW IF EXISTS cheap;\nCREATE VIEW cheap AS SELECT id FROM items WHERE price < ${limit};\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("migrations/repeatable/cheap.sql:2") && err.contains("`${limit}`"), "{err}");
    assert!(p.history().is_empty(), "nothing ran: {:?}", p.history());
    let plan: serde_json::Value = serde_json::from_str(&p.ok(&["up", "--dry-run", "--json", "--set", "limit=15"])).unwrap();
    assert!(plan["repeatable"][0]["sql"].as_str().unwrap().contains("price < 15"), "{plan}");
    p.ok(&["up", "--set", "limit=15"]);
    assert_eq!(p.query("SELECT id FROM cheap"), [["1"]]);
    // Another value is not a change of the file: nothing is re-applied.
    let run: serde_json::Value = serde_json::from_str(&p.ok(&["up", "--json", "--set", "limit=25"])).unwrap();
    assert!(run["repeatable"].as_array().unwrap().is_empty(), "{run}");
}

#[test]
fn placeholders_repeatables_and_callbacks_on_mariadb() {
    use crate::servers::{Kind, TestDb};
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.write("db-migrate.toml", "[placeholders]\ntable = \"items\"\n");
    p.migration(1, "items", "CREATE TABLE ${table} (id INTEGER PRIMARY KEY, price INTEGER);\nINSERT INTO ${table} VALUES (1, 10), (2, 20);", None);
    p.write("migrations/repeatable/cheap.sql", "CREATE OR REPLACE VIEW cheap AS SELECT id FROM ${table} WHERE price < 15;\n");
    p.write("migrations/callbacks/after_up.sql", "CREATE TABLE IF NOT EXISTS audit (what VARCHAR(20));\nINSERT INTO audit VALUES ('after_up');\n");
    let url = db.url();
    let run: serde_json::Value = serde_json::from_str(&p.ok(&["--database-url", &url, "up", "--json"])).unwrap();
    assert_eq!(names(&run["repeatable"]), ["cheap"]);
    assert_eq!(db.query("SELECT id FROM cheap"), ["1"]);
    assert_eq!(db.query("SELECT what FROM audit"), ["after_up"]);
    assert_eq!(db.query("SELECT version, name, value FROM db_migrate_history_placeholders"), ["1|table|items"]);
    let status: serde_json::Value = serde_json::from_str(&p.ok(&["--database-url", &url, "status", "--json"])).unwrap();
    assert_eq!(status["repeatable"][0]["state"], "applied");
}
