//! What the sqlx backends (SQLite, PostgreSQL, MySQL/MariaDB) share, written once over sqlx's
//! `Database` trait. SQLite's component calls run on its C API instead (`sqlite_script`), so
//! a SQLite-only build uses little of this.
#![cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]

use super::guest::{Cap, CappedRows, GuestSqlError, Rows, SqlValue};

/// A query over database `DB`.
pub(super) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>;

/// Binds a guest's values in order. `timestamp` binds a `timestamp` value: the database's own
/// date type where it has a binary form the driver does not (PostgreSQL), else the RFC 3339 text.
pub(super) fn bind_values<'q, DB>(mut q: Query<'q, DB>, params: impl IntoIterator<Item = SqlValue>, timestamp: impl Fn(Query<'q, DB>, String) -> Query<'q, DB>) -> Query<'q, DB>
where
    DB: sqlx::Database,
    for<'t> Option<String>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> bool: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> f64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Vec<u8>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    for p in params {
        q = match p {
            // Typed as text: PostgreSQL infers a parameter's type from it, and text converts to
            // whatever the column is; the other databases take a NULL as it is.
            SqlValue::Null => q.bind(None::<String>),
            SqlValue::Bool(b) => q.bind(b),
            SqlValue::Int(i) => q.bind(i),
            SqlValue::Float(f) => q.bind(f),
            SqlValue::Timestamp(s) => timestamp(q, s),
            SqlValue::Text(s) | SqlValue::Json(s) => q.bind(s),
            SqlValue::Blob(b) => q.bind(b),
        };
    }
    q
}

/// A result read under a call's caps (see [`read_capped`]).
pub(super) struct Capped {
    /// The columns' names, from the first row (none without rows).
    pub columns: Vec<String>,
    /// The rows kept.
    pub page: CappedRows,
    /// Why reading stopped before the end, if it did.
    pub stopped: Option<Stopped>,
}

/// Why a result stopped being read.
pub(super) enum Stopped {
    /// The next row would pass a cap.
    Cap(Cap),
    /// A value could not be carried to the guest.
    Decode(GuestSqlError),
}

impl Capped {
    /// The whole result of a `query`, or the refusal of one that passed a cap.
    pub fn whole(self) -> Result<Rows, GuestSqlError> {
        match self.stopped {
            None => Ok(Rows { columns: self.columns, rows: self.page.rows }),
            Some(Stopped::Cap(cap)) => Err(self.page.refusal(cap)),
            Some(Stopped::Decode(e)) => Err(e),
        }
    }
}

/// Reads rows as they arrive, decoding each with `decode`, until the result ends or the next row
/// would pass `max_rows` or `max_bytes`: a larger result is refused without being held. Errors
/// of the database are returned as they are, for the backend to map.
pub(super) async fn read_capped<R: sqlx::Row>(
    mut stream: impl futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
    max_rows: usize,
    max_bytes: usize,
    decode: impl Fn(&R) -> Result<Vec<SqlValue>, GuestSqlError>,
) -> Result<Capped, sqlx::Error> {
    use futures_util::StreamExt;
    let mut out = Capped { columns: Vec::new(), page: CappedRows::new(max_rows, max_bytes), stopped: None };
    while let Some(row) = stream.next().await {
        let row = row?;
        if out.columns.is_empty() {
            out.columns = row.columns().iter().map(|c| sqlx::Column::name(c).to_string()).collect();
        }
        let values = match decode(&row) {
            Ok(v) => v,
            Err(e) => {
                out.stopped = Some(Stopped::Decode(e));
                break;
            }
        };
        if let Err(cap) = out.page.push(values) {
            out.stopped = Some(Stopped::Cap(cap));
            break;
        }
    }
    Ok(out)
}

/// Dates, times and exact numbers in a result, as a component receives them: the WIT `sql`
/// interface has no date or decimal value, so they arrive as the text the database itself would
/// print (`2024-05-01`, `10:30:00.25`); a timestamp arrives as a `timestamp` value,
/// RFC 3339 with `Z` when the column has a time zone, without an offset when it has none.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) mod carried {
    use time::format_description::well_known::Rfc3339;

    /// A moment (`timestamptz`, MySQL `TIMESTAMP`), in UTC; `None` outside the years 1–9999,
    /// which RFC 3339 cannot write (the guest is told to cast such a value to text).
    pub fn instant(t: time::OffsetDateTime) -> Option<String> {
        let t = t.to_offset(time::UtcOffset::UTC);
        (1..=9999).contains(&t.year()).then(|| t.format(&Rfc3339).ok()).flatten()
    }

    /// A wall-clock date and time without a zone (`timestamp`, `DATETIME`): RFC 3339 without
    /// the offset, as the column holds none.
    pub fn naive(t: time::PrimitiveDateTime) -> Option<String> {
        let text = instant(t.assume_utc())?;
        text.strip_suffix('Z').map(str::to_string)
    }

    /// A date: `YYYY-MM-DD`; `None` outside the years 1–9999.
    pub fn date(d: time::Date) -> Option<String> {
        let f = time::macros::format_description!("[year]-[month]-[day]");
        (1..=9999).contains(&d.year()).then(|| d.format(&f).ok()).flatten()
    }

    /// A time of day from microseconds since midnight (PostgreSQL's `time`, `24:00:00`
    /// included): `HH:MM:SS`, with the fraction, without trailing zeros, when there is one.
    #[cfg(feature = "postgres")]
    pub fn time_of_day(micros: i64) -> Option<String> {
        if !(0..=86_400_000_000).contains(&micros) {
            return None;
        }
        let secs = micros / 1_000_000;
        let mut text = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        if micros % 1_000_000 != 0 {
            text.push_str(format!(".{:06}", micros % 1_000_000).trim_end_matches('0'));
        }
        Some(text)
    }

    /// A MySQL `TIME`: a time of day or an interval (`-838:59:59` to `838:59:59`), the
    /// fraction without trailing zeros.
    #[cfg(feature = "mysql")]
    pub fn mysql_time(t: sqlx::mysql::types::MySqlTime) -> String {
        // (The sign's own test: sqlx 0.9.0's `MySqlTime::is_negative` answers `is_positive`.)
        let sign = if t.sign().is_negative() { "-" } else { "" };
        let mut text = format!("{sign}{:02}:{:02}:{:02}", t.hours(), t.minutes(), t.seconds());
        if t.microseconds() != 0 {
            text.push_str(format!(".{:06}", t.microseconds()).trim_end_matches('0'));
        }
        text
    }

    /// The refusal of a date or time the `sql` interface cannot carry.
    pub fn outside(what: &str) -> sqlx::Error {
        sqlx::Error::Decode(format!("a {what} outside the years 1-9999 (or infinite), which the sql interface does not carry; cast it to text in the query").into())
    }
}

/// The text form of a `timestamp` value, for the databases that take dates as text.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(super) fn timestamp_as_text<'q, DB>(q: Query<'q, DB>, s: String) -> Query<'q, DB>
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.bind(s)
}

/// A lock row's statements in one database's SQL: the lock table's name is in them, the owner is
/// the first parameter and the time to live (seconds) the second.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) struct LockRowSql {
    /// Deletes the row if it has expired.
    pub expire: String,
    /// Inserts the row unless there is one: one row affected means the lock is taken.
    pub insert: String,
    /// Reads who holds the lock, as one line of text.
    pub holder: String,
}

/// Takes a table lock (`LockMode::Table`): expires a stale row and tries to insert this run's,
/// every 250 ms until `timeout`; on time-out the error names the holder. `history` and `table`
/// (the lock table as written in SQL) are for messages; `affected` reads a result's row count
/// (sqlx has no trait for it).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) async fn take_lock_row<DB, T>(
    conn: &mut DB::Connection,
    sql: &LockRowSql,
    owner: &str,
    ttl: T,
    timeout: std::time::Duration,
    history: &str,
    table: &str,
    affected: impl Fn(&DB::QueryResult) -> u64,
) -> crate::migrate::error::Result<()>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB> + Copy + Send,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use crate::migrate::error::{DbError, Error};
    use sqlx::AssertSqlSafe;
    let started = std::time::Instant::now();
    loop {
        // A failure to expire shows as the insert's (or as the lock still held).
        let _ = sqlx::query(AssertSqlSafe(sql.expire.clone())).execute(&mut *conn).await;
        let taken = sqlx::query(AssertSqlSafe(sql.insert.clone()))
            .bind(owner)
            .bind(ttl)
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::Database { context: format!("cannot take the table lock ({history})"), source: DbError::from(e) })?;
        if affected(&taken) == 1 {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            let holder: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql.holder.clone())).fetch_optional(&mut *conn).await.ok().flatten();
            return Err(Error::Locked(format!(
                "another db-migrate run holds the table lock of {history} ({}); waited {timeout:?} (--lock-timeout). \
                 If that run died, the lock expires by itself, or delete the row from {table}",
                holder.unwrap_or_else(|| "holder unknown".into()),
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[cfg(all(test, any(feature = "postgres", feature = "mysql")))]
mod tests {
    use super::carried;

    #[test]
    fn carried_values_read_as_the_database_prints_them() {
        let at = time::macros::datetime!(2024-05-01 10:30:00.25 +02:00);
        assert_eq!(carried::instant(at).as_deref(), Some("2024-05-01T08:30:00.25Z"));
        assert_eq!(carried::naive(time::macros::datetime!(2024-05-01 10:30:00)).as_deref(), Some("2024-05-01T10:30:00"));
        assert_eq!(carried::date(time::macros::date!(2024-05-01)).as_deref(), Some("2024-05-01"));
        // Years RFC 3339 cannot write are refused, never printed in another shape.
        assert_eq!(carried::instant(time::macros::datetime!(-4712-01-01 0:00 UTC)), None);
        assert_eq!(carried::date(time::macros::date!(-0001-01-01)), None);
        #[cfg(feature = "postgres")]
        {
            assert_eq!(carried::time_of_day(37_800_000_000).as_deref(), Some("10:30:00"));
            assert_eq!(carried::time_of_day(37_800_250_000).as_deref(), Some("10:30:00.25"));
            assert_eq!(carried::time_of_day(86_400_000_000).as_deref(), Some("24:00:00"));
            assert_eq!(carried::time_of_day(-1), None);
        }
    }
}
