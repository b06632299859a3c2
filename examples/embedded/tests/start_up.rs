//! The example starts twice against a real database: the first start applies the embedded
//! migrations, the second finds nothing to do.

use std::process::Command;

fn start(url: &str, cwd: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_embedded-example")).env("DATABASE_URL", url).current_dir(cwd).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "start failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn starts_twice(url: &str, cwd: &std::path::Path) {
    let first = start(url, cwd);
    assert_eq!(first, "applied 1_create_notes\napplied 2_add_tag\napplied 3_welcome_note\nready: 1 note(s) in the database\n");
    let second = start(url, cwd);
    assert_eq!(second, "up to date: nothing to apply\nready: 1 note(s) in the database\n");
}

#[test]
fn sqlite_start_up_applies_then_finds_nothing_to_do() {
    // Run from an empty folder: the migrations are inside the binary.
    let dir = tempfile::tempdir().unwrap();
    starts_twice("sqlite:app.sqlite3", dir.path());
    assert!(dir.path().join("app.sqlite3").is_file());
}

/// PostgreSQL at 127.0.0.1:5432 (user postgres): an unreachable server fails the test.
#[test]
fn postgres_start_up_applies_then_finds_nothing_to_do() {
    let name = format!("dbm_embedded_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql]).output().unwrap();
        assert!(out.status.success(), "PostgreSQL is unreachable or refused `{sql}`: {}", String::from_utf8_lossy(&out.stderr));
    };
    psql(&format!("CREATE DATABASE {name}"));
    /// Drops the database however the test ends.
    struct Cleanup(Box<dyn Fn()>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let n = name.clone();
    let _cleanup = Cleanup(Box::new(move || {
        let _ = Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", &format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)")]).output();
    }));
    let dir = tempfile::tempdir().unwrap();
    starts_twice(&format!("postgres://postgres@127.0.0.1:5432/{name}"), dir.path());
}
