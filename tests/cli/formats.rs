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

#[test]
fn near_miss_file_names_are_warned_about() {
    let p = Project::new();
    p.migration(1, "users", "CREATE TABLE users (id INTEGER);", Some("DROP TABLE users;"));
    p.write("migrations/2_posts.SQL", "-- migrate:up\nCREATE TABLE posts (id INTEGER);\n");
    p.write("migrations/3_tags.sql.txt", "-- migrate:up\nCREATE TABLE tags (id INTEGER);\n");
    p.write("migrations/4_likes.up.SQL", "CREATE TABLE likes (id INTEGER);\n");
    p.write("migrations/notes.txt", "todo\n");
    p.write("migrations/drafts/5_x.sql", "-- migrate:up\nSELECT 1;\n");
    p.write("migrations/README.md", "silently ignored\n");
    p.write("migrations/.gitkeep", "");

    let (code, _, err) = p.run(&["status"]);
    assert_eq!(code, 0, "{err}");
    for (file, expect) in [
        ("2_posts.SQL", "`2_posts.sql`"),
        ("3_tags.sql.txt", "`3_tags.sql`"),
        ("4_likes.up.SQL", "`4_likes.up.sql`"),
        ("notes.txt", "VERSION_name.sql"),
        ("drafts", "VERSION_name/"),
    ] {
        let line = err.lines().find(|l| l.starts_with("warning:") && l.contains(file)).unwrap_or_else(|| panic!("{file}: {err}"));
        assert!(line.contains(expect), "{line}");
    }
    assert!(!err.contains("README") && !err.contains(".gitkeep"), "{err}");

    let (code, out, err) = p.run(&["--json", "up"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files: Vec<&str> = v["warnings"].as_array().unwrap().iter().map(|w| w["file"].as_str().unwrap()).collect();
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("2_posts.SQL")));
    assert!(v["warnings"][0]["message"].is_string());
    assert_eq!(p.tables(), vec!["db_migrate_history", "users"], "only the real migration ran");
    let v: serde_json::Value = serde_json::from_str(&p.ok(&["status", "--json"])).unwrap();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 5);
}

#[test]
fn flyway_file_names_are_refused_with_the_name_to_use() {
    let p = Project::new();
    p.write("migrations/V1__create_users.sql", "CREATE TABLE users (id INTEGER);\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("V1__create_users.sql") && err.contains("`1_create_users.sql`") && err.contains("import --from flyway"), "{err}");
}

/// Whether the real dbmate (2.x, installed by tests/run.sh) applies `text` as a migration file
/// to a fresh SQLite database and exits 0.
fn real_dbmate_accepts(text: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db/migrations")).unwrap();
    std::fs::write(dir.path().join("db/migrations/1_a.sql"), text).unwrap();
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    let out = std::process::Command::new("dbmate")
        .args(["--url", &url, "--no-dump-schema", "up"])
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("dbmate could not run ({e}): tests/run.sh installs it"));
    out.status.success()
}

#[test]
fn dbmate_marker_rules_are_enforced_with_file_and_line() {
    // Each file the real dbmate refuses (or fails on) is refused, naming the file and line.
    let p = Project::new();
    let cases = [
        ("-- migrate:down\nDROP TABLE a;\n-- migrate:up\nCREATE TABLE a (id INTEGER);\n", "1_a.sql:1", "comes before `-- migrate:up`"),
        ("/* header */\n-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n", "1_a.sql:1", "before the `-- migrate:up` marker"),
        ("  -- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n", "1_a.sql", "line 1 looks like one"),
        ("-- migrate:up\nCREATE TABLE a (id INTEGER);\n  -- migrate:down\nDROP TABLE a;\n", "1_a.sql:3", "looks like a `-- migrate:down` marker"),
        // dbmate 2 applies both sections, then fails recording the file a second time (exit 2).
        (
            "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down\nDROP TABLE a;\n-- migrate:up\nCREATE TABLE b (id INTEGER);\n-- migrate:down\nDROP TABLE b;\n",
            "1_a.sql:5",
            "a second `-- migrate:up` marker",
        ),
    ];
    for (text, at, why) in cases {
        assert!(!real_dbmate_accepts(text), "dbmate accepts {text:?}: db-migrate must too");
        p.write("migrations/1_a.sql", text);
        let err = p.fails(&["up"]);
        assert!(err.contains(at) && err.contains(why), "{text:?}:\n{err}");
        assert!(!p.db().exists(), "a refused file creates nothing");
    }
    // What dbmate accepts: options it does not know are ignored (on either marker); comments
    // may come first.
    for text in [
        "-- a comment\n\n--migrate:up owner:me\nCREATE TABLE a (id INTEGER);\n--migrate:down\nDROP TABLE a;\n",
        "-- migrate:up\nCREATE TABLE a (id INTEGER);\n-- migrate:down transaction:false x:y\nDROP TABLE a;\n",
    ] {
        assert!(real_dbmate_accepts(text), "dbmate refuses {text:?}");
        p.write("migrations/1_a.sql", text);
        p.ok(&["up"]);
        p.ok(&["down"]);
        assert_eq!(p.tables(), vec!["db_migrate_history"]);
    }
}
