//! `backup` / `restore`: round trips on SQLite, PostgreSQL, MariaDB and MongoDB — data, backup, a
//! destructive migration, restore, and the data is back exactly.

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn data_and_a_destructive_migration(p: &Project) {
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\nINSERT INTO users VALUES (1, 'ada'), (2, 'grace');", Some("DROP TABLE users;"));
}

fn destroy(p: &Project) {
    p.migration(2, "destroy", "DROP TABLE users;", None);
}

#[test]
fn sqlite_round_trip_and_backup_before_up() {
    let p = Project::new();
    data_and_a_destructive_migration(&p);
    p.ok(&["up"]);
    let before = p.snapshot();
    let out = p.ok(&["backup", "--out", "saved.sqlite3"]);
    assert!(out.contains("backed up") && out.contains("saved.sqlite3"), "{out}");
    destroy(&p);
    let (code, _, err) = p.run(&["up", "--backup"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("backed up to") && err.contains("backups/development-"), "{err}");
    assert!(!p.tables().contains(&"users".to_string()));
    let out = p.ok(&["restore", "saved.sqlite3", "--yes"]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(p.snapshot(), before, "data and history are back");

    let err = p.fails(&["restore", "db-migrate.toml.missing"]);
    assert!(err.contains("is not a backup file"), "{err}");
    p.write("not-a-db", "hello");
    let err = p.fails(&["restore", "not-a-db", "--yes"]);
    assert!(err.contains("not a SQLite database file"), "{err}");
    assert_eq!(p.snapshot(), before, "a refused restore changes nothing");
}

#[test]
fn backup_always_in_the_environment() {
    let p = Project::new();
    data_and_a_destructive_migration(&p);
    p.write("db-migrate.toml", "[environments.production]\ndatabase_url = \"sqlite:db/development.sqlite3\"\nbackup = \"always\"\n");
    p.ok(&["up"]);
    destroy(&p);
    let (code, _, err) = p.run(&["--env", "production", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("backed up to") && err.contains("production-"), "{err}");
    let backups: Vec<_> = std::fs::read_dir(p.path().join("backups")).unwrap().collect();
    assert_eq!(backups.len(), 1);
}

#[test]
fn server_round_trips() {
    for kind in [Kind::Postgres, Kind::Mariadb] {
        let db = TestDb::new(kind);
        let url = db.url();
        let p = Project::new();
        data_and_a_destructive_migration(&p);
        p.ok(&["--database-url", &url, "up"]);
        let before = db.snapshot();
        let out = p.ok(&["--database-url", &url, "backup"]);
        assert!(out.contains("backups/development-"), "{kind:?}: {out}");
        assert!(!out.contains("hunter2"));
        let file = std::fs::read_dir(p.path().join("backups")).unwrap().next().unwrap().unwrap().path();
        destroy(&p);
        p.ok(&["--database-url", &url, "up"]);
        assert!(!db.tables().contains(&"users".to_string()), "{kind:?}");
        p.ok(&["--database-url", &url, "restore", file.to_str().unwrap(), "--yes"]);
        assert_eq!(db.snapshot(), before, "{kind:?}: data and history are back");
    }
}

#[test]
fn a_missing_tool_is_named_and_no_migration_runs() {
    let db = TestDb::new(Kind::Postgres);
    let url = db.url();
    let p = Project::new();
    data_and_a_destructive_migration(&p);
    let out = p.cmd().env("PATH", "/nonexistent").args(["--database-url", &url, "up", "--backup"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs `pg_dump`") && err.contains("apt install postgresql-client"), "{err}");
    assert!(err.contains("no migration was run"), "{err}");
    assert!(db.tables().is_empty(), "nothing ran: {:?}", db.tables());
}

#[test]
fn mongodb_round_trip_keeps_types_and_indexes() {
    let db = crate::mongo::TestDb::new();
    let url = db.url();
    let p = Project::new();
    p.write(
        "migrations/1_users.mongo.json",
        r#"{"up": [{"create": "users"}, {"createIndexes": "users", "indexes": [{"key": {"email": 1}, "name": "email_1", "unique": true}]},
                   {"insert": "users", "documents": [{"_id": 1, "email": "a@example.com", "at": {"$date": "2024-01-31T12:00:00Z"}, "n": {"$numberLong": "7"}}]}],
            "down": [{"drop": "users"}]}"#,
    );
    p.ok(&["--database-url", &url, "up"]);
    p.ok(&["--database-url", &url, "backup", "--out", "m.mongo.json"]);
    p.write("migrations/2_drop.mongo.json", r#"{"up": [{"drop": "users"}]}"#);
    p.ok(&["--database-url", &url, "up"]);
    p.ok(&["--database-url", &url, "restore", "m.mongo.json", "--yes"]);
    let status = p.ok(&["--database-url", &url, "status"]);
    assert!(status.contains("1 applied, 1 pending"), "the history came back too: {status}");
    // The unique index is back: a duplicate email fails.
    p.write("migrations/2_drop.mongo.json", r#"{"up": [{"insert": "users", "documents": [{"_id": 2, "email": "a@example.com"}]}]}"#);
    let err = p.fails(&["--database-url", &url, "up"]);
    assert!(err.contains("11000"), "{err}");
    assert_eq!(db.index_names("users"), vec!["_id_", "email_1"]);
    let backup = std::fs::read_to_string(p.path().join("m.mongo.json")).unwrap();
    assert!(backup.contains("$date") && backup.contains("$numberLong"), "types survive: {backup}");
}
