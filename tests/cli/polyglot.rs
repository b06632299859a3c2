//! `examples/polyglot`: migrations in SQL, Rust, Python and JavaScript and a Python seed, built
//! from source by `db-migrate build` (cargo, componentize-py, componentize-js — tests/run.sh
//! installs them), applied and reverted on SQLite and PostgreSQL, and each language's error path.

use std::path::{Path, PathBuf};

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiled components shared by every test here (Python and JavaScript components take seconds
/// to compile; once is enough).
fn cache() -> PathBuf {
    root().join("target/test-cache-polyglot")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".db-migrate" || name == "target" || name == "node_modules" || name == "__pycache__" {
            continue;
        }
        let dest = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The example, built once per test run; returns the built project folder.
fn built() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = root().join("target/test-polyglot");
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&root().join("examples/polyglot"), &dir);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
            .arg("--dir")
            .arg(&dir)
            .arg("build")
            .env("DB_MIGRATE_CACHE_DIR", cache())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the polyglot example failed (componentize-py and componentize-js must be installed: tests/run.sh does it)\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// A fresh copy of the built example.
fn project() -> Project {
    let p = Project::new();
    for sub in ["migrations", "seeds"] {
        copy_dir(&built().join(sub), &p.path().join(sub));
    }
    p
}

fn run(p: &Project, url: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut c = p.cmd();
    c.env("DB_MIGRATE_CACHE_DIR", cache());
    if let Some(u) = url {
        c.args(["--database-url", u]);
    }
    let out = c.args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(p: &Project, url: Option<&str>, args: &[&str]) -> (String, String) {
    let (code, out, err) = run(p, url, args);
    assert_eq!(code, 0, "db-migrate {args:?} failed\n{out}\n{err}");
    (out, err)
}

#[test]
fn build_writes_every_language_and_skips_unchanged_guests() {
    let dir = built();
    for f in [
        "migrations/20240101000100_rust_tags.wasm",
        "migrations/20240101000200_python_notes.wasm",
        "migrations/20240101000250_c_archive.wasm",
        "migrations/20240101000300_js_counts.wasm",
        "seeds/welcome_notes.wasm",
    ] {
        assert!(dir.join(f).is_file(), "{f} was built");
    }
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("db-migrate"))
        .arg("--dir")
        .arg(dir)
        .arg("build")
        .env("DB_MIGRATE_CACHE_DIR", cache())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for g in ["python_notes", "c_archive", "js_counts"] {
        assert!(stdout.lines().any(|l| l.starts_with("up to date") && l.contains(g)), "{g} is skipped the second time: {stdout}");
    }
    for file in ["20240101000200_python_notes.wasm", "20240101000250_c_archive.wasm", "20240101000300_js_counts.wasm"] {
        let inspect = Project::new().cmd().arg("inspect").arg(dir.join("migrations").join(file)).output().unwrap();
        let out = String::from_utf8_lossy(&inspect.stdout);
        let lang = file;
        assert!(out.contains("world    migration"), "{lang}: {out}");
        assert!(!out.contains("wasi:http"), "{lang} imports nothing db-migrate does not offer: {out}");
    }
}

#[test]
fn every_language_applies_and_reverts_on_sqlite() {
    let p = project();
    let (out, err) = ok(&p, None, &["up"]);
    for v in ["create_notes", "rust_tags", "python_notes", "c_archive", "js_counts"] {
        assert!(out.contains(v), "{v}: {out}");
    }
    assert!(err.contains("python wrote 50 notes; first: note 1 from Python"), "{err}");
    assert!(err.contains("c archived 3 notes"), "{err}");
    assert!(err.contains("js counted python=50"), "{err}");
    assert_eq!(p.query("SELECT name FROM tags ORDER BY name"), vec![vec!["c"], vec!["js"], vec!["python"], vec!["rust"]]);
    let (out, _) = ok(&p, None, &["seed"]);
    assert!(out.contains("seeded   welcome_notes: 20 rows (notes 20)"), "{out}");
    let first = p.query("SELECT body FROM notes WHERE tag = 'seed' ORDER BY id");
    ok(&p, None, &["down", "--all"]);
    assert_eq!(p.tables(), vec!["db_migrate_history", "db_migrate_seeds"]);

    // The seed's data is the same on every run with the same seed.
    let q = project();
    ok(&q, None, &["up"]);
    ok(&q, None, &["seed"]);
    assert_eq!(q.query("SELECT body FROM notes WHERE tag = 'seed' ORDER BY id"), first);
}

#[test]
fn each_languages_error_rolls_back_and_shows_the_message() {
    for (lang, version, message) in [
        ("rust", "20240101000100_rust_tags", "Rust failed on purpose"),
        ("python", "20240101000200_python_notes", "RuntimeError: Python failed on purpose"),
        ("c", "20240101000250_c_archive", "C failed on purpose"),
        ("js", "20240101000300_js_counts", "TypeError: JavaScript failed on purpose"),
    ] {
        let p = project();
        let (code, out, err) = run(&p, None, &["up", "--arg", &format!("fail={lang}")]);
        assert_eq!(code, 2, "{lang}: {out}{err}");
        assert!(err.contains(&format!("migration {version} failed (up)")) && err.contains(message), "{lang}: {err}");
        assert!(err.contains("nothing of this migration was kept"), "{lang}: {err}");
        let applied: Vec<String> = p.history().into_iter().map(|(v, _)| v).collect();
        assert!(!applied.iter().any(|v| version.starts_with(v.as_str())), "{lang}: not recorded: {applied:?}");
        if p.tables().contains(&"tags".to_string()) {
            let mine = p.query(&format!("SELECT COUNT(*) FROM tags WHERE name = '{lang}'"));
            assert_eq!(mine, vec![vec!["0"]], "{lang}: its insert was rolled back");
        } else {
            assert_eq!(lang, "rust", "only the Rust migration creates the tags table");
        }
    }
}

#[test]
fn every_language_applies_and_reverts_on_postgres() {
    let db = TestDb::new(Kind::Postgres);
    let url = db.url();
    let p = project();
    ok(&p, Some(&url), &["up"]);
    assert_eq!(db.query("SELECT name FROM tags ORDER BY name"), vec!["c", "js", "python", "rust"]);
    assert_eq!(db.query("SELECT body FROM archive WHERE id = 1"), vec!["note 1 from Python"]);
    assert_eq!(db.query("SELECT tag, n FROM note_counts"), vec!["python|50"]);
    let (out, _) = ok(&p, Some(&url), &["seed"]);
    assert!(out.contains("welcome_notes: 20 rows"), "{out}");
    let (code, out, err) = run(&p, Some(&url), &["down", "--all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(db.tables(), vec!["db_migrate_history", "db_migrate_seeds"]);
}

#[test]
fn a_missing_build_tool_is_named_with_how_to_install_it() {
    let p = Project::new();
    p.write("components/1_py/app.py", "WitWorld = None\n");
    p.write("components/1_py/component.toml", "language = \"python\"\nworld = \"migration\"\n");
    let out = p.cmd().env("PATH", "/usr/bin:/bin").env_remove("VIRTUAL_ENV").arg("build").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs `componentize-py`") && err.contains("pip install componentize-py"), "{err}");

    let p = Project::new();
    p.write("components/1_js/app.js", "export const up = () => {};\n");
    p.write("components/1_js/component.toml", "language = \"js\"\n");
    let out = p.cmd().env("PATH", "/usr/bin:/bin").arg("build").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("npm install @bytecodealliance/componentize-js"), "{err}");

    let p = Project::new();
    p.write("components/1_c/app.c", "int x;\n");
    let out = p.cmd().env("PATH", "/nonexistent").arg("build").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("building C components needs"), "{err}");

    let p = Project::new();
    p.write("components/1_x/component.toml", "language = \"cobol\"\n");
    let err = p.fails(&["build"]);
    assert!(err.contains("component.toml") && err.contains("cobol"), "{err}");
}

#[test]
fn create_writes_python_and_javascript_templates() {
    let p = Project::new();
    let out = p.ok(&["create", "--name", "py_one", "--lang", "python"]);
    assert!(out.contains("Python component migration") && out.contains("componentize-py"), "{out}");
    let out = p.ok(&["create", "--name", "js_one", "--lang", "js"]);
    assert!(out.contains("JavaScript component migration"), "{out}");
    let out = p.ok(&["create", "--name", "c_one", "--lang", "c"]);
    assert!(out.contains("C component migration"), "{out}");
    let dirs: Vec<String> = std::fs::read_dir(p.path().join("components")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    for d in dirs {
        let manifest = std::fs::read_to_string(p.path().join("components").join(&d).join("component.toml")).unwrap();
        assert!(manifest.contains("world = \"migration\""), "{manifest}");
    }
}
