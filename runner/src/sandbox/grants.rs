//! Grants: which statements a component may send, checked on every call.
//!
//! Each statement is parsed with `sqlparser` for the connection's dialect, classified as `read`,
//! `write` or `ddl`, and its tables are compared with the allowlist. Some statements are never a
//! guest's business whatever it was granted — they reach outside the sandbox (`ATTACH`, `LOAD`,
//! `COPY … PROGRAM`, file-reading functions) or break the host's transaction (`COMMIT`, …) — and
//! are refused before parsing. When a component has restrictions, a statement that does not parse
//! is refused too: what cannot be checked is not allowed.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, Query, SetExpr, Statement, Visit, Visitor};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use crate::backend::Dialect;

/// A class of statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// `SELECT` (and `WITH … SELECT`, `VALUES`, `EXPLAIN`).
    Read,
    /// `INSERT`, `UPDATE`, `DELETE`, `REPLACE`, `MERGE`.
    Write,
    /// `CREATE`, `ALTER`, `DROP`, `TRUNCATE`, `RENAME`, `COMMENT`.
    Ddl,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Ddl => "ddl",
        })
    }
}

/// What a component may do with the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// Allowed classes.
    pub classes: BTreeSet<Class>,
    /// Allowed tables (lower-case; `schema.table` or `table`); `None` allows any.
    pub tables: Option<BTreeSet<String>>,
}

impl Default for Grants {
    /// Migrations' default: every class, any table.
    fn default() -> Self {
        Grants { classes: [Class::Read, Class::Write, Class::Ddl].into(), tables: None }
    }
}

/// First words of statements no guest may send, with the reason given to it.
const NEVER: &[(&str, &str)] = &[
    ("ATTACH", "attaching another database file reaches outside the sandbox"),
    ("DETACH", "detaching databases is the host's business"),
    ("PRAGMA", "PRAGMA changes the connection the host owns"),
    ("VACUUM", "VACUUM (and VACUUM INTO a file) is the host's business"),
    ("LOAD", "loading extensions or files reaches outside the sandbox"),
    ("COPY", "COPY reads and writes server files and programs"),
    ("BEGIN", "the host owns the transaction"),
    ("START", "the host owns the transaction"),
    ("COMMIT", "the host owns the transaction"),
    ("END", "the host owns the transaction"),
    ("ROLLBACK", "the host owns the transaction"),
    ("SAVEPOINT", "the host owns the transaction"),
    ("RELEASE", "the host owns the transaction"),
    ("GRANT", "privileges are the host's business"),
    ("REVOKE", "privileges are the host's business"),
    ("RESET", "session settings are the host's business"),
    ("USE", "switching databases reaches outside the migration's database"),
    ("LOCK", "explicit locks are the host's business"),
    ("UNLOCK", "explicit locks are the host's business"),
    ("SHUTDOWN", "the server is not the guest's"),
    ("KILL", "other sessions are not the guest's"),
    ("FLUSH", "server caches are not the guest's"),
    ("INSTALL", "installing plugins reaches outside the sandbox"),
    ("HANDLER", "low-level table handlers bypass the checks"),
];

/// Functions that read or write outside the database, or act on other sessions.
const NEVER_FUNCTIONS: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "lo_import",
    "lo_export",
    "lo_from_bytea",
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "set_config",
    "load_file",
    "sys_exec",
    "sys_eval",
];

fn first_words(sql: &str) -> (String, String) {
    let mut words = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_uppercase());
    (words.next().unwrap_or_default(), words.next().unwrap_or_default())
}

/// Strips leading comments and whitespace (guests may prefix statements with comments).
fn skip_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            return s;
        }
    }
}

/// A lexical scan for calls of [`NEVER_FUNCTIONS`]: an identifier from the list followed by `(`,
/// outside quotes and comments. Conservative (a quoted identifier with such a name is refused
/// too) and cheap enough to run on every statement.
fn forbidden_call(sql: &str) -> Option<&'static str> {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &sql[start..i];
                let mut j = i;
                while j < b.len() && (b[j] as char).is_ascii_whitespace() {
                    j += 1;
                }
                if b.get(j) == Some(&b'(') {
                    if let Some(f) = NEVER_FUNCTIONS.iter().find(|f| f.eq_ignore_ascii_case(word)) {
                        return Some(f);
                    }
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn parser_dialect(d: Dialect) -> Box<dyn SqlDialect> {
    match d {
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
    }
}

fn set_expr_writes(e: &SetExpr) -> bool {
    match e {
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => true,
        SetExpr::Query(q) => query_writes(q),
        SetExpr::SetOperation { left, right, .. } => set_expr_writes(left) || set_expr_writes(right),
        _ => false,
    }
}

/// True when a query modifies data (PostgreSQL's data-modifying CTEs, `WITH … INSERT`).
fn query_writes(q: &Query) -> bool {
    set_expr_writes(&q.body) || q.with.as_ref().is_some_and(|w| w.cte_tables.iter().any(|c| query_writes(&c.query)))
}

/// Collects every table a statement names, the names its CTEs define, and forbidden calls.
#[derive(Default)]
struct Names {
    relations: Vec<String>,
    ctes: BTreeSet<String>,
    forbidden_call: Option<String>,
}

fn normalize(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.to_string().trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']').to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.relations.push(normalize(relation));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            let name = normalize(&f.name);
            let last = name.rsplit('.').next().unwrap_or(&name).to_string();
            if NEVER_FUNCTIONS.contains(&last.as_str()) {
                self.forbidden_call = Some(last);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

impl Grants {
    /// True when nothing is restricted beyond what no guest may ever do.
    pub fn unrestricted(&self) -> bool {
        self.classes.len() == 3 && self.tables.is_none()
    }

    fn table_allowed(&self, name: &str) -> bool {
        match &self.tables {
            None => true,
            Some(allowed) => {
                let last = name.rsplit('.').next().unwrap_or(name);
                let schema_ok = match name.split_once('.') {
                    None => true,
                    Some((schema, _)) => matches!(schema, "main" | "public" | "temp"),
                };
                allowed.contains(name) || (schema_ok && allowed.contains(last))
            }
        }
    }

    /// Checks one statement; the `Err` is the reason given to the guest and the audit line.
    pub fn check(&self, dialect: Dialect, sql: &str) -> Result<(), String> {
        let text = skip_comments(sql);
        let (first, second) = first_words(text);
        if let Some((_, why)) = NEVER.iter().find(|(k, _)| *k == first) {
            return Err(format!("`{first}` statements are never allowed to components: {why}"));
        }
        if first == "SET" && !(second == "LOCAL" && dialect == Dialect::Postgres) {
            return Err("`SET` is never allowed to components: session settings are the host's business (PostgreSQL's `SET LOCAL` is)".into());
        }
        if let Some(f) = forbidden_call(text) {
            return Err(format!("the function `{f}` is never allowed to components: it reaches outside the database"));
        }
        if self.unrestricted() {
            // Nothing restricted depends on understanding the statement: the database judges it.
            // (Parsing every statement costs a few µs; unrestricted migrations skip it.)
            return Ok(());
        }
        let parsed = Parser::parse_sql(&*parser_dialect(dialect), text);
        let statements = match parsed {
            Ok(s) => s,
            Err(e) => {
                return Err(format!(
                    "the statement cannot be checked against this component's grants, so it is refused ({e})"
                ));
            }
        };
        let [stmt] = statements.as_slice() else {
            return Err(format!("one call carries one statement; this text holds {}", statements.len()));
        };

        let class = match stmt {
            Statement::Query(q) if query_writes(q) => Class::Write,
            Statement::Query(_) => Class::Read,
            Statement::Explain { analyze: false, .. } | Statement::ExplainTable { .. } => Class::Read,
            _ => match first.as_str() {
                "SELECT" | "VALUES" | "WITH" | "TABLE" | "SHOW" | "DESCRIBE" => Class::Read,
                "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "MERGE" | "UPSERT" => Class::Write,
                "CREATE" | "ALTER" | "DROP" | "TRUNCATE" | "RENAME" | "COMMENT" | "REINDEX" | "ANALYZE" => Class::Ddl,
                other => {
                    if self.unrestricted() {
                        return Ok(());
                    }
                    return Err(format!("`{other}` statements are outside the read/write/ddl classes this component may be granted"));
                }
            },
        };
        if !self.classes.contains(&class) {
            let granted: Vec<String> = self.classes.iter().map(|c| c.to_string()).collect();
            return Err(format!(
                "a `{first}` statement is `{class}`, which this component is not granted (it has: {})",
                if granted.is_empty() { "nothing".to_string() } else { granted.join(", ") }
            ));
        }

        let mut names = Names::default();
        if stmt.visit(&mut names).is_break() {
            if let Some(f) = names.forbidden_call {
                return Err(format!("the function `{f}` is never allowed to components: it reaches outside the database"));
            }
        }
        if let Statement::Drop { names: dropped, .. } = stmt {
            names.relations.extend(dropped.iter().map(normalize));
        }
        if self.tables.is_some() {
            for rel in &names.relations {
                if names.ctes.contains(rel) {
                    continue;
                }
                if !self.table_allowed(rel) {
                    let allowed: Vec<&str> = self.tables.iter().flatten().map(String::as_str).collect();
                    return Err(format!(
                        "table `{rel}` is not in this component's allowlist ({})",
                        if allowed.is_empty() { "empty".to_string() } else { allowed.join(", ") }
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_pack(tables: &[&str]) -> Grants {
        Grants { classes: [Class::Read, Class::Write].into(), tables: Some(tables.iter().map(|t| t.to_string()).collect()) }
    }

    #[test]
    fn default_migration_grants_allow_ordinary_sql() {
        let g = Grants::default();
        for sql in [
            "CREATE TABLE t (id INTEGER)",
            "INSERT INTO t VALUES (1)",
            "SELECT * FROM t",
            "DROP TABLE t",
            "ALTER TABLE t ADD COLUMN x TEXT",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
            "-- note\nUPDATE t SET id = 2",
        ] {
            assert_eq!(g.check(Dialect::Sqlite, sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn escapes_are_refused_whatever_the_grants() {
        let g = Grants::default();
        for sql in [
            "ATTACH DATABASE '/tmp/x.db' AS x",
            "attach '/etc/passwd' as p",
            "PRAGMA writable_schema = 1",
            "VACUUM INTO '/tmp/copy.db'",
            "COMMIT",
            "BEGIN",
            "/* hidden */ DETACH x",
            "SELECT load_extension('/tmp/evil.so')",
            "SELECT writefile('/tmp/x', 'y')",
        ] {
            let e = g.check(Dialect::Sqlite, sql).unwrap_err();
            assert!(e.contains("never allowed"), "{sql}: {e}");
        }
        assert!(g.check(Dialect::Postgres, "SELECT pg_read_file('/etc/passwd')").is_err());
        assert!(g.check(Dialect::Postgres, "COPY t FROM PROGRAM 'id'").is_err());
        assert!(g.check(Dialect::Postgres, "SET LOCAL lock_timeout = '1s'").is_ok());
        assert!(g.check(Dialect::Postgres, "SET search_path = evil").is_err());
    }

    #[test]
    fn two_statements_are_refused() {
        let e = seed_pack(&["t"]).check(Dialect::Sqlite, "INSERT INTO t VALUES (1); DROP TABLE users").unwrap_err();
        assert!(e.contains("one statement"), "{e}");
    }

    #[test]
    fn forbidden_calls_are_found_lexically() {
        assert_eq!(forbidden_call("SELECT LOAD_EXTENSION ('x')"), Some("load_extension"));
        assert_eq!(forbidden_call("SELECT 'load_extension(' FROM t"), None, "inside a string");
        assert_eq!(forbidden_call("SELECT load_extension_count FROM t"), None, "a longer identifier");
        assert_eq!(forbidden_call("-- load_extension(\nSELECT 1"), None, "in a comment");
    }

    #[test]
    fn classes_are_enforced() {
        let g = seed_pack(&["users", "posts"]);
        assert!(g.check(Dialect::Sqlite, "INSERT INTO users (id) VALUES (?)").is_ok());
        assert!(g.check(Dialect::Sqlite, "SELECT u.id FROM users u JOIN posts p ON p.user_id = u.id").is_ok());
        let e = g.check(Dialect::Sqlite, "DROP TABLE users").unwrap_err();
        assert!(e.contains("`ddl`"), "{e}");
        let e = g.check(Dialect::Sqlite, "CREATE TABLE users2 (id INTEGER)").unwrap_err();
        assert!(e.contains("`ddl`"), "{e}");
    }

    #[test]
    fn tables_are_enforced_everywhere_in_the_statement() {
        let g = seed_pack(&["users"]);
        for sql in [
            "INSERT INTO secrets VALUES (1)",
            "SELECT * FROM secrets",
            "INSERT INTO users (id) SELECT id FROM secrets",
            "UPDATE users SET id = (SELECT max(id) FROM secrets)",
            "DELETE FROM users WHERE id IN (SELECT id FROM other.secrets)",
            "SELECT * FROM sqlite_master",
            "SELECT * FROM main.secrets",
        ] {
            let e = g.check(Dialect::Sqlite, sql).unwrap_err();
            assert!(e.contains("allowlist"), "{sql}: {e}");
        }
        assert!(g.check(Dialect::Sqlite, "SELECT * FROM main.users").is_ok());
        assert!(g.check(Dialect::Sqlite, "WITH recent AS (SELECT id FROM users) SELECT * FROM recent").is_ok());
        assert!(g.check(Dialect::Sqlite, "INSERT INTO \"USERS\" (id) VALUES (1)").is_ok());
    }

    #[test]
    fn data_modifying_ctes_are_writes() {
        let g = Grants { classes: [Class::Read].into(), tables: None };
        let e = g.check(Dialect::Postgres, "WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d").unwrap_err();
        assert!(e.contains("`write`"), "{e}");
    }

    #[test]
    fn unparsable_statements_are_refused_only_under_restrictions() {
        let junk = "FROBNICATE the database";
        assert!(Grants::default().check(Dialect::Sqlite, junk).is_ok(), "the database will reject it");
        let e = seed_pack(&["users"]).check(Dialect::Sqlite, junk).unwrap_err();
        assert!(e.contains("cannot be checked"), "{e}");
    }
}
