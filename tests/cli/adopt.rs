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

/// Runs a real tool (installed by tests/run.sh) in `dir`; panics with its output on failure.
fn real(dir: &Path, program: &str, args: &[&str]) {
    let out = std::process::Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("`{program}` could not run ({e}): tests/run.sh installs dbmate, knex and alembic")
    });
    assert!(out.status.success(), "{program} {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() { copy_dir(&e.path(), &dest) } else { std::fs::copy(e.path(), dest).map(drop).unwrap() }
    }
}

#[test]
fn real_dbmate_history_is_adopted() {
    let db = TestDb::new(Kind::Postgres);
    let theirs = tempfile::tempdir().unwrap();
    copy_dir(&fixture("dbmate"), theirs.path());
    let url = db.url();
    real(theirs.path(), "dbmate", &["--url", &format!("{url}?sslmode=disable"), "--migrations-dir", "db/migrations", "--no-dump-schema", "up"]);
    let p = Project::new();
    let out = p.ok(&["--database-url", &url, "import", "--from", "dbmate", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("adopted  20240101000000_users") && out.contains("adopted  20240102000000_posts"), "{out}");
    assert!(p.ok(&["--database-url", &url, "status"]).contains("2 applied"));
    p.migration(20240103000000, "tags", "CREATE TABLE tags (id INTEGER PRIMARY KEY);", None);
    let out = p.ok(&["--database-url", &url, "up"]);
    assert!(out.contains("applied  20240103000000_tags") && out.contains("applied 1 migration"), "only the new one runs: {out}");
}

#[test]
fn real_knex_and_alembic_databases_are_baselined() {
    // knex with better-sqlite3: its own knex_migrations table.
    let theirs = tempfile::tempdir().unwrap();
    copy_dir(&fixture("knex"), theirs.path());
    // knex's CLI wants a local install: point the project's node_modules at the one on PATH.
    let bin = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|d| d.join("knex").is_file())
        .expect("knex on PATH (tests/run.sh installs it)");
    std::os::unix::fs::symlink(bin.parent().unwrap(), theirs.path().join("node_modules")).unwrap();
    real(theirs.path(), "knex", &["migrate:latest", "--knexfile", "knexfile.js"]);
    let p = Project::new();
    let url = format!("sqlite:{}", theirs.path().join("dev.sqlite3").display());
    let out = p.ok(&["--database-url", &url, "import", "--from", "knex", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 knex migration(s) applied"), "{out}");
    p.migration(99999999999999, "next", "CREATE TABLE next_step (id INTEGER);", None);
    let out = p.ok(&["--database-url", &url, "up"]);
    assert!(out.contains("applied  99999999999999_next") && out.contains("applied 1 migration"), "{out}");

    // alembic on SQLite: alembic_version holds the head revision.
    let theirs = tempfile::tempdir().unwrap();
    real(theirs.path(), "alembic", &["init", "alembic"]);
    let ini = std::fs::read_to_string(theirs.path().join("alembic.ini")).unwrap().replace("driver://user:pass@localhost/dbname", "sqlite:///app.db");
    std::fs::write(theirs.path().join("alembic.ini"), ini).unwrap();
    std::fs::write(
        theirs.path().join("alembic/versions/a1b2c3_users.py"),
        "from alembic import op\nimport sqlalchemy as sa\nrevision = 'a1b2c3'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\ndef upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer, primary_key=True))\n\ndef downgrade():\n    op.drop_table('users')\n",
    )
    .unwrap();
    real(theirs.path(), "alembic", &["upgrade", "head"]);
    let p = Project::new();
    let url = format!("sqlite:{}", theirs.path().join("app.db").display());
    let out = p.ok(&["detect", theirs.path().to_str().unwrap()]);
    assert!(out.contains("alembic") && out.contains("1 migration(s)"), "{out}");
    let out = p.ok(&["--database-url", &url, "import", "--from", "alembic", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 alembic migration(s) applied"), "{out}");
    let marker = std::fs::read_dir(p.path().join("migrations")).unwrap().next().unwrap().unwrap().path();
    assert!(std::fs::read_to_string(marker).unwrap().contains("a1b2c3"), "the marker lists what alembic applied");
}

/// A temporary project whose `node_modules` is the one holding `bin` on PATH.
fn node_project(bin: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|d| d.join(bin).is_file())
        .unwrap_or_else(|| panic!("{bin} on PATH (tests/run.sh installs it)"));
    std::os::unix::fs::symlink(found.parent().unwrap(), dir.path().join("node_modules")).unwrap();
    dir
}

#[test]
fn real_sequelize_history_is_baselined() {
    let db = TestDb::new(Kind::Postgres);
    let theirs = node_project("sequelize-cli");
    std::fs::create_dir_all(theirs.path().join("config")).unwrap();
    std::fs::create_dir_all(theirs.path().join("migrations")).unwrap();
    std::fs::write(theirs.path().join("config/config.json"), r#"{"development": {"use_env_variable": "DATABASE_URL", "dialect": "postgres"}}"#).unwrap();
    std::fs::write(
        theirs.path().join("migrations/20240101000000-create-user.js"),
        "module.exports = {\n  async up(q, S) { await q.createTable('users', { id: { type: S.INTEGER, primaryKey: true } }); },\n  async down(q) { await q.dropTable('users'); },\n};\n",
    )
    .unwrap();
    let url = db.url();
    let out = std::process::Command::new("sequelize-cli").arg("db:migrate").current_dir(theirs.path()).env("DATABASE_URL", &url).output().unwrap();
    assert!(out.status.success(), "sequelize-cli failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(db.query("SELECT name FROM \"SequelizeMeta\""), vec!["20240101000000-create-user.js"]);
    let p = Project::new();
    let out = p.ok(&["--database-url", &url, "import", "--from", "sequelize", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 sequelize migration(s) applied"), "{out}");
    assert!(p.ok(&["--database-url", &url, "status"]).contains("1 applied"));
}

#[test]
fn real_migrate_mongo_changelog_is_baselined() {
    let db = crate::mongo::TestDb::new();
    let url = db.url();
    let (server, name) = url.rsplit_once('/').unwrap();
    let theirs = node_project("migrate-mongo");
    std::fs::create_dir_all(theirs.path().join("migrations")).unwrap();
    std::fs::write(
        theirs.path().join("migrate-mongo-config.js"),
        format!("module.exports = {{ mongodb: {{ url: \"{server}\", databaseName: \"{name}\" }}, migrationsDir: \"migrations\", changelogCollectionName: \"changelog\", migrationFileExtension: \".js\" }};\n"),
    )
    .unwrap();
    std::fs::write(
        theirs.path().join("migrations/20240101000000-init.js"),
        "module.exports = { async up(db) { await db.collection('users').insertOne({ email: 'a@example.com' }); }, async down(db) { await db.collection('users').deleteMany({}); } };\n",
    )
    .unwrap();
    real(theirs.path(), "migrate-mongo", &["up"]);
    let p = Project::new();
    let out = p.ok(&["--database-url", &url, "import", "--from", "migrate-mongo", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 migrate-mongo migration(s) applied") && out.contains(".mongo.json"), "{out}");
    assert!(p.ok(&["--database-url", &url, "status"]).contains("1 applied"));
    p.write("migrations/99999999999999_next.mongo.json", r#"{"up": [{"insert": "users", "documents": [{"email": "b@example.com"}]}], "down": []}"#);
    let out = p.ok(&["--database-url", &url, "up"]);
    assert!(out.contains("applied  99999999999999_next") && out.contains("applied 1 migration"), "{out}");
}
