//! Placeholders: `${name}` in SQL migrations and seeds, from db-migrate.toml, the environment
//! section, `env:VAR` and `--set`; secrets never printed; the raw file is what is checksummed.

use crate::common::Project;
use crate::workflow_db::Db;

const CONFIG: &str = r#"
[placeholders]
table = "widgets"
label = "default"
owner = { value = "env:DBM_TEST_OWNER" }
db_password = "hunter2"

[environments.staging]
database_url = "sqlite:db/development.sqlite3"
[environments.staging.placeholders]
label = "staging"
"#;

fn project() -> Project {
    let p = Project::new();
    p.write("db-migrate.toml", CONFIG);
    p.migration(
        1,
        "widgets",
        "-- owned by ${owner}, password ${db_password}\nCREATE TABLE ${table} (id INTEGER PRIMARY KEY, label VARCHAR(40) DEFAULT '${label}', note VARCHAR(40));\nINSERT INTO ${table} (id, note) VALUES (1, '${note}');",
        Some("DROP TABLE ${table};"),
    );
    p
}

#[test]
fn values_come_from_config_environment_env_vars_and_set() {
    for db in Db::all() {
        let p = project();
        let env = [("DBM_TEST_OWNER", "alice")];
        // Dry run: substituted SQL, secrets (env: values, names holding `password`) masked.
        let (code, out, err) = db.run_env(&p, &env, &["--env", "staging", "up", "--dry-run", "--json", "--set", "note=hi"]);
        assert_eq!(code, 0, "{}: {err}", db.name());
        let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
        let sql = plan["steps"][0]["sql"].as_str().unwrap();
        assert!(sql.contains("CREATE TABLE widgets") && sql.contains("DEFAULT 'staging'") && sql.contains("VALUES (1, 'hi')"), "{}: {sql}", db.name());
        assert!(sql.contains("owned by ***, password ***"), "{}: {sql}", db.name());
        assert!(!out.contains("alice") && !out.contains("hunter2") && !err.contains("hunter2"), "{}: a secret was printed: {out}", db.name());

        let (code, out, err) = db.run_env(&p, &env, &["--env", "staging", "up", "--json", "--set", "note=hi"]);
        assert_eq!(code, 0, "{}: {err}\n{out}", db.name());
        assert!(!out.contains("alice") && !err.contains("alice"), "{}: {out}{err}", db.name());
        assert_eq!(db.query(&p, "SELECT id, label, note FROM widgets"), ["1|staging|hi"], "{}", db.name());
        // The history records the values used; secrets as ***.
        let recorded = db.query(&p, "SELECT version, name, value FROM db_migrate_history_placeholders ORDER BY name");
        assert_eq!(recorded, ["1|db_password|***", "1|label|staging", "1|note|hi", "1|owner|***", "1|table|widgets"], "{}", db.name());

        // Other values are not drift: the checksum covers the raw file.
        let status = db.json(&p, &["status", "--json", "--check"]);
        assert_eq!(status["migrations"][0]["state"], "applied", "{}", db.name());

        // Down substitutes too and forgets the recorded values.
        let (code, _, err) = db.run_env(&p, &env, &["down", "--json", "--set", "note=x"]);
        assert_eq!(code, 0, "{}: {err}", db.name());
        assert!(!db.query(&p, "SELECT name FROM db_migrate_history_placeholders").iter().any(|_| true), "{}", db.name());
        assert!(!db.snapshot(&p).contains("widgets"), "{}: {}", db.name(), db.snapshot(&p));
    }
}

#[test]
fn an_unset_placeholder_names_file_and_line_and_runs_nothing() {
    for db in Db::all() {
        let p = project();
        p.migration(0, "first", "CREATE TABLE first_one (id INTEGER);", None);
        // `note` has no value and DBM_TEST_OWNER is not set: both reported, nothing runs.
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("migrations/1_widgets.sql:4: placeholder `${note}` has no value"), "{}: {err}", db.name());
        assert!(err.contains("migrations/1_widgets.sql:2: placeholder `${owner}` comes from `env:DBM_TEST_OWNER`"), "{}: {err}", db.name());
        assert!(err.contains("--set note=VALUE"), "{}: {err}", db.name());
        // Not even the migration before it ran (at most the empty history table exists).
        assert!(!db.snapshot(&p).contains("first_one"), "{}: {}", db.name(), db.snapshot(&p));
        assert!(db.query(&p, "SELECT version FROM db_migrate_history").is_empty(), "{}", db.name());
        let err = db.fails(&p, &["up", "--dry-run"]);
        assert!(err.contains("`${note}` has no value"), "{}: {err}", db.name());
    }
}

#[test]
fn escapes_opt_out_and_seeds() {
    for db in Db::all() {
        let p = Project::new();
        p.write("db-migrate.toml", "[placeholders]\nwho = \"bob\"\n");
        p.migration(1, "t", "CREATE TABLE t (id INTEGER, v VARCHAR(40));\nINSERT INTO t VALUES (1, '$${who}'), (2, '${who}');", None);
        p.write("migrations/2_literal.sql", "-- db-migrate:no-placeholders\n-- migrate:up\nINSERT INTO t VALUES (3, '${who}'), (4, '${nobody}');\n");
        p.write("seeds/people.sql", "INSERT INTO t VALUES (5, '${who}-${suffix}');\n");
        db.json(&p, &["up", "--json"]);
        assert_eq!(db.query(&p, "SELECT id, v FROM t ORDER BY id"), ["1|${who}", "2|bob", "3|${who}", "4|${nobody}"], "{}", db.name());
        let err = db.fails(&p, &["seed"]);
        assert!(err.contains("people.sql:1") && err.contains("`${suffix}`"), "{}: {err}", db.name());
        db.json(&p, &["seed", "--json", "--set", "suffix=jr"]);
        assert_eq!(db.query(&p, "SELECT v FROM t WHERE id = 5"), ["bob-jr"], "{}", db.name());
    }
}

#[test]
fn bad_placeholder_configuration_is_reported_at_once() {
    let p = Project::new();
    p.write("db-migrate.toml", "[placeholders]\n\"1x\" = \"a\"\ny = { valu = \"b\" }\n");
    let err = p.fails(&["status"]);
    assert!(err.contains("2 placeholder problem(s)") && err.contains("`1x`") && err.contains("unknown key"), "{err}");
    let err = p.fails(&["up", "--set", "bad-name=1"]);
    assert!(err.contains("`bad-name` is not a placeholder name"), "{err}");
}

#[test]
fn secrets_in_database_errors_are_masked_and_redo_dry_run_substitutes() {
    for db in Db::all() {
        let p = Project::new();
        p.write("db-migrate.toml", "[placeholders]\napi_token = \"s3cr3tvalue\"\nname = \"t\"\n");
        p.migration(1, "t", "CREATE TABLE ${name} (id INTEGER);", Some("DROP TABLE ${name};"));
        db.json(&p, &["up", "--json"]);
        let plan = db.json(&p, &["redo", "--dry-run", "--json"]);
        let sql: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["sql"].as_str().unwrap()).collect();
        assert_eq!(sql.iter().map(|s| s.trim()).collect::<Vec<_>>(), ["DROP TABLE t;", "CREATE TABLE t (id INTEGER);"], "{}", db.name());
        p.migration(2, "bad", "SELECT s3cr3tvalue_col FROM ${api_token};", None);
        let err = db.fails(&p, &["up"]);
        assert!(err.contains("migrations/2_bad.sql:2") && !err.contains("s3cr3tvalue") && err.contains("***"), "{}: {err}", db.name());
    }
}
