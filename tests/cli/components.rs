//! Component migrations: real guests built from source, run in the sandbox on real SQLite files.

use crate::common::Project;

fn with_probe() -> Project {
    let p = Project::new();
    p.migration(1, "before", "CREATE TABLE before (id INTEGER);", Some("DROP TABLE before;"));
    p.component("probe", 2, "probe");
    p
}

#[test]
fn component_applies_and_reverts_in_the_history() {
    let p = with_probe();
    let (code, out, err) = p.run(&["up", "--env", "development"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("applied  2_probe"), "{out}");
    assert!(err.contains("[2_probe] info: inserted 250 rows in development"), "guest log lines, prefixed: {err}");
    assert!(err.contains("[2_probe] stdout: hello from the guest's stdout"), "guest stdout, prefixed: {err}");
    assert!(err.contains("[2_probe] info: duplicate detected as a unique violation"), "typed database errors reach the guest: {err}");
    // Batch insert, cursor pages and updates all happened: sum of 2*i for i in 1..=250.
    assert_eq!(p.query("SELECT total FROM probe_result")[0][0], "62750");
    assert_eq!(p.query("SELECT kind, status FROM db_migrate_history WHERE version = 2"), vec![vec!["component".to_string(), "applied".to_string()]]);
    let status = p.ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["migrations"][1]["kind"], "component");
    assert_eq!(v["migrations"][1]["state"], "applied");

    p.ok(&["down"]);
    assert_eq!(p.tables(), vec!["before", "db_migrate_history"]);
    assert_eq!(p.history().len(), 1);
}

#[test]
fn guest_error_rolls_everything_back() {
    let p = with_probe();
    p.ok(&["up", "--to", "1"]);
    let before = p.snapshot();
    let err = p.fails(&["up", "--arg", "mode=error"]);
    assert!(err.contains("migration 2_probe failed (up)"), "{err}");
    assert!(err.contains("the component returned an error: the probe was asked to fail"), "{err}");
    assert!(err.contains("the component (guest) is at fault"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(p.snapshot(), before, "tables, rows and history exactly as before");
}

#[test]
fn guest_trap_rolls_everything_back() {
    let p = with_probe();
    p.ok(&["up", "--to", "1"]);
    let before = p.snapshot();
    let err = p.fails(&["up", "--arg", "mode=trap"]);
    assert!(err.contains("the component trapped"), "{err}");
    assert!(err.contains("probe.wasm!"), "a guest backtrace: {err}");
    assert!(err.contains("[2_probe] stderr: ") && err.contains("the probe was asked to trap"), "the panic message: {err}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn guest_past_its_deadline_is_stopped_and_rolled_back() {
    let p = with_probe();
    p.write("db-migrate.toml", "[limits]\ntimeout_secs = 1.5\n");
    p.ok(&["up", "--to", "1"]);
    let before = p.snapshot();
    let started = std::time::Instant::now();
    let err = p.fails(&["up", "--arg", "mode=spin"]);
    assert!(err.contains("exceeded its time limit of 1.5s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "stopped promptly");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn one_statement_per_call() {
    let p = with_probe();
    let err = p.fails(&["up", "--arg", "mode=two-statements"]);
    assert!(err.contains("one call runs one statement"), "{err}");
    assert_eq!(p.history(), vec![("1".into(), "applied".into())]);
    assert!(!p.tables().contains(&"probe".to_string()));
}

#[test]
fn wrong_world_core_module_and_corrupt_bytes_are_clear_errors() {
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("seed", std::fs::read(crate::common::guests().join("seed_world.wasm")).unwrap(), "does not implement the `migration` world"),
        ("core", b"\0asm\x01\0\0\0".to_vec(), "a core WebAssembly module, not a component"),
        ("corrupt", b"this is not wasm at all".to_vec(), "not a WebAssembly file"),
    ];
    for (name, bytes, expected) in cases {
        let p = Project::new();
        p.migration(1, "first", "CREATE TABLE first (id INTEGER);", None);
        p.write(&format!("migrations/2_{name}.wasm"), &bytes);
        let err = p.fails(&["up"]);
        assert!(err.contains(&format!("2_{name}")) && err.contains(expected), "{name}: {err}");
        assert!(err.contains("the component (guest) is at fault"), "{name}: {err}");
        assert_eq!(p.history(), vec![("1".into(), "applied".into())], "{name}: nothing of the component applied");
        let (code, out, _) = p.run(&["inspect", &format!("migrations/2_{name}.wasm")]);
        if name == "seed" {
            assert_eq!(code, 0);
            assert!(out.contains("world    seed") && out.contains("run (func)"), "{out}");
        } else {
            assert_eq!(code, 2);
        }
    }
}

#[test]
fn second_run_uses_the_compiled_cache() {
    let p = with_probe();
    let (_, _, err) = p.run(&["-v", "up"]);
    assert!(err.contains("[2_probe] component compiled"), "{err}");
    let cached: Vec<_> = std::fs::read_dir(p.path().join(".db-migrate/cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].to_string_lossy().ends_with(".cwasm"));
    p.ok(&["down"]);
    let (_, _, err) = p.run(&["-v", "up"]);
    assert!(err.contains("[2_probe] component loaded from the compiled cache"), "{err}");
    // A damaged cache entry is recompiled, not fatal.
    p.ok(&["down"]);
    let entry = p.path().join(".db-migrate/cache").join(&cached[0]);
    std::fs::write(&entry, b"garbage").unwrap();
    let (code, _, err) = p.run(&["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[2_probe] component compiled"), "{err}");
}

/// A component the host cannot link fails before it runs: named, blamed on the guest, exit 2,
/// nothing of it applied. Cold (compiled on the run's thread); warm, loaded in order on the
/// prefetch thread; and warm as the newest migration, loaded on a guess. The threads that load
/// ahead also resolve imports: their failure is met again on the run's thread, same error.
#[test]
fn a_component_the_host_cannot_link_fails_before_it_runs() {
    let p = Project::new();
    p.migration(1, "first", "CREATE TABLE first (id INTEGER);", None);
    let bytes = std::fs::read(crate::common::guests().join("unlinkable.wasm")).unwrap();
    // Distinct bytes (a custom section of its own), so each is its own cache entry.
    for v in 2..=4u8 {
        let mut b = bytes.clone();
        b.extend_from_slice(&[0, 6, 4, b't', b'e', b's', b't', v]);
        p.write(&format!("migrations/{v}_unlinkable.wasm"), &b);
    }
    for round in ["cold", "prefetched", "guessed"] {
        if round == "guessed" {
            // 2 is the newest now, and cached.
            std::fs::remove_file(p.path().join("migrations/3_unlinkable.wasm")).unwrap();
            std::fs::remove_file(p.path().join("migrations/4_unlinkable.wasm")).unwrap();
        }
        let (code, out, err) = p.run(&["-v", "up"]);
        assert_eq!(code, 2, "{round}: {out}\n{err}");
        assert!(err.contains("2_unlinkable") && err.contains("cannot instantiate the component"), "{round}: {err}");
        assert!(err.contains("the component (guest) is at fault"), "{round}: {err}");
        let origin = if round == "cold" { "component compiled" } else { "component loaded from the compiled cache" };
        assert!(err.contains(&format!("[2_unlinkable] {origin}")), "{round}: {err}");
        assert_eq!(p.history(), vec![("1".into(), "applied".into())], "{round}");
        assert_eq!(p.tables(), vec!["db_migrate_history".to_string(), "first".to_string()], "{round}");
    }
}

/// The newest migration's component is loaded on a guess while the run opens the database:
/// a right guess (`up` of it, `down` of it) and a wrong one (`down` of an older component
/// while the newest is pending) each run exactly the component the plan names, from the cache.
#[test]
fn the_newest_component_is_loaded_ahead_and_a_wrong_guess_changes_nothing() {
    let p = with_probe();
    p.component("bulk", 3, "bulk");
    let (code, _, err) = p.run(&["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[2_probe] component compiled") && err.contains("[3_bulk] component compiled"), "{err}");
    // Both cached now. `down --all` reverts the guessed one first, then the other.
    let (code, _, err) = p.run(&["-v", "down", "--all"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[3_bulk] component loaded from the compiled cache"), "{err}");
    assert!(err.contains("[2_probe] component loaded from the compiled cache"), "{err}");
    assert_eq!(p.tables(), vec!["db_migrate_history"]);
    let (code, out, err) = p.run(&["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied  2_probe") && out.contains("applied  3_bulk"), "{out}");
    assert!(!err.contains("component compiled"), "{err}");
    assert_eq!(p.query("SELECT total FROM probe_result")[0][0], "62750");
    // A wrong guess: 3 is pending, so the guess (3) is never asked for; 2 is reverted.
    p.ok(&["down"]);
    let (code, _, err) = p.run(&["-v", "down"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[2_probe] component loaded from the compiled cache"), "{err}");
    assert!(!err.contains("3_bulk"), "{err}");
    assert_eq!(p.tables(), vec!["before", "db_migrate_history"]);
    let versions: Vec<String> = p.query("SELECT version FROM db_migrate_history").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(versions, vec!["1"]);
}

/// A guess the cache does not hold (its entry deleted) is compiled on the run's thread, and the
/// other components still come from the cache.
#[test]
fn a_guessed_component_missing_from_the_cache_is_compiled() {
    let p = with_probe();
    p.component("bulk", 3, "bulk");
    p.ok(&["up"]);
    let cache = p.path().join(".db-migrate/cache");
    let wasm = std::fs::read(p.path().join("migrations/3_bulk.wasm")).unwrap();
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&wasm).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let mut removed = 0;
    for e in std::fs::read_dir(&cache).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(&sha) {
            std::fs::remove_file(e.path()).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0, "the newest component's cache entry was found and removed");
    let (code, _, err) = p.run(&["-v", "down", "--all"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[3_bulk] component compiled"), "{err}");
    assert!(err.contains("[2_probe] component loaded from the compiled cache"), "{err}");
    assert_eq!(p.tables(), vec!["db_migrate_history"]);
}

#[test]
fn read_only_commands_never_compile_or_run_components() {
    let p = Project::new();
    p.write("migrations/1_broken.wasm", b"not even wasm");
    let out = p.ok(&["status"]);
    assert!(out.contains("component") && out.contains("pending"), "{out}");
    let out = p.ok(&["up", "--dry-run"]);
    assert!(out.contains("would apply 1_broken by running the component"), "{out}");
    p.ok(&["validate"]);
    assert!(!p.path().join(".db-migrate").exists(), "no cache written");
    assert!(!p.db().exists());
}

#[test]
fn checksums_cover_component_bytes() {
    let p = with_probe();
    p.ok(&["up"]);
    let wasm = p.path().join("migrations/2_probe.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    // A custom section appended: still a valid component, but different bytes.
    bytes.extend_from_slice(&[0, 4, 1, b'x', 0, 0]);
    std::fs::write(&wasm, bytes).unwrap();
    let (code, out, _) = p.run(&["validate"]);
    assert_eq!(code, 1);
    assert!(out.contains("2_probe") && out.contains("modified"), "{out}");
}

#[test]
fn irreversible_component_is_refused_before_running() {
    let p = Project::new();
    p.component("one_way", 1, "one_way");
    p.ok(&["up"]);
    let before = p.snapshot();
    let err = p.fails(&["down"]);
    assert!(err.contains("1_one_way is irreversible"), "{err}");
    assert_eq!(p.snapshot(), before);
}

#[test]
fn non_transactional_component_failure_is_dirty_until_repaired() {
    let p = Project::new();
    p.component("one_way", 1, "one_way");
    let err = p.fails(&["up", "--arg", "mode=fail"]);
    assert!(err.contains("failed after writing") && err.contains("recorded as dirty"), "{err}");
    assert_eq!(p.history(), vec![("1".into(), "dirty".into())]);
    assert!(p.tables().contains(&"one_way".to_string()), "its write stayed: no transaction");
    let err = p.fails(&["up"]);
    assert!(err.contains("dirty"), "{err}");
    p.ok(&["repair", "--mark-applied", "1"]);
    assert_eq!(p.history(), vec![("1".into(), "applied".into())]);
}

#[test]
fn create_lang_rust_then_build_then_up() {
    let p = Project::new();
    let out = p.ok(&["create", "--name", "make_example", "--lang", "rust"]);
    assert!(out.contains("components/") && out.contains("db-migrate build"), "{out}");
    let crate_dir = std::fs::read_dir(p.path().join("components")).unwrap().next().unwrap().unwrap().path();
    assert!(crate_dir.file_name().unwrap().to_string_lossy().ends_with("_make_example"));
    assert!(crate_dir.join("src/lib.rs").is_file());
    assert!(p.path().join(".db-migrate/sdk/rust/src/lib.rs").is_file(), "the embedded SDK is written for the guest");
    assert!(p.path().join(".db-migrate/sdk/rust/src/bindings_migration.rs").is_file(), "with its generated bindings");
    assert!(p.path().join(".db-migrate/wit/runtime.wit").is_file());

    let (code, out, err) = p.run(&["build"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let wasm: Vec<_> = std::fs::read_dir(p.path().join("migrations")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(wasm.len(), 1);
    assert!(wasm[0].extension().unwrap() == "wasm");
    // `build` precompiled it: the first `up` loads from the cache.
    let (code, _, err) = p.run(&["-v", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("loaded from the compiled cache") && err.contains("created the example table"), "{err}");
    assert!(p.tables().contains(&"example".to_string()));
    let out = p.ok(&["inspect", wasm[0].to_str().unwrap()]);
    assert!(out.contains("world    migration") && out.contains("db-migrate:runtime/sql@0.1.0"), "{out}");
}

/// The Rust SDK's bindings are generated source (sdk/rust/bindings.sh): they must be what
/// wit/runtime.wit generates today, or guests would be built against a stale interface.
#[test]
fn the_rust_sdk_bindings_match_the_wit() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash").arg(root.join("sdk/rust/bindings.sh")).arg("--check").output().unwrap();
    assert!(
        out.status.success(),
        "sdk/rust/bindings.sh --check failed (wit-bindgen 0.61.0 must be on PATH: tests/run.sh installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn build_with_nothing_to_build_says_so() {
    let p = Project::new();
    let out = p.ok(&["build"]);
    assert!(out.contains("nothing to build") && out.contains("--lang rust"), "{out}");
}
