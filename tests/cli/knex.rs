//! Knex projects' migrations run unmodified (`[migrations] format = "knex"`): the set in
//! `tests/fixtures/knex-set` (create/alter/rename/drop tables and columns, indexes, foreign keys,
//! raw SQL, a backfill reading rows, a knex transaction, `transaction: false`, an ES module) is
//! applied once by the real `knex migrate:latest` (better-sqlite3) and once by db-migrate's knex
//! runtime; schemas (`schema dump`) and data must be identical, and so after `down --all` /
//! `knex migrate:rollback --all`. Grants hold for knex migrations; bad files are named.
//!
//! The runtime is built once per test run by `db-migrate build` from the npm packages
//! tests/run.sh installs into target/guest-tools/knex-runtime (Node.js and componentize-js
//! needed only for that build).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Project, query_file};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiled components shared by the tests here (the runtime takes seconds to compile).
fn cache() -> PathBuf {
    root().join("target/test-cache-knex")
}

/// The knex runtime, built once per test run by `db-migrate build`.
fn runtime() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let out = root().join("target/test-knex/knex-runtime.wasm");
        let _ = std::fs::remove_file(&out);
        let p = Project::new();
        p.write("db-migrate.toml", "[migrations]\nformat = \"knex\"\n");
        let node_modules = root().join("target/guest-tools/knex-runtime/node_modules");
        let o = p
            .cmd()
            .arg("build")
            .env("DB_MIGRATE_KNEX_RUNTIME", &out)
            .env("DB_MIGRATE_KNEX_NODE_MODULES", &node_modules)
            .env("DB_MIGRATE_CACHE_DIR", cache())
            .output()
            .unwrap();
        assert!(
            o.status.success() && out.is_file(),
            "building the knex runtime failed (tests/run.sh installs its npm packages into {}):\n{}\n{}",
            node_modules.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
}

/// A db-migrate project in knex format holding `files` (name, text) as its migrations.
fn knex_project(config: &str) -> Project {
    let p = Project::new();
    p.write("db-migrate.toml", format!("[migrations]\nformat = \"knex\"\n{config}"));
    p
}

fn run(p: &Project, url: &str, args: &[&str]) -> (i32, String, String) {
    let out = p
        .cmd()
        .env("DB_MIGRATE_KNEX_RUNTIME", runtime())
        .env("DB_MIGRATE_CACHE_DIR", cache())
        .args(["--database-url", url])
        .args(args)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(p: &Project, url: &str, args: &[&str]) -> String {
    let (code, out, err) = run(p, url, args);
    assert_eq!(code, 0, "db-migrate {args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest)
        } else {
            std::fs::copy(e.path(), dest).map(drop).unwrap()
        }
    }
}

/// The real knex CLI (tests/run.sh installs knex with better-sqlite3), run in `dir`.
fn real_knex(dir: &Path, db: &Path, args: &[&str]) {
    if !dir.join("node_modules").exists() {
        let bin = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .find(|d| d.join("knex").is_file())
            .expect("knex on PATH (tests/run.sh installs it)");
        std::os::unix::fs::symlink(bin.parent().unwrap(), dir.join("node_modules")).unwrap();
    }
    let out = Command::new("knex").args(args).args(["--knexfile", "knexfile.js"]).env("KNEX_DB", db).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "knex {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// `schema dump` of a SQLite file, without knex's own bookkeeping tables.
fn dump(p: &Project, db: &Path) -> String {
    let copy = db.with_extension("dumped.sqlite3");
    std::fs::copy(db, &copy).unwrap();
    exec(&copy, &["DROP TABLE IF EXISTS knex_migrations", "DROP TABLE IF EXISTS knex_migrations_lock"]);
    ok(p, &format!("sqlite:{}", copy.display()), &["schema", "dump"])
}

fn exec(db: &Path, statements: &[&str]) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(&mut conn).await.unwrap();
        }
    });
}

/// Every row of every user table (knex's and db-migrate's bookkeeping left out), as text.
fn data(db: &Path) -> String {
    let mut out = String::new();
    let tables = query_file(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'knex_%' AND name NOT LIKE 'db_migrate_%' ORDER BY name",
    );
    for t in tables {
        let name = &t[0];
        out.push_str(&format!("{name}\n"));
        let sql = if name == "sqlite_sequence" {
            "SELECT * FROM sqlite_sequence WHERE name NOT LIKE 'knex_%' ORDER BY name".to_string()
        } else {
            format!("SELECT * FROM \"{name}\" ORDER BY 1")
        };
        for row in query_file(db, &sql) {
            out.push_str(&format!("  {row:?}\n"));
        }
    }
    out
}

#[test]
fn knex_set_on_sqlite_matches_the_real_knex() {
    let theirs = tempfile::tempdir().unwrap();
    copy_dir(&root().join("tests/fixtures/knex-set"), theirs.path());
    let real_db = theirs.path().join("real.sqlite3");
    real_knex(theirs.path(), &real_db, &["migrate:latest"]);

    let p = knex_project("");
    copy_dir(&root().join("tests/fixtures/knex-set/migrations"), &p.path().join("migrations"));
    let mine = p.path().join("mine.sqlite3");
    let url = format!("sqlite:{}", mine.display());

    let plan = ok(&p, &url, &["up", "--dry-run"]);
    assert!(plan.contains("by running the knex migration") && plan.contains("20240101000014_audit_log.mjs"), "{plan}");
    let out = ok(&p, &url, &["up"]);
    assert!(out.contains("applied 17 migration"), "{out}");
    assert_eq!(dump(&p, &mine), dump(&p, &real_db), "the schemas differ");
    assert_eq!(data(&mine), data(&real_db), "the data differ");

    // Recorded under their own ids, as knex migrations; status, validate and the dirty protocol.
    let kinds = query_file(&mine, "SELECT version, name, kind, status FROM db_migrate_history ORDER BY version");
    assert_eq!(kinds.len(), 17);
    assert_eq!(kinds[0], vec!["20240101000001", "create_users", "knex", "applied"]);
    assert_eq!(kinds[11], vec!["20240101000012", "index_post_titles", "knex", "applied"], "the transaction:false one ends applied");
    assert!(ok(&p, &url, &["status"]).contains("17 applied"));
    ok(&p, &url, &["validate"]);

    // redo: the last one down and up again.
    let out = ok(&p, &url, &["redo"]);
    assert!(out.contains("20240101000017_drop_post_title_index"), "{out}");
    assert_eq!(dump(&p, &mine), dump(&p, &real_db));

    // Everything down, both ways.
    real_knex(theirs.path(), &real_db, &["migrate:rollback", "--all"]);
    let out = ok(&p, &url, &["down", "--all"]);
    assert!(out.contains("reverted 17 migration"), "{out}");
    assert_eq!(dump(&p, &mine), dump(&p, &real_db), "the schemas differ after rolling back");
    assert!(query_file(&mine, "SELECT count(*) FROM db_migrate_history")[0][0] == "0");

    // An edited file is drift.
    ok(&p, &url, &["up", "--to", "20240101000002"]);
    let f = p.path().join("migrations/20240101000001_create_users.js");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("t.string('name');", "t.string('name', 80);")).unwrap();
    let (code, out, err) = run(&p, &url, &["validate"]);
    assert_eq!(code, 1, "{out}{err}");
}

#[test]
fn a_knex_migration_outside_its_grant_is_refused_and_rolled_back() {
    let p = knex_project("[components.sneaky]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"posts\"]\n");
    p.write(
        "migrations/20240101000001_users.js",
        "exports.up = (knex) => knex.schema.createTable('users', (t) => { t.increments('id'); t.string('email'); });\n\
         exports.down = (knex) => knex.schema.dropTable('users');\n",
    );
    p.write(
        "migrations/20240101000002_sneaky.js",
        "exports.up = async function (knex) {\n\
           await knex.schema.createTable('posts', (t) => { t.increments('id'); t.string('title'); });\n\
           await knex('posts').insert({ title: 'fine' });\n\
           await knex.schema.alterTable('posts', (t) => { t.string('title', 500).alter(); });\n\
           await knex('users').insert({ email: 'mallory@example.com' });\n\
         };\n\
         exports.down = (knex) => knex.schema.dropTable('posts');\n",
    );
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000002_sneaky") && err.contains("users") && err.contains("allowlist"), "{err}");
    // Its own table (rebuilt through knex's scratch table) went with it; the first one stayed.
    let tables = query_file(&db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    assert_eq!(tables, vec![vec!["db_migrate_history".to_string()], vec!["users".to_string()]]);
    assert_eq!(query_file(&db, "SELECT count(*) FROM users")[0][0], "0");
    assert_eq!(query_file(&db, "SELECT version FROM db_migrate_history"), vec![vec!["20240101000001".to_string()]]);
}

#[test]
fn has_table_tells_existence_but_never_another_tables_create_text() {
    // knex's own `hasTable` reads `select *` of sqlite_master: the whole row, CREATE text
    // included, of any table the migration names. The runtime asks for the name only; the host
    // admits nothing else, so the same read written by hand (spaced so the runtime's rewrite of
    // knex's exact text does not touch it) is refused.
    let p = knex_project("[components.peek]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"posts\"]\n");
    p.write(
        "migrations/20240101000001_users.js",
        "exports.up = (knex) => knex.schema.createTable('users', (t) => { t.increments('id'); t.string('secret_column'); });\n\
         exports.down = (knex) => knex.schema.dropTable('users');\n",
    );
    p.write(
        "migrations/20240101000002_peek.js",
        "exports.up = async function (knex) {\n\
           if (!(await knex.schema.hasTable('users'))) throw new Error('hasTable did not see users');\n\
           if (await knex.schema.hasTable('nothing_here')) throw new Error('hasTable saw a missing table');\n\
           await knex.schema.createTable('posts', (t) => { t.increments('id'); });\n\
           const rows = await knex.raw(\"select  * from sqlite_master where type = 'table' and name = ?\", ['users']);\n\
           await knex('posts').insert({ id: rows.length });\n\
         };\n\
         exports.down = (knex) => knex.schema.dropTable('posts');\n",
    );
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    // Refused at the hand-written read: hasTable went through before it.
    assert!(err.contains("20240101000002_peek") && err.contains("select  * from sqlite_master"), "{err}");
    assert!(!err.contains("secret_column") && !out.contains("secret_column"), "{out}{err}");
    assert!(!err.contains("hasTable did not see") && !err.contains("hasTable saw"), "{err}");
    let tables = query_file(&db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    assert_eq!(tables, vec![vec!["db_migrate_history".to_string()], vec!["users".to_string()]]);
}

#[test]
fn a_savepoint_left_open_without_the_hosts_transaction_is_rolled_back_and_never_reported_applied() {
    // In a `transaction: false` migration a SAVEPOINT starts a transaction; one never released
    // would take the history update with it (rolled back when the connection closed, after
    // "applied" was printed).
    let p = knex_project("");
    p.write(
        "migrations/20240101000001_open.js",
        "exports.config = { transaction: false };\n\
         exports.up = async function (knex) {\n\
           await knex.raw('SAVEPOINT trx1');\n\
           await knex.schema.createTable('a', (t) => { t.increments('id'); });\n\
         };\n\
         exports.down = (knex) => knex.schema.dropTable('a');\n",
    );
    p.write("migrations/20240101000002_next.js", "exports.up = (knex) => knex.schema.createTable('b', (t) => { t.increments('id'); });\n");
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains("applied"), "{out}");
    assert!(err.contains("20240101000001_open") && err.contains("left a transaction open") && err.contains("dirty"), "{err}");
    let tables = query_file(&db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    assert_eq!(tables, vec![vec!["db_migrate_history".to_string()]]);
    assert_eq!(query_file(&db, "SELECT version, status FROM db_migrate_history"), vec![vec!["20240101000001".to_string(), "dirty".to_string()]]);
}

#[test]
fn foreign_keys_are_never_switched_off_outside_the_migrations_transaction() {
    // Without its transaction, `PRAGMA foreign_keys = OFF` would take effect and let a migration
    // granted `parents` delete rows that an ungranted table's rows refer to.
    let p = knex_project("[components.evil]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"parents\"]\n");
    p.write(
        "migrations/20240101000001_setup.js",
        "exports.up = async (knex) => {\n\
           await knex.schema.createTable('parents', (t) => { t.increments('id'); });\n\
           await knex.schema.createTable('children', (t) => { t.increments('id'); t.integer('pid').references('parents.id'); });\n\
           await knex('parents').insert({ id: 1 });\n\
           await knex('children').insert({ pid: 1 });\n\
         };\n",
    );
    p.write(
        "migrations/20240101000002_evil.js",
        "exports.config = { transaction: false };\n\
         exports.up = async (knex) => {\n\
           await knex.raw('PRAGMA foreign_keys = OFF');\n\
           await knex('parents').where({ id: 1 }).del();\n\
         };\n",
    );
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000002_evil") && err.contains("foreign_keys = OFF"), "{err}");
    assert_eq!(query_file(&db, "SELECT count(*) FROM parents")[0][0], "1");
    assert!(query_file(&db, "PRAGMA foreign_key_check").is_empty());
}

#[test]
fn knex_scratch_tables_never_outlive_a_migration() {
    // `_knex_temp_alterNNN` counts as granted to every knex migration on SQLite (its table
    // rebuilds copy into it). One that outlived its migration would be a table shared by every
    // later knex migration whatever its grant: a way to carry `secrets` to a migration granted
    // only `notes`.
    let p = knex_project(
        "[components.stash]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"secrets\"]\n\
         [components.peek]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"notes\"]\n",
    );
    p.write(
        "migrations/20240101000001_setup.js",
        "exports.up = async (knex) => {\n\
           await knex.schema.createTable('secrets', (t) => { t.text('v'); });\n\
           await knex.schema.createTable('notes', (t) => { t.text('v'); });\n\
           await knex('secrets').insert({ v: 's3cret' });\n\
         };\n",
    );
    p.write(
        "migrations/20240101000002_stash.js",
        "exports.up = async (knex) => {\n\
           await knex.raw('CREATE TABLE _knex_temp_alter1 (v text)');\n\
           await knex.raw('INSERT INTO _knex_temp_alter1 SELECT v FROM secrets');\n\
         };\n",
    );
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000002_stash") && err.contains("_knex_temp_alter1") && err.contains("rolled back"), "{err}");
    assert!(query_file(&db, "SELECT name FROM sqlite_master WHERE name LIKE '%knex_temp%'").is_empty());
    assert_eq!(query_file(&db, "SELECT version FROM db_migrate_history"), vec![vec!["20240101000001".to_string()]]);

    // A scratch-named table planted some other way: no knex migration runs while it exists.
    std::fs::remove_file(p.path().join("migrations/20240101000002_stash.js")).unwrap();
    exec(&db, &["CREATE TABLE _knex_temp_alter7 (v text)", "INSERT INTO _knex_temp_alter7 SELECT v FROM secrets"]);
    p.write(
        "migrations/20240101000003_peek.js",
        "exports.up = async (knex) => {\n\
           const rows = await knex('_knex_temp_alter7').select('v');\n\
           await knex('notes').insert(rows);\n\
         };\n",
    );
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000003_peek") && err.contains("`_knex_temp_alter7` exists"), "{err}");
    assert!(query_file(&db, "SELECT v FROM notes").is_empty());
    assert_eq!(query_file(&db, "SELECT count(*) FROM db_migrate_history")[0][0], "1");

    // Once it is gone, the migration runs (and its grant then keeps it to `notes`).
    exec(&db, &["DROP TABLE _knex_temp_alter7"]);
    p.write("migrations/20240101000003_peek.js", "exports.up = async (knex) => { await knex('notes').insert({ v: 'mine' }); };\n");
    ok(&p, &url, &["up"]);
    assert_eq!(query_file(&db, "SELECT v FROM notes"), vec![vec!["mine".to_string()]]);
}

#[test]
fn a_knex_file_that_does_not_parse_is_named() {
    let p = knex_project("");
    p.write("migrations/20240101000001_users.js", "exports.up = (knex) => knex.schema.createTable('users', (t) => { t.increments('id'); });\n");
    p.write("migrations/20240101000002_broken.js", "exports.up = async function (knex) {\n  await knex.schema.createTable('x', (t) => {\n};\n");
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let (code, out, err) = run(&p, &url, &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000002_broken.js") && err.contains("SyntaxError"), "{err}");
    assert_eq!(query_file(&db, "SELECT version FROM db_migrate_history"), vec![vec!["20240101000001".to_string()]]);

    // Without down, `down` refuses before running anything.
    std::fs::remove_file(p.path().join("migrations/20240101000002_broken.js")).unwrap();
    let (code, out, err) = run(&p, &url, &["down"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000001_users") && (err.contains("irreversible") || err.contains("no down")), "{err}");
}

/// `schema dump` of a server database without knex's bookkeeping tables: of a copy, so knex
/// keeps its own for the rollback.
fn dump_server(p: &Project, db: &crate::servers::TestDb) -> String {
    let copy = crate::servers::TestDb::fresh(db.kind);
    db.admin(&format!("CREATE DATABASE {} TEMPLATE {}", copy.name, db.name));
    copy.query("DROP TABLE IF EXISTS knex_migrations, knex_migrations_lock");
    ok(p, &copy.url(), &["schema", "dump"])
}

/// Every row of every user table of a server database (bookkeeping left out).
fn data_server(db: &crate::servers::TestDb) -> String {
    let mut out = String::new();
    for t in db.tables() {
        if t.starts_with("knex_") || t.starts_with("db_migrate_") {
            continue;
        }
        out.push_str(&format!("{t}: {:?}\n", db.query(&format!("SELECT * FROM {t} ORDER BY 1"))));
    }
    out
}

#[test]
fn knex_set_on_postgres_matches_the_real_knex() {
    use crate::servers::{Kind, TestDb};
    let (real_db, mine) = (TestDb::new(Kind::Postgres), TestDb::new(Kind::Postgres));
    let theirs = tempfile::tempdir().unwrap();
    copy_dir(&root().join("tests/fixtures/knex-set"), theirs.path());
    let knex = |args: &[&str]| {
        let bin = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .find(|d| d.join("knex").is_file())
            .expect("knex on PATH (tests/run.sh installs it)");
        if !theirs.path().join("node_modules").exists() {
            std::os::unix::fs::symlink(bin.parent().unwrap(), theirs.path().join("node_modules")).unwrap();
        }
        let out = Command::new("knex")
            .args(args)
            .args(["--knexfile", "knexfile.js"])
            .env("KNEX_CLIENT", "pg")
            .env("KNEX_URL", real_db.url())
            .current_dir(theirs.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "knex {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    knex(&["migrate:latest"]);

    let p = knex_project("");
    copy_dir(&root().join("tests/fixtures/knex-set/migrations"), &p.path().join("migrations"));
    let url = mine.url();
    let out = ok(&p, &url, &["up"]);
    assert!(out.contains("applied 17 migration"), "{out}");
    assert_eq!(dump_server(&p, &mine), dump_server(&p, &real_db), "the schemas differ");
    assert_eq!(data_server(&mine), data_server(&real_db), "the data differ");
    assert_eq!(mine.query("SELECT count(*) FROM db_migrate_history WHERE kind = 'knex' AND status = 'applied'"), vec!["17"]);

    knex(&["migrate:rollback", "--all"]);
    let out = ok(&p, &url, &["down", "--all"]);
    assert!(out.contains("reverted 17 migration"), "{out}");
    assert_eq!(dump_server(&p, &mine), dump_server(&p, &real_db), "the schemas differ after rolling back");
}

#[test]
fn a_knex_project_is_recognised_by_its_knexfile() {
    // No db-migrate.toml: the knexfile makes it a knex project, and names the folder.
    let p = Project::new();
    p.write("knexfile.js", "module.exports = {\n  client: 'better-sqlite3',\n  useNullAsDefault: true,\n  migrations: { directory: './db/migrations' },\n};\n");
    p.write(
        "db/migrations/20240101000001_users.js",
        "exports.up = (knex) => knex.schema.createTable('users', (t) => { t.increments('id'); });\nexports.down = (knex) => knex.schema.dropTable('users');\n",
    );
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let out = ok(&p, &url, &["up"]);
    assert!(out.contains("applied  20240101000001_users"), "{out}");
    assert_eq!(query_file(&db, "SELECT kind FROM db_migrate_history"), vec![vec!["knex".to_string()]]);
}

/// `schema dump` at `url` without knex's bookkeeping tables (blocks naming them are left out).
fn dump_without_knex(p: &Project, url: &str) -> String {
    let dump = ok(p, url, &["schema", "dump"]);
    dump.split("\n\n").filter(|block| !block.contains("knex_migrations")).collect::<Vec<_>>().join("\n\n").trim_end().to_string()
}

#[test]
fn knex_set_on_mariadb_matches_the_real_knex() {
    use crate::servers::{Kind, TestDb};
    let (real_db, mine) = (TestDb::new(Kind::Mariadb), TestDb::new(Kind::Mariadb));
    let theirs = tempfile::tempdir().unwrap();
    copy_dir(&root().join("tests/fixtures/knex-set"), theirs.path());
    // The real knex with mysql2, from the knex runtime's npm packages (tests/run.sh installs them).
    let modules = root().join("target/guest-tools/knex-runtime/node_modules");
    std::os::unix::fs::symlink(&modules, theirs.path().join("node_modules")).unwrap();
    let real_url = real_db.url().replacen("mariadb://", "mysql://", 1);
    let knex = |args: &[&str]| {
        let out = Command::new(modules.join(".bin/knex"))
            .args(args)
            .args(["--knexfile", "knexfile.js"])
            .env("KNEX_CLIENT", "mysql2")
            .env("KNEX_URL", &real_url)
            .current_dir(theirs.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "knex {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    knex(&["migrate:latest"]);

    let p = knex_project("");
    copy_dir(&root().join("tests/fixtures/knex-set/migrations"), &p.path().join("migrations"));
    let url = mine.url();
    let out = ok(&p, &url, &["up"]);
    assert!(out.contains("applied 17 migration"), "{out}");
    assert_eq!(dump_without_knex(&p, &url), dump_without_knex(&p, &real_db.url()), "the schemas differ");
    assert_eq!(data_server(&mine), data_server(&real_db), "the data differ");

    knex(&["migrate:rollback", "--all"]);
    let out = ok(&p, &url, &["down", "--all"]);
    assert!(out.contains("reverted 17 migration"), "{out}");
    assert_eq!(dump_without_knex(&p, &url), dump_without_knex(&p, &real_db.url()), "the schemas differ after rolling back");
}

/// The SQL the real knex builds for `posts` below (its `toString()`, no database needed).
fn knex_to_string(client: &str, js: &str) -> String {
    let bin = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|d| d.join("knex").is_file())
        .expect("knex on PATH (tests/run.sh installs it)");
    let script = format!("const knex = require('knex')({{ client: '{client}', useNullAsDefault: true }}); console.log({js}.toString());");
    let out = Command::new("node").args(["-e", &script]).env("NODE_PATH", bin.parent().unwrap()).output().unwrap();
    assert!(out.status.success(), "node failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn dry_run_rehearses_knex_files_shows_their_sql_and_changes_nothing() {
    use crate::servers::{Kind, TestDb};
    const POSTS: &str = "knex.schema.createTable('posts', (t) => { t.increments('id'); t.string('title', 120).notNullable(); t.integer('user_id').references('users.id'); })";
    for kind in [None, Some(Kind::Postgres), Some(Kind::Mariadb)] {
        let p = knex_project("");
        p.write(
            "migrations/20240101000001_users.js",
            "exports.up = async (knex) => { await knex.schema.createTable('users', (t) => { t.increments('id'); t.string('name'); }); await knex('users').insert({ name: 'ada' }); };\n\
             exports.down = (knex) => knex.schema.dropTable('users');\n",
        );
        p.write(
            "migrations/20240101000002_email.js",
            "exports.up = async function (knex) {\n\
               if (!(await knex.schema.hasTable('users'))) throw new Error('no users table');\n\
               await knex.schema.alterTable('users', (t) => { t.string('email'); });\n\
               const rows = await knex('users').count({ n: '*' });\n\
               await knex('users').insert({ name: 'seeded-' + rows[0].n });\n\
               await knex.raw('delete from users');\n\
             };\n\
             exports.down = (knex) => knex.schema.alterTable('users', (t) => { t.dropColumn('email'); });\n",
        );
        p.write("migrations/20240101000003_posts.js", format!("exports.up = (knex) => {POSTS};\nexports.down = (knex) => knex.schema.dropTable('posts');\n"));
        let server = kind.map(TestDb::new);
        let url = match &server {
            Some(db) => db.url(),
            None => format!("sqlite:{}", p.path().join("app.sqlite3").display()),
        };
        ok(&p, &url, &["up", "--to", "20240101000001"]);
        let before = (ok(&p, &url, &["schema", "dump"]), ok(&p, &url, &["status", "--json"]));

        let out = ok(&p, &url, &["up", "--dry-run", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let steps = v["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{kind:?}: {out}");
        let statements = |i: usize, read: bool| -> Vec<String> {
            let r = &steps[i]["rehearsal"];
            assert!(r["stopped"].is_null() && r["skipped"].is_null(), "{kind:?}: the rehearsal did not finish: {r}");
            r["statements"].as_array().unwrap().iter().filter(|s| s["read"] == read).map(|s| s["sql"].as_str().unwrap().to_lowercase()).collect()
        };
        // Its reads were answered (hasTable found the table, the count saw one row) ...
        let reads = statements(0, true);
        assert!(reads.iter().any(|s| s.contains("count(")), "{kind:?}: {reads:?}");
        let sent = &steps[0]["rehearsal"]["statements"];
        let insert = sent.as_array().unwrap().iter().find(|s| s["sql"].as_str().unwrap().starts_with("insert")).expect("the insert is shown");
        assert!(insert["params"].to_string().contains("seeded-1"), "{kind:?}: the count read the live table: {insert}");
        // ... and every change is shown, in order, never sent.
        let writes = statements(0, false);
        assert!(writes[0].starts_with("alter table") && writes[0].contains("email"), "{kind:?}: {writes:?}");
        assert_eq!(writes.last().map(String::as_str), Some("delete from users"), "{kind:?}: {writes:?}");
        let creates = statements(1, false);
        if kind.is_none() {
            // Exactly what the real knex builds for the same schema call.
            let real: Vec<String> = knex_to_string("sqlite3", POSTS).split(";\n").map(|s| s.trim().trim_end_matches(';').to_lowercase()).collect();
            assert_eq!(creates, real, "the SQL shown is not knex's own");
        } else {
            assert!(creates[0].starts_with("create table") && creates[0].contains("posts"), "{kind:?}: {creates:?}");
        }
        let text = ok(&p, &url, &["up", "--dry-run"]);
        assert!(text.contains("-- rehearsed against the database as it is now") && text.contains("delete from users;"), "{text}");

        let after = (ok(&p, &url, &["schema", "dump"]), ok(&p, &url, &["status", "--json"]));
        assert_eq!(after, before, "{kind:?}: a dry run changed the database");
        let rows = match &server {
            Some(db) => db.query("SELECT name FROM users"),
            None => query_file(&p.path().join("app.sqlite3"), "SELECT name FROM users").into_iter().flatten().collect(),
        };
        assert_eq!(rows, vec!["ada".to_string()], "{kind:?}");
    }
}

#[test]
fn a_rehearsal_cannot_write_through_a_read_and_restricted_grants_on_servers_are_not_rehearsed() {
    use crate::servers::{Kind, TestDb};
    // A read the host sends that writes all the same: the read-only session refuses it.
    let db = TestDb::new(Kind::Postgres);
    let p = knex_project("[components.sneaky]\nfunctions = [\"setval\"]\n[components.posts]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"posts\"]\n");
    p.write(
        "migrations/20240101000001_users.js",
        "exports.up = (knex) => knex.schema.createTable('users', (t) => { t.increments('id'); t.string('name'); });\n\
         exports.down = (knex) => knex.schema.dropTable('users');\n",
    );
    p.write(
        "migrations/20240101000002_sneaky.js",
        "exports.up = async (knex) => { await knex.raw(\"select setval('users_id_seq', 1000)\"); };\nexports.down = async () => {};\n",
    );
    p.write("migrations/20240101000003_posts.js", "exports.up = (knex) => knex.schema.createTable('posts', (t) => { t.increments('id'); });\nexports.down = (knex) => knex.schema.dropTable('posts');\n");
    ok(&p, &db.url(), &["up", "--to", "20240101000001"]);
    let out = ok(&p, &db.url(), &["up", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // A component granted functions of its own sends nothing in a rehearsal, reads included.
    let r = &v["steps"][0]["rehearsal"];
    assert!(r["reads_held"].as_str().unwrap_or_default().contains("functions of its own"), "{out}");
    assert!(r["statements"].as_array().unwrap().iter().all(|s| s["read"] == false), "{out}");
    let skipped = v["steps"][1]["rehearsal"]["skipped"].as_str().unwrap_or_default();
    assert!(skipped.contains("restricted PostgreSQL login"), "{out}");
    assert_eq!(db.query("SELECT last_value FROM users_id_seq"), vec!["1".to_string()]);
    assert!(!db.tables().contains(&"posts".to_string()));
}

#[test]
fn granted_functions_are_never_called_by_a_rehearsal() {
    use crate::servers::{Kind, TestDb};
    // Two granted functions: one sets the session's default back to read-write (which would
    // outlive a rollback on MySQL and reach the next rehearsal), the other writes. A function
    // may do anything a read-only transaction does not cover (run a program, take a lock), so a
    // rehearsal of a component granted its own functions sends nothing.
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE TABLE secrets (v text)");
    db.query("CREATE FUNCTION flip() RETURNS text LANGUAGE sql AS $$ SELECT set_config('default_transaction_read_only', 'off', false) $$");
    db.query("CREATE FUNCTION wr() RETURNS int LANGUAGE sql AS $$ INSERT INTO secrets VALUES ('written by a dry run') RETURNING 1 $$");
    let p = knex_project("[components.sneaky]\nfunctions = [\"flip\", \"wr\"]\n");
    p.write(
        "migrations/20240101000001_sneaky.js",
        "exports.up = async (knex) => { await knex.raw('select flip()'); await knex.raw('select wr()'); };\nexports.down = async () => {};\n",
    );
    let out = ok(&p, &db.url(), &["up", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["steps"][0]["rehearsal"];
    assert!(r["reads_held"].is_string() && r["stopped"].is_null(), "{out}");
    let shown: Vec<&str> = r["statements"].as_array().unwrap().iter().map(|s| s["sql"].as_str().unwrap()).collect();
    assert_eq!(shown, ["select flip()", "select wr()"], "both shown as what it would send: {out}");
    assert_eq!(db.query("SELECT count(*) FROM secrets"), vec!["0".to_string()]);
    let text = ok(&p, &db.url(), &["up", "--dry-run"]);
    assert!(text.contains("-- (reads not sent either"), "{text}");
}

#[test]
fn typescript_files_and_any_es_module_form_run_as_they_are() {
    let p = knex_project("");
    p.write(
        "migrations/20240101000001_users.ts",
        "import type { Knex } from \"knex\";\n\n\
         interface Row {\n  name: string;\n}\n\n\
         export async function up(knex: Knex): Promise<void> {\n\
           await knex.schema.createTable(\"users\", (t: Knex.CreateTableBuilder) => {\n\
             t.increments(\"id\");\n\
             t.string(\"name\", 80).notNullable();\n\
           });\n\
           const rows: Row[] = [{ name: \"ada\" }, { name: \"alan\" }];\n\
           await knex<Row>(\"users\").insert(rows);\n\
         }\n\n\
         export async function down(knex: Knex): Promise<void> {\n  await knex.schema.dropTable(\"users\");\n}\n",
    );
    // Forms a line-by-line rewrite never handled: a multi-line export list with aliases.
    p.write(
        "migrations/20240101000002_posts.mjs",
        "const config = { transaction: false };\n\
         async function createPosts(knex) {\n\
           await knex.schema.createTable('posts', (t) => { t.increments('id'); t.integer('user_id').references('users.id'); });\n\
         }\n\
         async function dropPosts(knex) { await knex.schema.dropTable('posts'); }\n\
         export {\n  createPosts as up,\n  dropPosts as down,\n  config,\n};\n",
    );
    // Declarations are not migrations.
    p.write("migrations/20240101000003_types.d.ts", "export declare function up(): Promise<void>;\n");
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    let out = ok(&p, &url, &["up"]);
    assert!(out.contains("applied 2 migration"), "{out}");
    assert_eq!(query_file(&db, "SELECT name FROM users ORDER BY id"), vec![vec!["ada".to_string()], vec!["alan".to_string()]]);
    assert_eq!(
        query_file(&db, "SELECT version, kind FROM db_migrate_history ORDER BY version"),
        vec![vec!["20240101000001".to_string(), "knex".to_string()], vec!["20240101000002".to_string(), "knex".to_string()]]
    );
    let out = ok(&p, &url, &["down", "--all"]);
    assert!(out.contains("reverted 2 migration"), "{out}");

    // A TypeScript file that does not parse is named, with its line.
    let bad = knex_project("");
    bad.write("migrations/20240101000001_bad.ts", "import type { Knex } from \"knex\";\n\nexport async function up(knex: Knex {\n}\n");
    let (code, out, err) = run(&bad, &format!("sqlite:{}", bad.path().join("app.sqlite3").display()), &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000001_bad.ts") && err.contains('3'), "{err}");
}

/// A `transaction: false` migration using knex transactions: committed, rolled back on a
/// throw, and nested (the inner one's failure undoes only the inner insert).
const KNEX_TRANSACTIONS: &str = "exports.config = { transaction: false };\n\
exports.up = async function (knex) {\n\
  await knex.transaction(async (trx) => { await trx('t').insert({ v: 1 }); await trx('t').insert({ v: 2 }); });\n\
  await knex.transaction(async (trx) => { await trx('t').insert({ v: 3 }); throw new Error('no'); }).catch(() => {});\n\
  await knex.transaction(async (trx) => {\n\
    await trx('t').insert({ v: 4 });\n\
    await trx.transaction(async (inner) => { await inner('t').insert({ v: 5 }); throw new Error('inner'); }).catch(() => {});\n\
  });\n\
  await knex('t').insert({ v: 6 });\n\
};\n\
exports.down = (knex) => knex('t').del();\n";

#[test]
fn knex_transactions_in_a_migration_without_one_commit_and_roll_back_as_knex_does() {
    use crate::servers::{Kind, TestDb};
    let create = "exports.up = (knex) => knex.schema.createTable('t', (t) => { t.integer('v'); });\nexports.down = (knex) => knex.schema.dropTable('t');\n";
    let check = |p: &Project, url: &str, rows: &dyn Fn() -> Vec<String>| {
        let out = ok(p, url, &["up"]);
        assert!(out.contains("applied 2 migration"), "{out}");
        assert_eq!(rows(), ["1", "2", "4", "6"], "committed, rolled back, nested as knex does");
    };
    // SQLite: a SAVEPOINT outside a transaction starts one; PostgreSQL needs BEGIN first.
    let p = knex_project("");
    p.write("migrations/20240101000001_t.js", create);
    p.write("migrations/20240101000002_trx.js", KNEX_TRANSACTIONS);
    let db = p.path().join("app.sqlite3");
    let url = format!("sqlite:{}", db.display());
    check(&p, &url, &|| query_file(&db, "SELECT v FROM t ORDER BY v").into_iter().map(|r| r[0].clone()).collect());
    assert_eq!(query_file(&db, "SELECT status FROM db_migrate_history WHERE version = 20240101000002")[0][0], "applied");
    for kind in [Kind::Postgres, Kind::Mariadb] {
        let server = TestDb::new(kind);
        check(&p, &server.url(), &|| server.query("SELECT v FROM t ORDER BY v"));
        assert_eq!(server.query("SELECT status FROM db_migrate_history WHERE version = 20240101000002"), ["applied"], "{kind:?}");
    }
}

#[test]
fn a_knex_transaction_left_open_on_postgres_is_rolled_back_and_never_reported_applied() {
    use crate::servers::{Kind, TestDb};
    let p = knex_project("");
    p.write(
        "migrations/20240101000001_open.js",
        "exports.config = { transaction: false };\n\
         exports.up = async function (knex) {\n\
           await knex.schema.createTable('kept', (t) => { t.increments('id'); });\n\
           await knex.raw('SAVEPOINT trx1');\n\
           await knex.schema.createTable('a', (t) => { t.increments('id'); });\n\
         };\n\
         exports.down = (knex) => knex.schema.dropTable('a');\n",
    );
    let server = TestDb::new(Kind::Postgres);
    let (code, out, err) = run(&p, &server.url(), &["up"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("20240101000001_open") && err.contains("left a knex transaction open") && err.contains("dirty"), "{err}");
    assert_eq!(server.tables().into_iter().filter(|t| !t.starts_with("db_migrate")).collect::<Vec<_>>(), ["kept"], "what it did outside the transaction stays, nothing inside it");
    assert_eq!(server.query("SELECT status FROM db_migrate_history"), ["dirty"]);
}

#[test]
fn a_statement_that_ends_the_migrations_transaction_fails_it_and_nothing_runs_after() {
    // SQLite ends the whole transaction on a conflict resolved by ROLLBACK: the statements after
    // it would commit one by one, and a SAVEPOINT would start a transaction the host's COMMIT
    // then took for the migration's (reported applied, no history row).
    for (name, conflict) in [
        ("or_rollback", "await knex.raw(\"INSERT OR ROLLBACK INTO parent VALUES (1, 'dup')\")"),
        ("on_conflict", "await knex.raw('CREATE TEMP TABLE scratch (x INTEGER PRIMARY KEY ON CONFLICT ROLLBACK)'); await knex.raw('INSERT INTO scratch VALUES (1)'); await knex.raw('INSERT INTO scratch VALUES (1)')"),
    ] {
        let p = knex_project(&format!("[components.20240101000002_{name}]\nallow = [\"read\", \"write\", \"ddl\"]\ntables = [\"parent\", \"scratch\"]\n"));
        p.write(
            "migrations/20240101000001_parent.js",
            "exports.up = async (knex) => { await knex.raw('CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)'); await knex.raw(\"INSERT INTO parent VALUES (1, 'p1')\"); };\nexports.down = (knex) => knex.raw('DROP TABLE parent');\n",
        );
        p.write(
            &format!("migrations/20240101000002_{name}.js"),
            format!(
                "exports.up = async (knex) => {{\n\
                   await knex.raw(\"INSERT INTO parent VALUES (7, 'inside')\");\n\
                   try {{ {conflict}; }} catch (e) {{}}\n\
                   try {{ await knex.raw(\"INSERT INTO parent VALUES (9, 'after')\"); }} catch (e) {{}}\n\
                   try {{ await knex.raw('SAVEPOINT trx1'); }} catch (e) {{}}\n\
                 }};\nexports.down = async () => {{}};\n"
            ),
        );
        let db = p.path().join("app.sqlite3");
        let url = format!("sqlite:{}", db.display());
        let (code, out, err) = run(&p, &url, &["up"]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(!out.contains(&format!("applied  20240101000002_{name}")), "{name}: {out}");
        assert!(err.contains("ended") && err.contains("transaction") && err.contains("nothing of this migration was kept"), "{name}: {err}");
        assert_eq!(query_file(&db, "SELECT id FROM parent ORDER BY id"), vec![vec!["1".to_string()]], "{name}: nothing of it stays");
        assert_eq!(query_file(&db, "SELECT version, status FROM db_migrate_history"), vec![vec!["20240101000001".to_string(), "applied".to_string()]], "{name}");
    }
}
