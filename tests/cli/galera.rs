//! MariaDB Galera: a real 3-node cluster on loopback (tests/galera.sh; tests/run.sh starts it and
//! exports DBM_GALERA_URLS). Each test makes its own database and drops it. An unreachable
//! cluster fails the tests: they never pass or skip silently. The tests take the cluster in turn
//! (one of them kills a node).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::Project;

static CLUSTER: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The three nodes' URLs (no database), from DBM_GALERA_URLS (comma- or space-separated) or
/// the ports tests/galera.sh uses.
fn node_urls() -> Vec<String> {
    let urls: Vec<String> = match std::env::var("DBM_GALERA_URLS") {
        Ok(v) => v.split([',', ' ', '\n']).filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/').to_string()).collect(),
        Err(_) => (4406..=4408).map(|p| format!("mysql://root@127.0.0.1:{p}")).collect(),
    };
    assert_eq!(urls.len(), 3, "DBM_GALERA_URLS must name the three nodes of the test cluster");
    urls
}

/// `mariadb` client arguments for a node URL `mysql://user@host:port`.
fn client_args(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (user, hostport) = rest.split_once('@').unwrap_or(("root", rest));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    ["-h", host, "-P", port, "-u", user, "-N", "-B"].iter().map(|s| s.to_string()).collect()
}

fn mariadb(node: &str, db: Option<&str>, sql: &str) -> Output {
    let mut c = Command::new("mariadb");
    c.args(client_args(node)).arg("-e").arg(sql);
    if let Some(d) = db {
        c.arg(d);
    }
    c.stdin(Stdio::null()).output().expect("cannot run the mariadb client")
}

/// A database of its own on the cluster, dropped at the end.
struct ClusterDb {
    nodes: Vec<String>,
    name: String,
}

impl ClusterDb {
    /// Checks that all three nodes answer in one Synced cluster of 3; fails the test otherwise.
    fn new() -> Self {
        let nodes = node_urls();
        for n in &nodes {
            let out = mariadb(n, None, "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_local_state_comment')");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("wsrep_cluster_size\t3") && text.contains("Synced"),
                "the Galera test cluster is not reachable or not whole at {n} ({text}{}): start it with `tests/galera.sh start` (tests/run.sh does)",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let name = format!("dbm_galera_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        ClusterDb { nodes, name }
    }

    fn url(&self, node: usize) -> String {
        format!("{}/{}", self.nodes[node], self.name)
    }

    /// Rows of `sql` on `node`, columns joined by `|`.
    fn query(&self, node: usize, sql: &str) -> Vec<String> {
        let out = mariadb(&self.nodes[node], Some(&self.name), sql);
        assert!(out.status.success(), "query `{sql}` on node {} failed: {}", node + 1, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.replace('\t', "|")).filter(|l| !l.is_empty()).collect()
    }

    fn history(&self, node: usize) -> Vec<String> {
        self.query(node, "SELECT version, status, checksum FROM db_migrate_history ORDER BY version")
    }
}

impl Drop for ClusterDb {
    fn drop(&mut self) {
        for n in &self.nodes {
            if mariadb(n, None, &format!("DROP DATABASE IF EXISTS {}", self.name)).status.success() {
                break;
            }
        }
    }
}

fn spawn(p: &Project, url: &str, extra: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
        .current_dir(p.path())
        .env_remove("DATABASE_URL")
        .env_remove("DB_MIGRATE_ENV")
        .args(["up", "--database-url", url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// 40 migrations: tables t1..t40, each also logging its number into `applied_log` (no key, so a
/// migration applied twice would show as a duplicate row). Every fifth is DML only.
fn forty(p: &Project) {
    p.write("migrations/0001_log.sql", "-- migrate:up\nCREATE TABLE applied_log (v INT NOT NULL);\nINSERT INTO applied_log VALUES (1);\n");
    for i in 2..=40 {
        let body = if i % 5 == 0 {
            format!("INSERT INTO applied_log VALUES ({i});\n")
        } else {
            format!("CREATE TABLE t{i} (id INT PRIMARY KEY);\nINSERT INTO t{i} VALUES ({i});\nINSERT INTO applied_log VALUES ({i});\n")
        };
        p.write(&format!("migrations/{i:04}_m{i}.sql"), format!("-- migrate:up\n{body}"));
    }
}

fn retries(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("Galera certification conflict")).count()
}

#[test]
fn six_runners_on_three_nodes_apply_each_migration_once_ten_rounds() {
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let p = Project::new();
    forty(&p);
    let (mut total_retries, started) = (0, Instant::now());
    for round in 1..=10 {
        let db = ClusterDb::new();
        let t = Instant::now();
        // Two runners per node, all at once, with the default lock mode.
        let runners: Vec<Child> = (0..6).map(|i| spawn(&p, &db.url(i % 3), &["--json"])).collect();
        let mut applied = Vec::new();
        for (i, r) in runners.into_iter().enumerate() {
            let out = r.wait_with_output().unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "round {round}: runner {i} on node {} exited {:?}:\n{stdout}\n{stderr}", i % 3 + 1, out.status.code());
            total_retries += retries(&stderr);
            let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("round {round}: not JSON ({e}): {stdout}"));
            for s in report["steps"].as_array().unwrap_or_else(|| panic!("no steps in {report}")) {
                applied.push(s["version"].as_i64().unwrap());
            }
        }
        applied.sort();
        assert_eq!(applied, (1..=40).collect::<Vec<_>>(), "round {round}: each migration applied exactly once between the six runners");
        let h1 = db.history(0);
        assert_eq!(h1.len(), 40, "round {round}: {h1:?}");
        assert!(h1.iter().all(|r| r.split('|').nth(1) == Some("applied")), "round {round}: a row is not applied: {h1:?}");
        assert_eq!(db.history(1), h1, "round {round}: node 2's history differs from node 1's");
        assert_eq!(db.history(2), h1, "round {round}: node 3's history differs from node 1's");
        let log = db.query(1, "SELECT COUNT(*), COUNT(DISTINCT v) FROM applied_log");
        assert_eq!(log, ["40|40"], "round {round}: each migration's work done exactly once");
        eprintln!("galera round {round}: {:.2} s", t.elapsed().as_secs_f64());
    }
    eprintln!("galera: 10 rounds in {:.1} s, {total_retries} certification retries", started.elapsed().as_secs_f64());
}

/// Starts the killed node again on every path, so later tests find three nodes.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let out = Command::new("bash").arg(root().join("tests/galera.sh")).arg("start").output().expect("cannot run tests/galera.sh");
        assert!(out.status.success() || std::thread::panicking(), "restarting the cluster failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_killed_mid_migration_keeps_the_history_true_and_a_rerun_elsewhere_finishes() {
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let db = ClusterDb::new();
    let p = Project::new();
    forty(&p);
    // Migration 20 commits DDL (and with it its dirty history row), then takes its time.
    p.write("migrations/0020_m20.sql", "-- migrate:up\nCREATE TABLE slow1 (id INT PRIMARY KEY);\nSELECT SLEEP(30);\nCREATE TABLE slow2 (id INT PRIMARY KEY);\n");
    let dir = std::env::var("DBM_GALERA_DIR").map(PathBuf::from).unwrap_or_else(|_| root().join("target/galera"));
    let pid = std::fs::read_to_string(dir.join("node1/mysqld.pid")).expect("node 1's pid file (tests/galera.sh start)").trim().to_string();

    let a = spawn(&p, &db.url(0), &[]);
    // Node 2 sees 20's dirty row: the runner on node 1 is inside the slow migration.
    let seen = || db.query(1, "SELECT status FROM db_migrate_history WHERE version = 20") == ["dirty"];
    wait_until("migration 20 to start on node 1", Duration::from_secs(60), || {
        mariadb(&db.nodes[1], Some(&db.name), "SELECT 1 FROM db_migrate_history").status.success() && seen()
    });
    // Runners on the other nodes wait for the lock meanwhile.
    let b = spawn(&p, &db.url(1), &[]);
    let c = spawn(&p, &db.url(2), &[]);
    std::thread::sleep(Duration::from_millis(500));
    let _restart = Restart;
    assert!(Command::new("kill").args(["-9", &pid]).status().unwrap().success(), "kill -9 node 1 ({pid})");

    let a = a.wait_with_output().unwrap();
    let a_err = String::from_utf8_lossy(&a.stderr);
    assert_eq!(a.status.code(), Some(2), "the runner whose node died fails: {a_err}");
    assert!(a_err.contains("migration 20") && a_err.contains("what was kept is unknown"), "it cannot know what replicated, and says so: {a_err}");
    assert!(!a_err.contains("nothing of this migration was kept"), "{a_err}");

    // What replicated, as the surviving nodes see it: 1..19 applied, 20 dirty with its first DDL.
    let history = db.history(1);
    assert_eq!(db.history(2), history, "the survivors agree");
    let status: Vec<String> = history.iter().map(|r| r.split('|').take(2).collect::<Vec<_>>().join("|")).collect();
    let mut want: Vec<String> = (1..=19).map(|v| format!("{v}|applied")).collect();
    want.push("20|dirty".into());
    assert_eq!(status, want);
    let slow = db.query(1, "SHOW TABLES LIKE 'slow%'");
    assert_eq!(slow, ["slow1"], "the DDL before the kill replicated, the one after never ran");

    // The waiting runners take over the dead node's lock and refuse to pass the dirty row.
    for (name, r) in [("node 2", b), ("node 3", c)] {
        let out = r.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "the runner on {name} stops at the dirty migration: {err}");
        assert!(err.contains("dirty") && err.contains("20"), "{name}: {err}");
    }
    assert_eq!(db.history(1), history, "nothing else was run meanwhile");

    // A human finishes 20 (it is recorded dirty, so they check the schema), then a rerun through
    // another node finishes the job.
    db.query(2, "CREATE TABLE slow2 (id INT PRIMARY KEY)");
    p.ok(&["repair", "--mark-applied", "20", "--database-url", &db.url(2)]);
    let out = p.ok(&["up", "--json", "--database-url", &db.url(1)]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let done: Vec<i64> = report["steps"].as_array().unwrap().iter().map(|s| s["version"].as_i64().unwrap()).collect();
    assert_eq!(done, (21..=40).collect::<Vec<_>>());
    let h2 = db.history(1);
    assert_eq!(h2.len(), 40);
    assert!(h2.iter().all(|r| r.split('|').nth(1) == Some("applied")), "{h2:?}");
    assert_eq!(db.history(2), h2);
    assert_eq!(db.query(2, "SELECT COUNT(*), COUNT(DISTINCT v) FROM applied_log"), ["39|39"], "20 logs nothing; the rest once each");

    // Node 1 comes back and catches up.
    drop(_restart);
    assert_eq!(db.history(0), h2, "the restarted node has the same history");
}

#[test]
fn a_migration_aborted_by_a_conflicting_write_on_another_node_is_reported_not_retried() {
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let db = ClusterDb::new();
    let p = Project::new();
    p.write("migrations/0001_counter.sql", "-- migrate:up\nCREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL);\nINSERT INTO counter VALUES (1, 0);\n");
    p.write("migrations/0002_bump.sql", "-- migrate:up\nUPDATE counter SET n = n + 1 WHERE id = 1;\nSELECT SLEEP(5);\n");
    p.ok(&["up", "--to", "1", "--database-url", &db.url(0)]);
    let runner = spawn(&p, &db.url(0), &[]);
    wait_until("migration 2 to sleep on node 1", Duration::from_secs(30), || {
        let out = mariadb(&db.nodes[0], None, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(5)%'");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    });
    // An application writes the same row through node 2: Galera aborts the migration's transaction.
    db.query(1, "UPDATE counter SET n = 100 WHERE id = 1");
    let out = runner.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Deadlock") && err.contains("code 40001"), "Galera's refusal is shown: {err}");
    assert!(err.contains("nothing of this migration was kept") || err.contains("nothing of it was kept"), "{err}");
    // True on every node: the application's write stands, no history row, nothing re-run.
    for node in 0..3 {
        assert_eq!(db.query(node, "SELECT n FROM counter"), ["100"], "node {}", node + 1);
        assert_eq!(db.query(node, "SELECT version, status FROM db_migrate_history"), ["1|applied"], "node {}", node + 1);
    }
    // Run again (through another node), it applies once.
    p.ok(&["up", "--database-url", &db.url(2)]);
    assert_eq!(db.query(1, "SELECT n FROM counter"), ["101"]);
}

#[test]
fn a_killed_runners_lock_is_taken_over_by_a_runner_on_the_same_node() {
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let db = ClusterDb::new();
    let p = Project::new();
    p.write("migrations/0001_counter.sql", "-- migrate:up\nCREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL);\nINSERT INTO counter VALUES (1, 0);\n");
    p.write("migrations/0002_slow.sql", "-- migrate:up\nUPDATE counter SET n = n + 1 WHERE id = 1;\nSELECT SLEEP(3);\n");
    p.ok(&["up", "--to", "1", "--database-url", &db.url(0)]);
    let mut a = spawn(&p, &db.url(0), &[]);
    wait_until("migration 2 to sleep on node 1", Duration::from_secs(30), || {
        let out = mariadb(&db.nodes[0], None, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(3)%'");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    });
    a.kill().unwrap();
    let _ = a.wait();
    // Its lock row stays (a lock row outlives its runner), but its connection on node 1 closes.
    assert_eq!(db.query(1, "SELECT COUNT(*) FROM db_migrate_history_lock"), ["1"]);
    let t = Instant::now();
    let (code, out, err) = p.run(&["up", "--lock-timeout", "20", "--database-url", &db.url(0)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("took over the migration lock"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "taken over once the connection closed, not after the lock's expiry: {:?}", t.elapsed());
    assert_eq!(db.query(2, "SELECT n FROM counter"), ["1"], "the killed run's transaction was rolled back, the rerun applied it once");
    assert_eq!(db.query(2, "SELECT version, status FROM db_migrate_history"), ["1|applied", "2|applied"]);
}

#[test]
fn a_run_whose_lock_row_was_taken_stops_before_its_next_migration() {
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let db = ClusterDb::new();
    let p = Project::new();
    p.write("migrations/0001_slow.sql", "-- migrate:up\nCREATE TABLE one (id INT PRIMARY KEY);\nSELECT SLEEP(3);\n");
    p.write("migrations/0002_two.sql", "-- migrate:up\nCREATE TABLE two (id INT PRIMARY KEY);\n");
    let runner = spawn(&p, &db.url(0), &[]);
    wait_until("migration 1 to start", Duration::from_secs(30), || {
        mariadb(&db.nodes[1], Some(&db.name), "SELECT 1 FROM db_migrate_history_lock").status.success()
            && db.query(1, "SELECT COUNT(*) FROM db_migrate_history_lock") == ["1"]
    });
    // Someone deletes the lock row on another node (as the time-out message allows).
    db.query(1, "DELETE FROM db_migrate_history_lock");
    let out = runner.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lost the migration lock"), "{err}");
    assert_eq!(db.query(2, "SELECT version, status FROM db_migrate_history"), ["1|applied"], "1 finished, 2 never started");
    assert_eq!(db.query(2, "SHOW TABLES LIKE 'two'"), Vec::<String>::new());
}

#[test]
fn reset_on_galera_keeps_the_lock_table_it_holds_its_lock_in() {
    let _turn = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let db = ClusterDb::new();
    let p = Project::new();
    forty(&p);
    p.ok(&["up", "--database-url", &db.url(0)]);
    // Default lock mode: on Galera the lock row is used all the same, and reset must not drop it.
    let out = p.ok(&["reset", "--yes", "--database-url", &db.url(1)]);
    assert!(out.contains("dropped 33 object(s)"), "32 tables and the history, not the lock table: {out}");
    assert_eq!(db.query(2, "SELECT COUNT(*), SUM(status = 'applied') FROM db_migrate_history"), ["40|40"]);
    assert_eq!(db.query(2, "SELECT COUNT(*) FROM db_migrate_history_lock"), ["0"], "released at the end");
}
