//! `up`, `down`, `redo`, `--dry-run`, out-of-order, non-transactional migrations and `repair`.

use crate::common::Project;

fn three(p: &Project) {
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);", Some("DROP TABLE a;"));
    p.migration(2, "b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    p.migration(3, "c", "CREATE TABLE c (id INTEGER);", Some("DROP TABLE c;"));
}

#[test]
fn up_applies_everything_and_records_history() {
    let p = Project::new();
    three(&p);
    let out = p.ok(&["up"]);
    assert!(out.contains("applied  1_a") && out.contains("applied 3 migrations"), "{out}");
    assert_eq!(p.tables(), vec!["a", "b", "c", "db_migrate_history"]);
    let rows = p.query("SELECT version, name, kind, checksum, status, applied_at, execution_ms FROM db_migrate_history ORDER BY version");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][1], "a");
    assert_eq!(rows[0][2], "sql");
    assert_eq!(rows[0][3].len(), 64, "sha-256 hex");
    assert_eq!(rows[0][4], "applied");
    assert!(rows[0][5].ends_with('Z') && rows[0][5].contains('T'), "UTC RFC 3339: {}", rows[0][5]);
    assert_eq!(p.query("SELECT id FROM a"), vec![vec!["1".to_string()]]);
    let again = p.ok(&["up"]);
    assert!(again.contains("nothing to apply"), "{again}");
}

#[test]
fn up_to_and_down_targets() {
    let p = Project::new();
    three(&p);
    p.ok(&["up", "--to", "2"]);
    assert_eq!(p.tables(), vec!["a", "b", "db_migrate_history"]);
    p.ok(&["up"]);
    p.ok(&["down"]);
    assert_eq!(p.tables(), vec!["a", "b", "db_migrate_history"], "default down reverts one");
    p.ok(&["up"]);
    p.ok(&["down", "--steps", "2"]);
    assert_eq!(p.tables(), vec!["a", "db_migrate_history"]);
    p.ok(&["up"]);
    p.ok(&["down", "--to", "1"]);
    assert_eq!(p.tables(), vec!["a", "db_migrate_history"]);
    assert_eq!(p.history(), vec![("1".into(), "applied".into())]);
    p.ok(&["up"]);
    let out = p.ok(&["down", "--all"]);
    assert!(out.contains("reverted 3 migrations"), "{out}");
    assert_eq!(p.tables(), vec!["db_migrate_history"]);
    assert!(p.history().is_empty());
    assert!(p.ok(&["down"]).contains("nothing to revert"));
    let err = p.fails(&["up", "--to", "42"]);
    assert!(err.contains("no migration has version 42"), "{err}");
}

#[test]
fn redo_reverts_and_reapplies_the_last() {
    let p = Project::new();
    three(&p);
    p.migration(3, "c", "CREATE TABLE c (id INTEGER);\nINSERT INTO c VALUES (5);", Some("DROP TABLE c;"));
    p.ok(&["up"]);
    p.query("SELECT 1");
    let out = p.ok(&["redo"]);
    assert!(out.contains("reverted 3_c") && out.contains("applied  3_c"), "{out}");
    assert_eq!(p.query("SELECT id FROM c"), vec![vec!["5".to_string()]]);
    assert_eq!(p.history().len(), 3);
    // Nothing applied: like `down`, a message and exit 0.
    let empty = Project::new();
    let out = empty.ok(&["redo"]);
    assert!(out.contains("nothing to redo"), "{out}");
    assert_eq!(empty.ok(&["down"]).trim(), "nothing to revert: no migration is applied");
}

#[test]
fn dry_run_prints_sql_and_changes_nothing() {
    let p = Project::new();
    three(&p);
    let out = p.ok(&["up", "--dry-run"]);
    assert!(out.contains("would apply 1_a") && out.contains("CREATE TABLE a (id INTEGER);"), "{out}");
    assert!(!p.db().exists(), "dry run must not create the database");

    p.ok(&["up", "--to", "1"]);
    let before = p.snapshot();
    let out = p.ok(&["up", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 2);
    assert_eq!(v["steps"][0]["sql"].as_str().unwrap().trim(), "CREATE TABLE b (id INTEGER);");
    let out = p.ok(&["down", "--dry-run", "--all"]);
    assert!(out.contains("would revert 1_a") && out.contains("DROP TABLE a;"), "{out}");
    let out = p.ok(&["redo", "--dry-run"]);
    assert!(out.contains("would revert 1_a") && out.contains("would apply 1_a"), "{out}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn out_of_order_is_refused_unless_allowed() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(3, "c", "CREATE TABLE c (id INTEGER);", Some("DROP TABLE c;"));
    p.ok(&["up"]);
    p.migration(2, "b_from_branch", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    let before = p.snapshot();
    let err = p.fails(&["up"]);
    assert!(err.contains("2_b_from_branch") && err.contains("3_c") && err.contains("--allow-out-of-order"), "{err}");
    assert_eq!(p.snapshot(), before);
    p.ok(&["up", "--allow-out-of-order"]);
    assert!(p.tables().contains(&"b".to_string()));
}

#[test]
fn irreversible_down_is_refused_and_changes_nothing() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(2, "forever", "CREATE TABLE f (id INTEGER);", None);
    p.ok(&["up"]);
    let before = p.snapshot();
    let err = p.fails(&["down", "--all"]);
    assert!(err.contains("2_forever is irreversible") && err.contains("migrate:down"), "{err}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn failing_migration_stops_the_run_and_keeps_earlier_ones() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.migration(2, "bad", "CREATE TABLE b (id INTEGER);\nINSERT INTO missing VALUES (1);", Some("DROP TABLE b;"));
    p.migration(3, "c", "CREATE TABLE c (id INTEGER);", Some("DROP TABLE c;"));
    let (code, out, err) = p.run(&["up"]);
    assert_eq!(code, 2);
    assert!(out.contains("applied  1_a"), "{out}");
    assert!(err.contains("2_bad") && err.contains("2_bad.sql:3") && err.contains("no such table: missing"), "{err}");
    assert_eq!(p.tables(), vec!["a", "db_migrate_history"], "b rolled back, c never ran");
    assert_eq!(p.history(), vec![("1".into(), "applied".into())]);
}

#[test]
fn failing_down_rolls_back_the_revert() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;\nDROP TABLE not_there;"));
    p.ok(&["up"]);
    let before = p.snapshot();
    let err = p.fails(&["down"]);
    assert!(err.contains("1_a failed (down)") && err.contains("1_a.sql:6"), "{err}");
    assert_eq!(p.snapshot(), before, "table a and its history row are both still there");
}

#[test]
fn non_transactional_failure_leaves_a_dirty_row_and_repair_resolves_it() {
    let p = Project::new();
    p.write(
        "migrations/1_half.sql",
        "-- migrate:up transaction:false\nCREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n-- migrate:down\nDROP TABLE half;\n",
    );
    p.migration(2, "after", "CREATE TABLE after (id INTEGER);", None);
    let err = p.fails(&["up"]);
    assert!(err.contains("1_half.sql:3") && err.contains("dirty") && err.contains("repair --mark-applied 1"), "{err}");
    assert_eq!(p.history(), vec![("1".into(), "dirty".into())]);
    assert!(p.tables().contains(&"half".to_string()), "the first statement ran outside a transaction");

    let (code, out, _) = p.run(&["status", "--check"]);
    assert_eq!(code, 1);
    assert!(out.contains("dirty"), "{out}");
    let err = p.fails(&["up"]);
    assert!(err.contains("dirty") && err.contains("1_half"), "up refuses while dirty: {err}");

    let err = p.fails(&["repair", "--mark-applied", "2"]);
    assert!(err.contains("not dirty"), "{err}");
    p.ok(&["repair", "--mark-applied", "1"]);
    assert_eq!(p.history(), vec![("1".into(), "applied".into())]);
    p.ok(&["up"]);
    assert_eq!(p.history().len(), 2);
}

#[test]
fn non_transactional_failure_on_first_statement_is_not_dirty() {
    let p = Project::new();
    p.write("migrations/1_x.sql", "-- migrate:up transaction:false\nINSERT INTO nowhere VALUES (1);\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("nothing of this migration was kept"), "{err}");
    assert!(p.history().is_empty());
}

#[test]
fn repair_mark_reverted_forgets_the_row() {
    let p = Project::new();
    p.write(
        "migrations/1_half.sql",
        "-- migrate:up transaction:false\nCREATE TABLE half (id INTEGER);\nSELECT broken FROM half;\n",
    );
    p.fails(&["up"]);
    std::fs::write(p.path().join("migrations/1_half.sql"), "-- migrate:up\nCREATE TABLE IF NOT EXISTS half (id INTEGER);\n").unwrap();
    p.ok(&["repair", "--mark-reverted", "1"]);
    assert!(p.history().is_empty());
    p.ok(&["up"]);
    assert_eq!(p.history(), vec![("1".into(), "applied".into())]);
}

#[test]
fn quiet_prints_nothing_and_json_is_one_document() {
    let p = Project::new();
    three(&p);
    let (code, out, err) = p.run(&["-q", "up"]);
    assert_eq!(code, 0);
    assert!(out.is_empty() && err.is_empty(), "quiet: {out:?} {err:?}");
    p.ok(&["down", "--all"]);
    let out = p.ok(&["up", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(v["steps"].as_array().unwrap().len(), 3);
    assert_eq!(v["steps"][0]["direction"], "up");
}

#[test]
fn concurrent_runners_apply_each_migration_once() {
    let p = Project::new();
    for v in 1..=30 {
        p.migration(v, &format!("t{v}"), &format!("CREATE TABLE t{v} (id INTEGER);\nINSERT INTO t{v} VALUES ({v});"), None);
    }
    let applied = crate::common::run_concurrently(&p, 4, &["up"]);
    assert_eq!(applied, 30, "each migration applied by exactly one runner");
    assert_eq!(p.history().len(), 30);
    for v in 1..=30 {
        assert_eq!(p.query(&format!("SELECT count(*) FROM t{v}")), vec![vec!["1".to_string()]]);
    }
}

#[test]
fn down_steps_zero_is_an_error_not_a_no_op() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.ok(&["up"]);
    let err = p.fails(&["down", "--steps", "0"]);
    assert!(err.contains("--steps 0") && err.contains("1 or more"), "{err}");
    assert!(!err.contains("no migration is applied"), "{err}");
    assert_eq!(p.history(), vec![("1".to_string(), "applied".to_string())]);
}
