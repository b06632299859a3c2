//! Callbacks: `migrations/callbacks/EVENT.sql` (and `EVENT__NAME.sql`) at before_up, after_up,
//! before_each, after_each (inside each migration's transaction), before_down, after_down and
//! on_error.

use crate::common::Project;
use crate::workflow_db::Db;

fn log(what: &str) -> String {
    format!("INSERT INTO log (id, what) SELECT COUNT(*) + 1, '{what}' FROM log;\n")
}

fn project() -> Project {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    p.write("migrations/callbacks/before_up.sql", format!("CREATE TABLE IF NOT EXISTS log (id INTEGER, what VARCHAR(40));\n{}", log("before_up")));
    p.write("migrations/callbacks/before_each.sql", log("before_each"));
    p.write("migrations/callbacks/after_each__audit.sql", log("after_each"));
    p.write("migrations/callbacks/after_up.sql", log("after_up"));
    p.write("migrations/callbacks/before_down.sql", log("before_down"));
    p.write("migrations/callbacks/after_down.sql", log("after_down"));
    p
}

fn events(db: &Db, p: &Project) -> Vec<String> {
    db.query(p, "SELECT what FROM log ORDER BY id")
}

#[test]
fn callbacks_run_at_their_events_in_order() {
    for db in Db::all() {
        let p = project();
        let plan = db.json(&p, &["up", "--dry-run", "--json"]);
        let planned: Vec<&str> = plan["callbacks"].as_array().unwrap().iter().map(|c| c["event"].as_str().unwrap()).collect();
        assert_eq!(planned, ["before_up", "after_up", "before_each", "after_each"], "{}: {plan}", db.name());
        let run = db.json(&p, &["up", "--json"]);
        assert_eq!(run["steps"].as_array().unwrap().len(), 2, "{}", db.name());
        assert_eq!(events(&db, &p), ["before_up", "before_each", "after_each", "before_each", "after_each", "after_up"], "{}", db.name());
        // Nothing pending: no callbacks.
        db.json(&p, &["up", "--json"]);
        assert_eq!(events(&db, &p).len(), 6, "{}", db.name());
        db.json(&p, &["redo", "--json"]);
        assert_eq!(
            events(&db, &p)[6..],
            ["before_down", "before_each", "after_each", "after_down", "before_up", "before_each", "after_each", "after_up"],
            "{}",
            db.name()
        );
        db.json(&p, &["down", "--json"]);
        assert_eq!(events(&db, &p)[14..], ["before_down", "before_each", "after_each", "after_down"], "{}", db.name());
    }
}

#[test]
fn a_failing_each_callback_rolls_its_migration_back_and_runs_on_error() {
    for db in Db::all() {
        let p = Project::new();
        p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
        p.write("migrations/callbacks/after_each.sql", "SELECT 1;\nINSERT INTO nowhere VALUES (1);\n");
        p.write("migrations/callbacks/on_error.sql", "CREATE TABLE errors_seen (id INTEGER);\n");
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("migration 1_a failed (up) at migrations/callbacks/after_each.sql:2"), "{}: {err}", db.name());
        assert!(err.contains("nothing of this migration was kept"), "{}: {err}", db.name());
        // The migration and its history row rolled back with the callback; on_error ran.
        assert!(db.query(&p, "SELECT version FROM db_migrate_history").is_empty(), "{}", db.name());
        let snap = db.snapshot(&p);
        assert!(!snap.contains("a: ") && !snap.contains("\"a\"") && snap.contains("errors_seen"), "{}: {snap}", db.name());
    }
}

#[test]
fn a_failing_phase_callback_stops_the_run_before_any_migration() {
    for db in Db::all_and_mariadb() {
        let p = Project::new();
        p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
        // DML after the DDL: on MariaDB the DDL's commit must not take it along.
        p.write("migrations/callbacks/before_up.sql", "CREATE TABLE half (id INTEGER);\nINSERT INTO half VALUES (1);\nINSERT INTO nowhere VALUES (1);\n");
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("callback before_up failed at migrations/callbacks/before_up.sql:3 (it was rolled back"), "{}: {err}", db.name());
        assert!(db.query(&p, "SELECT version FROM db_migrate_history").is_empty(), "{}", db.name());
        // MariaDB's `CREATE TABLE` committed by itself, and the message says so; the row
        // inserted after it was rolled back, as the message says too.
        let ddl_commits = db.name() == "mariadb";
        assert_eq!(err.contains("except what its DDL statements committed"), ddl_commits, "{}: {err}", db.name());
        assert_eq!(db.snapshot(&p).contains("half"), ddl_commits, "{}: {}", db.name(), db.snapshot(&p));
        if ddl_commits {
            assert!(db.query(&p, "SELECT id FROM half").is_empty(), "{}", db.name());
        }
    }
}

#[test]
fn a_misnamed_callback_is_refused_before_anything_runs() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
    p.write("migrations/callbacks/beforeEach.sql", "SELECT 1;");
    let err = p.fails(&["up"]);
    assert!(err.contains("migrations/callbacks/beforeEach.sql") && err.contains("`beforeEach` is not a callback event") && err.contains("before_each"), "{err}");
    assert!(p.history().is_empty());
}
