//! What the sqlx backends (SQLite, PostgreSQL, MySQL/MariaDB) share, written once over sqlx's
//! `Database` trait.

use super::guest::SqlValue;

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

/// The text form of a `timestamp` value, for the databases that take dates as text.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(super) fn timestamp_as_text<'q, DB>(q: Query<'q, DB>, s: String) -> Query<'q, DB>
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.bind(s)
}
