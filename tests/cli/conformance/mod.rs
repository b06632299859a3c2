//! The backend conformance suite: one set of behaviours every backend must show, run against
//! SQLite, PostgreSQL, MariaDB and MongoDB and reported per backend
//! (`conformance::postgres::failure_is_atomic`, …). Each test drives the real binary with
//! `--json`, asserts on that JSON, and checks the database with its own client. Migrations are
//! written once as steps (`target::Step`) and rendered as SQL files or `.mongo.json` command
//! files. Each test uses its own database and drops it; an unreachable server fails the test.

mod mongo_db;
mod server_db;
mod sqlite_db;
mod target;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Project;
use target::{Migration, Target, create, insert, sha256_file};

/// A project and a database of backend `B`, driven through `db-migrate --json`.
struct Suite<B: Target> {
    p: Project,
    db: B,
}

impl<B: Target> Suite<B> {
    fn new() -> Self {
        Suite { p: Project::new(), db: B::new() }
    }

    fn on(db: B) -> Self {
        Suite { p: Project::new(), db }
    }

    fn file_name(&self, version: i64, name: &str) -> String {
        B::DIALECT.file_name(version, name)
    }

    /// Writes migration `version_name`; returns its path.
    fn write(&self, version: i64, name: &str, m: &Migration) -> std::path::PathBuf {
        self.p.write(&format!("migrations/{}", self.file_name(version, name)), B::DIALECT.render(m))
    }

    fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["--database-url".to_string(), self.db.url(), "--json".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        all
    }

    /// Runs `db-migrate --json ARGS`; returns the exit code and the JSON document on stdout.
    fn run(&self, args: &[&str]) -> (i32, Value) {
        let all = self.args(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let (code, out, err) = self.p.run(&refs);
        let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document ({e}):\n{out}\nstderr:\n{err}"));
        (code, v)
    }

    fn ok(&self, args: &[&str]) -> Value {
        let (code, v) = self.run(args);
        assert_eq!(code, 0, "{:?} {args:?} failed: {v:#}", B::DIALECT);
        v
    }

    /// Runs a command that must fail with exit 2; returns its `error` object, which is the only
    /// output (nothing on stderr).
    fn err(&self, args: &[&str]) -> Value {
        let all = self.args(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let (code, out, err) = self.p.run(&refs);
        assert_eq!(code, 2, "{:?} {args:?} should fail with 2:\n{out}\n{err}", B::DIALECT);
        assert_eq!(err, "", "{:?} {args:?}: with --json an error is printed once, on stdout", B::DIALECT);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document ({e}):\n{out}"));
        v["error"].clone()
    }

    /// `status --json`: (version, state) of each migration.
    fn states(&self) -> Vec<(i64, String)> {
        let v = self.ok(&["status"]);
        entries(&v).iter().map(|e| (e["version"].as_i64().unwrap(), e["state"].as_str().unwrap().to_string())).collect()
    }

    /// Starts `db-migrate ARGS` in the background.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
            .current_dir(self.p.path())
            .env_remove("DATABASE_URL")
            .env_remove("DB_MIGRATE_ENV")
            .args(self.args(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn entries(status: &Value) -> &Vec<Value> {
    status["migrations"].as_array().unwrap_or_else(|| panic!("no `migrations` array: {status:#}"))
}

/// (version, direction) of each step of an `up`/`down` report.
fn steps(report: &Value) -> Vec<(i64, String)> {
    report["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no `steps` array: {report:#}"))
        .iter()
        .map(|s| (s["version"].as_i64().unwrap(), s["direction"].as_str().unwrap().to_string()))
        .collect()
}

fn ups(versions: &[i64]) -> Vec<(i64, String)> {
    versions.iter().map(|&v| (v, "up".to_string())).collect()
}

fn downs(versions: &[i64]) -> Vec<(i64, String)> {
    versions.iter().map(|&v| (v, "down".to_string())).collect()
}

fn applied(versions: &[i64]) -> Vec<(i64, String)> {
    versions.iter().map(|&v| (v, "applied".to_string())).collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Asserts the fields of a `migration_failed` error.
fn assert_failed(e: &Value, version: i64, name: &str, file: &str, line: i64, kept: &str) {
    assert_failed_in(e, "up", version, name, file, line, kept)
}

fn assert_failed_in(e: &Value, direction: &str, version: i64, name: &str, file: &str, line: i64, kept: &str) {
    assert_eq!(e["kind"], "migration_failed", "{e:#}");
    assert_eq!(e["migration"]["version"], version, "{e:#}");
    assert_eq!(e["migration"]["name"], name, "{e:#}");
    assert_eq!(e["direction"], direction, "{e:#}");
    assert!(e["file"].as_str().is_some_and(|f| f.ends_with(file)), "the file is named: {e:#}");
    assert_eq!(e["line"], line, "the failing statement's line: {e:#}");
    assert_eq!(e["kept"], kept, "{e:#}");
}

// ---- the behaviours ----

/// `up` applies every pending migration in version order and records each as applied.
fn applies_in_order<B: Target>() {
    let s = Suite::<B>::new();
    for (v, t) in [(3, "c"), (1, "a"), (2, "b")] {
        s.write(v, t, &Migration::table(t));
    }
    let report = s.ok(&["up"]);
    assert_eq!(steps(&report), ups(&[1, 2, 3]), "{report:#}");
    assert_eq!(s.states(), applied(&[1, 2, 3]));
    assert_eq!(s.db.statuses(), applied(&[1, 2, 3]));
    assert_eq!(s.db.user_objects(), strings(&["a", "b", "c"]));
    for t in ["a", "b", "c"] {
        assert_eq!(s.db.keys(t), vec![1], "{t}");
    }
    let again = s.ok(&["up"]);
    assert_eq!(steps(&again), vec![], "nothing left to apply: {again:#}");
}

/// `down`, `down --steps 2` and `down --all` revert newest first and remove the history rows.
fn reverts_in_reverse_order<B: Target>() {
    let s = Suite::<B>::new();
    for (v, t) in [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")] {
        s.write(v, t, &Migration::table(t));
    }
    s.ok(&["up"]);
    assert_eq!(steps(&s.ok(&["down"])), downs(&[5]));
    assert_eq!(s.db.user_objects(), strings(&["a", "b", "c", "d"]));
    assert_eq!(s.db.statuses(), applied(&[1, 2, 3, 4]));
    assert_eq!(steps(&s.ok(&["down", "--steps", "2"])), downs(&[4, 3]));
    assert_eq!(s.db.user_objects(), strings(&["a", "b"]));
    assert_eq!(s.db.statuses(), applied(&[1, 2]));
    assert_eq!(steps(&s.ok(&["down", "--all"])), downs(&[2, 1]));
    assert_eq!(s.db.user_objects(), Vec::<String>::new());
    assert_eq!(s.db.statuses(), vec![]);
    let states = s.states();
    assert!(states.iter().all(|(_, st)| st == "pending"), "{states:?}");
}

/// A down section that fails after dropping something: transactional DDL keeps the migration
/// applied with its schema; elsewhere it is dirty.
fn failed_revert_is_atomic<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "base", &Migration::table("base"));
    // The down section's third step (line 6 of the SQL file, after `-- migrate:down`) fails.
    let m = Migration::steps(vec![create("t2")], vec![target::drop("t2"), insert("base", 2), insert("base", 1)]);
    let path = s.write(2, "two", &m);
    s.ok(&["up"]);
    let before = s.db.snapshot();
    let e = s.err(&["down"]);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().position(|l| l.contains("_id\": 1") || l.contains("VALUES (1)")).unwrap() as i64 + 1;
    if B::DIALECT.transactional_ddl() {
        assert_failed_in(&e, "down", 2, "two", &s.file_name(2, "two"), line, "nothing");
        assert_eq!(s.db.snapshot(), before, "t2 and its history row are still there");
        assert_eq!(s.states(), applied(&[1, 2]));
    } else {
        assert_failed_in(&e, "down", 2, "two", &s.file_name(2, "two"), line, "dirty");
        assert_eq!(s.db.statuses(), vec![(1, "applied".into()), (2, "dirty".into())]);
        assert!(!s.db.user_objects().contains(&"t2".to_string()), "the drop stayed");
    }
}

/// A failure after a schema change: transactional DDL keeps nothing; elsewhere the migration is
/// recorded dirty and what ran stays.
fn failure_is_atomic<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "base", &Migration::table("base"));
    s.ok(&["up"]);
    // Line 4: the duplicate key of `base` fails after `t2` was created and filled.
    s.write(2, "broken", &Migration::steps(vec![create("t2"), insert("t2", 1), insert("base", 1)], vec![target::drop("t2")]));
    let before = s.db.snapshot();
    let e = s.err(&["up"]);
    let file = s.file_name(2, "broken");
    if B::DIALECT.transactional_ddl() {
        assert_failed(&e, 2, "broken", &file, 4, "nothing");
        assert_eq!(s.db.snapshot(), before, "the schema and the history are as before");
        assert_eq!(s.states(), vec![(1, "applied".into()), (2, "pending".into())]);
    } else {
        assert_failed(&e, 2, "broken", &file, 4, "dirty");
        assert_eq!(s.db.statuses(), vec![(1, "applied".into()), (2, "dirty".into())]);
        assert_eq!(s.states(), vec![(1, "applied".into()), (2, "dirty".into())]);
        assert!(s.db.user_objects().contains(&"t2".to_string()), "the DDL stayed");
    }
}

/// A failure at the first statement keeps nothing, on every backend.
fn failure_at_the_first_statement_keeps_nothing<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "base", &Migration::table("base"));
    s.ok(&["up"]);
    s.write(2, "broken", &Migration::steps(vec![insert("base", 1), create("t2")], vec![target::drop("t2")]));
    let before = s.db.snapshot();
    let e = s.err(&["up"]);
    assert_failed(&e, 2, "broken", &s.file_name(2, "broken"), 2, "nothing");
    assert_eq!(s.db.snapshot(), before, "nothing changed, no history row");
    assert_eq!(s.states(), vec![(1, "applied".into()), (2, "pending".into())]);
}

/// A failing data-only migration: one transaction wherever the backend has one for it (on
/// MariaDB too, where only DDL commits by itself); command files have none, so they are dirty.
fn data_failure_is_atomic<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "base", &Migration::table("base"));
    s.ok(&["up"]);
    s.write(2, "data", &Migration::steps(vec![insert("base", 2), insert("base", 3), insert("base", 1)], vec![]));
    let before = s.db.snapshot();
    let e = s.err(&["up"]);
    let file = s.file_name(2, "data");
    if B::DIALECT.transactional_data() {
        assert_failed(&e, 2, "data", &file, 4, "nothing");
        assert_eq!(s.db.snapshot(), before, "the two good inserts were taken back, no history row");
    } else {
        assert_failed(&e, 2, "data", &file, 4, "dirty");
        assert_eq!(s.db.keys("base"), vec![1, 2, 3]);
        assert_eq!(s.db.statuses(), vec![(1, "applied".into()), (2, "dirty".into())]);
    }
}

/// A migration without a transaction that fails mid-way is `dirty`; `up` refuses until
/// `repair --mark-applied` or `--mark-reverted` records what a human found.
fn dirty_protocol<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "base", &Migration::table("base"));
    s.ok(&["up"]);
    let half = |t: &str| Migration::steps(vec![create(t), insert("base", 1)], vec![target::drop(t)]).without_transaction();

    s.write(2, "half", &half("d2"));
    let e = s.err(&["up"]);
    assert_failed(&e, 2, "half", &s.file_name(2, "half"), 3, "dirty");
    assert_eq!(s.states(), vec![(1, "applied".into()), (2, "dirty".into())]);
    assert_eq!(s.db.statuses(), vec![(1, "applied".into()), (2, "dirty".into())]);
    s.write(3, "next", &Migration::table("n3"));
    let e = s.err(&["up"]);
    assert_eq!(e["kind"], "plan", "up refuses while a migration is dirty: {e:#}");
    assert!(!s.db.user_objects().contains(&"n3".to_string()), "nothing ran");

    // Its changes are what we want: recorded as applied, and the run goes on.
    let r = s.ok(&["repair", "--mark-applied", "2", "--yes"]);
    assert_eq!((r["version"].as_i64(), r["action"].as_str()), (Some(2), Some("mark-applied")), "{r:#}");
    assert_eq!(steps(&s.ok(&["up"])), ups(&[3]));
    assert_eq!(s.states(), applied(&[1, 2, 3]));

    // Its changes are undone by hand: recorded as reverted, fixed, applied again.
    s.write(4, "half", &half("d4"));
    s.err(&["up"]);
    assert_eq!(s.db.statuses(), vec![(1, "applied".into()), (2, "applied".into()), (3, "applied".into()), (4, "dirty".into())]);
    let r = s.ok(&["repair", "--mark-reverted", "4", "--yes"]);
    assert_eq!((r["version"].as_i64(), r["action"].as_str()), (Some(4), Some("mark-reverted")), "{r:#}");
    assert_eq!(s.db.statuses(), applied(&[1, 2, 3]));
    assert_eq!(s.states().last(), Some(&(4, "pending".to_string())));
    s.db.drop_object("d4");
    s.write(4, "half", &Migration::table("d4").without_transaction());
    assert_eq!(steps(&s.ok(&["up"])), ups(&[4]));
    assert_eq!(s.states(), applied(&[1, 2, 3, 4]));
    assert_eq!(s.db.keys("d4"), vec![1]);
}

/// Six runners at once on a fresh database — every other round one that does not exist yet —
/// a few times over (the races are at the start, before the database and the history exist):
/// each migration is applied by exactly one of them, and all succeed.
fn concurrent_runners_apply_each_migration_once<B: Target>() {
    for round in 0..8 {
        let s = if round % 2 == 0 { Suite::<B>::new() } else { Suite::on(B::missing()) };
        let versions: Vec<i64> = (1..=8).collect();
        for &v in &versions {
            s.write(v, &format!("t{v}"), &Migration::table(&format!("t{v}")));
        }
        let children: Vec<_> = (0..6).map(|_| s.spawn(&["up"])).collect();
        let mut all = Vec::new();
        for c in children {
            let out = c.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{:?} round {round}: every runner succeeds:\n{stdout}\n{}", B::DIALECT, String::from_utf8_lossy(&out.stderr));
            let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
            all.extend(steps(&v));
        }
        all.sort();
        assert_eq!(all, ups(&versions), "each migration applied by exactly one runner");
        assert_eq!(s.db.statuses(), applied(&versions));
        for &v in &versions {
            assert_eq!(s.db.keys(&format!("t{v}")), vec![1], "t{v} filled once");
        }
    }
}

/// While one runner is in a slow migration, another with `--lock-timeout 1` fails with kind
/// `locked`, naming the holder; once the holder is done, the lock is free.
fn held_lock_times_out_naming_the_holder<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "first", &Migration::table("first"));
    s.write(2, "slow", &Migration { up: vec![target::Step::Slow], down: Some(vec![]), transaction: true });
    s.write(3, "last", &Migration::table("last"));
    let holder = s.spawn(&["up"]);
    let started = Instant::now();
    while s.db.statuses().first() != Some(&(1, "applied".to_string())) {
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}: the holder never started", B::DIALECT);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let name = s.db.holder(holder.id());
    let waited = Instant::now();
    let (code, v) = s.run(&["up", "--lock-timeout", "1"]);
    let took = waited.elapsed();
    let out = holder.wait_with_output().unwrap();
    assert!(out.status.success(), "the holder finished normally: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(steps(&serde_json::from_slice(&out.stdout).unwrap()), ups(&[1, 2, 3]));
    assert_eq!(code, 2, "{:?}: a second runner must time out on the held lock: {v:#}", B::DIALECT);
    let e = &v["error"];
    assert_eq!(e["kind"], "locked", "{e:#}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(&name), "the holder ({name}) is named: {message}");
    assert!(took < Duration::from_secs(6), "gave up after about --lock-timeout, not {took:?}");
    // Released on exit: the next run gets it at once.
    assert_eq!(steps(&s.ok(&["up", "--lock-timeout", "1"])), vec![]);
    assert_eq!(s.db.statuses(), applied(&[1, 2, 3]));
}

/// What `up` records is what `status --json` reads back, with the files' checksums; the same
/// after `down --all` and `up` again.
fn history_round_trips<B: Target>() {
    let s = Suite::<B>::new();
    let files: Vec<(i64, &str, std::path::PathBuf)> =
        [(1, "alpha"), (20, "beta_two"), (300, "gamma-3")].into_iter().map(|(v, n)| (v, n, s.write(v, n, &Migration::table(&format!("t{v}"))))).collect();
    for round in 0..2 {
        s.ok(&["up"]);
        let status = s.ok(&["status"]);
        let history = s.db.history();
        assert_eq!(entries(&status).len(), 3, "{status:#}");
        assert_eq!(history.len(), 3, "round {round}: {history:?}");
        for (((v, name, path), e), h) in files.iter().zip(entries(&status)).zip(&history) {
            assert_eq!((e["version"].as_i64(), e["name"].as_str(), e["kind"].as_str()), (Some(*v), Some(*name), Some(B::DIALECT.kind())), "{e:#}");
            assert_eq!(e["state"], "applied", "{e:#}");
            assert_eq!(e["out_of_order"], false, "{e:#}");
            assert!(e["applied_at"].is_string() && e["execution_ms"].is_i64(), "{e:#}");
            assert!(e["file"].as_str().is_some_and(|f| f.ends_with(&s.file_name(*v, name))), "{e:#}");
            assert_eq!((h.version, h.name.as_str(), h.kind.as_str(), h.status.as_str()), (*v, *name, B::DIALECT.kind(), "applied"));
            assert_eq!(h.checksum, sha256_file(path), "round {round}: the recorded checksum is the file's SHA-256");
        }
        let v = s.ok(&["validate"]);
        assert_eq!((v["ok"].as_bool(), v["drift"].as_array().map(Vec::len)), (Some(true), Some(0)), "{v:#}");
        assert_eq!(steps(&s.ok(&["down", "--all"])), downs(&[300, 20, 1]));
        assert_eq!(s.db.history(), vec![]);
    }
}

/// `status` on an empty database creates no table or collection.
fn status_creates_nothing<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "a", &Migration::table("a"));
    assert_eq!(s.states(), vec![(1, "pending".into())]);
    assert_eq!(s.db.objects(), Vec::<String>::new(), "status created something");
    let v = s.ok(&["validate"]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(s.db.objects(), Vec::<String>::new(), "validate created something");
}

/// `status` on a database that does not exist does not create it.
fn status_does_not_create_a_missing_database<B: Target>() {
    let s = Suite::on(B::missing());
    assert!(!s.db.exists());
    s.write(1, "a", &Migration::table("a"));
    assert_eq!(s.states(), vec![(1, "pending".into())]);
    assert!(!s.db.exists(), "status created the database");
    // `up` does.
    assert_eq!(steps(&s.ok(&["up"])), ups(&[1]));
    assert!(s.db.exists());
}

/// An applied file edited afterwards is `modified`; `up` refuses and `validate` exits 1.
fn drift_is_refused<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "a", &Migration::table("a"));
    s.write(2, "b", &Migration::table("b"));
    s.ok(&["up"]);
    s.write(1, "a", &Migration::steps(vec![create("a"), insert("a", 1), insert("a", 2)], vec![target::drop("a")]));
    s.write(3, "c", &Migration::table("c"));
    assert_eq!(s.states(), vec![(1, "modified".into()), (2, "applied".into()), (3, "pending".into())]);
    let e = s.err(&["up"]);
    assert_eq!(e["kind"], "plan", "{e:#}");
    assert_eq!(s.db.statuses(), applied(&[1, 2]), "nothing ran");
    let (code, v) = s.run(&["validate"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["ok"], false, "{v:#}");
    let drift: Vec<(Option<i64>, Option<&str>)> =
        v["drift"].as_array().unwrap().iter().map(|d| (d["version"].as_i64(), d["state"].as_str())).collect();
    assert_eq!(drift, vec![(Some(1), Some("modified"))], "{v:#}");
}

/// A pending migration older than the newest applied one is flagged and refused unless allowed.
fn out_of_order_is_flagged_and_refused<B: Target>() {
    let s = Suite::<B>::new();
    s.write(1, "a", &Migration::table("a"));
    s.write(3, "c", &Migration::table("c"));
    s.ok(&["up"]);
    s.write(2, "b", &Migration::table("b"));
    let status = s.ok(&["status"]);
    let flags: Vec<(Option<i64>, Option<&str>, Option<bool>)> =
        entries(&status).iter().map(|e| (e["version"].as_i64(), e["state"].as_str(), e["out_of_order"].as_bool())).collect();
    assert_eq!(flags, vec![(Some(1), Some("applied"), Some(false)), (Some(2), Some("pending"), Some(true)), (Some(3), Some("applied"), Some(false))]);
    let e = s.err(&["up"]);
    assert_eq!(e["kind"], "plan", "{e:#}");
    assert!(!s.db.user_objects().contains(&"b".to_string()), "nothing ran");
    assert_eq!(steps(&s.ok(&["up", "--allow-out-of-order"])), ups(&[2]));
    assert_eq!(s.states(), applied(&[1, 2, 3]));
}

/// One `#[test]` per behaviour for a backend, in a module named after it.
macro_rules! conformance {
    ($module:ident, $target:ty) => {
        mod $module {
            #[test]
            fn applies_in_order() {
                super::applies_in_order::<$target>()
            }
            #[test]
            fn reverts_in_reverse_order() {
                super::reverts_in_reverse_order::<$target>()
            }
            #[test]
            fn failure_is_atomic() {
                super::failure_is_atomic::<$target>()
            }
            #[test]
            fn failure_at_the_first_statement_keeps_nothing() {
                super::failure_at_the_first_statement_keeps_nothing::<$target>()
            }
            #[test]
            fn failed_revert_is_atomic() {
                super::failed_revert_is_atomic::<$target>()
            }
            #[test]
            fn data_failure_is_atomic() {
                super::data_failure_is_atomic::<$target>()
            }
            #[test]
            fn dirty_protocol() {
                super::dirty_protocol::<$target>()
            }
            #[test]
            fn concurrent_runners_apply_each_migration_once() {
                super::concurrent_runners_apply_each_migration_once::<$target>()
            }
            #[test]
            fn held_lock_times_out_naming_the_holder() {
                super::held_lock_times_out_naming_the_holder::<$target>()
            }
            #[test]
            fn history_round_trips() {
                super::history_round_trips::<$target>()
            }
            #[test]
            fn status_creates_nothing() {
                super::status_creates_nothing::<$target>()
            }
            #[test]
            fn status_does_not_create_a_missing_database() {
                super::status_does_not_create_a_missing_database::<$target>()
            }
            #[test]
            fn drift_is_refused() {
                super::drift_is_refused::<$target>()
            }
            #[test]
            fn out_of_order_is_flagged_and_refused() {
                super::out_of_order_is_flagged_and_refused::<$target>()
            }
        }
    };
}

conformance!(sqlite, super::sqlite_db::SqliteDb);
conformance!(postgres, super::server_db::PostgresDb);
conformance!(mariadb, super::server_db::MariadbDb);
conformance!(mongo, super::mongo_db::MongoDb);
