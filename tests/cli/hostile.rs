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
    let (code, _, err) = run(&benign, &["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    let attacker = arena();
    let _ = run(&attacker, &["up", "--arg", "mode=none"]);
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let probe_sha = {
        let bytes = std::fs::read(benign.path().join("migrations/2_probe.wasm")).unwrap();
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let (probe_entry, hostile_entry): (Vec<_>, Vec<_>) =
        entries.into_iter().partition(|p| p.file_name().unwrap().to_string_lossy().starts_with(&probe_sha));
    let (probe_entry, hostile_entry) = (&probe_entry[0], &hostile_entry[0]);
    std::fs::copy(hostile_entry, probe_entry).unwrap();
    std::fs::copy(hostile_entry.with_extension("mac"), probe_entry.with_extension("mac")).unwrap();

    // A fresh database: the probe runs again from the poisoned cache.
    std::fs::remove_dir_all(benign.path().join("db")).unwrap();
    let (code, _, err) = run(&benign, &["-v", "up"]);
    assert_eq!(code, 0, "the probe must run as itself: {err}");
    assert!(err.contains("[2_probe] component compiled"), "the substituted entry was loaded: {err}");
    assert!(err.contains("[2_probe] info: inserted 250 rows"), "{err}");
    // And the repaired entry is trusted again on the next run.
    std::fs::remove_dir_all(benign.path().join("db")).unwrap();
    let (code, _, err) = run(&benign, &["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[2_probe] component loaded from the compiled cache"), "{err}");
}
