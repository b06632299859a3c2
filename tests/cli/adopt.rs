//! `detect` and `import`: fixture projects of every tool (tests/fixtures/tools/), SQL sets
//! converted byte for byte, and histories adopted from PostgreSQL so nothing runs twice.

use std::path::{Path, PathBuf};

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn fixture(tool: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tools").join(tool)
}

#[test]
fn detect_names_every_tool_its_database_and_history_table() {
    let p = Project::new();
    for (tool, expect) in [
        ("prisma", "prisma         2 migration(s) in prisma/migrations/ · database postgres (URL from the DATABASE_URL environment variable) · history table _prisma_migrations"),
        ("knex", "knex           1 migration(s) in migrations/ · database sqlite"),
        ("sequelize", "sequelize      1 migration(s) in migrations/ · database postgres (URL from an environment variable (use_env_variable))"),
        ("typeorm", "typeorm        1 migration(s) in src/migrations/ · database mysql"),
        ("alembic", "alembic        1 migration(s) in alembic/versions/ · database postgres (URL from sqlalchemy.url in alembic.ini) · history table alembic_version"),
        ("migrate-mongo", "migrate-mongo  1 migration(s) in migrations/ · database mongodb (URL from the MONGO_URL environment variable) · history table changelog"),
        ("dbmate", "dbmate         2 migration(s) in db/migrations/ · database postgres"),
        ("golang-migrate", "golang-migrate 1 migration(s) in migrations/"),
        ("sqlx", "sqlx           1 migration(s) in migrations/ · database postgres"),
        ("diesel", "diesel         1 migration(s) in migrations/"),
        ("flyway", "flyway         2 migration(s) in sql/"),
    ] {
        let out = p.ok(&["detect", fixture(tool).to_str().unwrap()]);
        assert!(out.contains(expect), "{tool}:\n{out}");
    }
    let (_, out, _) = p.run(&["--json", "detect", fixture("alembic").to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tools"][0]["tool"], "alembic");
    assert!(!out.contains("postgresql://app@"), "no URL is printed: {out}");
}

#[test]
fn sql_sets_are_copied_byte_for_byte_keeping_versions() {
    for (tool, files) in [
        ("prisma", vec![("20240101000000_init.up.sql", "prisma/migrations/20240101000000_init/migration.sql")]),
        ("dbmate", vec![("20240101000000_users.sql", "db/migrations/20240101000000_users.sql")]),
        ("golang-migrate", vec![("000001_users.up.sql", "migrations/000001_users.up.sql"), ("000001_users.down.sql", "migrations/000001_users.down.sql")]),
        ("sqlx", vec![("20240101000000_users.up.sql", "migrations/20240101000000_users.sql")]),
        ("diesel", vec![("2024-01-01-000000_users/up.sql", "migrations/2024-01-01-000000_users/up.sql")]),
        ("flyway", vec![("1_create_users.up.sql", "sql/V1__create_users.sql"), ("2_create_posts.up.sql", "sql/V2__create posts.sql")]),
    ] {
        let p = Project::new();
        let out = p.ok(&["import", "--from", tool, fixture(tool).to_str().unwrap()]);
        for (ours, theirs) in files {
            let a = std::fs::read(p.path().join("migrations").join(ours)).unwrap_or_else(|_| panic!("{tool}: {ours} missing\n{out}"));
            assert_eq!(a, std::fs::read(fixture(tool).join(theirs)).unwrap(), "{tool}: {ours} is a byte-for-byte copy");
        }
        let status = p.ok(&["status"]);
        assert!(status.contains("pending") && !status.contains("error"), "{tool}: db-migrate reads them: {status}");
        if tool == "flyway" {
            assert!(out.contains("skipped") && out.contains("R__views.sql") && out.contains("repeatable"), "{out}");
        }
        let err = p.fails(&["import", "--from", tool, fixture(tool).to_str().unwrap()]);
        assert!(err.contains("exists already"), "{tool}: a second import refuses: {err}");
    }
    let p = Project::new();
    let err = p.fails(&["import", "--from", "knex", fixture("dbmate").to_str().unwrap()]);
    assert!(err.contains("no knex project found") && err.contains("dbmate"), "{err}");
}

#[test]
fn adopt_takes_over_prisma_and_dbmate_histories_on_postgres() {
    // Prisma's history table as its documentation describes it, filled as `prisma migrate` does.
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0)");
    db.query("INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('a', 'x', now(), '20240101000000_init', 1)");
    db.query("CREATE TABLE \"User\" (id SERIAL PRIMARY KEY, email TEXT NOT NULL)");
    let p = Project::new();
    let url = db.url();
    let out = p.ok(&["--database-url", &url, "import", "--from", "prisma", fixture("prisma").to_str().unwrap(), "--adopt"]);
    assert!(out.contains("adopted  20240101000000_init"), "{out}");
    let status = p.ok(&["--database-url", &url, "status"]);
    assert!(status.contains("1 applied, 1 pending"), "{status}");
    let out = p.ok(&["--database-url", &url, "up"]);
    assert!(out.contains("applied  20240102000000_posts") && !out.contains("20240101000000_init"), "only the new one runs: {out}");

    // dbmate's schema_migrations, with one version no imported file matches.
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)");
    db.query("INSERT INTO schema_migrations VALUES ('20240101000000'), ('20231231000000')");
    db.query("CREATE TABLE users (id INTEGER PRIMARY KEY)");
    let p = Project::new();
    let url = db.url();
    let (code, out, err) = p.run(&["--database-url", &url, "import", "--from", "dbmate", fixture("dbmate").to_str().unwrap(), "--adopt"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("adopted  20240101000000_users"), "{out}");
    assert!(err.contains("`20231231000000` as applied, but no imported migration matches"), "reports what it cannot map: {err}");
    p.ok(&["--database-url", &url, "up"]);
    assert_eq!(db.history(), vec!["20240101000000|applied", "20240102000000|applied"]);
}

#[test]
fn code_based_tools_are_baselined() {
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)");
    db.query("INSERT INTO alembic_version VALUES ('a1b2c3')");
    let p = Project::new();
    let url = db.url();
    let err = p.fails(&["--database-url", &url, "import", "--from", "alembic", fixture("alembic").to_str().unwrap()]);
    assert!(err.contains("are code and cannot be converted") && err.contains("--adopt"), "{err}");
    let out = p.ok(&["--database-url", &url, "import", "--from", "alembic", fixture("alembic").to_str().unwrap(), "--adopt"]);
    assert!(out.contains("adopted_from_alembic") && out.contains("1 alembic migration(s) applied"), "{out}");
    let status = p.ok(&["--database-url", &url, "status"]);
    assert!(status.contains("1 applied"), "{status}");
    p.migration(99999999999999, "next", "CREATE TABLE next_step (id INTEGER);", None);
    let out = p.ok(&["--database-url", &url, "up"]);
    assert!(out.contains("applied  99999999999999_next"), "new migrations continue in db-migrate: {out}");
}
