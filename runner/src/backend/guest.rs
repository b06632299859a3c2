//! What a component may do with the database: the backend side of the WIT `sql` interface.
//!
//! These types mirror the WIT ones without depending on the generated bindings, so backends know
//! nothing of the sandbox and the sandbox nothing of drivers.

/// A SQL value crossing the guest boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// Boolean.
    Bool(bool),
    /// 64-bit integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// RFC 3339 timestamp text.
    Timestamp(String),
    /// JSON text.
    Json(String),
}

/// Rows of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Values, row by row.
    pub rows: Vec<Vec<SqlValue>>,
}

/// Kinds of database failure a guest may branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Unique or primary key violation.
    UniqueViolation,
    /// Foreign key violation.
    ForeignKeyViolation,
    /// NOT NULL violation.
    NotNullViolation,
    /// CHECK violation.
    CheckViolation,
    /// The statement does not parse.
    Syntax,
    /// Anything else.
    Other,
}

/// A host call's failure, as the guest sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum GuestSqlError {
    /// Refused by a grant or a limit.
    Denied(String),
    /// The database failed.
    Database {
        /// Classification.
        kind: DbErrorKind,
        /// The database's message.
        message: String,
        /// SQLSTATE or driver code.
        code: Option<String>,
    },
    /// The request is malformed.
    InvalidInput(String),
}

/// Limits on what one guest call may make the host do.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Longest statement text, in bytes.
    pub max_statement_bytes: usize,
    /// Most parameters in one call (all rows of a batch together).
    pub max_params: usize,
    /// Most rows `query` returns; larger results need a cursor.
    pub max_rows: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits { max_statement_bytes: 1 << 20, max_params: 1 << 20, max_rows: 100_000 }
    }
}

impl CallLimits {
    /// Checks the size of a list of documents against the parameter limit.
    pub fn check_count(&self, items: usize) -> Result<(), GuestSqlError> {
        if items > self.max_params {
            return Err(GuestSqlError::Denied(format!("{items} documents exceed the limit of {} per call", self.max_params)));
        }
        Ok(())
    }

    /// Checks a statement and its parameter count: one statement per call, within the limits.
    pub fn check(&self, statement: &str, params: usize) -> Result<(), GuestSqlError> {
        if statement.len() > self.max_statement_bytes {
            return Err(GuestSqlError::Denied(format!(
                "statement of {} bytes exceeds the limit of {} bytes",
                statement.len(),
                self.max_statement_bytes
            )));
        }
        if params > self.max_params {
            return Err(GuestSqlError::Denied(format!("{params} parameters exceed the limit of {}", self.max_params)));
        }
        match crate::migrate::statements::split(statement).len() {
            1 => Ok(()),
            0 => Err(GuestSqlError::InvalidInput("the statement is empty".into())),
            n => Err(GuestSqlError::InvalidInput(format!(
                "one call runs one statement, this text holds {n}; send them one by one"
            ))),
        }
    }
}

/// Which SQL a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// The database operations a component reaches through the `sql` interface.
#[allow(async_fn_in_trait)]
pub trait GuestSql {
    /// The backend's dialect.
    fn dialect(&self) -> Dialect;
    /// Runs one statement; rows changed.
    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<u64, GuestSqlError>;
    /// Runs one statement; its rows (at most `max_rows`).
    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize) -> Result<Rows, GuestSqlError>;
    /// Runs one statement for each parameter row; rows changed in total.
    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>) -> Result<u64, GuestSqlError>;
    /// Opens a cursor; returns its id and columns.
    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> Result<(u64, Vec<String>), GuestSqlError>;
    /// Next page of a cursor; `None` when exhausted.
    async fn cursor_next(&mut self, id: u64, max_rows: usize) -> Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError>;
    /// Releases a cursor.
    async fn close_cursor(&mut self, id: u64);
}

/// For `INSERT … VALUES (?, …, ?)` ending in its one placeholder tuple, the statement's text
/// before and the tuple itself, so a batch can become one multi-row statement.
pub fn single_values_tuple(statement: &str) -> Option<(&str, &str)> {
    let s = statement.trim().trim_end_matches(';').trim_end();
    if !s.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("insert")) || !s.ends_with(')') {
        return None;
    }
    let open = s.rfind('(')?;
    let tuple = &s[open..];
    let inner = &tuple[1..tuple.len() - 1];
    if inner.is_empty() || !inner.split(',').all(|p| matches!(p.trim(), "?")) {
        return None;
    }
    let head = s[..open].trim_end();
    if !head.len().checked_sub(6).and_then(|i| head.get(i..)).is_some_and(|t| t.eq_ignore_ascii_case("values")) {
        return None;
    }
    Some((head, tuple))
}

/// `head` followed by `rows` copies of the placeholder `tuple`: one multi-row INSERT.
pub fn multi_row(head: &str, tuple: &str, rows: usize) -> String {
    let mut text = String::with_capacity(head.len() + rows * (tuple.len() + 1));
    text.push_str(head);
    text.push(' ');
    for i in 0..rows {
        if i > 0 {
            text.push(',');
        }
        text.push_str(tuple);
    }
    text
}

/// For PostgreSQL's `INSERT INTO target [(cols)] VALUES ($1, …, $n)` — placeholders in order
/// and nothing else — the `target [(cols)]` part, so a batch can become one `COPY … FROM STDIN`.
pub fn pg_copy_target(statement: &str) -> Option<&str> {
    let s = statement.trim().trim_end_matches(';').trim_end();
    if !s.ends_with(')') {
        return None;
    }
    let open = s.rfind('(')?;
    let inner = &s[open + 1..s.len() - 1];
    let in_order = inner.split(',').enumerate().all(|(i, p)| p.trim().strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) == Some(i + 1));
    if inner.trim().is_empty() || !in_order {
        return None;
    }
    let head = s[..open].trim_end();
    let head = head.len().checked_sub(6).filter(|&i| head.get(i..).is_some_and(|t| t.eq_ignore_ascii_case("values")))
        .map(|i| head[..i].trim_end())?;
    let mut words = head.splitn(3, char::is_whitespace);
    let (insert, into, target) = (words.next()?, words.next()?, words.next()?.trim());
    if !insert.eq_ignore_ascii_case("insert") || !into.eq_ignore_ascii_case("into") || target.is_empty() {
        return None;
    }
    // Anything beyond a name and a column list (a subquery, `DEFAULT VALUES`, …) is not COPY's.
    let name_end = target.find('(').unwrap_or(target.len());
    let name = target[..name_end].trim();
    if name.is_empty() || name.contains(char::is_whitespace) && !name.starts_with('"') {
        return None;
    }
    Some(target)
}

/// Appends one value in COPY's text format.
pub fn copy_text(out: &mut Vec<u8>, v: &SqlValue) {
    use std::io::Write;
    match v {
        SqlValue::Null => out.extend_from_slice(b"\\N"),
        SqlValue::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        SqlValue::Int(i) => {
            // Decimal digits without the formatting machinery (this runs per value).
            let mut buf = [0u8; 20];
            let mut pos = buf.len();
            let mut n = i.unsigned_abs();
            loop {
                pos -= 1;
                buf[pos] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            if *i < 0 {
                out.push(b'-');
            }
            out.extend_from_slice(&buf[pos..]);
        }
        SqlValue::Float(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
        SqlValue::Float(f) if f.is_infinite() => out.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" }),
        SqlValue::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) if !s.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) => {
            out.extend_from_slice(s.as_bytes());
        }
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
        SqlValue::Blob(bytes) => {
            // bytea's hex form, its backslash escaped for COPY.
            out.extend_from_slice(b"\\\\x");
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_targets_and_text() {
        assert_eq!(pg_copy_target("INSERT INTO users (id, name) VALUES ($1, $2)"), Some("users (id, name)"));
        assert_eq!(pg_copy_target("insert into public.t values ($1)"), Some("public.t"));
        assert_eq!(pg_copy_target("INSERT INTO t (a, b) VALUES ($2, $1)"), None);
        assert_eq!(pg_copy_target("INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"), None);
        assert_eq!(pg_copy_target("INSERT INTO t (a) VALUES ($1, now())"), None);
        assert_eq!(pg_copy_target("INSERT INTO t (a) SELECT x FROM y WHERE z IN ($1)"), None);
        let mut out = Vec::new();
        for v in [SqlValue::Null, SqlValue::Bool(true), SqlValue::Int(-3), SqlValue::Float(0.5), SqlValue::Text("a\tb\\c\n".into()), SqlValue::Blob(vec![1, 255])] {
            copy_text(&mut out, &v);
            out.push(b'|');
        }
        assert_eq!(String::from_utf8(out).unwrap(), "\\N|t|-3|0.5|a\\tb\\\\c\\n|\\\\x01ff|");
    }

    #[test]
    fn values_tuple_detection() {
        assert_eq!(single_values_tuple("INSERT INTO t (a, b) VALUES (?, ?)"), Some(("INSERT INTO t (a, b) VALUES", "(?, ?)")));
        assert_eq!(single_values_tuple("insert into t values (?);"), Some(("insert into t values", "(?)")));
        assert_eq!(single_values_tuple("INSERT INTO t (a) VALUES (?) ON CONFLICT DO NOTHING"), None);
        assert_eq!(single_values_tuple("INSERT INTO t (a) SELECT x FROM y WHERE z IN (?)"), None);
        assert_eq!(single_values_tuple("UPDATE t SET a = ? WHERE b = (?)"), None);
        assert_eq!(single_values_tuple("INSERT INTO t (a) VALUES (?, 1)"), None);
    }

    #[test]
    fn limits() {
        let l = CallLimits { max_statement_bytes: 20, max_params: 2, max_rows: 1 };
        assert!(l.check("SELECT 1", 0).is_ok());
        assert!(matches!(l.check("SELECT 1; SELECT 2", 0), Err(GuestSqlError::InvalidInput(_))));
        assert!(matches!(l.check("SELECT 1", 3), Err(GuestSqlError::Denied(_))));
        assert!(matches!(l.check("SELECT 'a very long statement'", 0), Err(GuestSqlError::Denied(_))));
        assert!(matches!(l.check("  ", 0), Err(GuestSqlError::InvalidInput(_))));
    }
}
