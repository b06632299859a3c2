//! `db-migrate lint`, and `up` refusing lint errors in production.

use crate::common::Project;
use crate::servers::{Kind, TestDb};

const PG: &str = "postgres://postgres@127.0.0.1:5432/never_connected";

fn hazards(p: &Project) {
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\nCREATE INDEX users_email ON users (email);", Some("DROP TABLE users;"));
    p.migration(2, "index", "SET lock_timeout = '5s';\n\nCREATE INDEX users_id_email ON users (id, email);", Some("DROP INDEX users_id_email;"));
    p.migration(3, "cleanup", "-- db-migrate:nolint DM006 nothing reads it since the last release\nALTER TABLE users DROP COLUMN email;", None);
}

#[test]
fn lint_names_file_line_rule_and_the_safe_alternative() {
    let p = Project::new();
    hazards(&p);
    let (code, out, err) = p.run(&["--database-url", PG, "lint"]);
    assert_eq!(code, 1, "errors exit 1\n{out}{err}");
    assert!(out.contains("2_index.sql:4: DM001 error: CREATE INDEX on users"), "{out}");
    assert!(out.contains("instead: CREATE INDEX CONCURRENTLY"), "{out}");
    assert!(!out.contains("1_users.sql"), "an index on a table the same migration creates is fine: {out}");
    assert!(!out.contains("DM006"), "suppressed with a reason: {out}");
    assert!(out.contains("1 error(s)"), "{out}");

    let (_, out, _) = p.run(&["--database-url", PG, "lint", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["errors"], 1);
    assert_eq!(v["findings"][0]["rule"], "DM001");
    assert_eq!(v["findings"][0]["line"], 4);

    // One file, and a clean one.
    let (code, out, _) = p.run(&["--database-url", PG, "lint", "migrations/1_users.sql"]);
    assert_eq!(code, 0, "{out}");
    let err = p.fails(&["--database-url", PG, "lint", "nope.sql"]);
    assert!(err.contains("is not a migration"), "{err}");
    let out = p.ok(&["lint", "--rules"]);
    assert!(out.contains("DM014") && out.contains("DM000"), "{out}");
}

#[test]
fn unparsable_statements_are_reported_not_skipped() {
    let p = Project::new();
    p.migration(1, "odd", "FROBNICATE users;", None);
    let (code, out, _) = p.run(&["--database-url", PG, "lint"]);
    assert_eq!(code, 0, "a warning only: {out}");
    assert!(out.contains("DM000") && out.contains("does not parse"), "{out}");
}

#[test]
fn production_up_refuses_lint_errors_unless_forced() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.write("db-migrate.toml", &format!("[environments.production]\ndatabase_url = \"{}\"\n", db.url()));
    p.migration(1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);", None);
    p.ok(&["--env", "production", "up"]);
    p.migration(2, "age", "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age INTEGER NOT NULL;", None);
    let err = p.fails(&["--env", "production", "up"]);
    assert!(err.contains("lint found 1 error(s)") && err.contains("2_age.sql:3: DM004"), "{err}");
    assert!(err.contains("nothing was run") && err.contains("up --force"), "{err}");
    assert_eq!(db.history(), vec!["1|applied"]);
    // Outside production, or with --force, it runs (the table is empty, so PostgreSQL accepts it).
    p.ok(&["--env", "production", "up", "--force"]);
    assert_eq!(db.history(), vec!["1|applied", "2|applied"]);
}

#[test]
fn lint_dialect_comes_from_the_flag_the_config_or_is_announced_as_assumed() {
    let p = Project::new();
    hazards(&p);
    let lint = |args: &[&str]| -> (serde_json::Value, String) {
        let (code, out, err) = p.run(args);
        assert!(code == 0 || code == 1, "{args:?}: {out}{err}");
        (serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")), err)
    };
    // Nothing configured: sqlite, and it says so.
    let (v, err) = lint(&["lint", "--format", "json"]);
    assert_eq!(v["dialect"], "sqlite");
    assert_eq!(v["dialect_assumed"], true);
    assert!(err.contains("assumed the sqlite dialect") && err.contains("--dialect"), "{err}");
    let (_, _, err) = p.run(&["lint"]);
    assert!(err.contains("assumed the sqlite dialect"), "{err}");

    // The flag decides, with no note.
    let (v, err) = lint(&["lint", "--dialect", "postgres", "--format", "json"]);
    assert_eq!((v["dialect"].as_str(), v["dialect_assumed"].as_bool()), (Some("postgres"), Some(false)));
    assert_eq!(v["findings"][0]["rule"], "DM001");
    assert!(!err.contains("assumed"), "{err}");
    let (v, _) = lint(&["lint", "--dialect", "mysql", "--format", "json"]);
    assert_eq!(v["dialect"], "mysql");

    // Environments in the config, unreachable: read, never connected to.
    p.write("db-migrate.toml", "[environments.production]\ndatabase_url = \"postgres://nobody@127.0.0.1:1/app\"\n");
    let (v, err) = lint(&["lint", "--format", "json"]);
    assert_eq!((v["dialect"].as_str(), v["dialect_assumed"].as_bool()), (Some("postgres"), Some(false)), "{err}");
    let (v, _) = lint(&["--env", "production", "lint", "--format", "json"]);
    assert_eq!(v["dialect"], "postgres");
    // Environments that disagree: assumed, and the note names them.
    p.write(
        "db-migrate.toml",
        "[environments.production]\ndatabase_url = \"postgres://nobody@127.0.0.1:1/app\"\n[environments.legacy]\ndatabase_url = \"mysql://nobody@127.0.0.1:1/app\"\n",
    );
    let (v, err) = lint(&["lint", "--format", "json"]);
    assert_eq!(v["dialect_assumed"], true);
    assert!(err.contains("disagree") && err.contains("postgres (production)") && err.contains("mysql (legacy)"), "{err}");
    let (v, _) = lint(&["--env", "legacy", "lint", "--format", "json"]);
    assert_eq!((v["dialect"].as_str(), v["dialect_assumed"].as_bool()), (Some("mysql"), Some(false)));
}
