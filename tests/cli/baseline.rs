//! `db-migrate baseline`: adopting a database whose schema exists, on SQLite and PostgreSQL.

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn three(p: &Project) {
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);", Some("DROP TABLE users;"));
    p.migration(2, "posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY);", Some("DROP TABLE posts;"));
    p.migration(3, "tags", "CREATE TABLE tags (id INTEGER PRIMARY KEY);", Some("DROP TABLE tags;"));
}

/// Creates tables outside db-migrate, as an existing application did.
fn existing_sqlite(p: &Project, sql: &str) {
    std::fs::create_dir_all(p.db().parent().unwrap()).unwrap();
    let status = std::process::Command::new("sqlite3").arg(p.db()).arg(sql).status().expect("the sqlite3 CLI (tests/run.sh installs it)");
    assert!(status.success());
}

#[test]
fn baseline_adopts_an_existing_sqlite_database() {
    let p = Project::new();
    three(&p);
    existing_sqlite(&p, "CREATE TABLE users (id INTEGER PRIMARY KEY); CREATE TABLE posts (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (7);");
    let (code, _, err) = p.run(&["status"]);
    assert_eq!(code, 0);
    assert!(err.contains("2 table(s) but no migration history") && err.contains("db-migrate baseline --version"), "{err}");

    let err = p.fails(&["baseline", "--version", "99"]);
    assert!(err.contains("no migration has version 99"), "{err}");
    let out = p.ok(&["baseline", "--version", "2"]);
    assert!(out.contains("recorded 1_users as applied (not run)") && out.contains("2 migrations recorded"), "{out}");
    assert_eq!(p.history(), vec![("1".into(), "applied".into()), ("2".into(), "applied".into())]);
    assert_eq!(p.query("SELECT id FROM users"), vec![vec!["7"]], "nothing ran: the data is untouched");

    let (code, out, err) = p.run(&["up"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("applied  3_tags") && !out.contains("1_users"), "only the new migration runs: {out}");
    assert!(!err.contains("no migration history"), "{err}");

    let before = p.history();
    let err = p.fails(&["baseline", "--version", "3"]);
    assert!(err.contains("already has a migration history") && err.contains("--force"), "{err}");
    assert_eq!(p.history(), before);
    let out = p.ok(&["baseline", "--version", "3", "--force"]);
    assert!(out.contains("0 migrations recorded"), "{out}");
}

#[test]
fn up_on_an_unadopted_database_warns() {
    let p = Project::new();
    three(&p);
    existing_sqlite(&p, "CREATE TABLE users (id INTEGER PRIMARY KEY);");
    let (code, _, err) = p.run(&["up"]);
    assert_eq!(code, 2, "users exists: the first migration fails");
    assert!(err.contains("no migration history") && err.contains("baseline"), "{err}");
    assert!(err.contains("1_users"), "{err}");
}

#[test]
fn baseline_on_postgres() {
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE users (id INTEGER PRIMARY KEY)");
    let p = Project::new();
    three(&p);
    let url = db.url();
    let out = p.ok(&["--database-url", &url, "baseline", "--version", "1"]);
    assert!(out.contains("1 migration recorded"), "{out}");
    p.ok(&["--database-url", &url, "up"]);
    assert_eq!(db.history(), vec!["1|applied", "2|applied", "3|applied"]);
    assert_eq!(db.tables(), vec!["db_migrate_history", "posts", "tags", "users"]);
}

#[test]
fn up_on_an_unadopted_postgres_database_warns_even_when_production_lint_refuses_the_run() {
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE users (id INTEGER PRIMARY KEY)");
    let p = Project::new();
    p.write("db-migrate.toml", &format!("[environments.production]\ndatabase_url = \"{}\"\n", db.url()));
    // The hint comes from the run itself, before its first migration (which fails: users exists).
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);", None);
    let err = p.fails(&["--database-url", &db.url(), "up"]);
    assert!(err.contains("1 table(s) but no migration history") && err.contains("baseline"), "{err}");
    assert!(err.find("no migration history").unwrap() < err.find("1_users").unwrap(), "said before the failure: {err}");
    assert!(db.history().is_empty(), "{:?}", db.history());
    // Production refuses a run with lint errors before it starts: the hint is still given.
    p.migration(2, "age", "ALTER TABLE users ADD COLUMN age INTEGER NOT NULL;", None);
    let err = p.fails(&["--env", "production", "up"]);
    assert!(err.contains("lint found") && err.contains("nothing was run"), "{err}");
    assert!(err.contains("1 table(s) but no migration history"), "{err}");
    assert!(db.history().is_empty(), "{:?}", db.history());
}
