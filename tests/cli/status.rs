//! `status`, `validate`, drift and checksum normalisation.

use crate::common::Project;

#[test]
fn status_creates_nothing_and_shows_every_state() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    let out = p.ok(&["status"]);
    assert!(out.contains("VERSION") && out.contains("pending") && out.contains("2 pending"), "{out}");
    assert!(!p.db().exists(), "status must not create the database");
    assert!(!p.path().join("db").exists(), "nor its folder");

    // An existing database without a history table gets none from status.
    p.ok(&["up", "--to", "1"]);
    let other = p.path().join("other.db");
    p.ok(&["--database-url", "sqlite:other.db", "up", "--dry-run"]);
    assert!(!other.exists());

    p.migration(3, "c", "CREATE TABLE c (id INTEGER);", None);
    let out = p.ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ms = v["migrations"].as_array().unwrap();
    assert_eq!(ms.len(), 3);
    for m in ms {
        for key in ["version", "name", "kind", "state"] {
            assert!(!m[key].is_null(), "{key} in {m}");
        }
    }
    assert_eq!(ms[0]["state"], "applied");
    assert_eq!(ms[0]["kind"], "sql");
    assert_eq!(ms[1]["state"], "pending");
    assert!(ms[0]["applied_at"].is_string());
}

#[test]
fn status_check_exit_codes() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
    let (code, _, _) = p.run(&["status", "--check"]);
    assert_eq!(code, 1, "pending");
    p.ok(&["up"]);
    let (code, _, _) = p.run(&["status", "--check"]);
    assert_eq!(code, 0, "up to date");
    std::fs::remove_file(p.path().join("migrations/1_a.sql")).unwrap();
    let (code, out, _) = p.run(&["status", "--check"]);
    assert_eq!(code, 1, "missing");
    assert!(out.contains("missing"), "{out}");
}

#[test]
fn modified_applied_migration_is_drift_and_blocks_up() {
    let p = Project::new();
    let f = p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.ok(&["up"]);
    assert!(p.ok(&["validate"]).contains("ok"));
    std::fs::write(&f, "-- migrate:up\nCREATE TABLE a (id INTEGER, extra TEXT);\n").unwrap();
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", None);

    let (code, out, _) = p.run(&["validate"]);
    assert_eq!(code, 1);
    assert!(out.contains("1_a") && out.contains("modified"), "{out}");
    let (_, out, _) = p.run(&["status"]);
    assert!(out.contains("modified"), "{out}");

    let before = p.snapshot();
    let err = p.fails(&["up"]);
    assert!(err.contains("modified after being applied") && err.contains("1_a"), "{err}");
    assert!(err.contains("repair --accept-checksum 1"), "the way out is named: {err}");
    assert_eq!(p.snapshot(), before, "nothing applied while drifted");
}

#[test]
fn missing_applied_migration_is_drift() {
    let p = Project::new();
    let f = p.migration(1, "a", "CREATE TABLE a (id INTEGER);", None);
    p.ok(&["up"]);
    std::fs::remove_file(f).unwrap();
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", None);
    let (code, out, _) = p.run(&["validate", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["drift"][0]["state"], "missing");
    let err = p.fails(&["up"]);
    assert!(err.contains("files are missing") && err.contains("1_a"), "{err}");
    assert!(err.contains("repair --forget 1"), "the way out is named: {err}");
}

#[test]
fn line_ending_and_bom_changes_are_not_drift() {
    let p = Project::new();
    let f = p.migration(1, "a", "CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);", Some("DROP TABLE a;"));
    let pair_up = p.write("migrations/2_b.up.sql", "CREATE TABLE b (id INTEGER);\n");
    p.ok(&["up"]);
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    std::fs::write(&pair_up, "CREATE TABLE b (id INTEGER);\r\n").unwrap();
    let out = p.ok(&["validate"]);
    assert!(out.contains("ok"), "{out}");
    let (code, _, _) = p.run(&["status", "--check"]);
    assert_eq!(code, 0);
    // A real edit is still seen through CRLF.
    std::fs::write(&pair_up, "CREATE TABLE b (id INTEGER, x INTEGER);\r\n").unwrap();
    let (code, _, _) = p.run(&["validate"]);
    assert_eq!(code, 1);
}

#[test]
fn empty_project_status() {
    let p = Project::new();
    let out = p.ok(&["status"]);
    assert!(out.contains("no migrations"), "{out}");
}

#[test]
fn status_flags_pending_migrations_older_than_the_newest_applied() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(3, "c", "CREATE TABLE c (id INTEGER);", Some("DROP TABLE c;"));
    p.ok(&["up"]);
    // Merged from another branch: older than 3, which is applied.
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    p.migration(4, "d", "CREATE TABLE d (id INTEGER);", Some("DROP TABLE d;"));
    let v: serde_json::Value = serde_json::from_str(&p.ok(&["status", "--json"])).unwrap();
    let flags: Vec<(i64, &str, bool)> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_i64().unwrap(), m["state"].as_str().unwrap(), m["out_of_order"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, vec![(1, "applied", false), (2, "pending", true), (3, "applied", false), (4, "pending", false)]);

    let (code, out, err) = p.run(&["status"]);
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.starts_with("2 ")).unwrap();
    assert!(row.contains("pending*"), "{out}");
    assert!(!out.lines().find(|l| l.starts_with("4 ")).unwrap().contains('*'), "{out}");
    assert!(err.contains("2_b") && err.contains("older than the newest applied one (3)") && err.contains("--allow-out-of-order"), "{err}");
    // And `up` refuses exactly those.
    let err = p.fails(&["up"]);
    assert!(err.contains("2_b"), "{err}");
}

#[test]
fn status_takes_unchanged_files_from_the_memo_and_rereads_every_changed_one() {
    // `up` remembers each SQL file's checksum by its identity (device, inode, size, times);
    // `status` then reads only files whose identity changed. An edit of the same length, made in
    // the same second, still changes the identity (nanosecond times, the change time).
    let p = Project::new();
    let a = p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    p.ok(&["up"]);
    let memo = std::fs::read_to_string(p.path().join(".db-migrate/cache/checksums")).unwrap_or_default();
    assert_eq!(memo.lines().count(), 2, "`up` remembers both files: {memo}");
    let states = |p: &Project| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&p.ok(&["status", "--json"])).unwrap();
        v["migrations"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(states(&p), ["applied", "applied"]);
    let text = std::fs::read_to_string(&a).unwrap();
    std::fs::write(&a, text.replace("id INTEGER", "ix INTEGER")).unwrap();
    assert_eq!(states(&p), ["modified", "applied"]);
    // A status memo is never used to run: `redo` of b still runs b's SQL.
    std::fs::write(&a, text).unwrap();
    p.ok(&["up"]);
    p.ok(&["redo"]);
    assert_eq!(states(&p), ["applied", "applied"]);
    assert_eq!(p.query("SELECT count(*) FROM sqlite_master WHERE name = 'b'"), vec![vec!["1".to_string()]]);
}
