//! PostgreSQL and MariaDB: the real servers of this machine kind (PostgreSQL at 127.0.0.1:5432,
//! user postgres; MariaDB at 127.0.0.1:3306, user root). Each test creates its own database and
//! drops it. An unreachable server fails the test: it never passes or skips silently.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::Project;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Postgres,
    Mariadb,
}

const KINDS: [Kind; 2] = [Kind::Postgres, Kind::Mariadb];

/// A throw-away database on a real server.
pub struct TestDb {
    pub kind: Kind,
    pub name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub fn new(kind: Kind) -> Self {
        let name = format!("dbm_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let db = TestDb { kind, name };
        db.admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    /// A unique name for a database that does not exist yet (dropped at the end all the same).
    pub fn fresh(kind: Kind) -> Self {
        let name = format!("dbm_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        TestDb { kind, name }
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:5432/{}", self.name),
            Kind::Mariadb => format!("mariadb://root@127.0.0.1:3306/{}", self.name),
        }
    }

    pub fn client(&self, db: Option<&str>, sql: &str) -> std::process::Output {
        let mut c = match self.kind {
            Kind::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tA", "-F", "|", "-d", db.unwrap_or("postgres"), "-c", sql]);
                c
            }
            Kind::Mariadb => {
                let mut c = Command::new("mariadb");
                c.args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql]);
                if let Some(d) = db {
                    c.arg(d);
                }
                c
            }
        };
        c.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run the {:?} client: {e}", self.kind))
    }

    pub fn admin(&self, sql: &str) {
        let out = self.client(None, sql);
        assert!(
            out.status.success(),
            "{:?} is unreachable or refused `{sql}`: {} — the server must be running (tests/run.sh starts it)",
            self.kind,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Rows of `sql` in this database, each row's columns joined by `|`.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let out = self.client(Some(&self.name), sql);
        assert!(out.status.success(), "query `{sql}` failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.replace('\t', "|")).filter(|l| !l.is_empty()).collect()
    }

    /// User tables, sorted.
    pub fn tables(&self) -> Vec<String> {
        let schema = match self.kind {
            Kind::Postgres => "'public'".to_string(),
            Kind::Mariadb => "DATABASE()".to_string(),
        };
        self.query(&format!("SELECT table_name FROM information_schema.tables WHERE table_schema = {schema} ORDER BY table_name"))
    }

    /// (version|status) rows of the history.
    pub fn history(&self) -> Vec<String> {
        self.query("SELECT version, status FROM db_migrate_history ORDER BY version")
    }

    /// Tables, history and every row of every table: a before/after dump.
    pub fn snapshot(&self) -> String {
        let mut s = String::new();
        for t in self.tables() {
            s.push_str(&format!("{t}: {:?}\n", self.query(&format!("SELECT * FROM {t} ORDER BY 1"))));
        }
        s
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = match self.kind {
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Kind::Mariadb => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let _ = self.client(None, &sql);
    }
}

pub fn run(p: &Project, db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--database-url", &db.url()[..]].into_iter().map(String::from).collect::<Vec<_>>();
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    p.run(&refs)
}

fn three(p: &Project) {
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\nINSERT INTO users VALUES (1, 'a');", Some("DROP TABLE users;"));
    p.write("migrations/2_posts.up.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n");
    p.write("migrations/2_posts.down.sql", "DROP TABLE posts;\n");
    p.write("migrations/3_tags/up.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n");
    p.write("migrations/3_tags/down.sql", "DROP TABLE tags;\n");
}

#[test]
fn core_commands_on_postgres_and_mariadb() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        three(&p);
        let (code, out, err) = run(&p, &db, &["status", "--json"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert!(out.contains("\"pending\""), "{kind:?}: {out}");
        assert_eq!(db.tables(), Vec::<String>::new(), "{kind:?}: status creates nothing");

        let (code, out, err) = run(&p, &db, &["up"]);
        assert_eq!(code, 0, "{kind:?}: {out}\n{err}");
        assert_eq!(db.tables(), vec!["db_migrate_history", "posts", "tags", "users"], "{kind:?}");
        assert_eq!(db.history(), vec!["1|applied", "2|applied", "3|applied"], "{kind:?}");
        let (code, _, _) = run(&p, &db, &["status", "--check"]);
        assert_eq!(code, 0, "{kind:?}");
        let (code, _, _) = run(&p, &db, &["validate"]);
        assert_eq!(code, 0, "{kind:?}");

        let (code, _, err) = run(&p, &db, &["redo"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        let (code, _, err) = run(&p, &db, &["down", "--to", "1"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert_eq!(db.tables(), vec!["db_migrate_history", "users"], "{kind:?}");
        let (code, out, _) = run(&p, &db, &["up", "--dry-run"]);
        assert_eq!(code, 0);
        assert!(out.contains("would apply 2_posts"), "{out}");
        assert_eq!(db.history(), vec!["1|applied"], "{kind:?}: dry run changed nothing");
        let (code, _, err) = run(&p, &db, &["down", "--all"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert_eq!(db.tables(), vec!["db_migrate_history"], "{kind:?}");
    }
}

#[test]
fn missing_database_is_created_by_up_not_by_status() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        db.admin(&format!("DROP DATABASE {}", db.name));
        let p = Project::new();
        three(&p);
        let (code, out, err) = run(&p, &db, &["status"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert!(out.contains("3 pending"), "{kind:?}: {out}");
        let (code, _, err) = run(&p, &db, &["up"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert_eq!(db.history().len(), 3, "{kind:?}");
    }
}

#[test]
fn postgres_failure_mid_file_keeps_nothing() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "ok", "CREATE TABLE ok (id INTEGER);", None);
    p.migration(2, "broken", "CREATE TABLE t1 (id INTEGER);\nINSERT INTO t1 VALUES (1);\nINSERT INTO missing VALUES (1);", None);
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("2_broken.sql:4") && err.contains("relation \"missing\" does not exist"), "{err}");
    assert!(err.contains("42P01"), "SQLSTATE shown: {err}");
    assert_eq!(db.tables(), vec!["db_migrate_history", "ok"], "t1 rolled back with its history row");
    assert_eq!(db.history(), vec!["1|applied"]);
}

#[test]
fn mariadb_failure_mid_file_is_dirty_until_repaired() {
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(1, "ok", "CREATE TABLE ok (id INTEGER);", None);
    p.migration(2, "broken", "CREATE TABLE t1 (id INTEGER);\nINSERT INTO missing VALUES (1);", Some("DROP TABLE IF EXISTS t1;"));
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("2_broken.sql:3") && err.contains("doesn't exist"), "{err}");
    assert!(err.contains("recorded as dirty") && err.contains("repair --mark-applied 2") && err.contains("repair --mark-reverted 2"), "{err}");
    assert_eq!(db.history(), vec!["1|applied", "2|dirty"]);
    assert!(db.tables().contains(&"t1".to_string()), "DDL committed implicitly");

    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("dirty") && err.contains("2_broken"), "{err}");
    let (code, out, _) = run(&p, &db, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("dirty"), "{out}");

    // A human undoes the half-applied work, says so, fixes the file, and carries on.
    db.query("DROP TABLE t1");
    let (code, _, err) = run(&p, &db, &["repair", "--mark-reverted", "2"]);
    assert_eq!(code, 0, "{err}");
    p.migration(2, "broken", "CREATE TABLE t1 (id INTEGER);\nINSERT INTO t1 VALUES (1);", Some("DROP TABLE IF EXISTS t1;"));
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(db.history(), vec!["1|applied", "2|applied"]);
}

#[test]
fn postgres_create_index_concurrently_outside_a_transaction() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER, v TEXT);", Some("DROP TABLE t;"));
    p.write(
        "migrations/2_idx.sql",
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t_v ON t (v);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY t_v;\nDROP INDEX CONCURRENTLY t_id;\n",
    );
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(db.query("SELECT indexname FROM pg_indexes WHERE tablename = 't' ORDER BY 1"), vec!["t_id", "t_v"]);
    assert_eq!(db.history(), vec!["1|applied", "2|applied"]);
    let (code, _, err) = run(&p, &db, &["down"]);
    assert_eq!(code, 0, "{err}");
    assert!(db.query("SELECT indexname FROM pg_indexes WHERE tablename = 't'").is_empty());
}

#[test]
fn eight_runners_apply_fifty_migrations_exactly_once() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        for v in 1..=50 {
            p.migration(v, &format!("t{v}"), &format!("CREATE TABLE t{v} (id INTEGER);\nINSERT INTO t{v} VALUES ({v});"), None);
        }
        let applied = crate::common::run_concurrently(&p, 8, &["--database-url", &db.url(), "up"]);
        assert_eq!(applied, 50, "{kind:?}: each migration applied by exactly one runner");
        assert_eq!(db.history().len(), 50, "{kind:?}");
        for v in [1, 25, 50] {
            assert_eq!(db.query(&format!("SELECT COUNT(*) FROM t{v}")), vec!["1"], "{kind:?}");
        }
    }
}

#[test]
fn passwords_never_appear_in_output() {
    let p = Project::new();
    three(&p);
    let (code, out, err) = p.run(&["status", "--database-url", "postgres://postgres:hunter2@127.0.0.1:1/nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot connect to PostgreSQL") && err.contains("postgres:***@"), "{err}");
    assert!(!out.contains("hunter2") && !err.contains("hunter2"), "{err}");
}

#[test]
fn wait_gives_up_with_a_clear_error() {
    let p = Project::new();
    three(&p);
    let started = std::time::Instant::now();
    let (code, _, err) = p.run(&["status", "--wait=1", "--database-url", "mysql://root@127.0.0.1:1/nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("did not accept connections within 1 s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn killed_runner_leaves_a_consistent_state_and_a_free_lock() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        p.migration(1, "first", "CREATE TABLE first (id INTEGER);", None);
        // Sleeps only until the test creates `marker`, so the re-run is quick.
        let sleep = match kind {
            Kind::Postgres => "SELECT pg_sleep(CASE WHEN to_regclass('marker') IS NULL THEN 8 ELSE 0 END);",
            Kind::Mariadb => "DO SLEEP(IF((SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'marker') = 0, 8, 0));",
        };
        p.migration(2, "slow", &format!("CREATE TABLE slow (id INTEGER);\n{sleep}\nINSERT INTO slow VALUES (1);"), None);
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
            .current_dir(p.path())
            .args(["--database-url", &db.url(), "up"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until migration 2 is under way, then SIGKILL the runner.
        let started = std::time::Instant::now();
        while db.tables().iter().all(|t| t != "db_migrate_history") || db.history().is_empty() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "{kind:?}: the run never started");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_millis(700));
        child.kill().unwrap();
        child.wait().unwrap();
        db.query("CREATE TABLE marker (id INTEGER)");

        match kind {
            Kind::Postgres => {
                // The server aborts the dead session: nothing of migration 2 remains, the lock
                // is free, and the next run applies it.
                let (code, _, err) = run(&p, &db, &["up", "--lock-timeout", "20"]);
                assert_eq!(code, 0, "{err}");
                assert_eq!(db.history(), vec!["1|applied", "2|applied"]);
                assert_eq!(db.query("SELECT COUNT(*) FROM slow"), vec!["1"]);
            }
            Kind::Mariadb => {
                // DDL committed: the dirty row is visible, `up` refuses with instructions once
                // the lock is free again.
                assert_eq!(db.history(), vec!["1|applied", "2|dirty"]);
                let (code, _, err) = run(&p, &db, &["up", "--lock-timeout", "20"]);
                assert_eq!(code, 2, "{err}");
                assert!(err.contains("dirty") && err.contains("repair --mark-applied 2"), "{err}");
            }
        }
    }
}

#[test]
fn lock_timeout_names_the_holder() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        p.migration(1, "first", "CREATE TABLE first (id INTEGER);", None);
        let sleep = match kind {
            Kind::Postgres => "SELECT pg_sleep(4);",
            Kind::Mariadb => "DO SLEEP(4);",
        };
        p.migration(2, "slow", sleep, None);
        let child = Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
            .current_dir(p.path())
            .args(["--database-url", &db.url(), "up"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while db.tables().iter().all(|t| t != "db_migrate_history") || db.history().is_empty() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let (code, _, err) = run(&p, &db, &["up", "--lock-timeout", "1"]);
        assert_eq!(code, 2, "{kind:?}: {err}");
        assert!(err.contains("another db-migrate run holds the migration lock"), "{kind:?}: {err}");
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{kind:?}: the holder finished normally");
        // Released on exit: the next run gets it at once.
        let (code, out, err) = run(&p, &db, &["up", "--lock-timeout", "1"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert!(out.contains("nothing to apply"), "{out}");
    }
}

#[test]
fn components_read_dates_times_decimals_json_and_uuids() {
    // Columns the WIT `sql` interface has no value for arrive as the text the database prints,
    // timestamps as RFC 3339 (`Z` only when the column has a zone), JSON as the server's text.
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        p.component("probe", 1, "probe");
        let (code, out, err) = run(&p, &db, &["up", "--arg", "mode=types"]);
        assert_eq!(code, 0, "{kind:?}: {out}\n{err}");
        let line = err.lines().find(|l| l.contains("types: ")).unwrap_or_else(|| panic!("{kind:?}: {err}"));
        let want = match kind {
            Kind::Postgres => concat!(
                r#"types: [Text("12.50"), Text("2024-05-01"), Text("10:30:00.25"), Timestamp("2024-05-01T10:30:00"), "#,
                r#"Timestamp("2024-05-01T08:30:00.25Z"), Json("{\"a\": [true], \"b\": 1}"), Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), Text("-0.000120"), "#,
                r#"Text("infinity"), Text("-infinity"), Text("24:00:00")]"#
            ),
            Kind::Mariadb => concat!(
                r#"types: [Text("12.50"), Text("2024-05-01"), Text("10:30:00.25"), Timestamp("2024-05-01T10:30:00"), "#,
                r#"Text("-838:59:59"), Text("18446744073709551615")]"#
            ),
        };
        assert!(line.ends_with(want), "{kind:?}:\n got  {line}\n want {want}");
    }
}

#[test]
fn component_migrations_on_postgres_and_mariadb() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        p.migration(1, "earlier", "CREATE TABLE earlier (id INTEGER);", Some("DROP TABLE earlier;"));
        p.component("probe", 2, "probe");
        let (code, out, err) = run(&p, &db, &["up"]);
        assert_eq!(code, 0, "{kind:?}: {out}\n{err}");
        assert!(err.contains("duplicate detected as a unique violation"), "{kind:?}: typed errors: {err}");
        assert_eq!(db.query("SELECT total FROM probe_result"), vec!["62750"], "{kind:?}: batch, cursor pages and updates");
        assert_eq!(db.query("SELECT kind, status FROM db_migrate_history WHERE version = 2"), vec!["component|applied"], "{kind:?}");
        let (code, _, err) = run(&p, &db, &["down"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert_eq!(db.tables(), vec!["db_migrate_history", "earlier"], "{kind:?}");

        let before = db.snapshot();
        let (code, _, err) = run(&p, &db, &["up", "--arg", "mode=error"]);
        assert_eq!(code, 2, "{kind:?}");
        assert!(err.contains("the probe was asked to fail"), "{kind:?}: {err}");
        match kind {
            Kind::Postgres => {
                assert!(err.contains("rolled back"), "{err}");
                assert_eq!(db.snapshot(), before, "PostgreSQL: everything rolled back");
            }
            Kind::Mariadb => {
                assert!(err.contains("recorded as dirty"), "MariaDB: DDL committed, so dirty: {err}");
                assert_eq!(db.history(), vec!["1|applied", "2|dirty"]);
            }
        }
    }
}

#[test]
fn mariadb_data_only_migration_is_all_or_nothing() {
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(1, "schema", "CREATE TABLE items (id INTEGER PRIMARY KEY);", None);
    p.migration(2, "data", "INSERT INTO items VALUES (1);\nINSERT INTO items VALUES (2);\nINSERT INTO items VALUES (1);", None);
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("2_data.sql:4") && err.contains("Duplicate entry"), "{err}");
    assert!(err.contains("nothing of this migration was kept"), "no DDL, so one transaction: {err}");
    assert_eq!(db.history(), vec!["1|applied"]);
    assert!(db.query("SELECT id FROM items").is_empty(), "the two good inserts were rolled back too");
}

#[test]
fn mariadb_a_migration_without_a_transaction_keeps_each_statement_as_it_runs() {
    // After a first migration the run keeps autocommit off: a `-- no-transaction` migration
    // must still keep each statement as it runs (as on the other databases), not run as one
    // implicit transaction that its failure takes back.
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(1, "schema", "CREATE TABLE items (id INTEGER PRIMARY KEY);", None);
    // Failing at its first statement, it did nothing: no history row is left behind.
    p.write("migrations/2_fill.sql", "-- migrate:up transaction:false\nINSERT INTO nowhere VALUES (1);\n");
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("2_fill.sql:2") && !err.contains("dirty"), "{err}");
    assert_eq!(db.history(), vec!["1|applied"]);
    p.write("migrations/2_fill.sql", "-- migrate:up transaction:false\nINSERT INTO items VALUES (1);\nINSERT INTO items VALUES (1);\n");
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("2_fill.sql:3") && err.contains("Duplicate entry"), "{err}");
    assert!(err.contains("recorded as dirty"), "{err}");
    assert_eq!(db.query("SELECT id FROM items"), ["1"], "the first insert was kept as it ran");
    assert_eq!(db.history(), vec!["1|applied", "2|dirty"]);
    // Then the run's own transactions are back: a data-only migration is all or nothing.
    db.query("DELETE FROM items");
    let (code, _, err) = run(&p, &db, &["repair", "--mark-reverted", "2"]);
    assert_eq!(code, 0, "{err}");
    p.write("migrations/2_fill.sql", "-- migrate:up transaction:false\nINSERT INTO items VALUES (1);\n");
    p.migration(3, "data", "INSERT INTO items VALUES (2);\nINSERT INTO items VALUES (1);", None);
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing of this migration was kept"), "{err}");
    assert_eq!(db.query("SELECT id FROM items"), ["1"]);
    assert_eq!(db.history(), vec!["1|applied", "2|applied"]);
}

#[test]
fn mariadb_a_migration_that_turns_autocommit_on_does_not_leave_it_on_for_the_next() {
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(1, "schema", "SET autocommit = 1;\nCREATE TABLE items (id INTEGER PRIMARY KEY);", None);
    p.migration(2, "data", "INSERT INTO items VALUES (1);\nINSERT INTO items VALUES (1);", None);
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("2_data.sql:3") && err.contains("nothing of this migration was kept"), "{err}");
    assert!(db.query("SELECT id FROM items").is_empty(), "the first insert was rolled back with the second");
    assert_eq!(db.history(), vec!["1|applied"]);

    // The same through a procedure the script calls.
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(1, "procedure", "CREATE PROCEDURE keep_each() SET autocommit = 1;", None);
    p.migration(2, "schema", "CALL keep_each();\nCREATE TABLE items (id INTEGER PRIMARY KEY);", None);
    p.migration(3, "data", "INSERT INTO items VALUES (1);\nINSERT INTO items VALUES (1);", None);
    let (code, _, err) = run(&p, &db, &["up"]);
    assert_eq!(code, 2);
    assert!(err.contains("3_data.sql:3") && err.contains("nothing of this migration was kept"), "{err}");
    assert!(db.query("SELECT id FROM items").is_empty(), "the first insert was rolled back with the second");
    assert_eq!(db.history(), vec!["1|applied", "2|applied"]);
}

#[test]
fn table_lock_mode_serialises_runners_without_session_state() {
    for kind in KINDS {
        let db = TestDb::new(kind);
        let p = Project::new();
        for v in 1..=20 {
            p.migration(v, &format!("t{v}"), &format!("CREATE TABLE t{v} (id INTEGER);"), None);
        }
        let applied = crate::common::run_concurrently(&p, 4, &["--database-url", &db.url(), "--lock-mode", "table", "up"]);
        assert_eq!(applied, 20, "{kind:?}");
        assert_eq!(db.history().len(), 20, "{kind:?}");
        assert!(db.query("SELECT COUNT(*) FROM db_migrate_history_lock") == vec!["0"], "{kind:?}: released");

        // A live lock row held by someone else: refused with its owner named.
        let (future, past) = match kind {
            Kind::Postgres => ("now() + interval '1 hour'", "now() - interval '1 hour'"),
            Kind::Mariadb => ("UTC_TIMESTAMP(6) + INTERVAL 1 HOUR", "UTC_TIMESTAMP(6) - INTERVAL 1 HOUR"),
        };
        p.migration(21, "t21", "CREATE TABLE t21 (id INTEGER);", None);
        db.query(&format!("INSERT INTO db_migrate_history_lock VALUES (1, 'someone else', {future}, {future})"));
        let (code, _, err) = run(&p, &db, &["--lock-mode", "table", "--lock-timeout", "1", "up"]);
        assert_eq!(code, 2, "{kind:?}");
        assert!(err.contains("holds the table lock") && err.contains("someone else"), "{kind:?}: {err}");
        // An expired one (its runner died) is taken over.
        db.query(&format!("UPDATE db_migrate_history_lock SET expires_at = {past}"));
        let (code, _, err) = run(&p, &db, &["--lock-mode", "table", "--lock-timeout", "1", "up"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert_eq!(db.history().len(), 21, "{kind:?}");
    }
}
