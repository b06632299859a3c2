//! The hostile suite, take two: SQL payloads an attacker sends through the `sql` interface,
//! on SQLite, PostgreSQL and MariaDB. The hostile guest runs whatever statement the test gives
//! it (`--arg mode=sql --arg call=… --arg sql=…`) and succeeds if the statement does; each
//! payload must instead be refused (any error), leave the database exactly as it was (history
//! and lock included), and end within the deadline plus a small margin.

use std::time::{Duration, Instant};

use crate::common::Project;
use crate::servers::{Kind, TestDb};

/// A seed-pack-like grant: read and write on `users` only.
const RESTRICTED: &str = r#"
[components.hostile]
allow = ["read", "write"]
tables = ["users"]
timeout_secs = 3
memory_mib = 64
max_rows = 1000
max_result_mib = 8
max_log_bytes = 4096
max_output_bytes = 4096
"#;

/// A migration's default grant (every class, any table), with a short deadline.
const UNRESTRICTED: &str = r#"
[components.hostile]
timeout_secs = 3
max_result_mib = 8
max_log_bytes = 4096
"#;

/// A grant whose allowlisted name is a view over `secrets`: the host's check passes it, the
/// database must not.
const VIEW_GRANT: &str = r#"
[components.hostile]
allow = ["read", "write"]
tables = ["users", "users_view"]
timeout_secs = 3
"#;

fn schema(kind: Option<Kind>) -> String {
    let text = match kind {
        Some(Kind::Mariadb) => "VARCHAR(200)",
        _ => "TEXT",
    };
    format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name {text});\n\
         CREATE TABLE secrets (v {text});\n\
         INSERT INTO secrets VALUES ('s3cret');\n\
         CREATE VIEW users_view AS SELECT v AS name FROM secrets;\n"
    )
}

/// A project with the schema applied and the hostile component pending, on SQLite or a server.
struct Arena {
    p: Project,
    db: Option<TestDb>,
}

impl Arena {
    fn new(kind: Option<Kind>, config: &str) -> Arena {
        let p = Project::new();
        p.migration(1, "schema", &schema(kind), None);
        p.component("hostile", 2, "hostile");
        p.write("db-migrate.toml", config);
        let a = Arena { p, db: kind.map(TestDb::new) };
        let (code, out, err) = a.run(&["up", "--to", "1"]);
        assert_eq!(code, 0, "schema migration failed:\n{out}\n{err}");
        a
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<String> = Vec::new();
        if let Some(db) = &self.db {
            all.extend(["--database-url".to_string(), db.url()]);
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.p.run(&refs)
    }

    fn snapshot(&self) -> String {
        match &self.db {
            Some(db) => format!("{}\nhistory: {:?}", db.snapshot(), db.history()),
            None => self.p.snapshot(),
        }
    }

    /// Runs one payload; asserts it failed cleanly, changed nothing, and ended in time.
    fn refuses(&self, call: &str, sql: &str) -> String {
        let before = self.snapshot();
        let started = Instant::now();
        let (code, out, err) = self.run(&["up", "--arg", "mode=sql", "--arg", &format!("call={call}"), "--arg", &format!("sql={sql}")]);
        let took = started.elapsed();
        assert_eq!(code, 2, "payload admitted ({call}): {sql}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(err.contains("migration 2_hostile failed (up)"), "{sql}: {err}");
        assert_eq!(self.snapshot(), before, "{sql}: the database must be exactly as before\n{err}");
        // 3 s deadline, plus start-up and rollback.
        assert!(took < Duration::from_secs(12), "{sql}: took {took:?}, past the deadline");
        err
    }

    /// A payload that must be allowed (the positive control of a suite; it applies the
    /// migration, so it comes last).
    fn allows(&self, call: &str, sql: &str) {
        let (code, out, err) = self.run(&["up", "--arg", "mode=sql", "--arg", &format!("call={call}"), "--arg", &format!("sql={sql}")]);
        assert_eq!(code, 0, "allowed payload refused ({call}): {sql}\n{out}\n{err}");
    }
}

/// Payloads every SQL database must refuse from a component granted read/write on `users`.
const RESTRICTED_PAYLOADS: &[(&str, &str)] = &[
    ("execute", "WITH secrets AS (SELECT 1) UPDATE secrets SET v = 'pwned'"),
    ("execute", "WITH db_migrate_history AS (SELECT 1) DELETE FROM db_migrate_history"),
    ("execute", "DELETE FROM db_migrate_history"),
    ("query", "SELECT name FROM users UNION ALL SELECT v FROM secrets"),
    ("query", "SELECT (SELECT v FROM secrets) AS x"),
    ("query", "WITH secrets AS (SELECT v FROM secrets) SELECT * FROM secrets"),
    ("query", "SELECT * FROM users WHERE name IN (SELECT v FROM secrets)"),
    ("cursor", "SELECT v FROM secrets"),
    ("execute", "INSERT INTO users (id, name) SELECT 500, v FROM secrets"),
    ("execute", "UPDATE users SET name = (SELECT v FROM secrets)"),
    ("execute", "DROP TABLE secrets"),
    ("execute", "CREATE TABLE planted (x INTEGER)"),
    ("execute", "COMMIT"),
    ("execute", "ROLLBACK"),
    ("execute", "SAVEPOINT s1"),
    ("execute", "INSERT INTO users (id, name) VALUES (7, 'x'); DELETE FROM secrets"),
    ("query", "SELECT * FROM users_view"),
];

#[test]
fn sqlite_refuses_what_the_grant_does_not_name() {
    let a = Arena::new(None, RESTRICTED);
    for (call, sql) in RESTRICTED_PAYLOADS {
        a.refuses(call, sql);
    }
    for (call, sql) in [
        ("query", "SELECT * FROM sqlite_master"),
        ("query", "SELECT * FROM pragma_table_info('secrets')"),
        ("query", "SELECT name FROM users UNION ALL SELECT sql FROM sqlite_schema"),
        ("execute", "ATTACH DATABASE '/tmp/dbm-hostile.sqlite3' AS evil"),
        ("execute", "PRAGMA writable_schema = 1"),
        ("execute", "VACUUM INTO '/tmp/dbm-hostile-copy.sqlite3'"),
        ("query", "SELECT load_extension('/tmp/evil.so')"),
        ("query", "SELECT \"load_extension\"('/tmp/evil.so')"),
        ("query", "SELECT random()"),
        ("execute", "REPLACE INTO secrets (v) VALUES ('x')"),
        ("execute", "INSERT INTO main.secrets (v) VALUES ('x')"),
    ] {
        a.refuses(call, sql);
    }
    assert!(!std::path::Path::new("/tmp/dbm-hostile.sqlite3").exists());
    assert!(!std::path::Path::new("/tmp/dbm-hostile-copy.sqlite3").exists());
    a.allows("query", "WITH secrets AS (SELECT id FROM users) SELECT * FROM secrets");
}

#[test]
fn sqlite_itself_refuses_a_view_over_another_table() {
    // The host's check sees only the name `users_view` (granted); SQLite's authorizer sees the
    // read of `secrets` underneath, and refuses it.
    let a = Arena::new(None, VIEW_GRANT);
    let err = a.refuses("query", "SELECT * FROM users_view");
    assert!(err.contains("the database refused it") && err.contains("secrets"), "{err}");
    let err = a.refuses("cursor", "SELECT name FROM users_view");
    assert!(err.contains("the database refused it"), "{err}");
}

#[test]
fn sqlite_own_tables_and_escapes_are_refused_to_unrestricted_guests() {
    let a = Arena::new(None, UNRESTRICTED);
    for (call, sql) in [
        ("execute", "DELETE FROM db_migrate_history"),
        ("execute", "WITH db_migrate_history AS (SELECT 1) DELETE FROM db_migrate_history"),
        ("execute", "UPDATE \"DB_MIGRATE_HISTORY\" SET status = 'applied'"),
        ("execute", "CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM secrets; END"),
        ("execute", "ATTACH DATABASE '/tmp/dbm-hostile.sqlite3' AS evil"),
        ("query", "SELECT * FROM sqlite_master"),
        ("execute", "PRAGMA foreign_keys = OFF"),
        ("query", "SELECT writefile('/tmp/dbm-x', 'y')"),
        ("execute", "CREATE TABLE x AS SELECT * FROM db_migrate_history"),
        ("execute", "CREATE INDEX db_migrate_seeds ON users (name)"),
    ] {
        a.refuses(call, sql);
    }
    // A scratch table may shadow `users` for the guest itself, never for what runs after it:
    // the host drops it when the guest's session ends, and migration 3 writes the real table.
    a.p.migration(3, "after", "INSERT INTO users (id, name) VALUES (7, 'after');", None);
    a.allows("execute", "CREATE TEMP TABLE users (id INTEGER, name TEXT)");
    assert_eq!(a.p.query("SELECT name FROM main.users WHERE id = 7"), vec![vec!["after".to_string()]]);
}

#[test]
fn sqlite_scratch_tables_that_reference_each_other_never_outlive_the_guest() {
    // Red-team round three: a scratch `users` with rows that a second scratch table references.
    // Dropping it when the session ended failed on the reference (and the failure was
    // ignored): the scratch `users` then stood in for the real one for the rest of the run, and
    // migration 3's insert went into it, vanished with the connection, and was recorded.
    for script in [
        "CREATE TEMP TABLE users (id INTEGER PRIMARY KEY, name TEXT);;CREATE TEMP TABLE kid (u INTEGER REFERENCES users (id));;\
         INSERT INTO users VALUES (1, 'x');;INSERT INTO kid VALUES (1)",
        // A cycle: whichever is dropped first, the other still refers to it.
        "CREATE TEMP TABLE users (id INTEGER PRIMARY KEY, name TEXT, k INTEGER REFERENCES kid (id));;\
         CREATE TEMP TABLE kid (id INTEGER PRIMARY KEY, u INTEGER REFERENCES users (id));;\
         INSERT INTO users VALUES (1, 'x', NULL);;INSERT INTO kid VALUES (1, 1);;UPDATE users SET k = 1",
    ] {
        let a = Arena::new(None, UNRESTRICTED);
        a.p.migration(3, "after", "INSERT INTO users (id, name) VALUES (7, 'after');", None);
        a.allows("script", script);
        assert_eq!(a.p.query("SELECT name FROM main.users WHERE id = 7"), vec![vec!["after".to_string()]], "{script}");
        let (code, out, err) = a.run(&["status", "--json"]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("pending") && !out.contains("dirty"), "{out}");
    }
    // A seed's scratch objects go before its transaction commits, and shadow no later seed.
    let a = Arena::new(None, UNRESTRICTED);
    std::fs::create_dir_all(a.p.path().join("seeds")).unwrap();
    std::fs::copy(crate::common::guests().join("seed_world.wasm"), a.p.path().join("seeds/01_scratch.wasm")).unwrap();
    a.p.write("seeds/02_after.sql", "INSERT INTO users (id, name) VALUES (8, 'seeded after');\n");
    let (code, out, err) = a.run(&["seed", "--arg", "sql=CREATE TEMP TABLE users (id INTEGER, name TEXT)"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(a.p.query("SELECT name FROM main.users WHERE id = 8"), vec![vec!["seeded after".to_string()]]);
}

#[test]
fn sqlite_views_in_the_temporary_database_are_refused() {
    // Red-team (wave 2): `CREATE VIEW temp.users` is temporary without the keyword. It passed
    // the check for `CREATE TEMP VIEW`, outlived the session (only tables were dropped), and
    // the next SQL migration read its rows in place of the real `users` into `orders`.
    let a = Arena::new(None, UNRESTRICTED);
    for sql in [
        "CREATE VIEW temp.users AS SELECT id, 'ATTACKER' AS name FROM main.users",
        "CREATE VIEW \"TEMP\".\"users\" AS SELECT 1 AS id, 'ATTACKER' AS name",
        "CREATE VIEW temp.json_each AS SELECT 1 AS key",
    ] {
        let err = a.refuses("execute", sql);
        assert!(err.contains("temporary views"), "{sql}: {err}");
    }
}

#[test]
fn sqlite_a_deferred_foreign_key_a_guest_leaves_broken_is_named() {
    // Red-team (wave 2): SQLite checks a deferred key when the migration commits, and its
    // message there named nothing ("cannot record the migration in the history: FOREIGN KEY
    // constraint failed"). The session's end says what happened; nothing is kept.
    let a = Arena::new(None, UNRESTRICTED);
    let err = a.refuses(
        "script",
        "CREATE TABLE p (id INTEGER PRIMARY KEY);;CREATE TABLE c (u INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);;INSERT INTO c VALUES (5)",
    );
    assert!(err.contains("deferred foreign key"), "{err}");
    assert!(!err.contains("cannot record"), "{err}");
}

#[test]
fn a_database_call_that_cannot_be_interrupted_still_ends_near_the_deadline() {
    // One SQL function call SQLite's progress handler cannot break into (a quadratic search):
    // the watchdog stops the process 5 s past the 3 s deadline, and the open transaction dies
    // with it.
    let a = Arena::new(None, RESTRICTED);
    let before = a.snapshot();
    let started = Instant::now();
    let sql = "sql=SELECT instr(hex(zeroblob(1000000)), hex(zeroblob(500000)) || '1')";
    let (code, _, err) = a.run(&["up", "--arg", "mode=sql", "--arg", "call=query", "--arg", sql]);
    assert_eq!(code, 2, "{err}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert!(err.contains("past its time limit") && err.contains("nothing of it is kept"), "{err}");
    assert_eq!(a.snapshot(), before);
    let (code, out, err) = a.run(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pending"), "{out}");
}

#[test]
fn sqlite_runaway_statements_stop_at_the_deadline() {
    let a = Arena::new(None, RESTRICTED);
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let err = a.refuses("query", endless);
    assert!(err.contains("time limit"), "{err}");
    // A cursor materialises its result: the endless one must stop in time and fill no disk.
    let err = a.refuses("cursor", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, zeroblob(1000) FROM c");
    assert!(err.contains("time limit") || err.contains("full"), "{err}");
}

#[test]
fn sqlite_results_are_bounded_in_bytes_not_only_rows() {
    let a = Arena::new(None, RESTRICTED);
    // One value over the limit, and many values that add up past it.
    let err = a.refuses("query", "SELECT zeroblob(100000000)");
    assert!(err.contains("too big") || err.contains("MiB"), "{err}");
    let err = a.refuses("query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500) SELECT zeroblob(1000000) FROM c");
    assert!(err.contains("MiB"), "{err}");
}

#[test]
fn a_huge_log_line_and_error_are_cut_when_received() {
    let a = Arena::new(None, RESTRICTED);
    let before = a.snapshot();
    let (code, _, err) = a.run(&["up", "--arg", "mode=big-log"]);
    assert_eq!(code, 2);
    assert!(err.len() < 64 * 1024, "40 MiB of log and 20 MiB of error were shown: {} bytes", err.len());
    assert!(err.contains("more bytes cut"), "{}", &err[..err.len().min(2000)]);
    assert_eq!(a.snapshot(), before);
}

/// Payloads aimed at PostgreSQL's own ways out: SQL in strings, roles, server programs and
/// files, transaction and lock state.
const POSTGRES_PAYLOADS: &[(&str, &str)] = &[
    ("query", "SELECT query_to_xml('SELECT * FROM secrets', true, true, '')"),
    ("query", "SELECT database_to_xml(true, true, '')"),
    ("query", "SELECT \"query_to_xml\"('SELECT * FROM secrets', true, true, '')"),
    ("query", "SELECT pg_catalog.query_to_xml('SELECT * FROM secrets', true, true, '')"),
    ("query", "SELECT name FROM users UNION ALL TABLE secrets"),
    ("query", "SELECT set_config('role', 'postgres', true)"),
    ("execute", "SET ROLE postgres"),
    ("execute", "RESET ROLE"),
    ("execute", "SET SESSION AUTHORIZATION postgres"),
    ("execute", "SET LOCAL statement_timeout = 0"),
    ("execute", "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id > /tmp/dbm-pwned'''; END $$"),
    ("execute", "COPY users FROM PROGRAM 'id'"),
    ("execute", "COPY (SELECT 1) TO '/tmp/dbm-pwned'"),
    ("query", "SELECT pg_read_file('/etc/passwd')"),
    ("query", "SELECT * FROM pg_read_file('/etc/passwd')"),
    ("query", "SELECT rolpassword FROM pg_authid"),
    ("query", "SELECT * FROM pg_stat_activity"),
    ("execute", "ABORT"),
    ("execute", "END"),
    ("query", "SELECT pg_advisory_unlock_all()"),
    ("query", "SELECT setval('users_id_seq', 1000)"),
    ("execute", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'"),
    ("execute", "CREATE ROLE evil SUPERUSER"),
    ("execute", "ALTER ROLE postgres PASSWORD 'x'"),
    ("query", "SELECT pg_sleep(60)"),
    ("query", "SELECT E'\\'' || (SELECT v FROM secrets)"),
    ("query", "SELECT $x$ $x$ || (SELECT v FROM secrets)"),
    ("execute", "LISTEN x"),
    ("execute", "PREPARE p AS SELECT * FROM secrets"),
    ("execute", "SELECT * INTO planted FROM users"),
    // Found by a red-team run: a dollar-quote tag PostgreSQL accepts and the parser does not.
    ("query", "WITH z AS (SELECT $q\u{b7}$, $$ $q\u{b7}$ AS a), d AS (DELETE FROM db_migrate_history RETURNING 1) SELECT $q\u{b7}$ $$) SELECT $q\u{b7}$"),
    ("query", "SELECT U&'\\0041'"),
    ("execute", "CREATE TABLE x () INHERITS (db_migrate_history)"),
    ("execute", "CREATE TABLE x () INHERITS (pg_authid)"),
    ("execute", "ALTER TABLE users OWNER TO postgres"),
    ("execute", "CREATE TYPE pg_catalog.mood AS ENUM ('planted')"),
    ("execute", "ALTER TABLE users RENAME TO db_migrate_seeds"),
    ("execute", "CREATE INDEX db_migrate_seeds ON users (name)"),
    ("query", "SELECT nextval('users_seq')"),
    ("execute", "SET LOCAL work_mem = '2000GB'"),
    // Round two: db-migrate's names through constraints and index renames, temporary objects
    // through schema qualification.
    ("execute", "ALTER TABLE users RENAME CONSTRAINT users_pkey TO db_migrate_history_lock"),
    ("execute", "ALTER INDEX users_pkey RENAME TO db_migrate_seeds"),
    ("execute", "ALTER INDEX db_migrate_history_pkey RENAME TO zz"),
    ("execute", "CREATE SEQUENCE s OWNED BY db_migrate_history.version"),
    ("execute", "CREATE TABLE pg_temp.users (id int, name text)"),
    ("execute", "CREATE TYPE pg_temp.text AS ENUM ('pwned')"),
];

#[test]
fn postgres_refuses_what_the_grant_does_not_name() {
    let a = Arena::new(Some(Kind::Postgres), RESTRICTED);
    for (call, sql) in RESTRICTED_PAYLOADS.iter().chain(POSTGRES_PAYLOADS) {
        a.refuses(call, sql);
    }
    assert!(!std::path::Path::new("/tmp/dbm-pwned").exists(), "a server program ran");
    let err = a.refuses("query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c");
    assert!(err.contains("time limit") || err.contains("statement timeout"), "{err}");
    a.refuses("query", "SELECT repeat('x', 20000000)");
    a.allows("cursor", "SELECT name FROM users WHERE id > 0");
}

#[test]
fn postgres_unrestricted_guests_cannot_reach_the_server_or_the_history() {
    let a = Arena::new(Some(Kind::Postgres), UNRESTRICTED);
    // Reading `secrets` is this grant's right; everything else in the list is not.
    let reads_only = |sql: &str| sql.contains("UNION ALL TABLE secrets") || sql.contains("|| (SELECT v FROM secrets)");
    for (call, sql) in POSTGRES_PAYLOADS.iter().filter(|(_, s)| !reads_only(s)).chain(&[
        ("execute", "DELETE FROM db_migrate_history"),
        ("execute", "WITH db_migrate_history AS (SELECT 1) DELETE FROM db_migrate_history"),
        ("execute", "CREATE TABLE x AS SELECT * FROM db_migrate_history"),
        ("execute", "DROP SCHEMA public CASCADE"),
        ("execute", "DROP DATABASE postgres"),
    ]) {
        a.refuses(call, sql);
    }
    assert!(!std::path::Path::new("/tmp/dbm-pwned").exists(), "a server program ran");
    a.allows("execute", "CREATE TABLE allowed (id int)");
}

#[test]
fn postgres_scratch_tables_never_outlive_the_guest() {
    // Red-team round three (held already; a regression test): a temporary table is scratch
    // space for the guest, but PostgreSQL looks in `pg_temp` first. If it stayed on
    // db-migrate's session, the next migration's (or seed's) `INSERT INTO users` would go into
    // it, vanish when the run ends, and be recorded as applied.
    let a = Arena::new(Some(Kind::Postgres), UNRESTRICTED);
    a.p.migration(3, "after", "INSERT INTO users (id, name) VALUES (7, 'after');", None);
    a.allows("execute", "CREATE TEMP TABLE users (id int, name text)");
    let db = a.db.as_ref().unwrap();
    assert_eq!(db.query("SELECT name FROM public.users WHERE id = 7"), ["after"], "the next migration wrote a scratch table");

    std::fs::create_dir_all(a.p.path().join("seeds")).unwrap();
    std::fs::copy(crate::common::guests().join("seed_world.wasm"), a.p.path().join("seeds/01_scratch.wasm")).unwrap();
    a.p.write("seeds/02_after.sql", "INSERT INTO users (id, name) VALUES (8, 'seeded after');\n");
    let (code, out, err) = a.run(&["seed", "--arg", "sql=CREATE TEMP TABLE users (id int, name text)"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(db.query("SELECT name FROM public.users WHERE id = 8"), ["seeded after"], "the next seed wrote a scratch table");
}

#[test]
fn postgres_a_guest_on_one_schema_cannot_reach_another_schemas_tables() {
    // Red-team (wave 2): one restricted role served every schema of a database, so it held the
    // grant's rights in each; a guest running on `tenant_1` wrote `public.users` (the host's
    // check reads `public.users` as the granted `users`). Now each schema has its own role.
    let p = Project::new();
    let db = TestDb::new(Kind::Postgres);
    db.query("CREATE SCHEMA tenant_1; GRANT USAGE ON SCHEMA tenant_1 TO PUBLIC");
    p.migration(1, "schema", &schema(Some(Kind::Postgres)), None);
    p.component("hostile", 2, "hostile");
    p.write("db-migrate.toml", RESTRICTED);
    let tenant = format!("{}?options%5Bsearch_path%5D=tenant_1", db.url());
    let up = |url: &str, sql: &str| p.run(&["--database-url", url, "up", "--arg", "mode=sql", "--arg", "call=execute", "--arg", &format!("sql={sql}")]);
    // The public target first: its role is granted `public.users`.
    let (code, out, err) = up(&db.url(), "SELECT 1");
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = up(&tenant, "INSERT INTO public.users (id, name) VALUES (666, 'written from tenant_1')");
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(db.query("SELECT count(*) FROM public.users WHERE id = 666"), ["0"]);
    // The tenant's own table is its guest's.
    let (code, out, err) = up(&tenant, "SELECT 1");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(db.query("SELECT count(*) FROM tenant_1.users WHERE id = 100"), ["1"]);
}

#[test]
fn postgres_itself_refuses_a_restricted_guest() {
    // A trigger of the user's (a SQL migration wrote it) fires on the guest's insert into its
    // granted table and writes `secrets`: the host's check cannot see that, the server can.
    let a = Arena::new(Some(Kind::Postgres), RESTRICTED);
    let db = a.db.as_ref().unwrap();
    db.query(
        "CREATE FUNCTION users_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO secrets VALUES (NEW.name); RETURN NEW; END $$",
    );
    db.query("CREATE TRIGGER users_copy AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION users_copy()");
    let err = a.refuses("query", "SELECT 1");
    assert!(err.contains("permission denied for table secrets"), "{err}");

    // The role the server enforced it with: no superuser, no memberships, nothing on `secrets`,
    // and nothing to switch back to.
    // The role granted on this database's `users` (roles are server-wide; other tests make theirs).
    let role = db.query(
        "SELECT DISTINCT a.grantee::regrole::text FROM pg_class c, aclexplode(c.relacl) a WHERE c.relname = 'users' AND a.grantee::regrole::text LIKE 'dbm_guest_%'",
    );
    let role = role.first().expect("a guest role was created").clone();
    let attrs = db.query(&format!(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin, (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) FROM pg_roles r WHERE rolname = '{role}'"
    ));
    assert_eq!(attrs, vec!["f|f|f|f|f|0".to_string()], "no attributes, login retired after the run, member of nothing");
    let privs = db.query(&format!("SELECT has_table_privilege('{role}', 'secrets', 'SELECT'), has_table_privilege('{role}', 'users', 'SELECT')"));
    assert_eq!(privs, vec!["f|t".to_string()]);
    // Log in as that role (the test lets it) and try the ways back to the superuser.
    db.query(&format!("ALTER ROLE {role} LOGIN"));
    for sql in [
        "SELECT set_config('role', 'postgres', false)",
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "SELECT v FROM secrets",
        "SELECT query_to_xml('SELECT * FROM secrets', true, true, '')",
        "SELECT pg_read_file('/etc/passwd')",
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "CREATE ROLE evil",
    ] {
        let out = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", &role, "-d", &db.name, "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql])
            .output()
            .unwrap();
        assert!(!out.status.success(), "the server let the guest role run `{sql}`: {}", String::from_utf8_lossy(&out.stdout));
    }
    db.query(&format!("ALTER ROLE {role} NOLOGIN"));
}

/// Payloads aimed at MySQL/MariaDB's ways out.
const MARIADB_PAYLOADS: &[(&str, &str)] = &[
    ("query", "SELECT 1 /*!UNION SELECT v FROM secrets */"),
    ("query", "SELECT 1 /*M!UNION SELECT v FROM secrets */"),
    ("query", "SELECT 1 /*!50000 UNION SELECT v FROM secrets */"),
    ("query", "SELECT name FROM users /*+ SET_VAR(max_statement_time=0) */"),
    ("execute", "UPDATE users, secrets SET users.name = secrets.v"),
    ("query", "SELECT LOAD_FILE('/etc/passwd')"),
    ("query", "SELECT name FROM users INTO OUTFILE '/tmp/dbm-pwned'"),
    ("query", "SELECT name INTO DUMPFILE '/tmp/dbm-pwned' FROM users"),
    ("query", "SELECT GET_LOCK('x', 1)"),
    ("query", "SELECT RELEASE_ALL_LOCKS()"),
    ("query", "SELECT IS_USED_LOCK('x')"),
    ("query", "SELECT * FROM mysql.user"),
    ("query", "SELECT * FROM information_schema.processlist"),
    ("query", "SELECT SLEEP(60)"),
    ("query", "SELECT BENCHMARK(1000000000, md5('x'))"),
    ("execute", "LOAD DATA INFILE '/etc/passwd' INTO TABLE users"),
    ("execute", "SET GLOBAL general_log = 1"),
    ("execute", "SET autocommit = 1"),
    ("execute", "LOCK TABLES users WRITE"),
    ("execute", "HANDLER secrets OPEN"),
    ("execute", "CREATE USER evil"),
    ("execute", "GRANT ALL ON *.* TO CURRENT_USER"),
    ("execute", "CALL mysql.some_procedure()"),
    ("execute", "XA START 'x'"),
    // Found by a red-team run: `--` and a non-breaking space is a comment to the parser and not
    // to MariaDB.
    ("execute", "INSERT INTO users (id, name) SELECT 5, 'x' FROM (SELECT 1 AS `\u{a0}`) t WHERE 0 --\u{a0} UNION SELECT 6, (SELECT v FROM secrets)\n"),
    ("query", "SELECT 1 FROM (SELECT 1 AS `\u{a0}`) t WHERE 0 --\u{a0} UNION SELECT 'x' INTO OUTFILE '/tmp/dbm-pwned'\n"),
    ("execute", "UPDATE users JOIN (SELECT 1 AS `\u{a0}`) t ON 1 --\u{a0} JOIN db_migrate_history h ON 1\nSET users.name = 'x', h.status = 'applied'"),
    ("execute", "ALTER TABLE users RENAME TO mysql.planted"),
    ("execute", "ALTER TABLE users RENAME TO db_migrate_seeds"),
    ("query", "SELECT 1 # comment"),
    ("execute", "CREATE DEFINER = 'mariadb.sys'@'localhost' SQL SECURITY DEFINER VIEW v AS SELECT 1"),
    ("execute", "INSERT INTO users (id, name) VALUES (101, CONCAT(@@datadir, '|', @@hostname))"),
    ("execute", "CREATE TABLE t2 (id int) ENGINE=InnoDB TABLESPACE innodb_system"),
];

#[test]
fn mariadb_refuses_what_the_grant_does_not_name() {
    let a = Arena::new(Some(Kind::Mariadb), RESTRICTED);
    for (call, sql) in RESTRICTED_PAYLOADS.iter().chain(MARIADB_PAYLOADS) {
        a.refuses(call, sql);
    }
    assert!(!std::path::Path::new("/tmp/dbm-pwned").exists(), "the server wrote a file");
    // MariaDB stops recursion at 1,000 levels; a billion-row join is the long statement here.
    let err = a.refuses("query", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT count(*) FROM c a, c b, c d");
    assert!(err.contains("time limit") || err.contains("max_statement_time") || err.contains("interrupted"), "{err}");
    a.allows("cursor", "SELECT name FROM users WHERE id > 0");
}

#[test]
fn mariadb_guests_end_strings_where_the_check_does_whatever_sql_mode_a_migration_set() {
    // A SQL migration earlier in the same run may turn on NO_BACKSLASH_ESCAPES for the session
    // the guest then shares: the server must still end a guest's strings where the host's
    // check ends them, or a string could hide a read of the history from the check.
    let db = TestDb::new(Kind::Mariadb);
    let p = Project::new();
    let mode = "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES');\n";
    p.migration(1, "schema", &format!("{}{mode}", schema(Some(Kind::Mariadb))), None);
    p.component("hostile", 2, "hostile");
    p.write("db-migrate.toml", UNRESTRICTED);
    // With backslash escapes (the check's reading) this inserts one row whose name is the
    // rest of the text; without them, a second row holding a history checksum.
    let sql = r"INSERT INTO users (id, name) VALUES (9, 'x\'), (10, (SELECT MAX(checksum) FROM db_migrate_history)) -- ')";
    let url = db.url();
    let (code, out, err) = p.run(&["--database-url", &url, "up", "--arg", "mode=sql", "--arg", "call=execute", "--arg", &format!("sql={sql}")]);
    assert_eq!(code, 0, "{out}\n{err}");
    // (Row 100 is the guest's own first write.)
    assert_eq!(db.query("SELECT id FROM users ORDER BY id"), ["9", "100"], "the server read the string otherwise than the check");
}

#[test]
fn mariadb_itself_refuses_a_restricted_guest() {
    let a = Arena::new(Some(Kind::Mariadb), RESTRICTED);
    a.refuses("query", "SELECT 1 FROM secrets");
    let db = a.db.as_ref().unwrap();
    // The account the server enforces the grant with holds exactly its tables, and no FILE,
    // SUPER, PROCESS or GRANT OPTION.
    // The account granted on this database (accounts are server-wide; other tests make theirs).
    let account = db.query(&format!("SELECT DISTINCT user FROM mysql.tables_priv WHERE db = '{}' AND user LIKE 'dbm_guest_%'", db.name));
    let account = account.first().expect("a guest account was created").clone();
    let grants = db.query(&format!("SHOW GRANTS FOR '{account}'@'%'")).join("\n");
    for forbidden in ["FILE", "SUPER", "PROCESS", "GRANT OPTION", "`secrets`", "ALL PRIVILEGES"] {
        assert!(!grants.contains(forbidden), "{forbidden} in:\n{grants}");
    }
    assert!(grants.contains("`users`"), "{grants}");
    // Log in as that account (with a password the test sets) and try what the host refuses.
    db.query(&format!("ALTER USER '{account}'@'%' IDENTIFIED BY 'test-only'"));
    let run = |sql: &str| {
        std::process::Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", &account, "-ptest-only", "-N", "-B", &db.name, "-e", sql])
            .output()
            .unwrap()
    };
    for sql in ["SELECT v FROM secrets", "SELECT name FROM users INTO OUTFILE '/tmp/dbm-pwned'", "SELECT * FROM mysql.user", "CREATE USER evil"] {
        let out = run(sql);
        assert!(!out.status.success(), "the server let the guest account run `{sql}`: {}", String::from_utf8_lossy(&out.stdout));
    }
    let out = run("SELECT LOAD_FILE('/etc/passwd') IS NULL");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "LOAD_FILE read a server file: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!std::path::Path::new("/tmp/dbm-pwned").exists());
}

#[test]
fn sqlite_and_servers_keep_the_history_true_after_attacks() {
    // After every payload above, `status` must still tell the truth: 1 applied, 2 pending.
    for kind in [None, Some(Kind::Postgres), Some(Kind::Mariadb)] {
        let a = Arena::new(kind, RESTRICTED);
        for (call, sql) in RESTRICTED_PAYLOADS.iter().take(4) {
            a.refuses(call, sql);
        }
        let (code, out, err) = a.run(&["status", "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let states: Vec<&str> = v["migrations"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["applied", "pending"], "{kind:?}: {out}");
    }
}

/// Peak RSS (KiB) of `db-migrate ARGS` in the arena, measured by /usr/bin/time.
fn peak_rss_kib(a: &Arena, args: &[&str]) -> (i32, u64, String) {
    let mut all: Vec<String> = Vec::new();
    if let Some(db) = &a.db {
        all.extend(["--database-url".to_string(), db.url()]);
    }
    all.extend(args.iter().map(|s| s.to_string()));
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kib=%M"])
        .arg(assert_cmd::cargo::cargo_bin("db-migrate"))
        .args(&all)
        .current_dir(a.p.path())
        .output()
        .expect("/usr/bin/time (tests/run.sh installs it)");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = err.lines().find_map(|l| l.strip_prefix("peak-rss-kib=")).and_then(|v| v.trim().parse().ok()).expect("time's output");
    (out.status.code().unwrap_or(-1), rss, err)
}

#[test]
fn host_memory_stays_bounded_when_a_guest_asks_for_huge_results() {
    // The review's payload: 30 values of 100 MB each, against a guest capped at 64 MiB. The
    // host stops at the result's byte budget (8 MiB here) instead of holding 3 GB.
    let a = Arena::new(Some(Kind::Postgres), RESTRICTED);
    let before = a.snapshot();
    for call in ["query", "cursor"] {
        let sql = "SELECT repeat('x', 100000000) FROM generate_series(1, 30)";
        let (code, rss, err) = peak_rss_kib(&a, &["up", "--arg", "mode=sql", "--arg", &format!("call={call}"), "--arg", &format!("sql={sql}")]);
        assert_eq!(code, 2, "{err}");
        // The byte budget stops it, or the deadline first (the server takes a while to build
        // 100 MB values): either way nothing is held.
        assert!(err.contains("MiB") || err.contains("time limit"), "{err}");
        assert!(rss < 700 * 1024, "{call}: peak RSS {} MiB", rss / 1024);
        assert_eq!(a.snapshot(), before);
    }
    // One jsonb value of 3 million elements (about 9 MB of text, past the 8 MiB budget): the
    // host copies its text and refuses it; parsed into a tree it would have taken ~100 MB more.
    let sql = "SELECT jsonb_agg(1) FROM generate_series(1, 3000000)";
    let (code, rss, err) = peak_rss_kib(&a, &["up", "--arg", "mode=sql", "--arg", "call=query", "--arg", &format!("sql={sql}")]);
    assert_eq!(code, 2, "{err}");
    // (On a loaded machine the server may take past the 3 s deadline to build it: stopped
    // either way, and the bound on memory is what this asserts.)
    assert!(err.contains("more than 8 MiB") || err.contains("time limit"), "refused at the byte budget: {err}");
    assert!(rss < 130 * 1024, "jsonb: peak RSS {} MiB", rss / 1024);
    assert_eq!(a.snapshot(), before);
    // A 10-byte numeric stands for 131,072 digits: 400 of them are 4 KB on the wire and 52 MB
    // of text. The host refuses the row before writing it out.
    let many = vec!["1e131071::numeric"; 400].join(", ");
    let (code, rss, err) = peak_rss_kib(&a, &["up", "--arg", "mode=sql", "--arg", "call=query", "--arg", &format!("sql=SELECT {many}")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("more than 8 MiB"), "refused at the byte budget: {err}");
    assert!(rss < 100 * 1024, "numeric: peak RSS {} MiB", rss / 1024);
    assert_eq!(a.snapshot(), before);
    // Dates and times a driver's decoder would panic on: refused (or `infinity` as text).
    for sql in ["SELECT '10000-01-01'::date", "SELECT '294276-01-01'::timestamptz", "SELECT '4713-01-01 BC'::timestamp"] {
        let (code, _, err) = a.run(&["up", "--arg", "mode=sql", "--arg", "call=query", "--arg", &format!("sql={sql}")]);
        assert_eq!(code, 2, "{sql}: {err}");
        assert!(err.contains("outside the years 1-9999") && !err.contains("panicked"), "{sql}: {err}");
    }
    assert_eq!(a.snapshot(), before);
    let a = Arena::new(None, RESTRICTED);
    let (code, rss, err) = peak_rss_kib(&a, &["up", "--arg", "mode=sql", "--arg", "call=query", "--arg", "sql=SELECT zeroblob(100000000) FROM (SELECT 1 UNION ALL SELECT 2)"]);
    assert_eq!(code, 2, "{err}");
    assert!(rss < 300 * 1024, "SQLite: peak RSS {} MiB", rss / 1024);
}

/// A statement that changes rows and returns more than the guest may receive: the host refuses
/// the result after the database ran the statement. A guest that ignores the refusal and
/// returns success must not get the changes kept: the migration fails and nothing stays.
#[test]
fn rows_changed_by_a_statement_whose_result_was_refused_are_never_kept() {
    let sql = "INSERT INTO users (id, name) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500) \
               SELECT x + 100, 'x' FROM c RETURNING id";
    for kind in [None, Some(Kind::Postgres)] {
        let a = Arena::new(kind, RESTRICTED);
        let err = a.refuses("query-ignoring-errors", sql);
        assert!(err.contains("its result was refused") && err.contains("more than 1000 rows"), "{kind:?}: {err}");
        let (code, out, err) = a.run(&["status", "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let states: Vec<&str> = v["migrations"].as_array().unwrap().iter().map(|m| m["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["applied", "pending"], "{kind:?}: {out}");
    }
}

/// `up --dry-run --json` of the hostile component with `call` and `sql`: exit 0, the database
/// exactly as before; returns the JSON document and the human output of the same dry run.
fn rehearse(a: &Arena, call: &str, sql: &str) -> (serde_json::Value, String) {
    let before = a.snapshot();
    let args = ["--arg", "mode=sql", "--arg", &format!("call={call}"), "--arg", &format!("sql={sql}")];
    let (code, out, err) = a.run(&[&["up", "--dry-run", "--json"][..], &args[..]].concat());
    assert_eq!(code, 0, "{sql}\n{out}\n{err}");
    let (code, text, err) = a.run(&[&["up", "--dry-run"][..], &args[..]].concat());
    assert_eq!(code, 0, "{sql}\n{text}\n{err}");
    assert_eq!(a.snapshot(), before, "{sql}: a dry run changed the database");
    (serde_json::from_str(&out).unwrap(), text)
}

#[test]
fn a_dry_run_reads_cursors_shows_refusals_and_prints_no_terminal_controls() {
    for kind in [None, Some(Kind::Postgres), Some(Kind::Mariadb)] {
        let a = Arena::new(kind, UNRESTRICTED);
        // A cursor works in a rehearsal (read whole, paged from memory).
        let sent = |v: &serde_json::Value, sql: &str| -> serde_json::Value {
            let all = v["steps"][0]["rehearsal"]["statements"].as_array().cloned().unwrap_or_default();
            all.into_iter().find(|s| s["sql"] == sql).unwrap_or_else(|| panic!("{kind:?}: `{sql}` not shown: {v}"))
        };
        let (v, _) = rehearse(&a, "cursor", "SELECT name FROM users");
        assert!(v["steps"][0]["rehearsal"]["stopped"].is_null() && sent(&v, "SELECT name FROM users")["read"] == true, "{kind:?}: {v}");
        // An escape sequence that would erase the line above on a terminal is shown, not obeyed.
        let (_, text) = rehearse(&a, "execute", "DELETE FROM users -- \u{1b}[1A\u{1b}[2K\r");
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && text.contains("\\u{1b}[1A"), "{kind:?}: {text:?}");
        // A statement's own line breaks cannot draw lines that look like the dry run's.
        let forged = "/*\n-- the rehearsal stopped here: nothing to do\n\n-- dry run: would apply 3_tidy by running the component x.wasm\n*/ DELETE FROM users";
        let (_, text) = rehearse(&a, "execute", forged);
        assert!(!text.lines().any(|l| l.starts_with("-- dry run: would apply 3_tidy") || l.starts_with("-- the rehearsal stopped here: nothing")), "{kind:?}: {text}");
        // (Shown indented, on one line; MySQL refuses comments in components' statements.)
        assert!(text.lines().any(|l| l.contains("DELETE FROM users") && (l.starts_with("    /*") || l.starts_with("-- denied"))), "{kind:?}: {text}");
        // A refused statement the component shrugs off still shows.
        let (v, text) = rehearse(&a, "query-ignoring-errors", "SELECT * FROM db_migrate_history");
        assert!(sent(&v, "SELECT * FROM db_migrate_history")["denied"].is_string(), "{kind:?}: {v}");
        assert!(text.contains("-- denied"), "{text}");
    }
    // A huge cursor on PostgreSQL stops at the deadline (or the result cap), and leaves nothing
    // running on the server (a cursor held past its transaction would be written out whole).
    let a = Arena::new(Some(Kind::Postgres), UNRESTRICTED);
    let (v, _) = rehearse(&a, "cursor", "SELECT repeat('x', 2000) AS a FROM generate_series(1, 1000000000)");
    let stopped = v["steps"][0]["rehearsal"]["stopped"].as_str().unwrap_or_default();
    assert!(stopped.contains("time limit") || stopped.contains("MiB"), "{v}");
    let db = a.db.as_ref().unwrap();
    let busy = db.query(&format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' AND pid <> pg_backend_pid()", db.name));
    assert_eq!(busy, vec!["0".to_string()], "a query of the dry run is still running");
}

#[test]
fn sqlite_parameters_that_hide_sql_from_the_check_are_refused() {
    // Red-team (wave 2, after the C API move): SQLite reads a named parameter in Tcl's forms
    // (`$a::name(…)`) as one token that swallows what sqlparser reads as a cast, a call and a
    // comment, so the host checked `SELECT $a::VARCHAR(10)` while SQLite ran a subquery of an
    // ungranted table. It got through where a foreign key from a granted table let the
    // authorizer pass reads of the parent (then every column of it, for a key naming none).
    let p = Project::new();
    p.migration(
        1,
        "schema",
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, secret TEXT);\nINSERT INTO owners VALUES (1, 's3cret');\n\
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, owner INTEGER REFERENCES owners);\n",
        None,
    );
    p.component("hostile", 2, "hostile");
    p.write("db-migrate.toml", RESTRICTED);
    let a = Arena { p, db: None };
    let (code, out, err) = a.run(&["up", "--to", "1"]);
    assert_eq!(code, 0, "schema migration failed:\n{out}\n{err}");
    for (call, sql) in [
        ("query", "SELECT $a::varchar(--) AS k, (SELECT group_concat(secret) FROM owners) AS s /*\n10) --*/"),
        ("query", "SELECT :a::varchar(--) AS k, (SELECT group_concat(secret) FROM owners) AS s /*\n10) --*/"),
        ("query", "SELECT @a::varchar(--) AS k, (SELECT group_concat(id) FROM owners) AS s /*\n10) --*/"),
        // Round two: cursors went through sqlx, which takes `$1…` names and runs every
        // statement of a text — a hidden second one included.
        ("cursor", "SELECT $1::varchar(--) AS k, (SELECT group_concat(id) FROM owners) AS s /*\n10) --*/"),
        ("cursor", "SELECT $1::varchar(--) AS k; INSERT INTO users (id, name) VALUES (77, 'x') /*\n10) --*/"),
        ("cursor", "SELECT $1::varchar(--) AS k; CREATE TEMP TABLE _dbm_cursor_9 AS SELECT 1 /*\n10) --*/"),
    ] {
        let err = a.refuses(call, sql);
        assert!(!err.contains("query returned") && !err.contains("cursor read") && !err.contains("s3cret"), "{sql}: {err}");
    }
    // Round three: a result column named `rowid` stood in for the cursor table's own, so pages
    // followed the guest's values and rows were lost without an error.
    let err = a.refuses("cursor", "SELECT 7 AS rowid, id FROM users");
    assert!(err.contains("may not have a column named `rowid`"), "{err}");
    a.refuses("cursor", "SELECT id AS OID FROM users");
    // The key SQLite checks stays readable to it: a row referring to owner 1 is written.
    a.allows("execute", "INSERT INTO users (id, name, owner) VALUES (1, 'a', 1)");
    assert_eq!(a.p.query("SELECT owner FROM users WHERE id = 1"), vec![vec!["1".to_string()]]);
}

#[test]
fn sqlite_a_seed_statement_that_ends_the_transaction_stops_the_seed_whole() {
    // SQLite ends the whole transaction on a conflict resolved by ROLLBACK; a seed that caught
    // the error and wrote on would have each later insert commit on its own, outside the
    // seed's all-or-nothing (and be reported as not kept).
    let a = Arena::new(None, RESTRICTED);
    std::fs::create_dir_all(a.p.path().join("seeds")).unwrap();
    std::fs::copy(crate::common::guests().join("seed_world.wasm"), a.p.path().join("seeds/01_hostile.wasm")).unwrap();
    a.p.write("db-migrate.toml", RESTRICTED.replace("[components.hostile]", "[components.01_hostile]"));
    let script = "INSERT INTO users VALUES (101, 'one');;INSERT OR ROLLBACK INTO users VALUES (101, 'dup');;INSERT INTO users VALUES (102, 'after')";
    let (code, out, err) = a.run(&["seed", "--arg", "keep_going=1", "--arg", &format!("sql={script}")]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(err.contains("ended") && err.contains("transaction"), "{err}");
    assert_eq!(a.p.query("SELECT count(*) FROM users WHERE id > 100"), vec![vec!["0".to_string()]], "nothing of the seed stays");
}
