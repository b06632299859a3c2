//! Faults and bad input: bytes no database reads as SQL, numbers out of range, runners racing to
//! create a database, a runner killed or interrupted mid-statement, a connection lost mid-run.
//! Every case ends with a clear message, the documented exit code, and a database whose schema
//! and history agree with what the message says.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Project;
use crate::servers::{Kind, TestDb, run};

fn spawn(p: &Project, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
        .current_dir(p.path())
        .env_remove("DATABASE_URL")
        .env_remove("DB_MIGRATE_ENV")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `cond` holds, up to `secs`; panics with `what` otherwise.
fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{s}"))
}

#[test]
fn a_nul_byte_is_refused_with_file_and_line_and_nothing_runs() {
    let p = Project::new();
    p.migration(1, "ok", "CREATE TABLE a (id INTEGER);", None);
    p.write("migrations/2_nul.sql", b"-- migrate:up\nCREATE TABLE b (id INTEGER);\nINSERT INTO b VALUES (1);\0\nCREATE TABLE c (id INTEGER);\n");
    let (code, out, err) = p.run(&["up", "--json"]);
    assert_eq!(code, 2, "{out}\n{err}");
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "source");
    assert!(v["error"]["file"].as_str().unwrap().ends_with("2_nul.sql"), "{v}");
    assert_eq!(v["error"]["line"], 3, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("NUL"), "{v}");
    assert!(err.is_empty(), "--json prints the error once, as JSON: {err}");
    assert!(!p.db().exists(), "nothing ran, not even the valid migration");
}

#[test]
fn invalid_utf8_names_the_line() {
    let p = Project::new();
    p.write("migrations/1_latin1.sql", b"-- migrate:up\n\nINSERT INTO t VALUES ('caf\xe9');\n");
    let err = p.fails(&["up"]);
    assert!(err.contains("1_latin1.sql:3") && err.contains("UTF-8"), "{err}");
    assert!(!p.db().exists());
}

#[test]
fn sql_seed_with_a_nul_byte_is_refused() {
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);", None);
    p.ok(&["up"]);
    p.write("seeds/01_rows.sql", b"INSERT INTO t VALUES (1);\0");
    let err = p.fails(&["seed"]);
    assert!(err.contains("01_rows.sql:1") && err.contains("NUL"), "{err}");
    assert_eq!(p.query("SELECT count(*) FROM t"), vec![vec!["0".to_string()]]);
}

#[test]
fn durations_and_limits_out_of_range_are_clear_errors_not_panics() {
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);", None);
    for bad in ["--lock-timeout=1e30", "--lock-timeout=-1", "--lock-timeout=NaN", "--lock-timeout=inf"] {
        let (code, _, err) = p.run(&["status", bad]);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.contains("--lock-timeout") && err.contains("seconds"), "{bad:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    for bad in ["--wait=1e300", "--wait=-5", "--wait=NaN", "--wait=abc"] {
        let (code, _, err) = p.run(&["status", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--wait") && err.contains("seconds"), "{bad}: {err}");
    }
    // In range: accepted.
    p.ok(&["status", "--lock-timeout", "0.5", "--wait=2"]);

    for (limits, needle) in [
        ("timeout_secs = 18446744073709551615", "timeout_secs"),
        ("timeout_secs = 1e300", "timeout_secs"),
        ("timeout_secs = -5", "timeout_secs"),
        ("timeout_secs = nan", "timeout_secs"),
        ("memory_mib = 18446744073709551615", "memory_mib"),
        ("memory_mib = 0", "memory_mib"),
        ("max_result_mib = 0", "max_result_mib"),
    ] {
        p.write("db-migrate.toml", format!("[limits]\n{limits}\n"));
        let (code, _, err) = p.run(&["status"]);
        assert_eq!(code, 2, "{limits}: {err}");
        assert!(err.contains(needle), "{limits}: {err}");
        assert!(!err.contains("panicked"), "{limits}: {err}");
    }
}

#[test]
fn a_big_data_migration_runs_and_a_late_failure_names_its_line() {
    // 200,000 statements (~8 MB): the old driver path copied the rest of the script for every
    // statement. Line numbers of a failure near the end must still be exact.
    let p = Project::new();
    let mut sql = String::from("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT);\n");
    for i in 0..200_000 {
        sql.push_str(&format!("INSERT INTO big VALUES ({i}, 'row {i} -- not a comment; not a split');\n"));
    }
    p.migration(1, "big", &sql, None);
    let started = Instant::now();
    p.ok(&["up"]);
    let took = started.elapsed();
    assert_eq!(p.query("SELECT count(*), max(id) FROM big"), vec![vec!["200000".to_string(), "199999".to_string()]]);
    eprintln!("200,000-statement migration took {took:?}");

    let mut bad = String::from("CREATE TABLE big2 (id INTEGER PRIMARY KEY);\n");
    for i in 0..100_000 {
        bad.push_str(&format!("INSERT INTO big2 VALUES ({i});\n"));
    }
    bad.push_str("INSERT INTO big2 VALUES (5);\n");
    p.migration(2, "big2", &bad, None);
    let (code, out, _) = p.run(&["up", "--json"]);
    assert_eq!(code, 2);
    let v = json(&out);
    // The file's line 1 is the marker; the duplicate is the script's line 100,002.
    assert_eq!(v["error"]["line"], 100_003, "{v}");
    assert_eq!(v["error"]["kept"], "nothing");
    assert_eq!(v["error"]["database_code"], "1555", "SQLite's extended code for a primary-key violation: {v}");
    assert_eq!(p.query("SELECT count(*) FROM sqlite_master WHERE name = 'big2'"), vec![vec!["0".to_string()]]);
}

#[test]
fn json_errors_carry_structure() {
    let p = Project::new();
    p.migration(1, "bad", "CREATE TABLE t (id INTEGER);\nINSERT INTO nope VALUES (1);", None);
    let (code, out, err) = p.run(&["up", "--json"]);
    assert_eq!(code, 2);
    assert!(!err.contains("error"), "the error is not repeated as prose next to the JSON: {err}");
    let e = &json(&out)["error"];
    assert_eq!(e["kind"], "migration_failed");
    assert_eq!(e["migration"]["version"], 1);
    assert_eq!(e["migration"]["name"], "bad");
    assert_eq!(e["direction"], "up");
    assert!(e["file"].as_str().unwrap().ends_with("1_bad.sql"));
    assert_eq!(e["line"], 3);
    assert!(e["database_message"].as_str().unwrap().contains("no such table"), "{e}");
    assert_eq!(e["kept"], "nothing");
    assert!(e["hint"].as_str().is_some(), "{e}");
    // Without --json: prose on stderr, nothing on stdout.
    let (code, out, err) = p.run(&["up"]);
    assert_eq!(code, 2);
    assert!(out.is_empty() && err.contains("1_bad.sql:3"), "{out}\n{err}");
}

#[test]
fn postgres_runners_racing_to_create_a_missing_database_all_succeed() {
    for kind in [Kind::Postgres, Kind::Mariadb] {
        let db = TestDb::fresh(kind);
        let p = Project::new();
        p.migration(1, "t", "CREATE TABLE t (id INTEGER PRIMARY KEY);", None);
        p.migration(2, "u", "CREATE TABLE u (id INTEGER PRIMARY KEY);", None);
        let url = db.url();
        let applied = crate::common::run_concurrently(&p, 6, &["--database-url", &url, "up"]);
        assert_eq!(applied, 2, "{kind:?}: each migration applied exactly once");
        assert_eq!(db.history(), vec!["1|applied", "2|applied"], "{kind:?}");
    }
}

#[test]
fn a_failure_after_connecting_is_not_blamed_on_the_connection() {
    // A role that cannot create databases: the server answers, so the message must not ask
    // whether it is running.
    let admin = TestDb::new(Kind::Postgres);
    let role = format!("{}_nocreate", admin.name);
    admin.query(&format!("CREATE ROLE {role} LOGIN"));
    let missing = format!("{}_missing", admin.name);
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);", None);
    let url = format!("postgres://{role}@127.0.0.1:5432/{missing}");
    let err = p.fails(&["--database-url", &url, "up"]);
    admin.query(&format!("DROP ROLE {role}"));
    assert!(err.contains(&missing) && err.contains("could not create it"), "{err}");
    assert!(!err.contains("is the server running"), "{err}");
}

fn pg_backends(db: &TestDb) -> usize {
    db.query(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'db-migrate'", db.name))[0]
        .parse()
        .unwrap()
}

#[test]
fn postgres_ends_a_killed_runners_statement_and_frees_the_lock() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "slow", "CREATE TABLE slow (id INTEGER);\nSELECT pg_sleep(120);", None);
    let url = db.url();
    let mut child = spawn(&p, &["--database-url", &url, "up"]);
    wait_until(30, "the migration's pg_sleep to start", || {
        // pg_stat_activity is server-wide: look only at this test's database, never at
        // another test's sleep.
        db.query(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'SELECT pg_sleep(120)%'", db.name))[0] != "0"
    });
    child.kill().unwrap(); // SIGKILL: no cleanup in the runner at all
    child.wait().unwrap();
    let killed = Instant::now();
    wait_until(20, "PostgreSQL to end the orphaned session", || pg_backends(&db) == 0);
    eprintln!("the orphaned backend ended {:?} after kill -9", killed.elapsed());
    // The lock went with it: the next run applies the migration at once (it sleeps again, so
    // shorten it).
    p.migration(1, "slow", "CREATE TABLE slow (id INTEGER);\nSELECT pg_sleep(0.1);", None);
    let (code, out, err) = run(&p, &db, &["up", "--lock-timeout", "5"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(db.history(), vec!["1|applied"]);
}

fn interrupt(child: &Child, signal: &str) {
    let ok = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -{signal} failed");
}

#[test]
fn ctrl_c_on_sqlite_rolls_back_the_migration_in_flight_and_exits_130() {
    let p = Project::new();
    p.migration(1, "first", "CREATE TABLE first (id INTEGER);", Some("DROP TABLE first;"));
    // A statement that runs for minutes unless interrupted.
    p.migration(
        2,
        "spin",
        "CREATE TABLE second (id INTEGER);\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c WHERE x < 0;",
        None,
    );
    p.migration(3, "third", "CREATE TABLE third (id INTEGER);", None);
    let child = spawn(&p, &["up", "--json"]);
    let db = p.db();
    wait_until(30, "the first migration to be applied", || {
        db.exists() && crate::common::query_file(&db, "SELECT count(*) FROM sqlite_master WHERE name = 'first'") == vec![vec!["1".to_string()]]
    });
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    interrupt(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(10), "stopped promptly, took {:?}", sent.elapsed());
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"]["kind"], "interrupted");
    assert_eq!(v["error"]["signal"], "SIGINT");
    assert_eq!(v["error"]["completed"], 1);
    assert_eq!(v["error"]["during"]["migration"]["version"], 2);
    assert_eq!(v["error"]["during"]["kept"], "nothing");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SIGINT received"), "{err}");
    // The banner, printed before anything is known, promises no rollback it cannot know of.
    assert!(err.contains("handled like any failure (rolled back, or left dirty if it ran outside a transaction"), "{err}");
    // What the message says is what the database holds.
    let tables = p.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('first', 'second', 'third') ORDER BY name");
    assert_eq!(tables, vec![vec!["first".to_string()]]);
    assert_eq!(p.query("SELECT version, status FROM db_migrate_history"), vec![vec!["1".to_string(), "applied".to_string()]]);
}

#[test]
fn sigterm_stops_a_component_computing_in_a_loop_and_exits_130() {
    // A guest spinning in WebAssembly makes no database call to cancel: the sandbox's tick
    // stops it when a signal asked the run to stop, not only at its deadline (here 300 s).
    let p = Project::new();
    p.migration(1, "schema", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);", None);
    p.component("hostile", 2, "hostile");
    p.write("db-migrate.toml", "[components.hostile]\nallow = [\"read\", \"write\"]\ntables = [\"users\"]\ntimeout_secs = 300\n");
    p.ok(&["up", "--to", "1"]);
    let child = spawn(&p, &["up", "--json", "--arg", "mode=loop"]);
    std::thread::sleep(Duration::from_secs(4));
    let sent = Instant::now();
    interrupt(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(10), "stopped promptly, took {:?}", sent.elapsed());
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"]["kind"], "interrupted");
    assert_eq!(v["error"]["signal"], "SIGTERM");
    assert_eq!(v["error"]["completed"], 0);
    // What the guest wrote before it spun was rolled back with it.
    assert!(p.query("SELECT id FROM users").is_empty());
    assert_eq!(p.query("SELECT version FROM db_migrate_history"), vec![vec!["1".to_string()]]);
}

#[test]
fn sigterm_on_postgres_cancels_the_statement_releases_the_lock_and_exits_130() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "first", "CREATE TABLE first (id INTEGER);", None);
    p.migration(2, "slow", "CREATE TABLE second (id INTEGER);\nSELECT pg_sleep(120);", None);
    let url = db.url();
    let child = spawn(&p, &["--database-url", &url, "up", "--json"]);
    wait_until(30, "the migration's pg_sleep to start", || {
        // pg_stat_activity is server-wide: look only at this test's database, never at
        // another test's sleep.
        db.query(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'SELECT pg_sleep(120)%'", db.name))[0] != "0"
    });
    let sent = Instant::now();
    interrupt(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(10), "stopped promptly, took {:?}", sent.elapsed());
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"]["signal"], "SIGTERM");
    assert_eq!(v["error"]["completed"], 1);
    assert_eq!(v["error"]["during"]["kept"], "nothing");
    assert_eq!(db.tables(), vec!["db_migrate_history", "first"]);
    assert_eq!(db.history(), vec!["1|applied"]);
    assert_eq!(pg_backends(&db), 0, "the runner's session ended, and its advisory lock with it");
}

#[test]
fn mariadb_lost_connection_mid_migration_says_what_is_unknown() {
    // DDL commits implicitly on MariaDB: when the connection dies mid-migration, the table and
    // a dirty history row stay, and db-migrate cannot read the history back to know. It must
    // not claim that nothing was kept.
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(1, "half", "CREATE TABLE half (id INTEGER);\nSELECT SLEEP(60);\nCREATE TABLE never (id INTEGER);", None);
    let url = db.url();
    let child = spawn(&p, &["--database-url", &url, "up", "--json"]);
    let mut victim = String::new();
    wait_until(30, "the migration's SLEEP to start", || {
        let rows = db.query(&format!("SELECT id FROM information_schema.processlist WHERE db = '{}' AND info LIKE 'SELECT SLEEP(60)%'", db.name));
        victim = rows.first().cloned().unwrap_or_default();
        !victim.is_empty()
    });
    db.query(&format!("KILL CONNECTION {victim}"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"]["kind"], "migration_failed", "{v}");
    assert_eq!(v["error"]["kept"], "unknown", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(!msg.contains("nothing of this migration was kept"), "{msg}");
    assert!(msg.contains("unknown") && msg.contains("db-migrate status"), "{msg}");
    // The truth, as the database has it: the first DDL committed with a dirty row.
    assert_eq!(db.tables(), vec!["db_migrate_history", "half"]);
    assert_eq!(db.history(), vec!["1|dirty"]);
}

#[test]
fn a_symlink_planted_as_the_sqlite_lock_file_is_never_followed() {
    // In a shared folder, someone may plant `<db>.db-migrate.lock` as a link to a file of the
    // user's; the runner writes its name into the lock file, so following it would clobber that.
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);", None);
    let victim = p.write("precious.txt", "do not truncate me");
    std::fs::create_dir_all(p.path().join("db")).unwrap();
    std::os::unix::fs::symlink(&victim, p.path().join("db/development.sqlite3.db-migrate.lock")).unwrap();
    let err = p.fails(&["up"]);
    assert!(err.contains("db-migrate.lock") && err.contains("not a link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "do not truncate me");
}

/// A PostgreSQL migration that waits until the run's table-lock row is gone: another session
/// (the test, as an operator would) deletes it while the migration runs. Nothing depends on
/// timing: the migration cannot finish before the row is deleted.
const WAIT_FOR_LOCK_ROW_TO_GO: &str = "CREATE TABLE one (id INTEGER);
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    IF NOT EXISTS (SELECT 1 FROM db_migrate_history_lock) THEN
      RETURN;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RAISE EXCEPTION 'the lock row was never deleted';
END
$$;";

/// Waits until the run holds its table lock, then deletes the lock row from another session.
fn delete_lock_row_mid_run(db: &TestDb) {
    wait_until(30, "the run to take its table lock", || {
        let out = db.client(Some(&db.name), "SELECT count(*) FROM db_migrate_history_lock");
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1"
    });
    db.query("DELETE FROM db_migrate_history_lock");
}

#[test]
fn postgres_a_lock_row_deleted_mid_run_is_a_warning_after_the_last_migration() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "one", WAIT_FOR_LOCK_ROW_TO_GO, None);
    let url = db.url();
    let child = spawn(&p, &["--database-url", &url, "--lock-mode", "table", "up", "--json"]);
    delete_lock_row_mid_run(&db);
    applied_with_an_unlock_warning(child.wait_with_output().unwrap(), &db);
}

/// The run applied its one migration and exited 0; the lock it could not release is a warning,
/// not a failure, in `--json` and on stderr, saying what frees it.
fn applied_with_an_unlock_warning(out: std::process::Output, db: &TestDb) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["steps"].as_array().unwrap().len(), 1, "{v}");
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v}");
    assert_eq!(warnings[0]["kind"], "unlock");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(message.starts_with("the migration lock could not be released: the lock row was no longer this run's"), "{message}");
    assert!(message.contains("db_migrate_history_lock") && message.contains("30 minutes"), "says what frees it: {message}");
    assert!(err.contains("warning: the migration lock could not be released"), "and on stderr: {err}");
    assert_eq!(db.history(), vec!["1|applied"]);
    assert_eq!(db.query("SELECT count(*) FROM db_migrate_history_lock"), vec!["0"]);
}

#[test]
fn postgres_a_lock_row_deleted_mid_run_stops_the_run_before_the_next_migration() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(1, "one", WAIT_FOR_LOCK_ROW_TO_GO, None);
    p.migration(2, "two", "CREATE TABLE two (id INTEGER);", None);
    let url = db.url();
    let child = spawn(&p, &["--database-url", &url, "--lock-mode", "table", "up", "--json"]);
    delete_lock_row_mid_run(&db);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"]["kind"], "lock_lost", "{v}");
    assert_eq!(v["error"]["completed"], 1);
    assert_eq!(v["error"]["cause"]["kind"], "locked");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("could not renew its migration lock") && message.contains("no longer this run's"), "{message}");
    // 1 is applied and stays; 2 never started.
    assert_eq!(db.history(), vec!["1|applied"]);
    assert_eq!(db.tables(), vec!["db_migrate_history", "db_migrate_history_lock", "one"]);
    // Releasing the row that is gone fails too, and says so: on stderr, and beside the error
    // in the JSON document.
    assert!(err.contains("warning: the migration lock could not be released"), "{err}");
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v}");
    assert_eq!(warnings[0]["kind"], "unlock", "{v}");
}

#[test]
fn mariadb_a_lock_row_deleted_mid_run_is_a_warning_after_the_last_migration() {
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    // MariaDB has no loop outside a stored program: the migration waits on a named lock (a
    // gate) that this test holds until it has deleted the run's lock row.
    let gate = format!("gate_{}", db.name);
    let mut holder = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "--unbuffered"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    writeln!(stdin, "SELECT GET_LOCK('{gate}', 0);").unwrap();
    wait_until(30, "the test to hold the gate", || db.query(&format!("SELECT IS_USED_LOCK('{gate}') IS NOT NULL")) == vec!["1"]);
    p.migration(1, "one", &format!("CREATE TABLE one (id INTEGER);\nDO GET_LOCK('{gate}', 300);"), None);
    let url = db.url();
    let child = spawn(&p, &["--database-url", &url, "--lock-mode", "table", "up", "--json"]);
    delete_lock_row_mid_run(&db);
    writeln!(stdin, "SELECT RELEASE_LOCK('{gate}');").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let _ = holder.wait();
    applied_with_an_unlock_warning(out, &db);
}
