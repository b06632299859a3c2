//! Write [db-migrate](https://example.invalid/db-migrate) migrations in Rust.
//!
//! A migration is a type implementing [`Migration`], exported with [`export_migration!`] and
//! compiled to a WebAssembly component (`db-migrate build` runs
//! `cargo build --release --target wasm32-wasip2`). It runs sandboxed, inside the migration's
//! transaction, and reaches the database only through the functions of this crate.
//!
//! ```no_run
//! use db_migrate_sdk::{Migration, Result, execute, params, query};
//!
//! struct AddDisplayNames;
//!
//! impl Migration for AddDisplayNames {
//!     const DESCRIPTION: &'static str = "fill users.display_name from first and last names";
//!
//!     fn up() -> Result<()> {
//!         execute("ALTER TABLE users ADD COLUMN display_name TEXT", &[])?;
//!         for row in query("SELECT id, first, last FROM users", &[])?.iter() {
//!             let id: i64 = row.get("id")?;
//!             let name = format!("{} {}", row.get::<String>("first")?, row.get::<String>("last")?);
//!             execute("UPDATE users SET display_name = ? WHERE id = ?", &params![name, id])?;
//!         }
//!         Ok(())
//!     }
//!
//!     fn down() -> Result<()> {
//!         execute("ALTER TABLE users DROP COLUMN display_name", &[])?;
//!         Ok(())
//!     }
//! }
//!
//! db_migrate_sdk::export_migration!(AddDisplayNames);
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::rc::Rc;

#[cfg(not(feature = "seed"))]
#[doc(hidden)]
pub mod __bindings {
    // One world for both kinds of migration: `migration` plus the MongoDB `documents`
    // interface. A component imports only what it calls, so a SQL migration imports `sql` (world
    // `migration`) and a MongoDB one `documents` (world `document-migration`).
    // Generated from wit/runtime.wit by sdk/rust/bindings.sh (the `wit-bindgen` CLI).
    include!("bindings_migration.rs");
}

#[cfg(feature = "seed")]
#[doc(hidden)]
pub mod __bindings {
    // With the `seed` feature the crate builds a seed (export `run`) instead: world `seed`
    // plus `documents`, so a seed that writes through `sql` is a `seed` and one that writes
    // through `documents` a `document-seed` (MongoDB).
    // Generated from wit/runtime.wit by sdk/rust/bindings.sh (the `wit-bindgen` CLI).
    include!("bindings_seed.rs");
}

use __bindings::db_migrate::runtime::documents as wdocs;
use __bindings::db_migrate::runtime::{context as ctx, log as wlog, sql, types};

/// A SQL value: a parameter or a value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// An RFC 3339 timestamp, bound as the database's timestamp type where it has one.
    Timestamp(String),
    /// A JSON document, bound as `json`/`jsonb` where the database has one.
    Json(String),
}

impl From<types::Value> for Value {
    fn from(v: types::Value) -> Self {
        match v {
            types::Value::Null => Value::Null,
            types::Value::Boolean(b) => Value::Bool(b),
            types::Value::Int(i) => Value::Int(i),
            types::Value::Float(f) => Value::Float(f),
            types::Value::Text(s) => Value::Text(s),
            types::Value::Blob(b) => Value::Blob(b),
            types::Value::Timestamp(s) => Value::Timestamp(s),
            types::Value::Json(s) => Value::Json(s),
        }
    }
}

impl From<Value> for types::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => types::Value::Null,
            Value::Bool(b) => types::Value::Boolean(b),
            Value::Int(i) => types::Value::Int(i),
            Value::Float(f) => types::Value::Float(f),
            Value::Text(s) => types::Value::Text(s),
            Value::Blob(b) => types::Value::Blob(b),
            Value::Timestamp(s) => types::Value::Timestamp(s),
            Value::Json(s) => types::Value::Json(s),
        }
    }
}

impl From<&Value> for types::Value {
    fn from(v: &Value) -> Self {
        match v.clone() {
            Value::Null => types::Value::Null,
            Value::Bool(b) => types::Value::Boolean(b),
            Value::Int(i) => types::Value::Int(i),
            Value::Float(f) => types::Value::Float(f),
            Value::Text(s) => types::Value::Text(s),
            Value::Blob(b) => types::Value::Blob(b),
            Value::Timestamp(s) => types::Value::Timestamp(s),
            Value::Json(s) => types::Value::Json(s),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(v as i64) }
        }
        impl TryFrom<Value> for $t {
            type Error = Error;
            fn try_from(v: Value) -> Result<Self> {
                match v {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| Error::Conversion(format!("{i} does not fit in {}", stringify!($t)))),
                    Value::Bool(b) => Ok(b as $t),
                    other => Err(Error::Conversion(format!("expected an integer, found {other:?}"))),
                }
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v as f64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

impl TryFrom<Value> for bool {
    type Error = Error;
    fn try_from(v: Value) -> Result<Self> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::Int(i) => Ok(i != 0),
            other => Err(Error::Conversion(format!("expected a boolean, found {other:?}"))),
        }
    }
}
impl TryFrom<Value> for f64 {
    type Error = Error;
    fn try_from(v: Value) -> Result<Self> {
        match v {
            Value::Float(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(Error::Conversion(format!("expected a number, found {other:?}"))),
        }
    }
}
impl TryFrom<Value> for String {
    type Error = Error;
    fn try_from(v: Value) -> Result<Self> {
        match v {
            Value::Text(s) | Value::Timestamp(s) | Value::Json(s) => Ok(s),
            Value::Int(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            other => Err(Error::Conversion(format!("expected text, found {other:?}"))),
        }
    }
}
impl TryFrom<Value> for Vec<u8> {
    type Error = Error;
    fn try_from(v: Value) -> Result<Self> {
        match v {
            Value::Blob(b) => Ok(b),
            Value::Text(s) => Ok(s.into_bytes()),
            other => Err(Error::Conversion(format!("expected bytes, found {other:?}"))),
        }
    }
}
impl<T: TryFrom<Value, Error = Error>> TryFrom<Value> for Option<T> {
    type Error = Error;
    fn try_from(v: Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            other => T::try_from(other).map(Some),
        }
    }
}

/// Builds a parameter list from anything convertible into [`Value`]: `params![42, "name", None::<i64>]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::Value::from($v)),*] };
}

/// What kind of database failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseErrorKind {
    /// A unique or primary key constraint was violated.
    UniqueViolation,
    /// A foreign key constraint was violated.
    ForeignKeyViolation,
    /// A NOT NULL constraint was violated.
    NotNullViolation,
    /// A CHECK constraint was violated.
    CheckViolation,
    /// The statement does not parse.
    Syntax,
    /// Anything else.
    Other,
}

/// Errors of this SDK: the host's answers, the database's failures, and the migration's own.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The host refused (a grant or a limit).
    Denied(String),
    /// The database failed.
    Database {
        /// Classification, to branch on (e.g. skip duplicates on a unique violation).
        kind: DatabaseErrorKind,
        /// The database's message.
        message: String,
        /// SQLSTATE or driver code, when known.
        code: Option<String>,
    },
    /// The request was malformed (e.g. two statements in one call).
    InvalidInput(String),
    /// A value could not be converted to the requested Rust type, or a column does not exist.
    Conversion(String),
    /// An error raised by the migration itself.
    Custom(String),
}

impl Error {
    /// True for a unique or primary key violation.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database { kind: DatabaseErrorKind::UniqueViolation, .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Denied(m) => write!(f, "denied by the host: {m}"),
            Error::Database { message, code: Some(c), .. } => write!(f, "database error: {message} (code {c})"),
            Error::Database { message, .. } => write!(f, "database error: {message}"),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Conversion(m) => write!(f, "conversion error: {m}"),
            Error::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(m: String) -> Self {
        Error::Custom(m)
    }
}
impl From<&str> for Error {
    fn from(m: &str) -> Self {
        Error::Custom(m.to_string())
    }
}

impl From<types::Error> for Error {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::Denied(m) => Error::Denied(m),
            types::Error::InvalidInput(m) => Error::InvalidInput(m),
            types::Error::Database(d) => Error::Database {
                kind: match d.kind {
                    types::DatabaseErrorKind::UniqueViolation => DatabaseErrorKind::UniqueViolation,
                    types::DatabaseErrorKind::ForeignKeyViolation => DatabaseErrorKind::ForeignKeyViolation,
                    types::DatabaseErrorKind::NotNullViolation => DatabaseErrorKind::NotNullViolation,
                    types::DatabaseErrorKind::CheckViolation => DatabaseErrorKind::CheckViolation,
                    types::DatabaseErrorKind::Syntax => DatabaseErrorKind::Syntax,
                    types::DatabaseErrorKind::Other => DatabaseErrorKind::Other,
                },
                message: d.message,
                code: d.code,
            },
        }
    }
}

/// `Result` with this SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One row of a result, readable by column name.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// The value of column `name`, converted: `row.get::<i64>("id")?`.
    pub fn get<T: TryFrom<Value, Error = Error>>(&self, name: &str) -> Result<T> {
        let i = self
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::Conversion(format!("no column `{name}` (columns: {})", self.columns.join(", "))))?;
        T::try_from(self.values[i].clone())
    }

    /// The raw values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// The rows of a query.
#[derive(Debug, Clone)]
pub struct Rows {
    columns: Rc<[String]>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// Column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The rows, readable by column name.
    pub fn iter(&self) -> impl Iterator<Item = Row> + '_ {
        self.rows.iter().map(|v| Row { columns: self.columns.clone(), values: v.clone() })
    }
}

fn wit_params(params: &[Value]) -> Vec<types::Value> {
    params.iter().map(types::Value::from).collect()
}

fn rows_of(columns: Rc<[String]>, rows: Vec<Vec<types::Value>>) -> Vec<Vec<Value>> {
    let _ = columns;
    rows.into_iter().map(|r| r.into_iter().map(Value::from).collect()).collect()
}

/// Which SQL the database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?` placeholders.
    Sqlite,
    /// PostgreSQL: `$1` placeholders.
    Postgres,
    /// MySQL and MariaDB: `?` placeholders.
    Mysql,
}

/// The database's dialect, for migrations that run on several databases.
pub fn dialect() -> Dialect {
    match sql::dialect() {
        sql::SqlDialect::Sqlite => Dialect::Sqlite,
        sql::SqlDialect::Postgres => Dialect::Postgres,
        sql::SqlDialect::Mysql => Dialect::Mysql,
    }
}

/// Runs one statement with parameters; returns the number of rows it changed.
pub fn execute(statement: &str, params: &[Value]) -> Result<u64> {
    Ok(sql::execute(statement, &wit_params(params))?)
}

/// Runs one statement and returns all its rows. Use a [`Cursor`] for large results.
pub fn query(statement: &str, params: &[Value]) -> Result<Rows> {
    let rs = sql::query(statement, &wit_params(params))?;
    let columns: Rc<[String]> = rs.columns.into();
    Ok(Rows { rows: rows_of(columns.clone(), rs.rows), columns })
}

/// Runs one statement once per row of parameters, as one round trip where the database allows
/// (an `INSERT … VALUES (?, ?)` becomes a multi-row insert). Returns the rows changed.
pub fn execute_batch(statement: &str, rows: &[Vec<Value>]) -> Result<u64> {
    let rows: Vec<Vec<types::Value>> = rows.iter().map(|r| wit_params(r)).collect();
    Ok(sql::execute_batch(statement, &rows)?)
}

/// A column of a table, as the database describes it (see [`columns`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its declared type, as the database spells it (`INTEGER`, `character varying`, `int`).
    pub data_type: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
}

/// The columns of a table the component may read, in order: type values by the table they go
/// into (a CSV importer, a fake-data generator).
pub fn columns(table: &str) -> Result<Vec<ColumnInfo>> {
    Ok(sql::columns(table)?.into_iter().map(|c| ColumnInfo { name: c.name, data_type: c.data_type, nullable: c.nullable }).collect())
}

/// [`execute_batch`] taking the rows by value: no copy of their strings on the way out, for
/// seeds that write millions of rows.
pub fn execute_batch_owned(statement: &str, rows: Vec<Vec<Value>>) -> Result<u64> {
    let rows: Vec<Vec<types::Value>> = rows.into_iter().map(|r| r.into_iter().map(types::Value::from).collect()).collect();
    Ok(sql::execute_batch(statement, &rows)?)
}

/// Rows streamed into one table through one plain `INSERT INTO t (a, b) VALUES (?, ?)`, without
/// waiting for the database at each batch: on PostgreSQL they go through one `COPY` the server
/// works through while the component makes the next rows; elsewhere each write runs like
/// [`execute_batch`].
///
/// The price: a row the database rejects is reported late (by [`BulkInsert::finish`], by any
/// other database call, by dropping the bulk insert, or when the component returns) and it ends
/// the run, whose transaction is rolled back. Use
/// [`execute_batch`] to handle a rejected batch in the component. While a bulk insert is open,
/// any other database call first waits until its rows are taken; so does dropping it.
///
/// ```no_run
/// use db_migrate_sdk::{BulkInsert, Result, Value};
///
/// fn users() -> Result<u64> {
///     let bulk = BulkInsert::open("INSERT INTO users (id, name) VALUES (?, ?)")?;
///     for start in (0..1_000_000i64).step_by(5_000) {
///         bulk.write((start..start + 5_000).map(|i| vec![Value::Int(i), Value::Text(format!("user {i}"))]).collect())?;
///     }
///     bulk.finish()
/// }
/// ```
pub struct BulkInsert(sql::BulkInsert);

impl BulkInsert {
    /// Opens a bulk insert for a plain placeholder `INSERT` (no `RETURNING`, no `ON CONFLICT`)
    /// into a table the grant allows.
    pub fn open(statement: &str) -> Result<Self> {
        Ok(BulkInsert(sql::open_bulk_insert(statement)?))
    }

    /// Hands rows to the database (one value per placeholder, in order), taking them by value.
    pub fn write(&self, rows: Vec<Vec<Value>>) -> Result<()> {
        let rows: Vec<Vec<types::Value>> = rows.into_iter().map(|r| r.into_iter().map(types::Value::from).collect()).collect();
        Ok(self.0.write(&rows)?)
    }

    /// Waits until the database has taken every row written; returns how many were written.
    pub fn finish(self) -> Result<u64> {
        Ok(self.0.finish()?)
    }
}

/// Reads a query's result page by page, so a backfill never holds a whole table in memory.
/// The rows are those of the moment the cursor opened, even if the migration changes the table
/// between pages.
pub struct Cursor {
    inner: sql::Cursor,
    columns: Rc<[String]>,
}

impl Cursor {
    /// Opens a cursor over one query.
    pub fn open(statement: &str, params: &[Value]) -> Result<Cursor> {
        let inner = sql::open_cursor(statement, &wit_params(params))?;
        let columns: Rc<[String]> = inner.columns().into();
        Ok(Cursor { inner, columns })
    }

    /// Column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Up to `max_rows` more rows; `None` when the result is exhausted.
    pub fn next_page(&mut self, max_rows: u32) -> Result<Option<Vec<Row>>> {
        Ok(self.inner.next_page(max_rows)?.map(|rows| {
            rows.into_iter()
                .map(|r| Row { columns: self.columns.clone(), values: r.into_iter().map(Value::from).collect() })
                .collect()
        }))
    }
}

/// MongoDB: the documents of the database, for migrations and seeds run against MongoDB.
///
/// Documents, filters, updates and options are Extended JSON text (relaxed or canonical), so
/// any JSON library (or `format!`) can build them; results come back the same way.
///
/// ```no_run
/// use db_migrate_sdk::{Migration, Result, documents};
///
/// struct Backfill;
///
/// impl Migration for Backfill {
///     const DESCRIPTION: &'static str = "users get a `plan` field";
///
///     fn up() -> Result<()> {
///         documents::create_index("users", r#"{"email": 1}"#, Some(r#"{"unique": true}"#))?;
///         documents::update_many("users", r#"{"plan": {"$exists": false}}"#, r#"{"$set": {"plan": "free"}}"#)?;
///         Ok(())
///     }
///
///     fn down() -> Result<()> {
///         documents::update_many("users", "{}", r#"{"$unset": {"plan": ""}}"#)?;
///         documents::drop_index("users", "email_1")
///     }
/// }
///
/// db_migrate_sdk::export_migration!(Backfill);
/// ```
///
/// A seed for MongoDB (the SDK's `seed` feature) writes through the same functions; the
/// component is then of the `document-seed` world.
pub mod documents {
    use super::{Result, wdocs};

    /// How [`find`] and [`DocumentCursor::open`] shape their result.
    #[derive(Debug, Clone, Default)]
    pub struct FindOptions {
        /// Fields to return (`{"name": 1, "_id": 0}`).
        pub projection: Option<String>,
        /// Order (`{"created": -1}`).
        pub sort: Option<String>,
        /// Documents to skip.
        pub skip: Option<u64>,
        /// Most documents to return.
        pub limit: Option<u64>,
    }

    impl From<&FindOptions> for wdocs::FindOptions {
        fn from(o: &FindOptions) -> Self {
            wdocs::FindOptions { projection: o.projection.clone(), sort: o.sort.clone(), skip: o.skip, limit: o.limit }
        }
    }

    /// Inserts documents in order; returns how many were inserted. Send thousands per call:
    /// each call is one round trip.
    pub fn insert_many<S: AsRef<str>>(collection: &str, docs: &[S]) -> Result<u64> {
        let docs: Vec<String> = docs.iter().map(|d| d.as_ref().to_string()).collect();
        Ok(wdocs::insert_many(collection, &docs)?)
    }

    /// Inserts one document.
    pub fn insert_one(collection: &str, doc: &str) -> Result<()> {
        wdocs::insert_many(collection, &[doc.to_string()])?;
        Ok(())
    }

    /// The documents matching `filter`. Use a [`DocumentCursor`] for large results.
    pub fn find(collection: &str, filter: &str, options: &FindOptions) -> Result<Vec<String>> {
        Ok(wdocs::find(collection, filter, &options.into())?)
    }

    /// Applies `update` (operators such as `{"$set": …}`, or a pipeline array) to every match;
    /// returns (matched, modified).
    pub fn update_many(collection: &str, filter: &str, update: &str) -> Result<(u64, u64)> {
        let r = wdocs::update_many(collection, filter, update)?;
        Ok((r.matched, r.modified))
    }

    /// Deletes every match; returns how many.
    pub fn delete_many(collection: &str, filter: &str) -> Result<u64> {
        Ok(wdocs::delete_many(collection, filter)?)
    }

    /// Counts the matches.
    pub fn count(collection: &str, filter: &str) -> Result<u64> {
        Ok(wdocs::count(collection, filter)?)
    }

    /// Creates a collection; `options` as for MongoDB's `create` command.
    pub fn create_collection(name: &str, options: Option<&str>) -> Result<()> {
        Ok(wdocs::create_collection(name, options)?)
    }

    /// Drops a collection (absent is fine).
    pub fn drop_collection(name: &str) -> Result<()> {
        Ok(wdocs::drop_collection(name)?)
    }

    /// Creates an index on `keys`; `options` as in `createIndexes` (`{"unique": true}`).
    /// Returns its name (by default `field_1_other_-1`).
    pub fn create_index(collection: &str, keys: &str, options: Option<&str>) -> Result<String> {
        Ok(wdocs::create_index(collection, keys, options)?)
    }

    /// Drops an index by name.
    pub fn drop_index(collection: &str, name: &str) -> Result<()> {
        Ok(wdocs::drop_index(collection, name)?)
    }

    /// Runs one database command on the migration's database and returns the reply. Only
    /// commands db-migrate can check against the grants are allowed.
    pub fn run_command(command: &str) -> Result<String> {
        Ok(wdocs::run_command(command)?)
    }

    /// Reads a result batch by batch, so a backfill never holds a whole collection.
    pub struct DocumentCursor {
        inner: wdocs::DocumentCursor,
    }

    impl DocumentCursor {
        /// Opens a cursor over the documents matching `filter`.
        pub fn open(collection: &str, filter: &str, options: &FindOptions) -> Result<DocumentCursor> {
            Ok(DocumentCursor { inner: wdocs::open_cursor(collection, filter, &options.into())? })
        }

        /// Up to `max` more documents; `None` when the result is exhausted.
        pub fn next_page(&mut self, max: u32) -> Result<Option<Vec<String>>> {
            Ok(self.inner.next_page(max)?)
        }
    }
}

/// Messages and progress, shown by db-migrate next to the migration's name.
pub mod log {
    use super::wlog;

    /// Logs at trace level.
    pub fn trace(message: impl AsRef<str>) {
        wlog::log(wlog::Level::Trace, message.as_ref());
    }
    /// Logs at debug level.
    pub fn debug(message: impl AsRef<str>) {
        wlog::log(wlog::Level::Debug, message.as_ref());
    }
    /// Logs at info level.
    pub fn info(message: impl AsRef<str>) {
        wlog::log(wlog::Level::Info, message.as_ref());
    }
    /// Logs a warning.
    pub fn warn(message: impl AsRef<str>) {
        wlog::log(wlog::Level::Warn, message.as_ref());
    }
    /// Logs an error (it does not fail the migration: return an `Err` for that).
    pub fn error(message: impl AsRef<str>) {
        wlog::log(wlog::Level::Error, message.as_ref());
    }
    /// Reports progress: `done` of `total` units (when known). db-migrate draws a progress bar.
    pub fn progress(done: u64, total: Option<u64>) {
        wlog::progress(done, total);
    }
}

/// What the migration may know about its run.
pub mod context {
    use super::ctx;

    /// The environment (`development`, `production`, …).
    pub fn environment() -> String {
        ctx::environment()
    }
    /// This migration's version.
    pub fn version() -> i64 {
        ctx::version()
    }
    /// This migration's name.
    pub fn name() -> String {
        ctx::name()
    }
    /// All user-supplied arguments (`--arg key=value`, `args` in db-migrate.toml).
    pub fn args() -> Vec<(String, String)> {
        ctx::args()
    }
    /// One argument by key.
    pub fn arg(key: &str) -> Option<String> {
        ctx::args().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// A deterministic seed for pseudo-random data.
    pub fn random_seed() -> u64 {
        ctx::random_seed()
    }
}

/// A seed: fills the database with data. Build the crate with the SDK's `seed` feature
/// (`db-migrate-sdk = { path = "…", features = ["seed"] }`) and export it with [`export_seed!`].
///
/// ```ignore
/// use db_migrate_sdk::{Seed, Result, Value, context, execute_batch};
///
/// struct Countries;
///
/// impl Seed for Countries {
///     fn run() -> Result<()> {
///         let rows = vec![vec![Value::from("DE"), Value::from("Germany")], vec![Value::from("FR"), Value::from("France")]];
///         execute_batch("INSERT INTO countries (code, name) VALUES (?, ?)", &rows)?;
///         Ok(())
///     }
/// }
///
/// db_migrate_sdk::export_seed!(Countries);
/// ```
#[cfg(feature = "seed")]
pub trait Seed {
    /// Writes the data. An `Err` rolls back everything it wrote.
    fn run() -> Result<()>;
}

/// Exports a [`Seed`] type as the component's `seed` world.
#[cfg(feature = "seed")]
#[macro_export]
macro_rules! export_seed {
    ($seed:ty) => {
        #[doc(hidden)]
        pub struct __DbMigrateSeedExport;

        impl $crate::__bindings::Guest for __DbMigrateSeedExport {
            fn run() -> ::core::result::Result<(), ::std::string::String> {
                <$seed as $crate::Seed>::run().map_err(|e| e.to_string())
            }
        }

        $crate::__bindings::__export_seed_world!(__DbMigrateSeedExport with_types_in $crate::__bindings);
    };
}

/// A migration: `up` applies it, `down` reverts it.
#[cfg(not(feature = "seed"))]
pub trait Migration {
    /// One line saying what the migration does.
    const DESCRIPTION: &'static str = "";
    /// Whether `down` can undo `up`. Set to `false` and `down` is refused before it runs.
    const REVERSIBLE: bool = true;
    /// Whether db-migrate wraps the migration in one transaction with its history row.
    /// Set to `false` for work that cannot run in a transaction; a failure then leaves the
    /// migration recorded as dirty.
    const TRANSACTIONAL: bool = true;

    /// Applies the migration. An `Err` rolls back everything it did.
    fn up() -> Result<()>;

    /// Reverts the migration.
    fn down() -> Result<()> {
        Err(Error::Custom("this migration has no down step".into()))
    }
}

#[cfg(not(feature = "seed"))]
#[doc(hidden)]
pub fn __metadata<M: Migration>() -> __bindings::Metadata {
    __bindings::Metadata { description: M::DESCRIPTION.to_string(), reversible: M::REVERSIBLE, transactional: M::TRANSACTIONAL }
}

/// Exports a [`Migration`] type as the component's `migration` world.
#[cfg(not(feature = "seed"))]
#[macro_export]
macro_rules! export_migration {
    ($migration:ty) => {
        #[doc(hidden)]
        pub struct __DbMigrateExport;

        impl $crate::__bindings::Guest for __DbMigrateExport {
            fn metadata() -> $crate::__bindings::Metadata {
                $crate::__metadata::<$migration>()
            }
            fn up() -> ::core::result::Result<(), ::std::string::String> {
                <$migration as $crate::Migration>::up().map_err(|e| e.to_string())
            }
            fn down() -> ::core::result::Result<(), ::std::string::String> {
                <$migration as $crate::Migration>::down().map_err(|e| e.to_string())
            }
        }

        $crate::__bindings::__export_migration_world!(__DbMigrateExport with_types_in $crate::__bindings);
    };
}
