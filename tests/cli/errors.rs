//! Bad input: every error names the file (and line), exits 2, and leaves the database as it was.

use crate::common::Project;

#[test]
fn bad_sql_mid_file_names_file_and_line_and_keeps_nothing() {
    let p = Project::new();
    p.migration(1, "ok", "CREATE TABLE ok (id INTEGER);", None);
    p.ok(&["up"]);
    let before = p.snapshot();
    p.write(
        "migrations/2_broken.sql",
        "-- migrate:up\n-- a comment\nCREATE TABLE t1 (id INTEGER);\n\nINSERT INTO t1 VALUES (1);\nCREAT TABLE t2 (id INTEGER);\nCREATE TABLE t3 (id INTEGER);\n",
    );
    let err = p.fails(&["up"]);
    assert!(err.contains("2_broken"), "{err}");
    assert!(err.contains("2_broken.sql:6"), "line of the failing statement: {err}");
    assert!(err.contains("syntax error"), "the database's message: {err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(p.snapshot(), before, "schema and history exactly as before");
}

#[test]
fn duplicate_versions_name_both_files() {
    let p = Project::new();
    p.migration(7, "first", "SELECT 1;", None);
    p.write("migrations/007_second.up.sql", "SELECT 2;\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("duplicate version 7"), "{err}");
    assert!(err.contains("7_first.sql") && err.contains("007_second.up.sql"), "{err}");
    assert!(!p.db().exists(), "nothing created on bad input");
}

#[test]
fn bad_file_names_are_all_reported() {
    let p = Project::new();
    p.write("migrations/add_users.sql", "-- migrate:up\nSELECT 1;\n");
    p.write("migrations/123.sql", "-- migrate:up\nSELECT 1;\n");
    p.write("migrations/124_bad name.sql", "-- migrate:up\nSELECT 1;\n");
    let err = p.fails(&["status"]);
    assert!(err.contains("3 problems"), "{err}");
    assert!(err.contains("add_users.sql") && err.contains("VERSION_name.sql"), "{err}");
    assert!(err.contains("123.sql") && err.contains("124_bad name.sql"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn missing_up_section_is_an_error() {
    let p = Project::new();
    p.write("migrations/1_no_marker.sql", "CREATE TABLE a (id INTEGER);\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("1_no_marker.sql") && err.contains("no `-- migrate:up` section"), "{err}");
    p.write("migrations/1_no_marker.sql", "CREATE TABLE a (id INTEGER);\n-- migrate:up\nSELECT 1;\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("1_no_marker.sql:1") && err.contains("before the `-- migrate:up` marker"), "{err}");
    let err = p.fails(&["validate"]);
    assert!(err.contains("1_no_marker.sql:1"), "{err}");
    p.write("migrations/1_no_marker.sql", "-- migrate:up\n");
    std::fs::create_dir_all(p.path().join("migrations/5_folder")).unwrap();
    let err = p.fails(&["up"]);
    assert!(err.contains("5_folder") && err.contains("no `up.sql`"), "{err}");
}

#[test]
fn unreadable_migrations_are_errors() {
    let p = Project::new();
    let err = p.fails(&["--dir", "nowhere", "up"]);
    assert!(err.contains("nowhere/migrations") && err.contains("does not exist") && err.contains("db-migrate init"), "{err}");
    std::fs::remove_dir(p.path().join("migrations")).unwrap();
    p.write("migrations", "a file, not a folder");
    let err = p.fails(&["up"]);
    assert!(err.contains("migrations") && err.contains("not a directory"), "{err}");
    std::fs::remove_file(p.path().join("migrations")).unwrap();
    p.write("migrations/1_binary.sql", [0x2d, 0x2d, 0xff, 0xfe, 0x00]);
    let err = p.fails(&["up"]);
    assert!(err.contains("1_binary.sql") && err.contains("not valid UTF-8"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn bad_urls_are_clear_and_never_show_passwords() {
    let p = Project::new();
    p.migration(1, "a", "SELECT 1;", None);
    let err = p.fails(&["up", "--database-url", "oracle://scott:tiger@db/x"]);
    assert!(err.contains("unsupported database URL scheme `oracle:`"), "{err}");
    assert!(!err.contains("tiger"), "password leaked: {err}");
    let err = p.fails(&["status", "--database-url", "not a url"]);
    assert!(err.contains("not a database URL"), "{err}");
    let err = p.fails(&["up", "--database-url", "sqlite:"]);
    assert!(err.contains("no path"), "{err}");
    // A path that cannot be a database file.
    p.write("taken/file", "x");
    let err = p.fails(&["up", "--database-url", "sqlite:taken/file/db.sqlite3"]);
    assert!(err.contains("taken/file"), "{err}");
}

#[test]
fn transaction_control_in_a_transactional_migration_is_refused() {
    let p = Project::new();
    p.migration(1, "own_tx", "BEGIN;\nCREATE TABLE a (id INTEGER);\nCOMMIT;", None);
    let err = p.fails(&["up"]);
    assert!(err.contains("1_own_tx.sql:2") && err.contains("transaction:false"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn errors_in_json_mode_are_json_too() {
    let p = Project::new();
    p.migration(1, "bad", "SELEC 1;", None);
    let (code, out, err) = p.run(&["up", "--json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON error document");
    assert_eq!(v["error"]["kind"], "migration_failed");
    assert!(v["error"]["message"].as_str().unwrap().contains("1_bad.sql:2"));
    assert_eq!(v["error"]["line"], 2);
    // Once, as JSON: no prose copy on stderr.
    assert!(!err.contains("error:"), "{err}");
}
