//! Bulk inserts (`open-bulk-insert`): rows streamed into one table (one COPY on PostgreSQL),
//! refusals that send nothing returned to the guest, and database errors that end the run with
//! nothing of it kept — on SQLite, PostgreSQL and MariaDB.

use crate::common::Project;
use crate::servers::{Kind, TestDb, run};

/// Where a test runs: the project's SQLite file, or a database on a real server.
enum Target {
    Sqlite,
    Server(TestDb),
}

impl Target {
    fn all() -> Vec<Target> {
        vec![Target::Sqlite, Target::Server(TestDb::new(Kind::Postgres)), Target::Server(TestDb::new(Kind::Mariadb))]
    }

    /// SQLite and PostgreSQL, where a migration's DDL is transactional.
    fn transactional() -> Vec<Target> {
        vec![Target::Sqlite, Target::Server(TestDb::new(Kind::Postgres))]
    }

    fn name(&self) -> &'static str {
        match self {
            Target::Sqlite => "SQLite",
            Target::Server(db) if db.kind == Kind::Postgres => "PostgreSQL",
            Target::Server(_) => "MariaDB",
        }
    }

    fn run(&self, p: &Project, args: &[&str]) -> (i32, String, String) {
        match self {
            Target::Sqlite => p.run(args),
            Target::Server(db) => run(p, db, args),
        }
    }

    /// The first column of `sql`'s rows, as text.
    fn query(&self, p: &Project, sql: &str) -> Vec<String> {
        match self {
            Target::Sqlite => p.query(sql).into_iter().map(|r| r[0].clone()).collect(),
            Target::Server(db) => db.query(sql),
        }
    }

    fn snapshot(&self, p: &Project) -> String {
        match self {
            Target::Sqlite => p.snapshot(),
            Target::Server(db) => db.snapshot(),
        }
    }
}

fn project() -> Project {
    let p = Project::new();
    p.migration(1, "first", "CREATE TABLE first (id INTEGER);", Some("DROP TABLE first;"));
    p.component("bulk", 2, "bulk");
    p
}

#[test]
fn bulk_insert_streams_rows_and_returns_refusals_to_the_guest() {
    for t in Target::all() {
        let p = project();
        let (code, out, err) = t.run(&p, &["up"]);
        let name = t.name();
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        assert!(err.contains("refused, not a plain insert: ") && err.contains("plain `INSERT INTO t (a, b) VALUES (?, ?)`"), "{name}: {err}");
        assert!(err.contains("refused, wrong width: ") && err.contains("needs 2 values"), "{name}: {err}");
        assert!(err.contains("mid-stream count 2000"), "{name}: a call in between waits for the rows written: {err}");
        assert!(err.contains("finished: 3000 rows written, the table holds 3000"), "{name}: {err}");
        assert_eq!(t.query(&p, "SELECT COUNT(*) FROM bulk_t"), vec!["3000"], "{name}");
        // A tab, a backslash and a newline in a value arrive exactly as they were sent.
        let sent = match name {
            "SQLite" => r"'name 7' || char(9) || 'with a tab, a \ and a' || char(10) || 'newline'",
            "PostgreSQL" => r"'name 7' || chr(9) || 'with a tab, a \ and a' || chr(10) || 'newline'",
            _ => r"CONCAT('name 7', CHAR(9), 'with a tab, a \\ and a', CHAR(10), 'newline')",
        };
        assert_eq!(t.query(&p, &format!("SELECT COUNT(*) FROM bulk_t WHERE id = 7 AND name = {sent}")), vec!["1"], "{name}");
        assert_eq!(t.query(&p, "SELECT status FROM db_migrate_history WHERE version = 2"), vec!["applied"], "{name}");
    }
}

#[test]
fn rows_the_database_rejects_end_the_run_and_nothing_of_it_is_kept() {
    for t in Target::transactional() {
        let p = project();
        let name = t.name();
        assert_eq!(t.run(&p, &["up", "--to", "1"]).0, 0, "{name}");
        let before = t.snapshot(&p);
        let duplicate = if name == "PostgreSQL" { "duplicate key value violates unique constraint" } else { "UNIQUE constraint failed" };
        // Rejected while the stream is open, and rejected only once the guest has returned.
        for mode in ["mode=dup", "mode=dup-forget"] {
            let (code, out, err) = t.run(&p, &["up", "--arg", mode]);
            assert_eq!(code, 2, "{name} {mode}: {out}\n{err}");
            assert!(err.contains("migration 2_bulk failed (up)"), "{name} {mode}: {err}");
            assert!(err.contains("a bulk insert failed in the database"), "{name} {mode}: {err}");
            assert!(err.contains(duplicate), "{name} {mode}: the database's own words: {err}");
            assert!(!err.contains("not reached"), "{name} {mode}: the guest did not carry on: {err}");
            assert!(err.contains("rolled back"), "{name} {mode}: {err}");
            assert_eq!(t.snapshot(&p), before, "{name} {mode}: nothing of the migration is kept");
        }
        // A trap with rows in flight: the stream is abandoned and the migration rolled back.
        let (code, _, err) = t.run(&p, &["up", "--arg", "mode=trap"]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("asked to trap with rows in flight"), "{name}: {err}");
        assert_eq!(t.snapshot(&p), before, "{name}: nothing of the trapped migration is kept");
        // A row the server already rejected, then a trap before anything waited for it: the
        // COPY is ended cleanly, and the rollback and the lock's release that follow get their
        // own replies (no protocol error, no failure to release the lock).
        let (code, _, err) = t.run(&p, &["up", "--arg", "mode=bad-trap"]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("asked to trap after a rejected row") || err.contains("a bulk insert failed in the database"), "{name}: {err}");
        for wrong in ["protocol", "lock", "unexpected"] {
            assert!(!err.to_lowercase().contains(wrong), "{name}: no `{wrong}` in: {err}");
        }
        assert_eq!(t.snapshot(&p), before, "{name}: nothing of it is kept");
        // And the next run on the same database works.
        let (code, _, err) = t.run(&p, &["up"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(t.query(&p, "SELECT COUNT(*) FROM bulk_t"), vec!["3000"], "{name}");
    }
}

#[test]
fn mariadb_rows_rejected_in_a_bulk_insert_end_the_run_and_leave_it_dirty() {
    // MariaDB commits DDL as it runs, so the failed migration (which created `bulk_t`) is dirty.
    let t = Target::Server(TestDb::new(Kind::Mariadb));
    let p = project();
    let (code, out, err) = t.run(&p, &["up", "--arg", "mode=dup"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("a bulk insert failed in the database") && err.contains("Duplicate entry"), "{err}");
    assert!(!err.contains("not reached"), "{err}");
    assert!(err.contains("recorded as dirty"), "{err}");
    assert_eq!(t.query(&p, "SELECT status FROM db_migrate_history WHERE version = 2"), vec!["dirty"]);
}

#[test]
fn a_bulk_insert_left_open_or_dropped_is_waited_for() {
    for t in Target::all() {
        let name = t.name();
        for mode in ["mode=forget", "mode=drop"] {
            let p = project();
            let (code, out, err) = t.run(&p, &["up", "--arg", mode]);
            assert_eq!(code, 0, "{name} {mode}: {out}\n{err}");
            assert_eq!(t.query(&p, "SELECT COUNT(*) FROM bulk_t"), vec!["3000"], "{name} {mode}");
            if mode == "mode=drop" {
                assert!(err.contains("after drop the table holds 3000"), "{name}: {err}");
            }
            assert_eq!(t.run(&p, &["down"]).0, 0, "{name} {mode}");
        }
    }
}

#[test]
fn a_bulk_insert_in_flight_at_the_deadline_is_stopped_and_rolled_back() {
    for t in Target::transactional() {
        let p = project();
        let name = t.name();
        p.write("db-migrate.toml", "[limits]\ntimeout_secs = 1.5\n");
        assert_eq!(t.run(&p, &["up", "--to", "1"]).0, 0, "{name}");
        let before = t.snapshot(&p);
        let started = std::time::Instant::now();
        let (code, _, err) = t.run(&p, &["up", "--arg", "mode=spin"]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("exceeded its time limit of 1.5s"), "{name}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{name}: stopped promptly");
        assert_eq!(t.snapshot(&p), before, "{name}");
    }
}

#[test]
fn metadata_may_not_use_the_database() {
    // `metadata` runs before the migration's transaction: what it wrote would escape both the
    // transaction and the report. Its calls are refused (the guest here carries on).
    for t in Target::transactional() {
        let p = project();
        let name = t.name();
        let (code, out, err) = t.run(&p, &["up", "--arg", "mode=meta"]);
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        assert!(err.contains("metadata, execute: denied by the host: `metadata` runs before the migration's transaction"), "{name}: {err}");
        assert!(err.contains("metadata, bulk insert: denied by the host: `metadata` runs before"), "{name}: {err}");
        assert!(!err.contains("accepted"), "{name}: {err}");
        assert_eq!(t.query(&p, "SELECT COUNT(*) FROM first"), vec!["0"], "{name}");
        assert!(!t.snapshot(&p).contains("meta_t"), "{name}");
        assert_eq!(t.query(&p, "SELECT COUNT(*) FROM bulk_t"), vec!["3000"], "{name}");
    }
}

#[test]
fn rows_a_trigger_skips_are_not_reported_as_written() {
    // A trigger skipping every tenth id: the count the guest gets, and the database holds, is
    // 2,700 of the 3,000 rows written (PostgreSQL learns it only when the COPY ends).
    for t in Target::transactional() {
        let name = t.name();
        let p = Project::new();
        let table = "CREATE TABLE bulk_t (id BIGINT PRIMARY KEY, name TEXT NOT NULL)";
        let trigger = if name == "PostgreSQL" {
            "CREATE FUNCTION skip_tenth() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id % 10 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;\n\
             CREATE TRIGGER skip_tenth BEFORE INSERT ON bulk_t FOR EACH ROW EXECUTE FUNCTION skip_tenth();"
        } else {
            "CREATE TRIGGER skip_tenth BEFORE INSERT ON bulk_t WHEN NEW.id % 10 = 0 BEGIN SELECT RAISE(IGNORE); END;"
        };
        p.migration(1, "first", &format!("{table};\nCREATE TABLE first (id INTEGER);\n{trigger}"), None);
        p.component("bulk", 2, "bulk");
        let (code, out, err) = t.run(&p, &["up", "--arg", "mode=skip"]);
        assert_eq!(code, 0, "{name}: {out}\n{err}");
        assert!(err.contains("mid-stream count 1800"), "{name}: {err}");
        assert!(err.contains("finished: 2700 rows written, the table holds 2700"), "{name}: {err}");
    }
}

#[test]
fn a_dry_run_writes_a_bulk_insert_down_and_sends_none_of_it() {
    let p = project();
    p.ok(&["up", "--to", "1"]);
    let before = p.snapshot();
    let out = p.ok(&["up", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let statements = v["steps"][0]["rehearsal"]["statements"].as_array().cloned().unwrap_or_default();
    let bulk: Vec<&serde_json::Value> = statements.iter().filter(|s| s["sql"].as_str().is_some_and(|q| q.starts_with("INSERT INTO bulk_t"))).collect();
    assert!(!bulk.is_empty(), "the bulk insert's writes are written down: {out}");
    assert_eq!(bulk[0]["rows"], 1000, "{out}");
    assert_eq!(p.snapshot(), before, "nothing was sent");
}
