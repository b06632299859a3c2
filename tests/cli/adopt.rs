//! `detect` and `import`: fixture projects of every tool (tests/fixtures/tools/), SQL sets
//! converted byte for byte, and histories adopted from PostgreSQL so nothing runs twice.

use std::path::{Path, PathBuf};

use crate::common::{self, Project};
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
        for &(ours, theirs) in &files {
            let a = std::fs::read(p.path().join("migrations").join(ours)).unwrap_or_else(|_| panic!("{tool}: {ours} missing\n{out}"));
            assert_eq!(a, std::fs::read(fixture(tool).join(theirs)).unwrap(), "{tool}: {ours} is a byte-for-byte copy");
        }
        let status = p.ok(&["status"]);
        assert!(status.contains("pending") && !status.contains("error"), "{tool}: db-migrate reads them: {status}");
        if tool == "flyway" {
            // Repeatable migrations are kept as db-migrate repeatable migrations, byte for byte.
            let kept = std::fs::read(p.path().join("migrations/repeatable/views.sql")).unwrap_or_else(|_| panic!("R__views.sql not kept\n{out}"));
            assert_eq!(kept, std::fs::read(fixture(tool).join("sql/R__views.sql")).unwrap());
            assert!(!out.contains("skipped"), "{out}");
            let v: serde_json::Value = serde_json::from_str(&p.ok(&["status", "--json"])).unwrap();
            assert_eq!(v["repeatable"][0]["name"], "views");
            assert_eq!(v["repeatable"][0]["state"], "pending");
        }
        let again = p.ok(&["import", "--from", tool, fixture(tool).to_str().unwrap()]);
        assert!(again.contains("kept") && !again.contains("copied"), "{tool}: a second import keeps identical files: {again}");
        let (ours, _) = files[0];
        let changed = p.path().join("migrations").join(ours);
        std::fs::write(&changed, "-- edited\n").unwrap();
        let err = p.fails(&["import", "--from", tool, fixture(tool).to_str().unwrap()]);
        let named = format!("migrations/{} exists already with content different", ours.split('/').next().unwrap());
        assert!(err.contains(&named), "{tool}: other content is refused, naming the file: {err}");
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

/// A tool's project in a temporary folder, from (path, content) pairs.
fn tool_project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// Runs statements on a SQLite file (created if missing), as another tool would have.
fn sqlite_exec(db: &Path, statements: &[&str]) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(&mut conn).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    });
}

/// The `detect --json` entry of `tool`.
fn detected(p: &Project, dir: &Path, tool: &str) -> serde_json::Value {
    let out = p.ok(&["--json", "detect", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["tools"].as_array().unwrap().iter().find(|t| t["tool"] == tool).cloned().unwrap_or_else(|| panic!("{tool} not detected: {out}"))
}

#[test]
fn detect_reads_each_tools_own_folder_and_history_table() {
    let p = Project::new();
    let cases: Vec<(&str, Vec<(&str, &str)>, &str, u64, &str)> = vec![
        (
            "knex",
            vec![
                ("knexfile.js", "const path = require('path');\nmodule.exports = {\n  development: {\n    client: 'pg',\n    migrations: {\n      directory: path.join(__dirname, 'db', 'migrations'),\n      tableName: 'knex_history',\n    },\n  },\n};\n"),
                ("db/migrations/20240101000000_a.js", "module.exports = {};\n"),
                ("db/migrations/20240102000000_b.js", "module.exports = {};\n"),
            ],
            "db/migrations",
            2,
            "knex_history",
        ),
        (
            "sequelize",
            vec![
                (".sequelizerc", "const path = require('path');\nmodule.exports = {\n  'config': path.resolve('config', 'database.json'),\n  'migrations-path': path.resolve('db', 'migrations'),\n};\n"),
                ("config/database.json", r#"{"development": {"dialect": "postgres", "migrationStorageTableName": "sequelize_history"}}"#),
                ("db/migrations/20240101000000-a.js", "module.exports = {};\n"),
            ],
            "db/migrations",
            1,
            "sequelize_history",
        ),
        (
            "typeorm",
            vec![
                ("src/data-source.ts", "export const AppDataSource = new DataSource({\n  type: 'postgres',\n  entities: [__dirname + '/entity/*.ts'],\n  migrations: [__dirname + '/db/migrations/*.ts'],\n  migrationsTableName: 'typeorm_history',\n});\n"),
                ("src/db/migrations/1704067200000-Init.ts", "export class Init1704067200000 {}\n"),
            ],
            "src/db/migrations",
            1,
            "typeorm_history",
        ),
        (
            "flyway",
            vec![
                ("flyway.conf", "flyway.url=jdbc:postgresql://localhost/app\nflyway.locations=filesystem:database/sql\nflyway.table=fw_history\n"),
                ("database/sql/V1__a.sql", "SELECT 1;\n"),
                ("database/sql/V1.1__b.sql", "SELECT 1;\n"),
            ],
            "database/sql",
            2,
            "fw_history",
        ),
        (
            "flyway",
            vec![("flyway.toml", "[flyway]\nlocations = [\"filesystem:db/flyway\"]\ntable = \"fw_toml\"\n"), ("db/flyway/V1__a.sql", "SELECT 1;\n")],
            "db/flyway",
            1,
            "fw_toml",
        ),
        (
            "alembic",
            vec![
                ("alembic.ini", "[alembic]\nscript_location = %(here)s/migrations\n"),
                ("migrations/env.py", "context.configure(\n    connection=connection,\n    version_table=\"alembic_history\",\n)\n"),
                ("migrations/versions/a1b2c3_init.py", "revision = 'a1b2c3'\n"),
            ],
            "migrations/versions",
            1,
            "alembic_history",
        ),
        (
            "alembic",
            vec![
                ("alembic.ini", "[alembic]\nscript_location = alembic\nversion_table = ini_versions\n"),
                ("alembic/env.py", "context.configure(version_table=config.get_main_option('version_table'))\n"),
                ("alembic/versions/a1b2c3_init.py", "revision = 'a1b2c3'\n"),
            ],
            "alembic/versions",
            1,
            "ini_versions",
        ),
        (
            "prisma",
            vec![
                ("package.json", r#"{"name": "app", "prisma": {"schema": "db/schema.prisma"}}"#),
                ("db/schema.prisma", "datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n"),
                ("db/migrations/20240101000000_init/migration.sql", "CREATE TABLE a (id INTEGER);\n"),
            ],
            "db/migrations",
            1,
            "_prisma_migrations",
        ),
        (
            "dbmate",
            vec![
                (".env", "DATABASE_URL=postgres://app@localhost/app\nDBMATE_MIGRATIONS_DIR=database/migrations\nDBMATE_MIGRATIONS_TABLE=dbmate_history\n"),
                ("database/migrations/20240101000000_users.sql", "-- migrate:up\nCREATE TABLE users (id INTEGER);\n"),
            ],
            "database/migrations",
            1,
            "dbmate_history",
        ),
        (
            "diesel",
            vec![
                ("diesel.toml", "[print_schema]\nfile = \"src/schema.rs\"\n\n[migrations_directory]\ndir = \"db/diesel\"\n"),
                ("db/diesel/2024-01-01-000000_users/up.sql", "CREATE TABLE users (id INTEGER);\n"),
            ],
            "db/diesel",
            1,
            "__diesel_schema_migrations",
        ),
    ];
    for (tool, files, dir, count, table) in cases {
        let theirs = tool_project(&files);
        let d = detected(&p, theirs.path(), tool);
        assert_eq!(d["migrations_dir"], dir, "{tool}: {d}");
        assert_eq!(d["migrations"], count, "{tool}: {d}");
        assert_eq!(d["history_table"], table, "{tool}: {d}");
        let text = p.ok(&["detect", theirs.path().to_str().unwrap()]);
        assert!(text.contains(&format!("{count} migration(s) in {dir}/")) && text.contains(&format!("history table {table}")), "{tool}: {text}");
    }
}

/// Flyway's V1, V1.1, V1.2, V2, V10: each appends its version to `steps`, so the table shows the
/// order they ran in.
fn flyway_dotted_set(conf: &str) -> tempfile::TempDir {
    tool_project(&[
        ("flyway.conf", conf),
        ("sql/V1__create_steps.sql", "CREATE TABLE steps (n VARCHAR(10));\nINSERT INTO steps VALUES ('1');\n"),
        ("sql/V1.1__one_one.sql", "INSERT INTO steps VALUES ('1.1');\n"),
        ("sql/V1_2__one_two.sql", "INSERT INTO steps VALUES ('1.2');\n"),
        ("sql/V2__two.sql", "INSERT INTO steps VALUES ('2');\n"),
        ("sql/V10__ten.sql", "INSERT INTO steps VALUES ('10');\n"),
    ])
}

fn status_versions(p: &Project, url: &str) -> Vec<(i64, String, String)> {
    let out = p.ok(&["--database-url", url, "status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_i64().unwrap(), m["name"].as_str().unwrap().to_string(), m["state"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn flyway_dotted_versions_keep_flyway_order() {
    let theirs = flyway_dotted_set("flyway.locations=filesystem:sql\n");
    let p = Project::new();
    let url = format!("sqlite:{}", p.path().join("app.db").display());
    p.ok(&["import", "--from", "flyway", theirs.path().to_str().unwrap()]);
    let status = status_versions(&p, &url);
    let listed: Vec<(i64, &str)> = status.iter().map(|(v, n, _)| (*v, n.as_str())).collect();
    assert_eq!(listed, vec![(1000, "create_steps"), (1001, "one_one"), (1002, "one_two"), (2000, "two"), (10000, "ten")]);
    p.ok(&["--database-url", &url, "up"]);
    let steps: Vec<String> = common::query_file(&p.path().join("app.db"), "SELECT n FROM steps ORDER BY rowid").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(steps, vec!["1", "1.1", "1.2", "2", "10"], "up applies them in Flyway's order");

    // A version that needs more than 19 digits is refused, naming the file; nothing is written.
    let theirs = tool_project(&[("flyway.conf", ""), ("sql/V20240101120000.1__a.sql", "SELECT 1;\n"), ("sql/V20240101120000.1.1__b.sql", "SELECT 1;\n")]);
    let p = Project::new();
    let err = p.fails(&["import", "--from", "flyway", theirs.path().to_str().unwrap()]);
    assert!(err.contains("V20240101120000.1") && err.contains("cannot be imported") && err.contains("19 digits"), "{err}");
    assert_eq!(std::fs::read_dir(p.path().join("migrations")).unwrap().count(), 0, "nothing written");
}

const FLYWAY_HISTORY: &str = "(installed_rank INTEGER NOT NULL PRIMARY KEY, version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, \
    script VARCHAR(1000) NOT NULL, checksum INTEGER, installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
    execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL)";

/// What Flyway leaves after applying V1 and V1.1 and failing V1.2 (its row says success = false).
fn flyway_history_rows(table: &str) -> Vec<String> {
    vec![
        format!("CREATE TABLE {table} {FLYWAY_HISTORY}"),
        format!("INSERT INTO {table} (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES \
            (1, '1', 'create steps', 'SQL', 'V1__create_steps.sql', 1, 'app', 4, true), \
            (2, '1.1', 'one one', 'SQL', 'V1.1__one_one.sql', 2, 'app', 1, true), \
            (3, '1.2', 'one two', 'SQL', 'V1_2__one_two.sql', 3, 'app', 1, false)"),
        "CREATE TABLE steps (n VARCHAR(10))".to_string(),
        "INSERT INTO steps VALUES ('1'), ('1.1')".to_string(),
    ]
}

#[test]
fn flyway_history_with_dotted_versions_is_adopted_after_import_on_sqlite() {
    // The table name comes from flyway.conf; `import` first, then `import --adopt`.
    let theirs = flyway_dotted_set("flyway.locations=filesystem:sql\nflyway.table=fw_history\n");
    let p = Project::new();
    let db = p.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    let rows = flyway_history_rows("fw_history");
    sqlite_exec(&db, &rows.iter().map(String::as_str).collect::<Vec<_>>());
    p.ok(&["import", "--from", "flyway", theirs.path().to_str().unwrap()]);
    let out = p.ok(&["--database-url", &url, "import", "--from", "flyway", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("kept") && out.contains("5 file(s) were there already"), "{out}");
    assert!(out.contains("adopted  1000_create_steps") && out.contains("adopted  1001_one_one") && !out.contains("adopted  1002"), "{out}");
    let states: Vec<(i64, String)> = status_versions(&p, &url).into_iter().map(|(v, _, s)| (v, s)).collect();
    assert_eq!(states, vec![(1000, "applied".into()), (1001, "applied".into()), (1002, "pending".into()), (2000, "pending".into()), (10000, "pending".into())]);
    p.ok(&["--database-url", &url, "up"]);
    let steps: Vec<String> = common::query_file(&db, "SELECT n FROM steps ORDER BY rowid").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(steps, vec!["1", "1.1", "1.2", "2", "10"], "only what Flyway had not applied runs, in order");

    // A file that differs from what import would write is refused, named, and nothing changes.
    std::fs::write(p.path().join("migrations/2000_two.up.sql"), "INSERT INTO steps VALUES ('changed');\n").unwrap();
    let before = common::query_file(&db, "SELECT version, status FROM db_migrate_history ORDER BY version");
    let err = p.fails(&["--database-url", &url, "import", "--from", "flyway", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(err.contains("2000_two.up.sql exists already with content different from") && err.contains("V2__two.sql"), "{err}");
    assert_eq!(common::query_file(&db, "SELECT version, status FROM db_migrate_history ORDER BY version"), before);
}

#[test]
fn flyway_baseline_counts_every_version_up_to_it() {
    // `flyway baseline -baselineVersion=1.1` on an existing database, then V1.2 migrated.
    let theirs = flyway_dotted_set("flyway.locations=filesystem:sql\n");
    let p = Project::new();
    let db = p.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    sqlite_exec(&db, &[
        &format!("CREATE TABLE flyway_schema_history {FLYWAY_HISTORY}"),
        "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES \
            (1, '1.1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'app', 0, true), \
            (2, '1.2', 'one two', 'SQL', 'V1_2__one_two.sql', 3, 'app', 1, true)",
        "CREATE TABLE steps (n VARCHAR(10))",
        "INSERT INTO steps VALUES ('1'), ('1.1'), ('1.2')",
    ]);
    let out = p.ok(&["--database-url", &url, "--json", "import", "--from", "flyway", theirs.path().to_str().unwrap(), "--adopt"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["adopted"], serde_json::json!([1000, 1001, 1002]), "{out}");
    assert_eq!(v["unmapped"], serde_json::json!([]), "{out}");
    p.ok(&["--database-url", &url, "up"]);
    let steps: Vec<String> = common::query_file(&db, "SELECT n FROM steps ORDER BY rowid").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(steps, vec!["1", "1.1", "1.2", "2", "10"]);
}

#[test]
fn flyway_history_is_adopted_on_the_servers_with_history_table_override() {
    for kind in [Kind::Postgres, Kind::Mariadb] {
        flyway_history_is_adopted_with_history_table_override(kind);
    }
}

fn flyway_history_is_adopted_with_history_table_override(kind: Kind) {
    // flyway.table is not in the configuration (set on Flyway's command line): --history-table says it.
    let db = TestDb::new(kind);
    for s in flyway_history_rows("schema_history") {
        db.query(&s);
    }
    let theirs = flyway_dotted_set("flyway.locations=filesystem:sql\n");
    let p = Project::new();
    let url = db.url();
    let err = p.fails(&["--database-url", &url, "import", "--from", "flyway", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(err.contains("flyway_schema_history") && err.contains("--history-table"), "{kind:?}: the default table is tried: {err}");
    assert_eq!(std::fs::read_dir(p.path().join("migrations")).unwrap().count(), 0, "nothing written when the history cannot be read");
    let out = p.ok(&["--database-url", &url, "--json", "import", "--from", "flyway", theirs.path().to_str().unwrap(), "--adopt", "--history-table", "schema_history"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["history_table"], "schema_history");
    assert_eq!(v["adopted"], serde_json::json!([1000, 1001]), "{out}");
    let out = p.ok(&["--database-url", &url, "up"]);
    let applied: Vec<&str> = out.lines().filter(|l| l.starts_with("applied  ")).collect();
    assert!(applied.len() == 3 && applied[0].contains("1002_one_two") && applied[1].contains("2000_two") && applied[2].contains("10000_ten"), "{kind:?}: {out}");
    let mut steps = db.query("SELECT n FROM steps");
    steps.sort();
    assert_eq!(steps, vec!["1", "1.1", "1.2", "10", "2"]);
    assert_eq!(db.history(), vec!["1000|applied", "1001|applied", "1002|applied", "2000|applied", "10000|applied"]);
}

#[test]
fn finding_no_migrations_where_a_tool_is_detected_is_an_error() {
    // flyway.conf without locations (given on the command line), migrations in database/.
    let theirs = tool_project(&[("flyway.conf", "flyway.url=jdbc:sqlite:app.db\n"), ("database/V1__a.sql", "CREATE TABLE a (id INTEGER);\n")]);
    let p = Project::new();
    let (_, _, note) = p.run(&["detect", theirs.path().to_str().unwrap()]);
    assert!(note.contains("no flyway migrations in sql/") && note.contains("--migrations-dir"), "detect says so too: {note}");
    let (code, out, err) = p.run(&["import", "--from", "flyway", theirs.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("found no flyway migrations in") && err.contains("/sql") && err.contains("--migrations-dir"), "{err}");
    let out = p.ok(&["import", "--from", "flyway", theirs.path().to_str().unwrap(), "--migrations-dir", "database"]);
    assert!(out.contains("imported 1 migration(s) from flyway (database/"), "{out}");

    // No configuration at all and an unusual folder: --migrations-dir alone is enough.
    let theirs = tool_project(&[("database/V1__a.sql", "CREATE TABLE a (id INTEGER);\n")]);
    let p = Project::new();
    let err = p.fails(&["import", "--from", "flyway", theirs.path().to_str().unwrap()]);
    assert!(err.contains("no flyway project found") && err.contains("--migrations-dir"), "{err}");
    let out = p.ok(&["import", "--from", "flyway", theirs.path().to_str().unwrap(), "--migrations-dir", "database"]);
    assert!(out.contains("imported 1 migration(s) from flyway"), "{out}");

    // knex whose folder is computed: the baseline refuses rather than guessing.
    let theirs = tool_project(&[
        ("knexfile.js", "const dir = process.env.MIGRATIONS;\nmodule.exports = { client: 'sqlite3', migrations: { directory: dir, tableName: 'knex_history' } };\n"),
        ("db/migrations/20240101000000_users.js", "exports.up = () => {}; exports.down = () => {};\n"),
    ]);
    let p = Project::new();
    let db = p.path().join("app.db");
    sqlite_exec(&db, &["CREATE TABLE knex_history (id INTEGER PRIMARY KEY, name VARCHAR(255), batch INTEGER, migration_time DATETIME)", "INSERT INTO knex_history (name, batch) VALUES ('20240101000000_users.js', 1)"]);
    let url = format!("sqlite:{}", db.display());
    let err = p.fails(&["--database-url", &url, "import", "--from", "knex", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(err.contains("found no knex migrations in") && err.contains("--migrations-dir"), "{err}");
    assert!(common::query_file(&db, "SELECT name FROM sqlite_master WHERE name = 'db_migrate_history'").is_empty(), "nothing recorded");
    let out = p.ok(&["--database-url", &url, "import", "--from", "knex", theirs.path().to_str().unwrap(), "--adopt", "--migrations-dir", "db/migrations"]);
    assert!(out.contains("1 knex migration(s) applied"), "the table name was read: {out}");
}

/// The marker migration `import --adopt` wrote for a code-based tool.
fn marker_text(p: &Project) -> String {
    let marker = std::fs::read_dir(p.path().join("migrations")).unwrap().next().unwrap().unwrap().path();
    std::fs::read_to_string(marker).unwrap()
}

#[test]
fn real_knex_with_its_own_folder_and_table_is_baselined() {
    let theirs = node_project("knex");
    std::fs::write(
        theirs.path().join("knexfile.js"),
        "module.exports = {\n  development: {\n    client: 'better-sqlite3',\n    connection: { filename: './dev.sqlite3' },\n    useNullAsDefault: true,\n    migrations: {\n      directory: './db/migrations',\n      tableName: 'knex_history',\n    },\n  },\n};\n",
    )
    .unwrap();
    std::fs::create_dir_all(theirs.path().join("db/migrations")).unwrap();
    std::fs::copy(fixture("knex").join("migrations/20240101000000_users.js"), theirs.path().join("db/migrations/20240101000000_users.js")).unwrap();
    real(theirs.path(), "knex", &["migrate:latest", "--knexfile", "knexfile.js"]);
    let p = Project::new();
    let d = detected(&p, theirs.path(), "knex");
    assert_eq!((d["migrations_dir"].as_str(), d["migrations"].as_u64(), d["history_table"].as_str()), (Some("db/migrations"), Some(1), Some("knex_history")), "{d}");
    let url = format!("sqlite:{}", theirs.path().join("dev.sqlite3").display());
    let out = p.ok(&["--database-url", &url, "import", "--from", "knex", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 knex migration(s) applied"), "{out}");
    assert!(marker_text(&p).contains("20240101000000_users.js"), "the marker lists what knex applied");
}

#[test]
fn real_alembic_with_its_own_version_table_is_baselined() {
    let theirs = tempfile::tempdir().unwrap();
    real(theirs.path(), "alembic", &["init", "alembic"]);
    let ini = std::fs::read_to_string(theirs.path().join("alembic.ini")).unwrap().replace("driver://user:pass@localhost/dbname", "sqlite:///app.db");
    std::fs::write(theirs.path().join("alembic.ini"), ini).unwrap();
    let env_py = std::fs::read_to_string(theirs.path().join("alembic/env.py")).unwrap();
    assert!(env_py.contains("target_metadata=target_metadata"), "alembic's env.py template changed:\n{env_py}");
    std::fs::write(theirs.path().join("alembic/env.py"), env_py.replace("target_metadata=target_metadata", "target_metadata=target_metadata, version_table=\"alembic_history\"")).unwrap();
    std::fs::write(
        theirs.path().join("alembic/versions/a1b2c3_users.py"),
        "from alembic import op\nimport sqlalchemy as sa\nrevision = 'a1b2c3'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\ndef upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer, primary_key=True))\n\ndef downgrade():\n    op.drop_table('users')\n",
    )
    .unwrap();
    real(theirs.path(), "alembic", &["upgrade", "head"]);
    let db = theirs.path().join("app.db");
    assert_eq!(common::query_file(&db, "SELECT version_num FROM alembic_history"), vec![vec!["a1b2c3".to_string()]], "alembic used its own table");
    let p = Project::new();
    assert_eq!(detected(&p, theirs.path(), "alembic")["history_table"], "alembic_history");
    let url = format!("sqlite:{}", db.display());
    let out = p.ok(&["--database-url", &url, "import", "--from", "alembic", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 alembic migration(s) applied"), "{out}");
    assert!(marker_text(&p).contains("a1b2c3"));
}

#[test]
fn real_sequelize_with_sequelizerc_and_its_own_table_is_baselined() {
    let db = TestDb::new(Kind::Postgres);
    let theirs = node_project("sequelize-cli");
    std::fs::write(
        theirs.path().join(".sequelizerc"),
        "const path = require('path');\n\nmodule.exports = {\n  'config': path.resolve('config', 'database.json'),\n  'migrations-path': path.resolve('db', 'migrations'),\n};\n",
    )
    .unwrap();
    std::fs::create_dir_all(theirs.path().join("config")).unwrap();
    std::fs::create_dir_all(theirs.path().join("db/migrations")).unwrap();
    std::fs::write(
        theirs.path().join("config/database.json"),
        r#"{"development": {"use_env_variable": "DATABASE_URL", "dialect": "postgres", "migrationStorageTableName": "sequelize_history"}}"#,
    )
    .unwrap();
    std::fs::write(
        theirs.path().join("db/migrations/20240101000000-create-user.js"),
        "module.exports = {\n  async up(q, S) { await q.createTable('users', { id: { type: S.INTEGER, primaryKey: true } }); },\n  async down(q) { await q.dropTable('users'); },\n};\n",
    )
    .unwrap();
    let url = db.url();
    let out = std::process::Command::new("sequelize-cli").arg("db:migrate").current_dir(theirs.path()).env("DATABASE_URL", &url).output().unwrap();
    assert!(out.status.success(), "sequelize-cli failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(db.query("SELECT name FROM sequelize_history"), vec!["20240101000000-create-user.js"]);
    let p = Project::new();
    let d = detected(&p, theirs.path(), "sequelize");
    assert_eq!((d["migrations_dir"].as_str(), d["history_table"].as_str()), (Some("db/migrations"), Some("sequelize_history")), "{d}");
    let out = p.ok(&["--database-url", &url, "import", "--from", "sequelize", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 sequelize migration(s) applied"), "{out}");
    assert!(marker_text(&p).contains("20240101000000-create-user.js"));
}

#[test]
fn typeorm_and_prisma_settings_are_followed_on_postgres() {
    // TypeORM's migrations table as it creates it, under the name its ormconfig gives.
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE typeorm_history (id SERIAL PRIMARY KEY, timestamp BIGINT NOT NULL, name VARCHAR NOT NULL)");
    db.query("INSERT INTO typeorm_history (timestamp, name) VALUES (1704067200000, 'Init1704067200000')");
    let theirs = tool_project(&[
        ("ormconfig.json", r#"{"type": "postgres", "migrationsTableName": "typeorm_history", "migrations": ["db/migrations/*.ts"]}"#),
        ("db/migrations/1704067200000-Init.ts", "export class Init1704067200000 { async up() {} async down() {} }\n"),
    ]);
    let p = Project::new();
    let url = db.url();
    let out = p.ok(&["--database-url", &url, "import", "--from", "typeorm", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("1 typeorm migration(s) applied"), "{out}");
    assert!(marker_text(&p).contains("Init1704067200000"));

    // Prisma with its schema moved by package.json: the migrations sit next to it.
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0)");
    db.query("INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('a', 'x', now(), '20240101000000_init', 1)");
    db.query("CREATE TABLE users (id INTEGER PRIMARY KEY)");
    let theirs = tool_project(&[
        ("package.json", r#"{"name": "app", "prisma": {"schema": "db/schema.prisma"}}"#),
        ("db/schema.prisma", "datasource db {\n  provider = \"postgresql\"\n  url      = env(\"DATABASE_URL\")\n}\n"),
        ("db/migrations/20240101000000_init/migration.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"),
        ("db/migrations/20240102000000_posts/migration.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n"),
    ]);
    let p = Project::new();
    let url = db.url();
    let out = p.ok(&["--database-url", &url, "import", "--from", "prisma", theirs.path().to_str().unwrap(), "--adopt"]);
    assert!(out.contains("adopted  20240101000000_init") && out.contains("imported 2 migration(s) from prisma (db/migrations/"), "{out}");
    let out = p.ok(&["--database-url", &url, "up"]);
    assert!(out.contains("applied  20240102000000_posts") && !out.contains("20240101000000_init"), "{out}");
}
