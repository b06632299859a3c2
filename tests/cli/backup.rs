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

/// A migration that changes schema and data after the backup: a new table, a new column, new
/// rows (PostgreSQL adds a schema, a view and a function too).
fn changes_after_the_backup(p: &Project, postgres: bool) {
    let extra = if postgres {
        "\nCREATE SCHEMA side;\nCREATE TABLE side.t (id INTEGER PRIMARY KEY);\nCREATE VIEW user_names AS SELECT name FROM users;\n\
         CREATE FUNCTION twice(x INTEGER) RETURNS INTEGER LANGUAGE sql AS 'SELECT x * 2';\nCREATE SEQUENCE counter;"
    } else {
        "\nCREATE VIEW user_names AS SELECT name FROM users;"
    };
    p.migration(
        2,
        "later",
        &format!("CREATE TABLE later (id INTEGER PRIMARY KEY);\nALTER TABLE users ADD COLUMN age INTEGER;\nINSERT INTO users (id, name) VALUES (3, 'linus');{extra}"),
        None,
    );
}

fn tool_output(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The database as its own dump tool prints it (schema and data), minus per-run noise.
fn full_dump(kind: Option<Kind>, p: &Project, db: Option<&TestDb>) -> String {
    let text = match (kind, db) {
        (Some(Kind::Postgres), Some(db)) => {
            let schema = tool_output("pg_dump", &["-h", "127.0.0.1", "-U", "postgres", "--schema-only", &db.name]);
            let data = tool_output("pg_dump", &["-h", "127.0.0.1", "-U", "postgres", "--data-only", &db.name]);
            schema + &data
        }
        (Some(Kind::Mariadb), Some(db)) => {
            tool_output("mariadb-dump", &["-h", "127.0.0.1", "-u", "root", "--skip-comments", "--routines", "--triggers", "--events", &db.name])
        }
        _ => tool_output("sqlite3", &[p.db().to_str().unwrap(), ".dump"]),
    };
    // PostgreSQL's `\restrict KEY` lines carry a random key per run.
    text.lines().filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")).collect::<Vec<_>>().join("\n")
}

#[test]
fn restore_replaces_everything_then_up_runs_again() {
    for kind in [None, Some(Kind::Postgres), Some(Kind::Mariadb)] {
        let db = kind.map(TestDb::new);
        let url = db.as_ref().map(|d| d.url());
        let p = Project::new();
        let run = |args: &[&str]| {
            let mut all: Vec<&str> = url.as_deref().map(|u| vec!["--database-url", u]).unwrap_or_default();
            all.extend_from_slice(args);
            p.ok(&all)
        };
        data_and_a_destructive_migration(&p);
        run(&["up"]);
        let at_backup = full_dump(kind, &p, db.as_ref());
        assert!(at_backup.contains("ada"), "{kind:?}: {at_backup}");
        run(&["backup", "--out", "saved.backup"]);
        changes_after_the_backup(&p, kind == Some(Kind::Postgres));
        run(&["up"]);
        assert_ne!(full_dump(kind, &p, db.as_ref()), at_backup, "{kind:?}: the migration changed something");
        let out = run(&["restore", "saved.backup", "--yes"]);
        assert!(out.contains("restored"), "{kind:?}: {out}");
        assert_eq!(full_dump(kind, &p, db.as_ref()), at_backup, "{kind:?}: the database is exactly the backup again");
        // Nothing made after the backup survives, so the later migration applies again.
        let out = run(&["up"]);
        assert!(out.contains("2_later"), "{kind:?}: {out}");
    }
}

#[test]
fn mongodb_restore_gives_back_the_whole_database() {
    // A full dump (collections with their options and validators, index specifications,
    // documents) after the restore equals the one before the backup, whatever changed between.
    let db = crate::mongo::TestDb::new();
    let url = db.url();
    let p = Project::new();
    p.write(
        "migrations/1_users.mongo.json",
        r#"{"up": [{"create": "users", "validator": {"$jsonSchema": {"bsonType": "object", "required": ["name"]}}},
                  {"createIndexes": "users", "indexes": [{"key": {"name": 1}, "name": "by_name", "unique": true}]},
                  {"insert": "users", "documents": [{"_id": 1, "name": "ada"}]},
                  {"create": "events"}, {"insert": "events", "documents": [{"_id": 1, "at": {"$date": "2024-01-31T12:00:00Z"}}]}]}"#,
    );
    p.ok(&["--database-url", &url, "up"]);
    let before = db.full_dump();
    assert!(before.contains("$jsonSchema") && before.contains("by_name"), "{before}");
    p.ok(&["--database-url", &url, "backup", "--out", "m.mongo.json"]);
    // Later: a new collection, new rows, a new index, a changed validator, a dropped collection.
    p.write(
        "migrations/2_later.mongo.json",
        r#"{"up": [{"create": "later"}, {"insert": "later", "documents": [{"_id": 1}]}, {"insert": "users", "documents": [{"_id": 2, "name": "grace"}]},
                  {"createIndexes": "users", "indexes": [{"key": {"email": 1}, "name": "by_email"}]},
                  {"collMod": "users", "validator": {"$jsonSchema": {"bsonType": "object", "required": ["name", "email"]}}},
                  {"drop": "events"}]}"#,
    );
    p.ok(&["--database-url", &url, "up"]);
    assert_ne!(db.full_dump(), before);
    p.ok(&["--database-url", &url, "restore", "m.mongo.json", "--yes"]);
    assert_eq!(db.full_dump(), before);
    p.ok(&["--database-url", &url, "up"]);
    assert_eq!(db.docs("later").len(), 1);
}

#[test]
fn a_failing_backup_leaves_no_file() {
    for (kind, url) in [
        (Kind::Postgres, format!("postgres://postgres@127.0.0.1:5432/dbm_missing_{}", std::process::id())),
        (Kind::Mariadb, format!("mariadb://root@127.0.0.1:3306/dbm_missing_{}", std::process::id())),
    ] {
        let p = Project::new();
        let err = p.fails(&["--database-url", &url, "backup"]);
        assert!(err.contains("failed"), "{kind:?}: {err}");
        let left: Vec<_> = std::fs::read_dir(p.path().join("backups")).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "{kind:?}: a failed backup left {left:?}");
        p.fails(&["--database-url", &url, "backup", "--out", "x.backup"]);
        assert!(!p.path().join("x.backup").exists(), "{kind:?}");
    }
}

#[test]
fn backups_at_the_same_moment_get_distinct_files() {
    let p = Project::new();
    data_and_a_destructive_migration(&p);
    p.ok(&["up"]);
    crate::common::run_concurrently(&p, 4, &["backup"]);
    p.ok(&["backup"]);
    let mut names: Vec<String> = std::fs::read_dir(p.path().join("backups")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("development-") && n.ends_with(".sqlite3")), "{names:?}");
    // An explicit --out never replaces a file.
    p.write("taken.sqlite3", "keep");
    let err = p.fails(&["backup", "--out", "taken.sqlite3"]);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(std::fs::read_to_string(p.path().join("taken.sqlite3")).unwrap(), "keep");
}
