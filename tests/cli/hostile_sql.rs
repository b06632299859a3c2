//! The hostile suite, take two: SQL payloads an attacker sends through the `sql` interface,
//! on SQLite, PostgreSQL and MariaDB. The hostile guest runs whatever statement the test gives
//! it (`--arg mode=sql --arg call=… --arg sql=…`) and succeeds if the statement does; each
//! payload must instead be refused (any error), leave the database exactly as it was (history
//! and lock included), and end within the deadline plus a small margin.

use std::time::{Duration, Instant};

use crate::common::Project;
use crate::servers::{Kind, TestDb};

/// A seed-pack-like grant: read and write on `users` only.
const RESTRICTED: &str = r#"
[components.hostile]
allow = ["read", "write"]
tables = ["users"]
timeout_secs = 3
memory_mib = 64
max_rows = 1000
max_result_mib = 8
max_log_bytes = 4096
max_output_bytes = 4096
"#;

/// A migration's default grant (every class, any table), with a short deadline.
const UNRESTRICTED: &str = r#"
[components.hostile]
timeout_secs = 3
max_result_mib = 8
max_log_bytes = 4096
"#;

/// A grant whose allowlisted name is a view over `secrets`: the host's check passes it, the
/// database must not.
const VIEW_GRANT: &str = r#"
[components.hostile]
allow = ["read", "write"]
tables = ["users", "users_view"]
timeout_secs = 3
"#;

fn schema(kind: Option<Kind>) -> String {
    let text = match kind {
        Some(Kind::Mariadb) => "VARCHAR(200)",
        _ => "TEXT",
    };
    format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name {text});\n\
         CREATE TABLE secrets (v {text});\n\
         INSERT INTO secrets VALUES ('s3cret');\n\
         CREATE VIEW users_view AS SELECT v AS name FROM secrets;\n"
    )
}

/// A project with the schema applied and the hostile component pending, on SQLite or a server.
struct Arena {
    p: Project,
    db: Option<TestDb>,
}

impl Arena {
    fn new(kind: Option<Kind>, config: &str) -> Arena {
        let p = Project::new();
        p.migration(1, "schema", &schema(kind), None);
        p.component("hostile", 2, "hostile");
        p.write("db-migrate.toml", config);
        let a = Arena { p, db: kind.map(TestDb::new) };
        let (code, out, err) = a.run(&["up", "--to", "1"]);
        assert_eq!(code, 0, "schema migration failed:\n{out}\n{err}");
        a
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<String> = Vec::new();
        if let Some(db) = &self.db {
            all.extend(["--database-url".to_string(), db.url()]);
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.p.run(&refs)
    }

    fn snapshot(&self) -> String {
        match &self.db {
            Some(db) => format!("{}\nhistory: {:?}", db.snapshot(), db.history()),
            None => self.p.snapshot(),
        }
    }

    /// Runs one payload; asserts it failed cleanly, changed nothing, and ended in time.
    fn refuses(&self, call: &str, sql: &str) -> String {
        let before = self.snapshot();
        let started = Instant::now();
        let (code, out, err) = self.run(&["up", "--arg", "mode=sql", "--arg", &format!("call={call}"), "--arg", &format!("sql={sql}")]);
        let took = started.elapsed();
        assert_eq!(code, 2, "payload admitted ({call}): {sql}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains("migration 2_hostile failed (up)"), "{sql}: {err}");
        assert_eq!(self.snapshot(), before, "{sql}: the database must be exactly as before\n{err}");
        // 3 s deadline, plus start-up and rollback.
        assert!(took < Duration::from_secs(12), "{sql}: took {took:?}, past the deadline");
        err
    }

    /// A payload that must be allowed (the positive control of a suite; it applies the
    /// migration, so it comes last).
    fn allows(&self, call: &str, sql: &str) {
        let (code, out, err) = self.run(&["up", "--arg", "mode=sql", "--arg", &format!("call={call}"), "--arg", &format!("sql={sql}")]);
        assert_eq!(code, 0, "allowed payload refused ({call}): {sql}\n{out}\n{err}");
    }
}

/// Payloads every SQL database must refuse from a component granted read/write on `users`.
const RESTRICTED_PAYLOADS: &[(&str, &str)] = &[
    ("execute", "WITH secrets AS (SELECT 1) UPDATE secrets SET v = 'pwned'"),
    ("execute", "WITH db_migrate_history AS (SELECT 1) DELETE FROM db_migrate_history"),
    ("execute", "DELETE FROM db_migrate_history"),
    ("query", "SELECT name FROM users UNION ALL SELECT v FROM secrets"),
    ("query", "SELECT (SELECT v FROM secrets) AS x"),
    ("query", "WITH secrets AS (SELECT v FROM secrets) SELECT * FROM secrets"),
    ("query", "SELECT * FROM users WHERE name IN (SELECT v FROM secrets)"),
    ("cursor", "SELECT v FROM secrets"),
    ("execute", "INSERT INTO users (id, name) SELECT 500, v FROM secrets"),
    ("execute", "UPDATE users SET name = (SELECT v FROM secrets)"),
    ("execute", "DROP TABLE secrets"),
    ("execute", "CREATE TABLE planted (x INTEGER)"),
    ("execute", "COMMIT"),
    ("execute", "ROLLBACK"),
    ("execute", "SAVEPOINT s1"),
    ("execute", "INSERT INTO users (id, name) VALUES (7, 'x'); DELETE FROM secrets"),
    ("query", "SELECT * FROM users_view"),
];

#[test]
fn sqlite_refuses_what_the_grant_does_not_name() {
    let a = Arena::new(None, RESTRICTED);
    for (call, sql) in RESTRICTED_PAYLOADS {
        a.refuses(call, sql);
    }
    for (call, sql) in [
        ("query", "SELECT * FROM sqlite_master"),
        ("query", "SELECT * FROM pragma_table_info('secrets')"),
        ("query", "SELECT name FROM users UNION ALL SELECT sql FROM sqlite_schema"),
        ("execute", "ATTACH DATABASE '/tmp/dbm-hostile.sqlite3' AS evil"),
        ("execute", "PRAGMA writable_schema = 1"),
        ("execute", "VACUUM INTO '/tmp/dbm-hostile-copy.sqlite3'"),
        ("query", "SELECT load_extension('/tmp/evil.so')"),
        ("query", "SELECT \"load_extension\"('/tmp/evil.so')"),
        ("query", "SELECT random()"),
        ("execute", "REPLACE INTO secrets (v) VALUES ('x')"),
        ("execute", "INSERT INTO main.secrets (v) VALUES ('x')"),
    ] {
        a.refuses(call, sql);
    }
    assert!(!std::path::Path::new("/tmp/dbm-hostile.sqlite3").exists());
    assert!(!std::path::Path::new("/tmp/dbm-hostile-copy.sqlite3").exists());
    a.allows("query", "WITH secrets AS (SELECT id FROM users) SELECT * FROM secrets");
}

#[test]
fn sqlite_itself_refuses_a_view_over_another_table() {
    // The host's check sees only the name `users_view` (granted); SQLite's authorizer sees the
    // read of `secrets` underneath, and refuses it.
    let a = Arena::new(None, VIEW_GRANT);
    let err = a.refuses("query", "SELECT * FROM users_view");
    assert!(err.contains("the database refused it") && err.contains("secrets"), "{err}");
    let err = a.refuses("cursor", "SELECT name FROM users_view");
    assert!(err.contains("the database refused it"), "{err}");
}

#[test]
fn sqlite_own_tables_and_escapes_are_refused_to_unrestricted_guests() {
    let a = Arena::new(None, UNRESTRICTED);
    for (call, sql) in [
        ("execute", "DELETE FROM db_migrate_history"),
        ("execute", "WITH db_migrate_history AS (SELECT 1) DELETE FROM db_migrate_history"),
        ("execute", "UPDATE \"DB_MIGRATE_HISTORY\" SET status = 'applied'"),
        ("execute", "CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM secrets; END"),
        ("execute", "ATTACH DATABASE '/tmp/dbm-hostile.sqlite3' AS evil"),
        ("query", "SELECT * FROM sqlite_master"),
        ("execute", "PRAGMA foreign_keys = OFF"),
        ("query", "SELECT writefile('/tmp/dbm-x', 'y')"),
        ("execute", "CREATE TABLE x AS SELECT * FROM db_migrate_history"),
    ] {
        a.refuses(call, sql);
    }
    a.allows("execute", "CREATE TABLE allowed (id INTEGER)");
}

#[test]
fn sqlite_runaway_statements_stop_at_the_deadline() {
    let a = Arena::new(None, RESTRICTED);
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let err = a.refuses("query", endless);
    assert!(err.contains("time limit"), "{err}");
    // A cursor materialises its result: the endless one must stop in time and fill no disk.
    let err = a.refuses("cursor", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, zeroblob(1000) FROM c");
    assert!(err.contains("time limit") || err.contains("full"), "{err}");
}

#[test]
fn sqlite_results_are_bounded_in_bytes_not_only_rows() {
    let a = Arena::new(None, RESTRICTED);
    // One value over the limit, and many values that add up past it.
    let err = a.refuses("query", "SELECT zeroblob(100000000)");
    assert!(err.contains("too big") || err.contains("MiB"), "{err}");
    let err = a.refuses("query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500) SELECT zeroblob(1000000) FROM c");
    assert!(err.contains("MiB"), "{err}");
}

#[test]
fn a_huge_log_line_and_error_are_cut_when_received() {
    let a = Arena::new(None, RESTRICTED);
    let before = a.snapshot();
    let (code, _, err) = a.run(&["up", "--arg", "mode=big-log"]);
    assert_eq!(code, 2);
    assert!(err.len() < 64 * 1024, "40 MiB of log and 20 MiB of error were shown: {} bytes", err.len());
    assert!(err.contains("more bytes cut"), "{}", &err[..err.len().min(2000)]);
    assert_eq!(a.snapshot(), before);
}
