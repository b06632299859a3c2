//! The seed history table: which seeds ran, with what content, arguments and random seed.
//!
//! Kept through the same connection operations guests use (`GuestSql`), with portable column
//! types, so every SQL backend shares this code.

use serde::Serialize;

use crate::backend::guest::{Dialect, GuestSql, GuestSqlError, SqlValue};
use crate::backend::AnyBackend;
use crate::migrate::error::{DbError, Error, Result};

/// One row of the seed history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedRecord {
    /// The seed's name.
    pub name: String,
    /// `sql`, `component` or `pack`.
    pub kind: String,
    /// SHA-256 of its content when it ran.
    pub checksum: String,
    /// Its arguments, as a JSON object.
    pub args: String,
    /// The random seed it ran with.
    pub seed: i64,
    /// Rows it wrote.
    pub rows: i64,
    /// When, RFC 3339 UTC.
    pub applied_at: String,
    /// How long its own work took.
    pub execution_ms: i64,
}

impl SeedRecord {
    /// The text of a guest-level database error (for callers outside this module).
    pub fn describe_error(e: &GuestSqlError) -> String {
        message(e)
    }
}

/// The text of a guest-level database error.
pub fn message(e: &GuestSqlError) -> String {
    match e {
        GuestSqlError::Denied(m) | GuestSqlError::InvalidInput(m) => m.clone(),
        GuestSqlError::Database { message, code: Some(c), .. } => format!("{message} (code {c})"),
        GuestSqlError::Database { message, .. } => message.clone(),
    }
}

fn db_err(context: &str, table: &str, e: GuestSqlError) -> Error {
    Error::Database { context: format!("{context} ({table})"), source: DbError { message: message(&e), code: None } }
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

/// Creates the table if it is missing.
pub async fn ensure(b: &mut AnyBackend, table: &str) -> Result<()> {
    let ddl = match b.dialect() {
        Dialect::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {table} (name VARCHAR(255) PRIMARY KEY, kind VARCHAR(32) NOT NULL, checksum CHAR(64) NOT NULL, \
             args TEXT NOT NULL, seed BIGINT NOT NULL, rows_written BIGINT NOT NULL, applied_at VARCHAR(40) NOT NULL, execution_ms BIGINT NOT NULL)"
        ),
        _ => format!(
            "CREATE TABLE IF NOT EXISTS {table} (name TEXT PRIMARY KEY, kind TEXT NOT NULL, checksum TEXT NOT NULL, \
             args TEXT NOT NULL, seed BIGINT NOT NULL, rows_written BIGINT NOT NULL, applied_at TEXT NOT NULL, execution_ms BIGINT NOT NULL)"
        ),
    };
    b.host_execute(&ddl, Vec::new()).await.map(drop).map_err(|e| db_err("cannot create the seed history table", table, e))
}

/// Every record; a missing table reads as empty.
pub async fn read(b: &mut AnyBackend, table: &str) -> Result<Vec<SeedRecord>> {
    let q = format!("SELECT name, kind, checksum, args, seed, rows_written, applied_at, execution_ms FROM {table} ORDER BY name");
    let rows = match b.query(&q, Vec::new(), usize::MAX, usize::MAX).await {
        Ok(r) => r,
        // No table yet: nothing has run.
        Err(GuestSqlError::Database { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(db_err("cannot read the seed history", table, e)),
    };
    let text = |v: &SqlValue| match v {
        SqlValue::Text(s) | SqlValue::Timestamp(s) | SqlValue::Json(s) => s.clone(),
        SqlValue::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    };
    let int = |v: &SqlValue| match v {
        SqlValue::Int(i) => *i,
        SqlValue::Text(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    Ok(rows
        .rows
        .iter()
        .filter(|r| r.len() == 8)
        .map(|r| SeedRecord {
            name: text(&r[0]),
            kind: text(&r[1]),
            checksum: text(&r[2]),
            args: text(&r[3]),
            seed: int(&r[4]),
            rows: int(&r[5]),
            applied_at: text(&r[6]),
            execution_ms: int(&r[7]),
        })
        .collect())
}

/// Replaces the record of `r.name` (inside the seed's transaction).
pub async fn write(b: &mut AnyBackend, table: &str, r: &SeedRecord) -> Result<()> {
    let pg = b.dialect() == Dialect::Postgres;
    let p = |i: usize| if pg { format!("${i}") } else { "?".to_string() };
    let delete = format!("DELETE FROM {table} WHERE name = {}", p(1));
    b.host_execute(&delete, vec![SqlValue::Text(r.name.clone())]).await.map_err(|e| db_err("cannot record the seed", table, e))?;
    let insert = format!(
        "INSERT INTO {table} (name, kind, checksum, args, seed, rows_written, applied_at, execution_ms) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8)
    );
    let params = vec![
        SqlValue::Text(r.name.clone()),
        SqlValue::Text(r.kind.clone()),
        SqlValue::Text(r.checksum.clone()),
        SqlValue::Text(r.args.clone()),
        SqlValue::Int(r.seed),
        SqlValue::Int(r.rows),
        SqlValue::Text(r.applied_at.clone()),
        SqlValue::Int(r.execution_ms),
    ];
    b.host_execute(&insert, params).await.map(drop).map_err(|e| db_err("cannot record the seed", table, e))
}
