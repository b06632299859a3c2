//! The three migration layouts, side by side.

use crate::common::Project;

#[test]
fn dbmate_pairs_and_diesel_folders_apply_in_version_order() {
    let p = Project::new();
    p.migration(20240101000000, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);", Some("DROP TABLE users;"));
    p.write("migrations/20240102000000_posts.up.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id));\n");
    p.write("migrations/20240102000000_posts.down.sql", "DROP TABLE posts;\n");
    p.write("migrations/2024-01-03-000000_tags/up.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n");
    p.write("migrations/2024-01-03-000000_tags/down.sql", "DROP TABLE tags;\n");
    p.write("migrations/README.md", "notes are ignored\n");
    p.write("migrations/.gitkeep", "");

    let out = p.ok(&["up"]);
    let order: Vec<&str> = out.lines().filter(|l| l.starts_with("applied ")).collect();
    assert_eq!(order.len(), 4, "{out}");
    assert!(order[0].contains("20240101000000_users"));
    assert!(order[1].contains("20240102000000_posts"));
    assert!(order[2].contains("20240103000000_tags"), "diesel version normalised: {out}");
    assert_eq!(p.tables(), vec!["db_migrate_history", "posts", "tags", "users"]);

    let status = p.ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let names: Vec<&str> = v["migrations"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["users", "posts", "tags"]);

    p.ok(&["down", "--all"]);
    assert_eq!(p.tables(), vec!["db_migrate_history"]);
}

#[test]
fn pair_without_down_file_is_irreversible() {
    let p = Project::new();
    p.write("migrations/1_only_up.up.sql", "CREATE TABLE a (id INTEGER);\n");
    p.ok(&["up"]);
    let before = p.snapshot();
    let err = p.fails(&["down"]);
    assert!(err.contains("1_only_up is irreversible"), "{err}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn no_transaction_option_in_pair_files() {
    let p = Project::new();
    p.write("migrations/1_vacuum.up.sql", "-- no-transaction\nVACUUM;\n");
    p.write("migrations/2_vac2.up.sql", "-- migrate:up transaction:false\nVACUUM;\n");
    p.ok(&["up"]);
    assert_eq!(p.history(), vec![("1".into(), "applied".into()), ("2".into(), "applied".into())]);
}

#[test]
fn triggers_with_inner_semicolons_run_whole() {
    let p = Project::new();
    p.migration(
        1,
        "trigger",
        "CREATE TABLE t (id INTEGER, n INTEGER);\nCREATE TABLE log (id INTEGER);\n\
         CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN\n  INSERT INTO log VALUES (new.id);\n  UPDATE t SET n = 1 WHERE id = new.id;\nEND;\n\
         INSERT INTO t (id) VALUES (7);\nSELECT nope FROM t;",
        None,
    );
    let err = p.fails(&["up"]);
    // The failing SELECT is on the 8th line of the up section, the file's 9th.
    assert!(err.contains("1_trigger.sql:9"), "{err}");
    assert!(err.contains("no such column: nope"), "{err}");
}
