//! The hostile-guest suite: a component that tries everything. For each attack the process
//! survives, exits 2, the error names the cause, and the database is exactly as before.

use crate::common::Project;

const CONFIG: &str = r#"
[components.hostile]
allow = ["read", "write"]
tables = ["users"]
data_dir = "data"
timeout_secs = 2
memory_mib = 64
max_rows = 1000
max_log_bytes = 4096
max_output_bytes = 4096
"#;

fn arena() -> Project {
    let p = Project::new();
    p.migration(
        1,
        "schema",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE secrets (v TEXT);\nINSERT INTO secrets VALUES ('s3cret');",
        None,
    );
    p.component("hostile", 2, "hostile");
    p.write("data/allowed.txt", "hello from the data folder\n");
    p.write("outside.txt", "outside secret\n");
    p.write("db-migrate.toml", CONFIG);
    p.ok(&["up", "--to", "1"]);
    p
}

/// Runs one attack and checks the common promises; returns stderr for the specific ones.
fn attack(p: &Project, mode: &str) -> String {
    let before = p.snapshot();
    let (code, out, err) = p.run(&["up", "--arg", &format!("mode={mode}")]);
    assert_eq!(code, 2, "{mode}: the run must fail cleanly (exit 2, not a crash)\nstdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("migration 2_hostile failed (up)"), "{mode}: {err}");
    assert!(err.contains("rolled back"), "{mode}: {err}");
    assert_eq!(p.snapshot(), before, "{mode}: the database must be exactly as before");
    err
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let p = arena();
    let started = std::time::Instant::now();
    let err = attack(&p, "loop");
    assert!(err.contains("exceeded its time limit of 2s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn memory_bomb_hits_the_cap() {
    let err = attack(&arena(), "memory");
    assert!(err.contains("guest memory cap of 64 MiB exceeded"), "{err}");
}

#[test]
fn deep_recursion_exhausts_the_stack() {
    let err = attack(&arena(), "recursion");
    assert!(err.contains("call stack exhausted"), "{err}");
}

#[test]
fn a_million_rows_are_refused_not_buffered() {
    let err = attack(&arena(), "million-rows");
    assert!(err.contains("more than 1000 rows") && err.contains("cursor"), "{err}");
}

#[test]
fn host_files_are_invisible() {
    let err = attack(&arena(), "passwd");
    assert!(err.contains("reading /etc/passwd failed"), "{err}");
}

#[test]
fn the_granted_folder_is_readable() {
    let err = attack(&arena(), "read-data");
    assert!(err.contains("read the granted file: hello from the data folder"), "positive control: {err}");
}

#[test]
fn no_escape_from_the_granted_folder() {
    let err = attack(&arena(), "escape");
    assert!(err.contains("every path out of /data failed to open"), "{err}");
    assert!(!err.contains("outside secret"), "{err}");
}

#[test]
fn the_granted_folder_is_read_only() {
    let p = arena();
    let err = attack(&p, "write-data");
    assert!(err.contains("writing into /data failed"), "{err}");
    assert!(!p.path().join("data/planted.txt").exists());
}

#[test]
fn environment_and_arguments_are_empty() {
    let p = arena();
    let before = p.snapshot();
    let out = p.cmd().args(["up", "--arg", "mode=env"]).env("SECRET_TOKEN", "hunter2").env("DATABASE_PASSWORD", "pw").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no environment variables and no arguments are visible"), "{err}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn sockets_are_denied() {
    let err = attack(&arena(), "tcp");
    assert!(err.contains("opening a TCP socket failed"), "{err}");
}

#[test]
fn ddl_without_the_grant_is_denied_and_audited() {
    let p = arena();
    let err = attack(&p, "drop-table");
    assert!(err.contains("denied by the host") && err.contains("`ddl`"), "{err}");
    assert!(err.contains("[2_hostile] audit: denied"), "{err}");
    let audit = std::fs::read_to_string(p.path().join(".db-migrate/audit.log")).unwrap();
    let line: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(line["migration"], "2_hostile");
    assert_eq!(line["decision"], "denied");
    assert_eq!(line["statement"], "DROP TABLE users");
}

#[test]
fn tables_outside_the_allowlist_are_denied() {
    let p = arena();
    let err = attack(&p, "outside-allowlist");
    assert!(err.contains("table `secrets` is not in this component's allowlist"), "{err}");
    let err = attack(&p, "read-outside");
    assert!(err.contains("table `secrets` is not in this component's allowlist"), "{err}");
}

#[test]
fn smuggled_second_statement_is_refused() {
    let err = attack(&arena(), "smuggle");
    assert!(err.contains("one call runs one statement"), "{err}");
}

#[test]
fn sqlite_attach_pragma_and_commit_tricks_are_refused() {
    let p = arena();
    let err = attack(&p, "attach");
    assert!(err.contains("`ATTACH` statements are never allowed"), "{err}");
    assert!(!std::path::Path::new("/tmp/db-migrate-evil.sqlite3").exists());
    let err = attack(&p, "pragma");
    assert!(err.contains("`PRAGMA` statements are never allowed"), "{err}");
    let err = attack(&p, "commit");
    assert!(err.contains("the host owns the transaction"), "{err}");
}

#[test]
fn deeply_nested_sql_cannot_crash_the_parser() {
    let err = attack(&arena(), "nested");
    assert!(err.contains("denied by the host") && err.contains("cannot be checked"), "{err}");
}

#[test]
fn log_and_stdout_floods_are_capped() {
    let err = attack(&arena(), "log-flood");
    assert!(err.contains("log limit of 4096 bytes reached"), "{err}");
    assert!(err.contains("more bytes of stdout dropped"), "{err}");
    assert!(err.len() < 64 * 1024, "output stays bounded: {} bytes", err.len());
}

#[test]
fn randomness_comes_from_the_configured_seed() {
    let p = arena();
    let random = |p: &Project| {
        let err = attack(p, "random");
        err.lines().find(|l| l.contains("random: ")).unwrap().split("random: ").nth(1).unwrap().to_string()
    };
    let a = random(&p);
    assert_eq!(a, random(&p), "same seed, same numbers");
    p.write("db-migrate.toml", format!("seed = 7\n{CONFIG}"));
    assert_ne!(a, random(&p), "another seed, other numbers");
}

#[test]
fn http_imports_are_refused_at_load() {
    let p = arena();
    std::fs::remove_file(p.path().join("migrations/2_hostile.wasm")).unwrap();
    p.component("hostile_http", 2, "hostile");
    let err = attack(&p, "none");
    assert!(err.contains("imports what db-migrate does not offer") && err.contains("wasi:http/"), "{err}");
}

#[test]
fn truncated_component_is_refused() {
    let p = arena();
    let wasm = p.path().join("migrations/2_hostile.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    std::fs::write(&wasm, &bytes[..bytes.len() / 2]).unwrap();
    let err = attack(&p, "none");
    assert!(err.contains("not a valid component"), "{err}");
}

#[test]
fn a_pinned_checksum_must_match() {
    let p = arena();
    p.write("db-migrate.toml", format!("{CONFIG}sha256 = \"{}\"\n", "0".repeat(64)));
    let err = attack(&p, "none");
    assert!(err.contains("pins sha256 0000") && err.contains("refusing"), "{err}");
}

#[test]
fn fuel_budget_stops_a_busy_guest() {
    let p = arena();
    p.write("db-migrate.toml", CONFIG.replace("timeout_secs = 2", "timeout_secs = 30\nfuel = 50000000"));
    let started = std::time::Instant::now();
    let err = attack(&p, "loop");
    assert!(err.contains("exhausted its fuel budget of 50000000"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(25), "fuel, not the deadline, stopped it");
}

#[test]
fn a_substituted_compiled_entry_is_never_run() {
    // A shared cache (a CI cache, a committed `.db-migrate/`): the attacker's compiled hostile
    // component is copied over the entry of the benign probe, MAC file and all.
    let cache = tempfile::tempdir().unwrap();
    let run = |p: &Project, args: &[&str]| {
        let out = p.cmd().env("DB_MIGRATE_CACHE_DIR", cache.path()).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), String::new(), text)
    };
    let benign = Project::new();
    benign.migration(1, "before", "CREATE TABLE before (id INTEGER);", None);
    benign.component("probe", 2, "probe");
    // A second component: the run loads its cached components ahead, on a thread of its own
    // (`sandbox/prefetch.rs`), and that path must verify entries as the run's own thread does.
    benign.component("one_way", 3, "after");
    let (code, _, err) = run(&benign, &["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    let attacker = arena();
    let _ = run(&attacker, &["up", "--arg", "mode=none"]);
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
    let sha = |file: std::path::PathBuf| {
        let bytes = std::fs::read(file).unwrap();
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let entry = |sha: &str| entries.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with(sha)).expect("an entry per component").clone();
    let probe_entry = &entry(&sha(benign.path().join("migrations/2_probe.wasm")));
    let hostile_entry = &entry(&sha(attacker.path().join("migrations/2_hostile.wasm")));
    std::fs::copy(hostile_entry, probe_entry).unwrap();
    std::fs::copy(hostile_entry.with_extension("mac"), probe_entry.with_extension("mac")).unwrap();

    // A fresh database: the probe runs again from the poisoned cache.
    std::fs::remove_dir_all(benign.path().join("db")).unwrap();
    let (code, _, err) = run(&benign, &["-v", "up"]);
    assert_eq!(code, 0, "the probe must run as itself: {err}");
    assert!(err.contains("[2_probe] component compiled"), "the substituted entry was loaded: {err}");
    assert!(err.contains("[2_probe] info: inserted 250 rows"), "{err}");
    assert!(err.contains("[3_after] component loaded from the compiled cache"), "{err}");
    // And the repaired entry is trusted again on the next run.
    std::fs::remove_dir_all(benign.path().join("db")).unwrap();
    let (code, _, err) = run(&benign, &["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[2_probe] component loaded from the compiled cache"), "{err}");
}

/// `db-migrate ARGS` started in `p`, its output piped.
fn spawn(p: &Project, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
        .current_dir(p.path())
        .env_remove("DATABASE_URL")
        .env_remove("DB_MIGRATE_ENV")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Peak RSS (KiB) and stderr of `db-migrate ARGS` in `p`, measured by /usr/bin/time.
fn peak_rss_kib(p: &Project, args: &[&str]) -> (i32, u64, String) {
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib=%M"])
        .arg(assert_cmd::cargo::cargo_bin("db-migrate"))
        .args(args)
        .current_dir(p.path())
        .env_remove("DATABASE_URL")
        .output()
        .expect("/usr/bin/time (tests/run.sh installs it)");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = err.lines().find_map(|l| l.strip_prefix("peak-rss-kib=")).and_then(|v| v.trim().parse().ok()).expect("time's output");
    (out.status.code().unwrap_or(-1), rss, err)
}

#[test]
fn aliased_parameters_cannot_multiply_host_memory() {
    // Red-team round three: the canonical ABI lets a guest pass 2,000 parameters that all point
    // at one 1 MiB string. The guest spends 1 MiB of its 64; a host that lifts the call before
    // looking at it copies 2 GiB (wasmtime's default hostcall budget stops it at 128 MiB, twice
    // the guest's cap). The host stops at the guest's own memory cap, names the cause, and
    // keeps nothing, for `execute` and for batches alike.
    let p = arena();
    for call in ["execute", "batch"] {
        let before = p.snapshot();
        let (code, rss, err) = peak_rss_kib(&p, &["up", "--arg", "mode=alias", "--arg", &format!("call={call}"), "--arg", "n=2000"]);
        assert_eq!(code, 2, "{call}: {err}");
        assert!(rss < 600 * 1024, "{call}: the host held {} MiB for a guest capped at 64 MiB", rss / 1024);
        assert!(err.contains("more data to one host call than its memory cap of 64 MiB"), "{call}: {err}");
        assert_eq!(p.snapshot(), before, "{call}");
    }
}

// ---------------------------------------------------------------------------------------------
// Red-team round three: the run's own surfaces (placeholders, callbacks, seeds, shadows).

#[test]
fn a_set_value_over_a_secret_placeholder_stays_secret() {
    // `owner` is declared secret; `--set owner=…` overrides its value, never its secrecy: the
    // dry run, the JSON plan and the recorded values must not show the new value.
    let p = Project::new();
    p.write("db-migrate.toml", "[placeholders]\nowner = { value = \"configured-owner\", secret = true }\n");
    p.migration(1, "t", "CREATE TABLE t (id INTEGER, who TEXT DEFAULT '${owner}');", None);
    let (code, out, err) = p.run(&["up", "--dry-run", "--json", "--set", "owner=overridden-secret-value"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("overridden-secret-value") && !err.contains("overridden-secret-value"), "a secret was printed:\n{out}\n{err}");
    assert!(out.contains("DEFAULT '***'"), "{out}");
    let (code, out, err) = p.run(&["up", "--json", "--set", "owner=overridden-secret-value"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("overridden-secret-value") && !err.contains("overridden-secret-value"), "{out}\n{err}");
    assert_eq!(p.query("SELECT name, value FROM db_migrate_history_placeholders"), vec![vec!["owner".to_string(), "***".to_string()]]);
}

#[test]
fn a_failing_sql_seed_never_prints_a_secret() {
    // The database quotes the substituted text in its error; a SQL seed's failure must be
    // masked like a migration's, on stderr and in `--json`.
    let p = Project::new();
    p.write("db-migrate.toml", "[placeholders]\napi_token = \"tok-9f8e7d6c5b\"\n");
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);", None);
    p.ok(&["up"]);
    p.write("seeds/01_bad.sql", "INSERT INTO \"${api_token}\" (id) VALUES (1);\n");
    let (code, out, err) = p.run(&["seed"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!err.contains("tok-9f8e7d6c5b") && err.contains("***"), "{err}");
    let (code, out, err) = p.run(&["seed", "--json"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains("tok-9f8e7d6c5b") && out.contains("***"), "{out}");
}

#[test]
fn callbacks_repeatables_and_seeds_cannot_end_their_transaction() {
    // A transaction-control statement in SQL the runner wraps would commit half of a unit of
    // work: the migration's own statements would run outside its transaction (and stay after
    // a failure), a seed's rows would outlive its failed record. Refused before anything runs,
    // naming the file and line, as in migrations.
    for db in crate::workflow_db::Db::all() {
        let p = Project::new();
        p.migration(1, "base", "CREATE TABLE t (id INTEGER);", None);
        db.json(&p, &["up", "--json"]);
        p.write("migrations/callbacks/before_each.sql", "INSERT INTO t VALUES (1);\nCOMMIT;\n");
        p.migration(2, "half", "CREATE TABLE kept (id INTEGER);\nINSERT INTO nowhere VALUES (1);", None);
        let before = db.snapshot(&p);
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("before_each.sql:2"), "{}: {err}", db.name());
        assert_eq!(db.snapshot(&p), before, "{}: nothing may be kept", db.name());
        std::fs::remove_file(p.path().join("migrations/callbacks/before_each.sql")).unwrap();
        std::fs::remove_file(p.path().join("migrations/2_half.sql")).unwrap();

        p.write("migrations/repeatable/views.sql", "INSERT INTO t VALUES (2);\nEND;\nINSERT INTO nowhere VALUES (1);\n");
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("views.sql:2"), "{}: {err}", db.name());
        assert_eq!(db.snapshot(&p), before, "{}", db.name());
        std::fs::remove_file(p.path().join("migrations/repeatable/views.sql")).unwrap();

        p.write("seeds/01_half.sql", "INSERT INTO t VALUES (3);\nCOMMIT;\nINSERT INTO nowhere VALUES (1);\n");
        let err = db.fails(&p, &["seed"]);
        assert!(err.contains("01_half.sql:2"), "{}: {err}", db.name());
        assert_eq!(db.query(&p, "SELECT count(*) FROM t"), ["0"], "{}", db.name());
    }
}

#[test]
fn abort_is_transaction_control_too() {
    // PostgreSQL's `ABORT` ends the migration's transaction like `ROLLBACK`: what follows it
    // would run (and be recorded) outside any transaction.
    let db = crate::workflow_db::Db::Server(crate::servers::TestDb::new(crate::servers::Kind::Postgres));
    let p = Project::new();
    p.migration(1, "half", "CREATE TABLE a (id int);\nABORT;\nCREATE TABLE b (id int);", None);
    let err = db.fails(&p, &["up"]);
    assert!(err.contains("1_half.sql:3"), "{err}");
    assert!(!db.snapshot(&p).contains("\"b\"") && db.query(&p, "SELECT count(*) FROM pg_tables WHERE tablename IN ('a', 'b')") == ["0"], "{}", db.snapshot(&p));
}

#[test]
fn a_shadow_url_spelled_differently_is_still_not_the_live_database() {
    // `test` and `drift` empty a given shadow database. Another spelling of the live database's
    // URL (a `..` in the path, `localhost` for `127.0.0.1`) must be recognised as the live one
    // and refused, not emptied.
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE precious (id INTEGER);\nINSERT INTO precious VALUES (1);", Some("DROP TABLE precious;"));
    p.ok(&["up"]);
    let err = p.fails(&["test", "--shadow-url", "sqlite:db/../db/development.sqlite3"]);
    assert!(err.contains("is the database itself"), "{err}");
    assert_eq!(p.query("SELECT id FROM precious"), vec![vec!["1".to_string()]], "the live database was emptied");

    let live = crate::servers::TestDb::new(crate::servers::Kind::Postgres);
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE precious (id INTEGER);\nINSERT INTO precious VALUES (1);", Some("DROP TABLE precious;"));
    p.ok(&["--database-url", &live.url(), "up"]);
    let alias = live.url().replace("127.0.0.1", "localhost");
    let err = p.fails(&["--database-url", &live.url(), "drift", "--shadow-url", &alias]);
    assert!(err.contains("is the database itself"), "{err}");
    assert_eq!(live.query("SELECT id FROM precious"), ["1"], "the live database was emptied");
}

#[test]
fn a_waiting_runner_names_the_holder_from_its_own_lock_file_only() {
    // The lock file sits in the database's folder, which others may write. A runner that waits
    // opened and locked one file; if the path is swapped for a link to another file while it
    // waits, its time-out message must not print that file (it read the holder's name by path).
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);", None);
    p.ok(&["up"]);
    let lock = p.path().join("db/development.sqlite3.db-migrate.lock");
    let holder = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&lock).unwrap();
    holder.lock().unwrap();
    std::fs::write(&lock, "the test (pid 1)").unwrap();
    let secret = p.write("private/key.pem", "-----BEGIN PRIVATE KEY----- do-not-print-me");
    p.migration(2, "u", "CREATE TABLE u (id INTEGER);", None);
    let child = spawn(&p, &["up", "--lock-timeout", "3"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::rename(&lock, p.path().join("db/moved.lock")).unwrap();
    std::os::unix::fs::symlink(&secret, &lock).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("migration lock"), "{err}");
    assert!(!err.contains("do-not-print-me"), "another file was printed: {err}");
    assert!(err.contains("the test (pid 1)"), "{err}");
    drop(holder);
}

#[test]
fn backups_are_private_and_a_restore_writes_through_no_planted_link() {
    // A backup holds the whole database: only its owner may read it (the tools create files
    // with the umask's 0644). And SQLite's restore copies the backup to `<db>.restoring` beside
    // the database before swapping it in: a link planted under that name (the folder may be
    // shared) must not make it overwrite the link's target.
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new();
    p.migration(1, "t", "CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);", None);
    p.ok(&["up"]);
    p.ok(&["backup", "--out", "saved.sqlite3"]);
    let mode = std::fs::metadata(p.path().join("saved.sqlite3")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the backup is readable by others: {mode:o}");
    p.ok(&["backup"]);
    for e in std::fs::read_dir(p.path().join("backups")).unwrap() {
        let mode = e.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "a default-named backup is readable by others: {mode:o}");
    }

    let victim = p.write("victim.txt", "not a database");
    std::os::unix::fs::symlink(&victim, p.path().join("db/development.restoring")).unwrap();
    p.ok(&["restore", "saved.sqlite3", "--yes"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "not a database", "the restore wrote through the planted link");
    assert_eq!(p.query("SELECT id FROM t"), vec![vec!["1".to_string()]]);
}

#[test]
fn a_guest_sleeping_in_a_host_call_still_stops_at_the_deadline() {
    // The epoch deadline interrupts WebAssembly code, and the database calls have their own;
    // a guest blocked in WASI's clock (`sleep`, a pollable far in the future) ran neither.
    let p = arena();
    let before = p.snapshot();
    let started = std::time::Instant::now();
    let mut child = spawn(&p, &["up", "--arg", "mode=sleep"]);
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("the guest slept past its 2 s deadline for {:?} (killed)", started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("exceeded its time limit of 2s"), "{err}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn the_audit_log_and_the_schema_file_are_never_written_through_a_link() {
    // A cloned or shared project may hold links where db-migrate writes. The audit log carries
    // the guest's refused statement (its own text: `$(…)` included), and the schema file the
    // names migrations chose: written through `-> ~/.bashrc`, both would become commands.
    let p = arena();
    let victim = p.write("victim.txt", "echo safe\n");
    std::fs::create_dir_all(p.path().join(".db-migrate")).unwrap();
    let _ = std::fs::remove_file(p.path().join(".db-migrate/audit.log"));
    std::os::unix::fs::symlink(&victim, p.path().join(".db-migrate/audit.log")).unwrap();
    let err = attack(&p, "drop-table");
    assert!(err.contains("[2_hostile] audit: denied"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "echo safe\n", "the audit line went through the link");

    p.write("db-migrate.toml", format!("schema_file = \"schema.sql\"\n{CONFIG}"));
    std::os::unix::fs::symlink(&victim, p.path().join("schema.sql")).unwrap();
    p.migration(3, "more", "CREATE TABLE \"x$(echo pwned)\" (id INTEGER);", None);
    std::fs::remove_file(p.path().join("migrations/2_hostile.wasm")).unwrap();
    p.ok(&["up"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "echo safe\n", "the schema went through the link");
    let schema = p.path().join("schema.sql");
    assert!(!std::fs::symlink_metadata(&schema).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&schema).unwrap().contains("x$(echo pwned)"));
}

#[test]
fn a_cache_entry_others_can_write_is_never_mapped() {
    // A verified entry is mapped from its file (`deserialize_file`), and pages are read from the
    // file as they are first touched: someone who may write that file (a shared CI cache, an
    // entry left group- or world-writable) could change the machine code after the check.
    // Such an entry is compiled again and replaced, never run.
    use std::os::unix::fs::PermissionsExt;
    let cache = tempfile::tempdir().unwrap();
    let p = Project::new();
    p.migration(1, "before", "CREATE TABLE before (id INTEGER);", None);
    p.component("probe", 2, "probe");
    let run = |p: &Project| {
        let out = p.cmd().env("DB_MIGRATE_CACHE_DIR", cache.path()).args(["-v", "up"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    run(&p);
    std::fs::remove_dir_all(p.path().join("db")).unwrap();
    assert!(run(&p).contains("[2_probe] component loaded from the compiled cache"), "positive control");
    let entry = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "cwasm")).unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::remove_dir_all(p.path().join("db")).unwrap();
    let err = run(&p);
    assert!(err.contains("[2_probe] component compiled"), "a world-writable entry was mapped: {err}");
    let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
    assert_eq!(mode & 0o022, 0, "the entry was replaced by one only its owner writes: {mode:o}");
}

#[test]
fn a_guest_never_finds_what_an_earlier_guest_left_in_memory() {
    // Instances come from a pool: one guest's memory slot (and stack) serves the next guest.
    // The first component fills 16 MiB of its memory with a marker and leaves it; the second
    // (the same component, so the same slot) grows its memory past that and reads all of it.
    let p = Project::new();
    p.migration(1, "schema", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);", None);
    p.component("hostile", 2, "plant");
    p.component("hostile", 3, "scan");
    p.component("hostile", 4, "plant_again");
    p.component("hostile", 5, "scan_again");
    let (code, out, err) = p.run(&["up", "--arg", "mode=leftovers"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for (plant, scan) in [("2_plant", "3_scan"), ("4_plant_again", "5_scan_again")] {
        assert!(err.contains(&format!("[{plant}] info: planted 16 MiB")), "{err}");
        assert!(err.contains(&format!("[{scan}] info: scanned")) && err.contains("nothing another guest left"), "{err}");
    }
}
