//! Fleets: one project's migrations over many SQLite files, PostgreSQL schemas and MariaDB
//! databases — canary stage, waves, `--keep-going`, resuming after the coordinator is killed, and
//! several workers sharing a claim table in a control PostgreSQL database.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Project, query_file};
use crate::servers::{Kind, TestDb};

/// `n` migrations; each leaves one row in `applied_log`, so a migration applied twice shows.
fn migrations(p: &Project, n: i64) {
    p.migration(1, "log", "CREATE TABLE applied_log (v INTEGER NOT NULL);\nINSERT INTO applied_log (v) VALUES (1);", Some("DROP TABLE applied_log;"));
    for v in 2..=n {
        p.migration(v, &format!("t{v}"), &format!("CREATE TABLE t{v} (id INTEGER);\nINSERT INTO applied_log (v) VALUES ({v});"), Some(&format!("DROP TABLE t{v};\nDELETE FROM applied_log WHERE v = {v};")));
    }
}

/// `n` empty SQLite files `tenants/tNNN.sqlite3` (an empty file is an empty database).
fn tenants(p: &Project, n: usize) -> Vec<std::path::PathBuf> {
    (0..n).map(|i| p.write(&format!("tenants/t{i:03}.sqlite3"), b"")).collect()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn results(v: &Value) -> Vec<(String, String)> {
    v["targets"].as_array().unwrap().iter().map(|t| (t["target"].as_str().unwrap().to_string(), t["result"].as_str().unwrap().to_string())).collect()
}

fn count(v: &Value, result: &str) -> u64 {
    v["counts"][result].as_u64().unwrap()
}

/// The `applied_log` versions of a SQLite tenant, sorted.
fn log_of(db: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = query_file(db, "SELECT v FROM applied_log").iter().map(|r| r[0].parse().unwrap()).collect();
    v.sort();
    v
}

fn has_tables(db: &Path) -> bool {
    std::fs::metadata(db).unwrap().len() > 0 && !query_file(db, "SELECT name FROM sqlite_master").is_empty()
}

#[test]
fn three_hundred_sqlite_tenants_reach_the_last_version_and_status_agrees() {
    let p = Project::new();
    migrations(&p, 5);
    let files = tenants(&p, 300);
    p.write("db-migrate.toml", "[fleets.tenants]\nsqlite_glob = \"tenants/*.sqlite3\"\ncanary = 2\nwave_size = 100\nparallel = 4\n");
    let v = json(&p.ok(&["fleet", "up", "tenants", "--json"]));
    assert_eq!(count(&v, "migrated"), 300, "{v:#}");
    let stages: Vec<u64> = v["targets"].as_array().unwrap().iter().map(|t| t["stage"].as_u64().unwrap()).collect();
    assert_eq!((stages[0], stages[1], stages[2], stages[101], stages[102], stages[299]), (0, 0, 1, 1, 2, 3));
    for f in [&files[0], &files[150], &files[299]] {
        assert_eq!(log_of(f), vec![1, 2, 3, 4, 5]);
    }
    let s = json(&p.ok(&["fleet", "status", "tenants", "--json"]));
    let c = &s["census"];
    assert_eq!(c["latest"], 5);
    assert_eq!(c["up_to_date"], 300, "{c:#}");
    assert_eq!(c["versions"], serde_json::json!([{ "version": 5, "targets": 300 }]));
    assert!(c["dirty"].as_array().unwrap().is_empty() && c["drifting"].as_array().unwrap().is_empty());
    // A rerun finds every target done and touches none of them.
    let again = json(&p.ok(&["fleet", "up", "tenants", "--json"]));
    assert_eq!(count(&again, "done_earlier"), 300, "{again:#}");
    // A new migration starts the fleet over; `status --check` says who is behind until then.
    p.migration(6, "t6", "CREATE TABLE t6 (id INTEGER);\nINSERT INTO applied_log (v) VALUES (6);", None);
    let (code, out, _) = p.run(&["fleet", "status", "tenants", "--check", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json(&out)["census"]["versions"], serde_json::json!([{ "version": 5, "targets": 300 }]));
    let v = json(&p.ok(&["fleet", "up", "tenants", "--json", "--parallel", "8"]));
    assert_eq!(count(&v, "migrated"), 300);
    assert_eq!(log_of(&files[7]), vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn status_reports_dirty_and_drifting_targets() {
    let p = Project::new();
    migrations(&p, 3);
    let files = tenants(&p, 4);
    p.write("db-migrate.toml", "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\n");
    p.ok(&["fleet", "up", "f", "-q"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", files[1].display())).await.unwrap();
        sqlx::query("UPDATE db_migrate_history SET status = 'dirty' WHERE version = 3").execute(&mut c).await.unwrap();
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", files[2].display())).await.unwrap();
        sqlx::query("UPDATE db_migrate_history SET checksum = 'x' WHERE version = 2").execute(&mut c).await.unwrap();
    });
    let (code, out, _) = p.run(&["fleet", "status", "f", "--check", "--json"]);
    assert_eq!(code, 1);
    let c = &json(&out)["census"];
    assert_eq!(c["dirty"], serde_json::json!(["tenants/t001.sqlite3"]));
    assert_eq!(c["drifting"], serde_json::json!(["tenants/t002.sqlite3"]));
    assert_eq!(c["up_to_date"], 2);
    let text = p.ok(&["fleet", "status", "f"]);
    assert!(text.contains("dirty (1): tenants/t001.sqlite3"), "{text}");
    assert!(text.contains("drifting (an applied migration's file changed or is gone) (1): tenants/t002.sqlite3"), "{text}");
}

#[test]
fn one_hundred_postgres_schemas_each_with_its_own_history() {
    let db = TestDb::new(Kind::Postgres);
    let mut ddl = String::from("CREATE SCHEMA other;");
    for i in 0..100 {
        ddl.push_str(&format!("CREATE SCHEMA tenant_{i:03};"));
    }
    db.query(&ddl);
    let p = Project::new();
    migrations(&p, 4);
    p.write("db-migrate.toml", format!("[fleets.schemas]\npostgres_schemas = \"tenant\\\\_%\"\ndatabase_url = \"{}\"\ncanary = 1\nparallel = 6\n", db.url()));
    let v = json(&p.ok(&["fleet", "up", "schemas", "--json"]));
    assert_eq!(count(&v, "migrated"), 100, "{v:#}");
    assert_eq!(v["targets"][0]["target"], "tenant_000");
    for s in ["tenant_000", "tenant_042", "tenant_099"] {
        assert_eq!(db.query(&format!("SELECT version FROM {s}.db_migrate_history ORDER BY version")), vec!["1", "2", "3", "4"]);
        assert_eq!(db.query(&format!("SELECT v FROM {s}.applied_log ORDER BY v")), vec!["1", "2", "3", "4"]);
    }
    // Nothing outside the tenants' schemas: not in public, not in the schema the pattern leaves out.
    assert_eq!(db.query("SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('public', 'other')"), vec!["0"]);
    let s = json(&p.ok(&["fleet", "status", "schemas", "--json"]));
    assert_eq!(s["census"]["up_to_date"], 100);
    assert_eq!(s["census"]["versions"], serde_json::json!([{ "version": 4, "targets": 100 }]));
    // Each schema is its own target: reverting one leaves the others alone.
    db.query("DROP TABLE tenant_007.t4; DELETE FROM tenant_007.applied_log WHERE v = 4; DELETE FROM tenant_007.db_migrate_history WHERE version = 4;");
    let s = json(&p.run(&["fleet", "status", "schemas", "--json"]).1);
    assert_eq!(s["census"]["versions"], serde_json::json!([{ "version": 4, "targets": 99 }, { "version": 3, "targets": 1 }]));
    let v = json(&p.ok(&["fleet", "up", "schemas", "--json", "--recheck"]));
    assert_eq!((count(&v, "migrated"), count(&v, "current")), (1, 99), "{v:#}");
    assert_eq!(db.query("SELECT v FROM tenant_007.applied_log ORDER BY v"), vec!["1", "2", "3", "4"]);
}

#[test]
fn fifty_mariadb_databases_from_a_urls_file() {
    let dbs: Vec<TestDb> = (0..50).map(|_| TestDb::new(Kind::Mariadb)).collect();
    let p = Project::new();
    migrations(&p, 3);
    let list: String = dbs.iter().map(|d| format!("{}\n", d.url())).collect();
    p.write("tenants.txt", format!("# one database per tenant\n\n{list}"));
    p.write("db-migrate.toml", "[fleets.maria]\nurls_file = \"tenants.txt\"\ncanary = 1\nwave_size = 25\nparallel = 8\n");
    let v = json(&p.ok(&["fleet", "up", "maria", "--json"]));
    assert_eq!(count(&v, "migrated"), 50, "{v:#}");
    for d in [&dbs[0], &dbs[25], &dbs[49]] {
        assert_eq!(d.query("SELECT v FROM applied_log ORDER BY v"), vec!["1", "2", "3"]);
    }
    let s = json(&p.ok(&["fleet", "status", "maria", "--json"]));
    assert_eq!(s["census"]["up_to_date"], 50);
    assert_eq!(s["census"]["versions"], serde_json::json!([{ "version": 3, "targets": 50 }]));
}

#[test]
fn a_canary_failure_stops_the_rollout_and_leaves_the_rest_untouched() {
    let p = Project::new();
    migrations(&p, 3);
    let files = tenants(&p, 10);
    p.write("db-migrate.toml", "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\ncanary = 2\nparallel = 1\n");
    // The second canary already has a table migration 2 creates.
    query_rw(&files[1], "CREATE TABLE t2 (x INTEGER)");
    let (code, out, _) = p.run(&["fleet", "up", "f", "--json"]);
    assert_eq!(code, 2, "{out}");
    let v = json(&out);
    assert_eq!(v["targets"][1]["result"], "failed");
    assert_eq!(v["targets"][1]["error"]["kind"], "migration_failed");
    assert_eq!(v["targets"][1]["error"]["migration"]["version"], 2);
    assert!(v["stopped"].as_str().unwrap().contains("canary"), "{v:#}");
    assert_eq!(count(&v, "not_run"), 8);
    for f in &files[2..] {
        assert!(!has_tables(f), "{} was touched", f.display());
    }
    // Even --keep-going does not go past a failed canary.
    let (code, out, _) = p.run(&["fleet", "up", "f", "--json", "--keep-going"]);
    assert_eq!(code, 2);
    assert_eq!(count(&json(&out), "not_run"), 8);
    assert!(!has_tables(&files[9]));
}

#[test]
fn keep_going_finishes_the_rest_and_reports_the_failure() {
    let p = Project::new();
    migrations(&p, 3);
    let files = tenants(&p, 10);
    p.write("db-migrate.toml", "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\nparallel = 1\n");
    query_rw(&files[5], "CREATE TABLE t3 (x INTEGER)");
    // By default the first failure stops the rollout: targets after it do not start.
    let (code, out, err) = p.run(&["fleet", "up", "f"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("failed   tenants/t005.sqlite3: ") && err.contains("3_t3"), "{err}");
    assert!(out.contains("5 migrated, 0 up to date, 0 done earlier, 1 failed, 4 not run"), "{out}");
    assert!(!has_tables(&files[6]));
    // --keep-going: the rest are migrated, the failure reported (targets done before are skipped).
    let (code, out, _) = p.run(&["fleet", "up", "f", "--keep-going", "--json"]);
    assert_eq!(code, 2);
    let v = json(&out);
    assert_eq!((count(&v, "done_earlier"), count(&v, "migrated"), count(&v, "failed")), (5, 4, 1), "{v:#}");
    assert_eq!(results(&v)[5], ("tenants/t005.sqlite3".to_string(), "failed".to_string()));
    assert!(v["targets"][5]["message"].as_str().unwrap().contains("t3"), "{v:#}");
    assert_eq!(log_of(&files[9]), vec![1, 2, 3]);
    // The failed target kept its first two migrations (each commits with its history row).
    assert_eq!(log_of(&files[5]), vec![1, 2]);
    // Fixed by hand, a rerun retries only the failed target.
    query_rw(&files[5], "DROP TABLE t3");
    let v = json(&p.ok(&["fleet", "up", "f", "--json"]));
    assert_eq!((count(&v, "done_earlier"), count(&v, "migrated")), (9, 1));
    assert_eq!(log_of(&files[5]), vec![1, 2, 3]);
}

fn query_rw(db: &Path, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut c).await.unwrap();
    });
}

/// A migration that takes a while on SQLite (a recursive count), so a run can be killed in it.
fn slow_migrations(p: &Project) {
    migrations(&p, 3);
    p.migration(4, "slow", "CREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) AS n FROM c;\nINSERT INTO applied_log (v) VALUES (4);", None);
}

fn spawn(p: &Project, args: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
        .current_dir(p.path())
        .env_remove("DATABASE_URL")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_rerun_after_kill_9_of_the_coordinator_resumes_and_applies_each_migration_once() {
    let p = Project::new();
    slow_migrations(&p);
    let files = tenants(&p, 60);
    p.write("db-migrate.toml", "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\nparallel = 2\n");
    let journal = p.path().join(".db-migrate/fleets/f.jsonl");
    let mut child = spawn(&p, &["fleet", "up", "f", "-q"]);
    wait_until("10 finished targets", Duration::from_secs(60), || std::fs::read_to_string(&journal).is_ok_and(|t| t.lines().count() >= 10));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!(before < 60, "the run finished before it was killed ({before} targets): nothing was tested");
    let v = json(&p.ok(&["fleet", "up", "f", "--json"]));
    assert!(count(&v, "done_earlier") >= 10, "{v:#}");
    assert_eq!(count(&v, "done_earlier") + count(&v, "migrated") + count(&v, "current"), 60, "{v:#}");
    for f in &files {
        assert_eq!(log_of(f), vec![1, 2, 3, 4], "{}", f.display());
    }
    let s = json(&p.ok(&["fleet", "status", "f", "--json"]));
    assert_eq!(s["census"]["up_to_date"], 60);
}

#[test]
fn four_workers_share_a_claim_table_and_survive_one_killed() {
    let control = TestDb::new(Kind::Postgres);
    let p = Project::new();
    slow_migrations(&p);
    let files = tenants(&p, 200);
    p.write("db-migrate.toml", format!("[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\ncontrol_url = \"{}\"\nlease_secs = 2\nparallel = 2\n", control.url()));
    let mut workers: Vec<Child> = (0..4).map(|_| spawn(&p, &["fleet", "up", "f", "--json"])).collect();
    let done = || control.query("SELECT count(*) FROM db_migrate_fleet WHERE state = 'done'").first().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    wait_until("30 targets done", Duration::from_secs(60), || {
        control.query("SELECT count(*) FROM pg_tables WHERE tablename = 'db_migrate_fleet'") == vec!["1"] && done() >= 30
    });
    let mut victim = workers.remove(1);
    // Frozen first, so the claims it holds at the kill are known exactly.
    let pid = victim.id().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let held = control.query(&format!("SELECT target FROM db_migrate_fleet WHERE state = 'running' AND owner LIKE '%pid {pid} %' ORDER BY target"));
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(done() < 200, "all done before the kill: nothing was tested");
    let mut elsewhere = 0;
    let mut migrated = 0;
    for w in workers {
        let out = w.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "a worker failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let v = json(&stdout);
        migrated += count(&v, "migrated") + count(&v, "current");
        elsewhere += count(&v, "elsewhere");
        assert_eq!(v["fleet_states"], serde_json::json!({ "done": 200 }), "{v:#}");
    }
    assert!(migrated > 0 && elsewhere > 0, "the work was not shared ({migrated} here, {elsewhere} elsewhere)");
    assert_eq!(control.query("SELECT count(*) FROM db_migrate_fleet WHERE state = 'done'"), vec!["200"]);
    // The killed worker's claims were taken over once their lease ran out, and finished.
    assert!(!held.is_empty(), "the killed worker held no claim: nothing was taken over");
    for t in &held {
        let row = control.query(&format!("SELECT state, attempts > 1, owner NOT LIKE '%pid {pid} %' FROM db_migrate_fleet WHERE target = '{t}'"));
        assert_eq!(row, vec!["done|t|t"], "{t}");
    }
    for f in &files {
        assert_eq!(log_of(f), vec![1, 2, 3, 4], "{}", f.display());
    }
}

#[test]
fn fleet_configuration_is_checked_and_credentials_never_printed() {
    let p = Project::new();
    migrations(&p, 2);
    p.write("db-migrate.toml", "[fleets.bad]\nurls = [\"sqlite:a.db\"]\nsqlite_glob = \"*.db\"\nparallel = 0\n");
    let err = p.fails(&["fleet", "status", "bad"]);
    assert!(err.contains("[fleets.bad]: set one source of targets, not urls and sqlite_glob"), "{err}");
    assert!(err.contains("`parallel` must be between 1 and 256"), "{err}");
    let db = TestDb::new(Kind::Postgres);
    let with_password = db.url().replace("postgres@", "postgres:s3cr3t-pw@");
    p.write("db-migrate.toml", format!("[fleets.one]\nurls = [\"{with_password}\"]\ncanary = [\"nope\"]\n"));
    let err = p.fails(&["fleet", "up", "one"]);
    assert!(err.contains("canary names `nope`") && !err.contains("s3cr3t"), "{err}");
    p.write("db-migrate.toml", format!("[fleets.one]\nurls = [\"{with_password}\"]\n"));
    let err = p.fails(&["fleet", "up", "missing"]);
    assert!(err.contains("no fleet `missing` in db-migrate.toml; fleets: one"), "{err}");
    for args in [&["fleet", "up", "one", "-v"][..], &["fleet", "up", "one", "--json"], &["fleet", "status", "one"], &["fleet", "status", "one", "--json"]] {
        let (code, out, err) = p.run(args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(!out.contains("s3cr3t") && !err.contains("s3cr3t"), "{args:?} printed the password:\n{out}{err}");
        assert!(out.contains("postgres:***@") || out.contains("1 targets"), "{out}");
    }
    let journal = std::fs::read_to_string(p.path().join(".db-migrate/fleets/one.jsonl")).unwrap();
    assert!(!journal.contains("s3cr3t"), "{journal}");
    assert_eq!(db.query("SELECT v FROM applied_log ORDER BY v"), vec!["1", "2"]);
}

#[test]
fn targets_from_a_query_go_down_to_a_version_and_up_again() {
    let control = TestDb::new(Kind::Postgres);
    let p = Project::new();
    migrations(&p, 3);
    let files = tenants(&p, 6);
    let mut sql = String::from("CREATE TABLE tenants (id INTEGER, url TEXT, active BOOLEAN);");
    for (i, f) in files.iter().enumerate() {
        sql.push_str(&format!("INSERT INTO tenants VALUES ({i}, 'sqlite:{}', true);", f.display()));
    }
    sql.push_str("INSERT INTO tenants VALUES (99, 'sqlite:/nonexistent/inactive.sqlite3', false);");
    control.query(&sql);
    p.write("db-migrate.toml", format!("[fleets.q]\nquery = \"SELECT url FROM tenants WHERE active ORDER BY id\"\ncontrol_url = \"{}\"\ncanary = 1\n", control.url()));
    let v = json(&p.ok(&["fleet", "up", "q", "--json"]));
    assert_eq!(count(&v, "migrated"), 6, "{v:#}");
    assert_eq!(v["targets"][0]["target"], format!("sqlite:{}", files[0].display()));
    // `fleet down` reverts to a version, never by a number of steps (a rerun must not revert more).
    let (code, _, err) = p.run(&["fleet", "down", "q"]);
    assert_eq!(code, 2);
    assert!(err.contains("--to <VERSION>") && err.contains("--all"), "{err}");
    let v = json(&p.ok(&["fleet", "down", "q", "--to", "1", "--json"]));
    assert_eq!(count(&v, "migrated"), 6, "{v:#}");
    assert_eq!(v["targets"][3]["steps"], 2);
    assert_eq!(log_of(&files[3]), vec![1]);
    let s = json(&p.ok(&["fleet", "status", "q", "--json"]));
    assert_eq!(s["census"]["versions"], serde_json::json!([{ "version": 1, "targets": 6 }]));
    // The state recorded `down`: the next `up` is a new goal, so every target counts again.
    let v = json(&p.ok(&["fleet", "up", "q", "--json"]));
    assert_eq!(count(&v, "migrated"), 6, "{v:#}");
    assert_eq!(log_of(&files[5]), vec![1, 2, 3]);
    assert_eq!(control.query("SELECT count(*) FROM db_migrate_fleet WHERE fleet = 'q' AND state = 'done' AND goal LIKE 'up:%'"), vec!["6"]);
}

#[test]
fn fleet_test_replays_once_per_kind_of_database() {
    let p = Project::new();
    migrations(&p, 2);
    tenants(&p, 3);
    p.write("db-migrate.toml", "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\n");
    let v = json(&p.ok(&["fleet", "test", "f", "--json"]));
    assert_eq!(v["kinds"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["kinds"][0]["kind"], "sqlite");
    assert_eq!(v["kinds"][0]["report"]["findings"], serde_json::json!([]));
    // A down that forgets its table is found.
    p.migration(3, "t3", "CREATE TABLE t3 (id INTEGER);", Some("SELECT 1;"));
    let (code, out, _) = p.run(&["fleet", "test", "f"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL 3_t3"), "{out}");
    // Tenants are never touched by a test.
    assert!(!has_tables(&p.path().join("tenants/t000.sqlite3")));
}

#[test]
fn an_up_to_date_target_is_checked_without_its_lock() {
    use sqlx::Connection;
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;");
    let p = Project::new();
    migrations(&p, 2);
    p.write("db-migrate.toml", format!("[fleets.s]\npostgres_schemas = \"tenant\\\\_%\"\ndatabase_url = \"{}\"\n", db.url()));
    p.ok(&["fleet", "up", "s", "-q"]);
    // Another run holds tenant_a's migration lock (the session lock of its qualified history table).
    let key = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{}/tenant_a.db_migrate_history", db.name).as_bytes());
        i64::from_be_bytes(d[..8].try_into().unwrap())
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut holder = rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(&db.url()).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut c).await.unwrap();
        c
    });
    // Nothing pending: the check reads the history and never waits for the lock.
    let v = json(&p.ok(&["fleet", "up", "s", "--recheck", "--lock-timeout", "1", "--json"]));
    assert_eq!(count(&v, "current"), 2, "{v:#}");
    // Something pending: the run takes the lock, so tenant_a waits and gives up; tenant_b goes on.
    p.migration(3, "t3", "CREATE TABLE t3 (id INTEGER);\nINSERT INTO applied_log (v) VALUES (3);", None);
    let (code, out, _) = p.run(&["fleet", "up", "s", "--keep-going", "--lock-timeout", "1", "--json"]);
    assert_eq!(code, 2, "{out}");
    let v = json(&out);
    assert_eq!(results(&v), vec![("tenant_a".into(), "failed".into()), ("tenant_b".into(), "migrated".into())]);
    assert_eq!(v["targets"][0]["error"]["kind"], "locked");
    rt.block_on(async { sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut holder).await.unwrap() });
    p.ok(&["fleet", "up", "s", "-q"]);
    assert_eq!(db.query("SELECT v FROM tenant_a.applied_log ORDER BY v"), vec!["1", "2", "3"]);
}

#[test]
fn components_run_on_every_target_under_their_grants() {
    let p = Project::new();
    p.migration(1, "schema", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE secrets (v TEXT);", None);
    p.component("hostile", 2, "hostile");
    let files = tenants(&p, 3);
    let fleet = "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\ncanary = 1\n";
    p.write("db-migrate.toml", format!("{fleet}[components.hostile]\nallow = [\"read\", \"write\"]\ntables = [\"users\"]\n"));
    // The canary's component reads a table outside its allowlist: refused, audited, rollout stopped.
    let (code, out, err) = p.run(&["fleet", "up", "f", "--json", "--arg", "mode=read-outside"]);
    assert_eq!(code, 2, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["targets"][0]["error"]["kind"], "component_failed", "{v:#}");
    assert_eq!(count(&v, "not_run"), 2);
    assert!(err.contains("[tenants/t000.sqlite3 2_hostile] audit: denied"), "{err}");
    let audit = std::fs::read_to_string(p.path().join(".db-migrate/audit.log")).unwrap();
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!((line["target"].as_str(), line["migration"].as_str()), (Some("tenants/t000.sqlite3"), Some("2_hostile")));
    assert_eq!(query_file(&files[0], "SELECT version FROM db_migrate_history ORDER BY version"), vec![vec!["1".to_string()]]);
    // A mode that stays inside the grant: every target runs the component.
    let v = json(&p.ok(&["fleet", "up", "f", "--json", "--arg", "mode=sql", "--arg", "sql=INSERT INTO users (id, name) VALUES (1, 'a')"]));
    assert_eq!(count(&v, "migrated"), 3, "{v:#}");
    for f in &files {
        assert_eq!(query_file(f, "SELECT kind FROM db_migrate_history WHERE version = 2"), vec![vec!["component".to_string()]]);
        assert_eq!(query_file(f, "SELECT name FROM users WHERE id = 1"), vec![vec!["a".to_string()]]);
    }
}

#[test]
fn mongodb_databases_take_command_files() {
    let dbs: Vec<crate::mongo::TestDb> = (0..4).map(|_| crate::mongo::TestDb::new()).collect();
    let p = Project::new();
    p.write(
        "migrations/1_users.mongo.json",
        r#"{ "up": [ { "create": "users" }, { "insert": "users", "documents": [{ "_id": 1, "email": "a@example.com" }] } ], "down": [ { "drop": "users" } ] }"#,
    );
    let urls: Vec<String> = dbs.iter().map(|d| format!("\"{}\"", d.url())).collect();
    p.write("db-migrate.toml", format!("[fleets.m]\nurls = [{}]\ncanary = 1\n", urls.join(", ")));
    let v = json(&p.ok(&["fleet", "up", "m", "--json"]));
    assert_eq!(count(&v, "migrated"), 4, "{v:#}");
    for d in &dbs {
        assert_eq!(d.count("users"), 1);
    }
    let s = json(&p.ok(&["fleet", "status", "m", "--json"]));
    assert_eq!(s["census"]["versions"], serde_json::json!([{ "version": 1, "targets": 4 }]));
}

#[test]
fn backup_takes_one_backup_per_target_before_migrating_it() {
    let p = Project::new();
    migrations(&p, 1);
    tenants(&p, 3);
    p.write("db-migrate.toml", "[fleets.f]\nsqlite_glob = \"tenants/*.sqlite3\"\n");
    p.ok(&["fleet", "up", "f", "-q"]);
    p.migration(2, "t2", "CREATE TABLE t2 (id INTEGER);\nINSERT INTO applied_log (v) VALUES (2);", None);
    let (code, out, err) = p.run(&["fleet", "up", "f", "--backup", "-v"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("backed up tenants/t001.sqlite3 to ") && err.contains("backups/fleets/f/tenants_t001.sqlite3-development-"), "{err}");
    let mut backups: Vec<_> = std::fs::read_dir(p.path().join("backups/fleets/f")).unwrap().map(|e| e.unwrap().path()).collect();
    backups.sort();
    assert_eq!(backups.len(), 3, "{backups:?}");
    assert!(backups[2].file_name().unwrap().to_str().unwrap().starts_with("tenants_t002.sqlite3-development-"), "{backups:?}");
    for b in &backups {
        // Each holds its tenant as it was before the migration.
        assert_eq!(log_of(b), vec![1]);
    }
}

#[test]
fn production_refuses_lint_errors_before_any_target_runs() {
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;");
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (x INTEGER);", None);
    p.migration(2, "i", "CREATE INDEX t_x ON t (x);", None);
    p.write("db-migrate.toml", format!("[environments.production]\n\n[fleets.s]\npostgres_schemas = \"tenant\\\\_%\"\ndatabase_url = \"{}\"\n", db.url()));
    let err = p.fails(&["fleet", "up", "s", "--env", "production"]);
    assert!(err.contains("DM001") && err.contains("nothing was run"), "{err}");
    assert_eq!(db.query("SELECT count(*) FROM information_schema.tables WHERE table_schema LIKE 'tenant%'"), vec!["0"]);
    let v = json(&p.ok(&["fleet", "up", "s", "--env", "production", "--force", "--json"]));
    assert_eq!(count(&v, "migrated"), 2, "{v:#}");
}
