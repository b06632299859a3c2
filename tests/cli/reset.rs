//! `reset` (drop every object, apply every migration again) and `drop` (the database itself),
//! checked against each database's own catalog.

use std::process::{Command, Stdio};

use crate::common::Project;
use crate::servers::{Kind, TestDb};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Runs SQL against a real server's maintenance database (or `db`), returning its lines.
fn server(kind: Kind, db: Option<&str>, sql: &str) -> Vec<String> {
    let out = match kind {
        Kind::Postgres => Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tA", "-d", db.unwrap_or("postgres"), "-c", sql])
            .stdin(Stdio::null())
            .output(),
        Kind::Mariadb => {
            let mut c = Command::new("mariadb");
            c.args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql]);
            if let Some(d) = db {
                c.arg(d);
            }
            c.stdin(Stdio::null()).output()
        }
    }
    .unwrap_or_else(|e| panic!("cannot run the {kind:?} client: {e}"));
    assert!(out.status.success(), "{kind:?} refused `{sql}`: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Writes to the project's SQLite database by hand, as another tool or a person would.
fn sqlite_exec(p: &Project, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", p.db().display())).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap();
    });
}

fn production(p: &Project, url: &str) {
    p.write("db-migrate.toml", format!("[environments.production]\ndatabase_url = \"{url}\"\n"));
}

#[test]
fn reset_drops_every_object_and_applies_again_on_sqlite() {
    let p = Project::new();
    p.migration(
        1,
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\nCREATE INDEX users_email ON users (email);\n\
         CREATE VIEW emails AS SELECT email FROM users;\nINSERT INTO users VALUES (1, 'seed@example.com');",
        Some("DROP VIEW emails;\nDROP TABLE users;"),
    );
    p.migration(2, "posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));", Some("DROP TABLE posts;"));
    p.ok(&["up"]);
    // Things db-migrate never made: a table, a trigger, rows.
    sqlite_exec(&p, "CREATE TABLE scratch (x INTEGER); CREATE TRIGGER t AFTER INSERT ON posts BEGIN INSERT INTO scratch VALUES (1); END; \
                     INSERT INTO users VALUES (2, 'hand@example.com'); INSERT INTO posts VALUES (1, 2);");
    let before = p.snapshot();

    let err = p.fails(&["reset"]);
    assert!(err.contains("--yes"), "no terminal, no --yes: {err}");
    production(&p, "sqlite:db/development.sqlite3");
    let err = p.fails(&["--env", "production", "reset", "--yes"]);
    assert!(err.contains("production") && err.contains("--force"), "{err}");
    assert_eq!(p.snapshot(), before, "refusals change nothing");

    let out = json(&p.ok(&["--json", "reset", "--yes"]));
    let dropped: Vec<&str> = out["dropped"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    for what in ["table scratch", "trigger t", "view emails", "table users", "table posts", "table db_migrate_history"] {
        assert!(dropped.contains(&what), "{what} in {dropped:?}");
    }
    assert_eq!(out["steps"].as_array().unwrap().len(), 2);
    let objects = p.query("SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1");
    let objects: Vec<&str> = objects.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(objects, vec!["index users_email", "table db_migrate_history", "table posts", "table users", "view emails"]);
    assert_eq!(p.query("SELECT id, email FROM users"), vec![vec!["1".to_string(), "seed@example.com".to_string()]]);
    assert!(p.query("SELECT * FROM posts").is_empty());
    assert_eq!(p.history(), vec![("1".into(), "applied".into()), ("2".into(), "applied".into())]);

    let log = std::fs::read_to_string(p.path().join(".db-migrate/audit.log")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"command\":\"reset\"") && l.contains("\"dropped\":6")), "{log}");
    // --force lets production through.
    p.ok(&["--env", "production", "reset", "--yes", "--force"]);
}

#[test]
fn reset_on_postgres_drops_tables_views_sequences_types_and_functions() {
    let db = TestDb::new(Kind::Postgres);
    let p = Project::new();
    p.migration(
        1,
        "schema",
        "CREATE TYPE mood AS ENUM ('ok', 'meh');\nCREATE SEQUENCE tickets;\nCREATE TABLE users (id SERIAL PRIMARY KEY, m mood);\n\
         CREATE VIEW happy AS SELECT id FROM users WHERE m = 'ok';\n\
         CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\nINSERT INTO users (m) VALUES ('ok');",
        Some("DROP VIEW happy;\nDROP TABLE users;\nDROP SEQUENCE tickets;\nDROP TYPE mood;\nDROP FUNCTION answer();"),
    );
    let url = db.url();
    p.ok(&["--database-url", &url, "up"]);
    server(Kind::Postgres, Some(&db.name), "CREATE DOMAIN posint AS int CHECK (VALUE > 0); CREATE TABLE scratch (x posint); \
                                            CREATE MATERIALIZED VIEW mv AS SELECT 1 AS one; INSERT INTO users (m) VALUES ('meh')");
    let catalog = || {
        server(
            Kind::Postgres,
            Some(&db.name),
            "SELECT c.relkind::text || ' ' || c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','v','m','S') \
             UNION ALL SELECT 't ' || typname FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e','d') \
             UNION ALL SELECT 'f ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
        )
    };
    let before = catalog();
    assert!(before.contains(&"r scratch".to_string()) && before.contains(&"t posint".to_string()) && before.contains(&"m mv".to_string()), "{before:?}");

    let err = p.fails(&["--database-url", &url, "reset"]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(catalog(), before);

    let out = json(&p.ok(&["--database-url", &url, "--json", "reset", "--yes"]));
    assert_eq!(out["steps"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(
        catalog(),
        vec!["S tickets", "S users_id_seq", "f answer", "r db_migrate_history", "r users", "t mood", "v happy"],
        "hand-made objects are gone, the migration's are back"
    );
    assert_eq!(server(Kind::Postgres, Some(&db.name), "SELECT id, m FROM users"), vec!["1|ok"]);
    assert_eq!(db.history(), vec!["1|applied"]);
}

#[test]
fn drop_deletes_the_sqlite_file_and_up_creates_it_again() {
    let p = Project::new();
    p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.ok(&["up"]);
    std::fs::write(p.path().join("db/development.sqlite3-wal"), "").unwrap();
    let err = p.fails(&["drop"]);
    assert!(err.contains("--yes"), "{err}");
    production(&p, "sqlite:db/development.sqlite3");
    let err = p.fails(&["--env", "production", "drop", "--yes"]);
    assert!(err.contains("production") && err.contains("--force"), "{err}");
    assert!(p.db().exists());

    let out = json(&p.ok(&["--json", "drop", "--yes"]));
    assert_eq!(out["dropped"], true);
    assert!(!p.db().exists() && !p.path().join("db/development.sqlite3-wal").exists());
    let out = p.ok(&["drop", "--yes"]);
    assert!(out.contains("does not exist"), "{out}");
    p.ok(&["up"]);
    assert_eq!(p.tables(), vec!["a", "db_migrate_history"]);
}

#[test]
fn drop_drops_the_database_on_postgres_and_mariadb() {
    for kind in [Kind::Postgres, Kind::Mariadb] {
        let db = TestDb::new(kind);
        let p = Project::new();
        p.migration(1, "a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
        let url = db.url();
        p.ok(&["--database-url", &url, "up"]);
        let exists = || match kind {
            Kind::Postgres => server(kind, None, &format!("SELECT count(*) FROM pg_database WHERE datname = '{}'", db.name)),
            Kind::Mariadb => server(kind, None, &format!("SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{}'", db.name)),
        };
        assert_eq!(exists(), vec!["1"], "{kind:?}");
        let err = p.fails(&["--database-url", &url, "drop"]);
        assert!(err.contains("--yes"), "{kind:?}: {err}");
        assert_eq!(exists(), vec!["1"], "{kind:?}");

        let out = json(&p.ok(&["--database-url", &url, "--json", "drop", "--yes"]));
        assert_eq!(out["dropped"], true, "{kind:?}");
        assert_eq!(exists(), vec!["0"], "{kind:?}: the catalog no longer lists it");
        p.ok(&["--database-url", &url, "up"]);
        assert_eq!(exists(), vec!["1"], "{kind:?}: up creates it again");
        assert_eq!(db.tables(), vec!["a", "db_migrate_history"], "{kind:?}");
    }
}

#[test]
fn reset_on_mariadb_drops_tables_views_and_routines() {
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    p.migration(
        1,
        "schema",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\nCREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, FOREIGN KEY (user_id) REFERENCES users (id));\n\
         CREATE VIEW user_ids AS SELECT id FROM users;\nINSERT INTO users VALUES (1);",
        Some("DROP VIEW user_ids;\nDROP TABLE posts;\nDROP TABLE users;"),
    );
    let url = db.url();
    p.ok(&["--database-url", &url, "up"]);
    server(Kind::Mariadb, Some(&db.name), "CREATE TABLE scratch (x INT); CREATE PROCEDURE noop() SELECT 1; INSERT INTO users VALUES (2); INSERT INTO posts VALUES (1, 2)");
    let catalog = || {
        server(
            Kind::Mariadb,
            Some(&db.name),
            "SELECT CONCAT(table_type, ' ', table_name) FROM information_schema.tables WHERE table_schema = DATABASE() \
             UNION ALL SELECT CONCAT(routine_type, ' ', routine_name) FROM information_schema.routines WHERE routine_schema = DATABASE() ORDER BY 1",
        )
    };
    assert!(catalog().contains(&"PROCEDURE noop".to_string()));
    p.ok(&["--database-url", &url, "reset", "--yes"]);
    assert_eq!(catalog(), vec!["BASE TABLE db_migrate_history", "BASE TABLE posts", "BASE TABLE users", "VIEW user_ids"]);
    assert_eq!(server(Kind::Mariadb, Some(&db.name), "SELECT id FROM users"), vec!["1"]);
    assert_eq!(db.history(), vec!["1|applied"]);
}
