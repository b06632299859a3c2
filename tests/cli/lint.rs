//! `db-migrate lint`, and `up` refusing lint errors in production.

use crate::common::Project;
use crate::servers::{Kind, TestDb};

const PG: &str = "postgres://postgres@127.0.0.1:5432/never_connected";

fn hazards(p: &Project) {
    p.migration(1, "users", "CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT);\nCREATE INDEX users_email ON users (email);", Some("DROP TABLE users;"));
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

#[test]
fn lint_sarif_is_sarif_2_1_0_with_rules_and_located_results() {
    let p = Project::new();
    hazards(&p);
    let (code, out, err) = p.run(&["--database-url", PG, "lint", "--format", "sarif"]);
    assert_eq!(code, 1, "errors still exit 1\n{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"), "{v}");
    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "db-migrate");
    let rules = driver["rules"].as_array().unwrap();
    let listed: serde_json::Value = serde_json::from_str(&p.ok(&["lint", "--rules", "--json"])).unwrap();
    assert_eq!(rules.len(), listed["rules"].as_array().unwrap().len(), "every rule is described");
    assert!(rules.len() >= 30);
    for r in rules {
        let id = r["id"].as_str().unwrap();
        for field in ["shortDescription", "fullDescription", "help"] {
            assert!(!r[field]["text"].as_str().unwrap_or_default().is_empty(), "{id}: {field}.text");
        }
        assert!(["error", "warning"].contains(&r["defaultConfiguration"]["level"].as_str().unwrap()), "{id}");
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let index = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], id, "ruleIndex points at the rule");
        assert!(["error", "warning"].contains(&res["level"].as_str().unwrap()));
        assert!(!res["message"]["text"].as_str().unwrap().is_empty());
        let loc = &res["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("migrations/") && !uri.contains('\\'), "relative to the project: {uri}");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    let dm001 = results.iter().find(|r| r["ruleId"] == "DM001").expect("DM001 reported");
    assert_eq!(dm001["level"], "error");
    assert_eq!(dm001["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "migrations/2_index.sql");
    assert_eq!(dm001["locations"][0]["physicalLocation"]["region"]["startLine"], 4);
    assert!(!results.iter().any(|r| r["ruleId"] == "DM006"), "suppressions hold in SARIF too");
    let err = p.fails(&["lint", "--format", "xml"]);
    assert!(err.contains("sarif"), "{err}");
}

#[test]
fn lint_rules_lists_every_rule_with_its_dialects() {
    let p = Project::new();
    let v: serde_json::Value = serde_json::from_str(&p.ok(&["lint", "--rules", "--format", "json"])).unwrap();
    let rules = v["rules"].as_array().unwrap();
    assert!(rules.len() >= 30, "{}", rules.len());
    let by_id = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} listed"));
    for r in rules {
        for field in ["id", "severity", "what", "why", "fix"] {
            assert!(!r[field].as_str().unwrap_or_default().is_empty(), "{r}: {field}");
        }
        assert!(!r["dialects"].as_array().unwrap().is_empty(), "{r}");
    }
    assert_eq!(by_id("DM016")["dialects"], serde_json::json!(["postgres"]));
    assert_eq!(by_id("DM033")["dialects"], serde_json::json!(["mysql"]));
    assert_eq!(by_id("DM004")["dialects"], serde_json::json!(["sqlite", "postgres", "mysql"]));
    let text = p.ok(&["lint", "--rules"]);
    assert!(text.contains("DM041") && text.contains("[postgres]") && text.contains("instead:"), "{text}");
}

#[test]
fn lint_reads_earlier_migrations_and_the_target_postgres_version() {
    let p = Project::new();
    p.migration(1, "users", "CREATE TABLE users (id bigint PRIMARY KEY, name varchar(200));\nCREATE TYPE mood AS ENUM ('happy');", None);
    p.migration(2, "shrink", "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(50);", None);
    p.migration(3, "mood", "ALTER TYPE mood ADD VALUE 'sad';", None);
    let rules = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = p.run(args);
        assert!(code == 0 || code == 1, "{args:?}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap().to_string()).collect()
    };
    // Only migration 2 is linted, but migration 1 told lint the column was varchar(200).
    assert_eq!(rules(&["--database-url", PG, "lint", "migrations/2_shrink.sql", "--format", "json"]), ["DM023"]);
    // PostgreSQL 12+ is assumed; older targets turn the enum rule on.
    assert_eq!(rules(&["--database-url", PG, "lint", "migrations/3_mood.sql", "--format", "json"]), Vec::<String>::new());
    assert_eq!(rules(&["--database-url", PG, "lint", "migrations/3_mood.sql", "--format", "json", "--postgres-version", "11"]), ["DM015"]);
    p.write("db-migrate.toml", "[lint]\npostgres_version = 11\n");
    assert_eq!(rules(&["--database-url", PG, "lint", "migrations/3_mood.sql", "--format", "json"]), ["DM015"]);
    assert_eq!(rules(&["--database-url", PG, "lint", "migrations/3_mood.sql", "--format", "json", "--postgres-version", "16"]), Vec::<String>::new(), "the flag wins");
    p.write("db-migrate.toml", "[lint]\npostgres_version = \"eleven\"\n");
    let err = p.fails(&["--database-url", PG, "lint"]);
    assert!(err.contains("postgres_version") && err.contains("major version"), "{err}");
}

#[test]
fn production_up_lints_pending_migrations_with_what_applied_ones_established() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.write("db-migrate.toml", format!("[environments.production]\ndatabase_url = \"{}\"\n", db.url()));
    p.migration(1, "users", "CREATE TABLE users (id BIGINT PRIMARY KEY, email TEXT, name TEXT);", None);
    p.migration(2, "check", "SET lock_timeout = '5s';\nALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;", None);
    p.migration(3, "validate", "SET lock_timeout = '5s';\nALTER TABLE users VALIDATE CONSTRAINT email_nn;", None);
    p.ok(&["--env", "production", "up"]);
    // Migration 4 relies on the CHECK that the applied migrations 2 and 3 validated: no DM010.
    p.migration(4, "email", "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN email SET NOT NULL;", None);
    p.ok(&["--env", "production", "up"]);
    assert_eq!(db.history(), vec!["1|applied", "2|applied", "3|applied", "4|applied"]);
    // A column without such a CHECK is still refused.
    p.migration(5, "name", "SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name SET NOT NULL;", None);
    let err = p.fails(&["--env", "production", "up"]);
    assert!(err.contains("5_name.sql:3: DM010"), "{err}");
    assert_eq!(db.history().len(), 4, "nothing ran");
}
