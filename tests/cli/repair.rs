//! `repair --accept-checksum` (a migration edited on purpose) and `repair --forget` (a file
//! deleted on purpose), on SQLite and the real PostgreSQL and MariaDB servers.

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn states(p: &Project, url: &str) -> Vec<(i64, String)> {
    let v = json(&p.ok(&["--database-url", url, "status", "--json"]));
    v["migrations"].as_array().unwrap().iter().map(|m| (m["version"].as_i64().unwrap(), m["state"].as_str().unwrap().to_string())).collect()
}

fn audit(p: &Project) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p.path().join(".db-migrate/audit.log")).unwrap_or_default().lines().map(json).collect()
}

/// Edits 1 and deletes 2 after both were applied, then repairs both; the same steps on every database.
fn accept_and_forget(p: &Project, url: &str, what: &str) {
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);", Some("DROP TABLE users;"));
    let two = p.migration(2, "posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY);", Some("DROP TABLE posts;"));
    p.ok(&["--database-url", url, "up"]);
    p.migration(1, "users", "-- reviewed: the same table, with a comment\nCREATE TABLE users (id INTEGER PRIMARY KEY);", Some("DROP TABLE users;"));
    std::fs::remove_file(two).unwrap();
    assert_eq!(states(p, url), vec![(1, "modified".into()), (2, "missing".into())], "{what}");

    // No terminal and no --yes: refused, nothing changes.
    let err = p.fails(&["--database-url", url, "repair", "--accept-checksum", "1"]);
    assert!(err.contains("--yes") && err.contains("Nothing changed"), "{what}: {err}");
    let err = p.fails(&["--database-url", url, "repair", "--forget", "2"]);
    assert!(err.contains("--yes"), "{what}: {err}");
    assert_eq!(states(p, url), vec![(1, "modified".into()), (2, "missing".into())], "{what}");
    // Each flag resolves its own state only.
    let err = p.fails(&["--database-url", url, "repair", "--forget", "1", "--yes"]);
    assert!(err.contains("1_users is modified, not missing") && err.contains("--accept-checksum"), "{what}: {err}");
    let err = p.fails(&["--database-url", url, "repair", "--accept-checksum", "2", "--yes"]);
    assert!(err.contains("2_posts is missing, not modified") && err.contains("--forget"), "{what}: {err}");

    let out = json(&p.ok(&["--database-url", url, "--json", "repair", "--accept-checksum", "1", "--yes"]));
    assert_eq!(out["action"], "accept-checksum", "{what}");
    let out = json(&p.ok(&["--database-url", url, "--json", "repair", "--forget", "2", "--yes"]));
    assert_eq!(out["action"], "forget", "{what}");
    assert_eq!(states(p, url), vec![(1, "applied".into())], "{what}");
    let (code, _, _) = p.run(&["--database-url", url, "validate"]);
    assert_eq!(code, 0, "{what}: validate is clean after the repairs");

    let log = audit(p);
    let accepted = log.iter().find(|l| l["action"] == "accept-checksum").unwrap_or_else(|| panic!("{what}: {log:?}"));
    assert_eq!(accepted["command"], "repair");
    assert_eq!(accepted["migration"], "1_users");
    assert!(accepted["old_checksum"].is_string() && accepted["new_checksum"].is_string());
    assert_ne!(accepted["old_checksum"], accepted["new_checksum"], "{what}");
    let forgot = log.iter().find(|l| l["action"] == "forget").unwrap_or_else(|| panic!("{what}: {log:?}"));
    assert_eq!(forgot["migration"], "2_posts");
    assert!(!forgot["database"].as_str().unwrap().contains(":secret@"), "{what}");
}

#[test]
fn repair_accepts_an_edited_checksum_and_forgets_a_deleted_file_on_sqlite() {
    let p = Project::new();
    accept_and_forget(&p, "sqlite:db/development.sqlite3", "SQLite");
    assert_eq!(p.history(), vec![("1".to_string(), "applied".to_string())]);
}

#[test]
fn repair_accepts_and_forgets_on_postgres_and_mariadb() {
    for kind in [Kind::Postgres, Kind::Mariadb] {
        let db = TestDb::new(kind);
        let p = Project::new();
        accept_and_forget(&p, &db.url(), &format!("{kind:?}"));
        assert_eq!(db.history(), vec!["1|applied"], "{kind:?}");
        assert_eq!(db.tables(), vec!["db_migrate_history", "posts", "users"], "{kind:?}: repair only touches the history");
    }
}
