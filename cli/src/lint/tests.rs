//! Every rule fires on its hazard and stays quiet on the safe form; suppressions work for all.

use super::*;
use db_migrate::backend::Dialect::{Mysql as MY, Postgres as PG, Sqlite as SL};

/// Separates migrations in a case: the scripts are linted in order by one linter.
const NEXT: &str = "\n---\n";

/// One case: the rule, the dialect, a target PostgreSQL version, and SQL (with whether its
/// migration is transactional) that must fire, then SQL that must not.
struct Case {
    id: &'static str,
    d: Dialect,
    pg: Option<u32>,
    fire: (&'static str, bool),
    safe: (&'static str, bool),
}

const fn c(id: &'static str, d: Dialect, fire: &'static str, safe: &'static str) -> Case {
    Case { id, d, pg: None, fire: (fire, true), safe: (safe, true) }
}

const fn c_tx(id: &'static str, d: Dialect, fire: (&'static str, bool), safe: (&'static str, bool)) -> Case {
    Case { id, d, pg: None, fire, safe }
}

const CASES: &[Case] = &[
    c("DM000", PG, "FROB the database;", "SELECT 1;"),
    c("DM000", MY, "FROB the database;", "SELECT 1;"),
    c("DM000", SL, "FROB the database;", "SELECT 1;"),
    c("DM001", PG, "CREATE INDEX i ON users (email);", "CREATE TABLE t (id int);\nCREATE INDEX i ON t (id);"),
    c_tx("DM002", PG, ("DROP INDEX i;", true), ("DROP INDEX CONCURRENTLY IF EXISTS i;", false)),
    c_tx("DM003", PG, ("CREATE INDEX CONCURRENTLY i ON users (email);", true), ("CREATE INDEX CONCURRENTLY i ON users (email);", false)),
    c_tx("DM003", PG, ("VACUUM users;", true), ("VACUUM users;", false)),
    c("DM004", PG, "ALTER TABLE users ADD COLUMN age int NOT NULL;", "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;"),
    c("DM004", MY, "ALTER TABLE users ADD COLUMN age INT NOT NULL;", "ALTER TABLE users ADD COLUMN age INT NOT NULL DEFAULT 0;"),
    c("DM004", SL, "ALTER TABLE users ADD COLUMN age INTEGER NOT NULL;", "ALTER TABLE users ADD COLUMN age INTEGER NOT NULL DEFAULT 0;"),
    c("DM005", PG, "ALTER TABLE users RENAME COLUMN a TO b;", "ALTER TABLE users ADD COLUMN b text;"),
    c("DM005", MY, "RENAME TABLE users TO people;", "CREATE TABLE people (id BIGINT PRIMARY KEY);"),
    c("DM006", PG, "ALTER TABLE users DROP COLUMN a;", "-- db-migrate:nolint DM006 nothing reads it since v42\nALTER TABLE users DROP COLUMN a;"),
    c("DM005", SL, "ALTER TABLE users RENAME TO people;", "CREATE TABLE people (id INTEGER);"),
    c("DM006", MY, "ALTER TABLE users DROP COLUMN a;", "-- db-migrate:nolint DM006 nothing reads it since v42\nALTER TABLE users DROP COLUMN a;"),
    c("DM007", MY, "ALTER TABLE users MODIFY COLUMN a BIGINT, ALGORITHM=INPLACE, LOCK=NONE;", "ALTER TABLE users ADD COLUMN a_big BIGINT, ALGORITHM=INSTANT;"),
    c("DM006", SL, "DROP TABLE users;", "DROP TABLE users; -- db-migrate:nolint DM006 unused since v42"),
    c("DM007", PG, "ALTER TABLE users ALTER COLUMN a TYPE bigint;", "CREATE TABLE users (a varchar(10));\n---\nALTER TABLE users ALTER COLUMN a TYPE varchar(20);"),
    c("DM007", PG, "CREATE TABLE users (a varchar(10));\n---\nALTER TABLE users ALTER COLUMN a TYPE int;", "CREATE TABLE users (a varchar(10));\n---\nALTER TABLE users ALTER COLUMN a TYPE text;"),
    c("DM008", PG, "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);", "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;"),
    c("DM009", PG, "ALTER TABLE users ADD CONSTRAINT u UNIQUE (email);", "ALTER TABLE users ADD CONSTRAINT u UNIQUE USING INDEX users_email;"),
    c("DM010", PG, "ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "ALTER TABLE users ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;\n---\nALTER TABLE users VALIDATE CONSTRAINT email_nn;\n---\nALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
    c("DM011", PG, "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", "ALTER TABLE users ADD COLUMN token uuid;"),
    c("DM011", MY, "ALTER TABLE users ADD COLUMN token CHAR(36) DEFAULT (UUID());", "ALTER TABLE users ADD COLUMN token CHAR(36);"),
    c("DM012", PG, "ALTER TABLE users ADD COLUMN note text;", "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN note text;"),
    c("DM013", PG, "CREATE TABLE t (doc json);", "CREATE TABLE t (doc jsonb);"),
    c("DM014", MY, "ALTER TABLE users MODIFY COLUMN name VARCHAR(200) NOT NULL;", "ALTER TABLE users MODIFY COLUMN name VARCHAR(200) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;"),
    c("DM014", MY, "ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;", "CREATE TABLE t (id BIGINT PRIMARY KEY);\nALTER TABLE t CONVERT TO CHARACTER SET utf8mb4;"),
    c("DM014", MY, "ALTER TABLE users DROP PRIMARY KEY;", "ALTER TABLE users DROP INDEX users_email, ALGORITHM=INPLACE, LOCK=NONE;"),
    Case { id: "DM015", d: PG, pg: Some(11), fire: ("ALTER TYPE mood ADD VALUE 'sad';", true), safe: ("ALTER TYPE mood ADD VALUE 'sad';", false) },
    c_tx("DM016", PG, ("VACUUM FULL users;", false), ("VACUUM (ANALYZE) users;", false)),
    c_tx("DM017", PG, ("CLUSTER users USING users_pkey;", false), ("-- db-migrate:nolint DM017 the table is tiny and read once a day\nCLUSTER users USING users_pkey;", false)),
    c_tx("DM018", PG, ("REINDEX INDEX users_email;", false), ("REINDEX INDEX CONCURRENTLY users_email;", false)),
    c("DM019", PG, "LOCK TABLE users;", "SELECT * FROM users WHERE id = 1 FOR UPDATE;"),
    c("DM019", MY, "LOCK TABLES users WRITE;", "SELECT * FROM users WHERE id = 1 FOR UPDATE;"),
    c("DM020", PG, "TRUNCATE users;", "DELETE FROM users WHERE id < 1000;"),
    c("DM020", MY, "TRUNCATE TABLE users;", "DELETE FROM users WHERE id < 1000;"),
    c("DM021", PG, "ALTER TABLE users ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED;", "CREATE TABLE t (a int, total int GENERATED ALWAYS AS (a * 2) STORED);"),
    c("DM021", MY, "ALTER TABLE users ADD COLUMN total INT AS (a + b) STORED;", "ALTER TABLE users ADD COLUMN total INT AS (a + b) VIRTUAL, ALGORITHM=INSTANT;"),
    c("DM022", PG, "CREATE TABLE t (id bigserial PRIMARY KEY);", "CREATE TABLE t (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);"),
    c("DM023", PG, "CREATE TABLE users (name varchar(200));\n---\nALTER TABLE users ALTER COLUMN name TYPE varchar(50);", "CREATE TABLE users (name varchar(200));\n---\nALTER TABLE users ALTER COLUMN name TYPE varchar(300);"),
    c("DM023", MY, "CREATE TABLE users (name VARCHAR(200));\n---\nALTER TABLE users MODIFY COLUMN name VARCHAR(50);", "CREATE TABLE users (name VARCHAR(200));\n---\nALTER TABLE users MODIFY COLUMN name VARCHAR(250);"),
    c(
        "DM024",
        PG,
        "CREATE TABLE users (id bigint, email text);\nCREATE INDEX users_email ON users (id, email);\n---\nALTER TABLE users DROP COLUMN email;",
        "CREATE TABLE users (id bigint, email text);\nCREATE INDEX users_email ON users (id, email);\n---\nDROP INDEX users_email;\n---\nALTER TABLE users DROP COLUMN email;",
    ),
    c(
        "DM024",
        MY,
        "CREATE TABLE users (id BIGINT, email TEXT, UNIQUE KEY users_email (id, email));\n---\nALTER TABLE users DROP COLUMN email;",
        "CREATE TABLE users (id BIGINT, email TEXT, UNIQUE KEY users_email (id, email));\n---\nDROP INDEX users_email ON users;\n---\nALTER TABLE users DROP COLUMN email;",
    ),
    c(
        "DM024",
        SL,
        "CREATE TABLE users (id INTEGER, email TEXT);\nCREATE INDEX users_email ON users (email);\n---\nALTER TABLE users DROP COLUMN email;",
        "CREATE TABLE users (id INTEGER, email TEXT);\nCREATE INDEX users_email ON users (email);\n---\nDROP INDEX users_email;\n---\nALTER TABLE users DROP COLUMN email;",
    ),
    c("DM025", PG, "ALTER TABLE users ADD PRIMARY KEY (id);", "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_key;"),
    c_tx(
        "DM026",
        PG,
        ("CREATE INDEX CONCURRENTLY users_email ON users (email);", false),
        ("DROP INDEX CONCURRENTLY IF EXISTS users_email;\nCREATE INDEX CONCURRENTLY users_email ON users (email);", false),
    ),
    c_tx("DM026", PG, ("CREATE INDEX CONCURRENTLY users_email ON users (email);", false), ("CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);", false)),
    c("DM027", PG, "DROP TABLE users CASCADE;", "DROP TABLE users;"),
    c("DM027", PG, "ALTER TABLE users DROP COLUMN email CASCADE;", "ALTER TABLE users DROP COLUMN email;"),
    c("DM028", PG, "ALTER TABLE posts ADD COLUMN user_id bigint REFERENCES users (id);", "ALTER TABLE posts ADD COLUMN user_id bigint;"),
    c("DM029", PG, "CREATE TABLE t (at timestamp);", "CREATE TABLE t (at timestamptz);"),
    c("DM030", PG, "CREATE TABLE t (code char(3));", "CREATE TABLE t (code text, name varchar(20));"),
    c("DM031", PG, "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) ON DELETE CASCADE NOT VALID;", "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) ON DELETE RESTRICT NOT VALID;"),
    c("DM031", MY, "CREATE TABLE posts (id BIGINT PRIMARY KEY, u BIGINT, FOREIGN KEY (u) REFERENCES users (id) ON DELETE CASCADE);", "CREATE TABLE posts (id BIGINT PRIMARY KEY, u BIGINT, FOREIGN KEY (u) REFERENCES users (id));"),
    c("DM032", PG, "DROP SCHEMA app;", "DROP TABLE app.legacy;"),
    c("DM032", MY, "DROP DATABASE app;", "DROP TABLE legacy;"),
    c("DM033", MY, "ALTER TABLE users ADD COLUMN a INT, ALGORITHM=COPY;", "ALTER TABLE users ADD COLUMN a INT, ALGORITHM=INSTANT;"),
    c("DM034", MY, "ALTER TABLE users ADD INDEX i (a), LOCK=EXCLUSIVE;", "ALTER TABLE users ADD INDEX i (a), ALGORITHM=INPLACE, LOCK=NONE;"),
    c("DM034", MY, "ALTER TABLE users ADD INDEX i (a), LOCK = SHARED;", "ALTER TABLE users ADD INDEX i (a), LOCK = NONE;"),
    c("DM035", MY, "ALTER TABLE posts ADD FULLTEXT INDEX ft (body);", "CREATE TABLE posts (id BIGINT PRIMARY KEY, body TEXT, FULLTEXT INDEX ft (body));"),
    c("DM035", MY, "CREATE FULLTEXT INDEX ft ON posts (body);", "CREATE TABLE posts (id BIGINT PRIMARY KEY, body TEXT);\nCREATE FULLTEXT INDEX ft ON posts (body);"),
    c_tx("DM036", PG, ("REFRESH MATERIALIZED VIEW stats;", true), ("REFRESH MATERIALIZED VIEW CONCURRENTLY stats;", false)),
    Case { id: "DM037", d: PG, pg: Some(10), fire: ("ALTER TABLE users ADD COLUMN active boolean DEFAULT true;", true), safe: ("ALTER TABLE users ADD COLUMN active boolean;", true) },
    c("DM038", PG, "CREATE TABLE t (id serial PRIMARY KEY);", "CREATE TABLE t (id bigint PRIMARY KEY);"),
    c("DM038", MY, "CREATE TABLE t (id INT AUTO_INCREMENT, PRIMARY KEY (id));", "CREATE TABLE t (id BIGINT UNSIGNED AUTO_INCREMENT, PRIMARY KEY (id));"),
    c_tx("DM039", PG, ("ALTER TABLE events DETACH PARTITION events_2020;", true), ("ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;", false)),
    c(
        "DM040",
        PG,
        "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;\nALTER TABLE posts VALIDATE CONSTRAINT fk;",
        "ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;\n---\nALTER TABLE posts VALIDATE CONSTRAINT fk;",
    ),
    c("DM041", PG, "UPDATE users SET active = true;", "UPDATE users SET active = true WHERE id BETWEEN 1 AND 1000;"),
    c("DM041", MY, "DELETE FROM sessions;", "DELETE FROM sessions WHERE created_at < '2020-01-01' LIMIT 1000;"),
    c("DM041", SL, "DELETE FROM sessions;", "CREATE TABLE sessions (id INTEGER);\nDELETE FROM sessions;"),
];

/// Lints `sql` (migrations separated by [`NEXT`]) and returns every finding's rule.
fn run(sql: &str, d: Dialect, transaction: bool, pg: Option<u32>) -> Vec<&'static str> {
    let mut linter = Linter::new(d, LintOptions { postgres_version: pg });
    sql.split(NEXT)
        .enumerate()
        .flat_map(|(i, part)| linter.lint(&Script { sql: part.to_string(), path: format!("{i}.sql").into(), first_line: 1, transaction }))
        .map(|f| f.rule)
        .collect()
}

fn lint(sql: &str, d: Dialect, transaction: bool) -> Vec<&'static str> {
    run(sql, d, transaction, None)
}

#[test]
fn every_rule_fires_on_its_hazard_and_not_on_the_safe_form() {
    let missing: Vec<String> = RULES
        .iter()
        .flat_map(|r| r.dialects.iter().filter(|d| !CASES.iter().any(|k| k.id == r.id && k.d == **d)).map(|d| format!("{} on {}", r.id, dialect_name(*d))))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
    for k in CASES {
        let fired = run(k.fire.0, k.d, k.fire.1, k.pg);
        assert!(fired.contains(&k.id), "{} ({}) should fire on {:?}: {fired:?}", k.id, dialect_name(k.d), k.fire.0);
        if k.id != "DM000" {
            assert!(!fired.contains(&"DM000"), "{}: the hazard should parse: {:?}", k.id, k.fire.0);
        }
        let safe = run(k.safe.0, k.d, k.safe.1, k.pg);
        assert!(!safe.contains(&k.id), "{} ({}) should not fire on {:?}: {safe:?}", k.id, dialect_name(k.d), k.safe.0);
        assert!(!safe.contains(&"DM000"), "{}: the safe form should parse: {:?} {safe:?}", k.id, k.safe.0);
    }
}

#[test]
fn rules_never_fire_on_dialects_they_do_not_cover() {
    for k in CASES {
        let r = rule(k.id);
        for d in [SL, PG, MY].into_iter().filter(|d| !r.applies_to(*d)) {
            let fired = run(k.fire.0, d, k.fire.1, k.pg);
            assert!(!fired.contains(&k.id), "{} fired on {}: {:?}", k.id, dialect_name(d), k.fire.0);
        }
    }
}

#[test]
fn every_rule_can_be_suppressed_with_a_reason() {
    for k in CASES.iter().filter(|k| k.id != "DM000") {
        let commented: Vec<String> = k.fire.0.split(NEXT).map(|script| script.lines().map(|l| format!("-- db-migrate:nolint {} reviewed by the DBA\n{l}", k.id)).collect::<Vec<_>>().join("\n")).collect();
        let fired = run(&commented.join(NEXT), k.d, k.fire.1, k.pg);
        assert!(!fired.contains(&k.id), "{} not suppressed: {fired:?}", k.id);
    }
}

#[test]
fn catalogue_is_complete_and_ordered() {
    assert!(RULES.len() >= 30, "{} rules", RULES.len());
    for (i, r) in RULES.iter().enumerate() {
        assert_eq!(r.id, format!("DM{i:03}"), "IDs are consecutive");
        assert!(!r.dialects.is_empty() && !r.what.is_empty() && !r.fix.is_empty());
        assert!(r.summary().len() < r.why.len() || !r.why.contains(". "), "{}: the why is a paragraph led by a summary", r.id);
    }
}

#[test]
fn version_dependent_rules_follow_the_target_postgres() {
    let enum_value = "ALTER TYPE mood ADD VALUE 'sad';";
    assert!(!lint(enum_value, PG, true).contains(&"DM015"), "a supported PostgreSQL (12+) is assumed");
    assert!(!run(enum_value, PG, true, Some(12)).contains(&"DM015"));
    assert!(run(enum_value, PG, true, Some(11)).contains(&"DM015"));
    let default = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN active boolean DEFAULT true;";
    assert!(!lint(default, PG, true).contains(&"DM037"));
    assert!(!run(default, PG, true, Some(11)).contains(&"DM037"));
    assert!(run(default, PG, true, Some(10)).contains(&"DM037"));
    // Before 12, a validated CHECK does not spare SET NOT NULL its scan.
    let proven = "ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\n---\nALTER TABLE users VALIDATE CONSTRAINT nn;\n---\nALTER TABLE users ALTER COLUMN email SET NOT NULL;";
    assert!(!lint(proven, PG, true).contains(&"DM010"));
    assert!(run(proven, PG, true, Some(11)).contains(&"DM010"));
    // An unvalidated CHECK proves nothing.
    let pending = "ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\n---\nALTER TABLE users ALTER COLUMN email SET NOT NULL;";
    assert!(lint(pending, PG, true).contains(&"DM010"));
}

#[test]
fn schema_facts_follow_renames_and_drops() {
    // The index moved with the renamed column, so dropping it under its new name is still flagged.
    let renamed = "CREATE TABLE users (id bigint, email text);\nCREATE INDEX users_email ON users (email);\n---\nALTER TABLE users RENAME COLUMN email TO mail;\n---\nALTER TABLE users DROP COLUMN mail;";
    assert!(lint(renamed, PG, true).contains(&"DM024"));
    // Varchar lengths are known after a rename of the table too.
    let moved = "CREATE TABLE users (name varchar(200));\n---\nALTER TABLE users RENAME TO people;\n---\nALTER TABLE people ALTER COLUMN name TYPE varchar(10);";
    assert!(lint(moved, PG, true).contains(&"DM023"));
    // Without the earlier migration the old length is unknown: a plain type change.
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN name TYPE varchar(10);", PG, true), ["DM007"]);
}

#[test]
fn postgres_hazards_are_found() {
    let pg = Dialect::Postgres;
    assert_eq!(lint("CREATE INDEX i ON users (email);", pg, true), ["DM001"]);
    assert_eq!(lint("CREATE TABLE t (id int);\nCREATE INDEX i ON t (id);", pg, true), Vec::<&str>::new(), "a new table is fine");
    assert_eq!(lint("CREATE INDEX CONCURRENTLY i ON users (email);", pg, true), ["DM003"]);
    assert_eq!(lint("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);", pg, false), Vec::<&str>::new());
    assert_eq!(lint("DROP INDEX i;", pg, true), ["DM002"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age int NOT NULL;", pg, true), ["DM004"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users RENAME COLUMN a TO b;", pg, true), ["DM005"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN a;", pg, true), ["DM006"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN a TYPE bigint;", pg, true), ["DM007"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);", pg, true), ["DM008"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;", pg, true), Vec::<&str>::new());
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ADD CONSTRAINT u UNIQUE (email);", pg, true), ["DM009"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ALTER COLUMN email SET NOT NULL;", pg, true), ["DM010"]);
    assert_eq!(lint("SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", pg, true), ["DM011"]);
    assert_eq!(lint("ALTER TABLE users ADD COLUMN note text;", pg, true), ["DM012"]);
    assert_eq!(lint("CREATE TABLE t (doc json);", pg, true), ["DM013"]);
    assert_eq!(lint("DROP TABLE users;", pg, true), ["DM006"]);
    assert_eq!(lint("FROB the database;", pg, true), ["DM000"]);
}

#[test]
fn mysql_table_copies_are_found() {
    let my = Dialect::Mysql;
    assert!(lint("ALTER TABLE users MODIFY COLUMN name VARCHAR(200) NOT NULL;", my, true).contains(&"DM014"));
    assert!(!lint("ALTER TABLE users MODIFY COLUMN name VARCHAR(200) NOT NULL, ALGORITHM=INPLACE;", my, true).contains(&"DM014"));
    assert_eq!(lint("CREATE INDEX i ON users (email);", my, true), Vec::<&str>::new(), "online on InnoDB");
}

#[test]
fn suppressions_need_a_reason() {
    let pg = Dialect::Postgres;
    assert_eq!(lint("-- db-migrate:nolint DM006 unused since v42\nDROP TABLE users;", pg, true), Vec::<&str>::new());
    assert_eq!(lint("DROP TABLE users; -- db-migrate:nolint DM006 unused since v42", pg, true), Vec::<&str>::new());
    assert_eq!(lint("-- db-migrate:nolint DM006\nDROP TABLE users;", pg, true), ["DM006"], "no reason, no suppression");
}

#[test]
fn the_docs_table_lists_every_rule_with_its_dialects() {
    let docs = include_str!("../../../docs/zero-downtime.md");
    for r in RULES {
        let row = docs.lines().find(|l| l.starts_with(&format!("| {} |", r.id))).unwrap_or_else(|| panic!("docs/zero-downtime.md has no row for {}", r.id));
        let names: Vec<&str> = r.dialects.iter().map(|d| match d {
            SL => "SQLite",
            PG => "PostgreSQL",
            MY => "MySQL",
        }).collect();
        assert!(row.contains(&format!("| {} | {} |", r.severity.name(), names.join(", "))), "{}: severity and dialects in the docs: {row}", r.id);
    }
}
