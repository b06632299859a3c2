//! Database backends: a few small traits, one implementation of each per database.
//!
//! The history table ([`History`]) and the run-wide lock ([`Lock`]) are narrow, object-safe
//! traits: each backend implements them once, and [`AnyBackend`] lends them out as
//! `&mut dyn History` / `&mut dyn Lock` ([`AnyBackend::history`], [`AnyBackend::locks`])
//! instead of forwarding every method through a `match`.
//!
//! A backend owns the connection, the history table and the protocol around each migration:
//! [`Backend::begin`] opens the migration's unit of work, the body runs (a SQL script through
//! [`Backend::exec_script`], or a component through [`guest::GuestSql`]), and
//! [`Backend::finish`] or [`Backend::abort`] closes it. A transactional migration and its history
//! row commit together; a non-transactional one is recorded `dirty` first and flipped when done,
//! so a crash leaves a visible mark instead of a silent half-state.

// One module per database, each behind its cargo feature (see runner/Cargo.toml): an embedder
// that needs one database compiles one driver.
#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "mongodb")))]
compile_error!("db-migrate needs at least one database: enable one of its features `sqlite`, `postgres`, `mysql`, `mongodb`");
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod cancel;
#[cfg(feature = "mongodb")]
pub mod documents;
pub mod functions;
#[cfg(feature = "mysql")]
pub mod galera;
pub mod guest;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod lent;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_conn;
#[cfg(feature = "sqlite")]
pub mod sqlite_guard;
#[cfg(feature = "sqlite")]
mod sqlite_lock;
#[cfg(feature = "sqlite")]
mod sqlite_script;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sqlx_shared;
#[cfg(feature = "sqlite")]
pub(crate) use sqlite_script::master_digest as sqlite_schema_digest;
pub mod unit;
pub mod url;
pub mod wipe;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
pub use crate::migrate::error::HeldLock;
use crate::migrate::history::AppliedMigration;
use crate::migrate::source::Migration;
use crate::migrate::statements;

pub use guest::{Dialect, GuestSql, GuestSqlError, Rows, SqlValue};
pub use unit::{BodyFailed, Unit, UnitError};
pub use url::DatabaseUrl;

/// A boxed future borrowing its backend: what the object-safe traits' methods return (an
/// `async fn` in a trait cannot be called through `dyn`). Every backend's futures are `Send`,
/// so a run can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend's history table, reached through [`AnyBackend::history`] as `&mut dyn History`.
///
/// Object-safe (boxed futures, no generics), so callers need no `match` over databases and each
/// backend writes its history SQL in one place.
pub trait History {
    /// Reads the history, oldest first. An absent history table reads as empty and is not created.
    fn read_history(&mut self) -> BoxFuture<'_, Result<Vec<AppliedMigration>>>;
    /// Creates the history table if it does not exist.
    fn ensure_history(&mut self) -> BoxFuture<'_, Result<()>>;
    /// Records a dirty migration as applied (after a human checked the schema).
    fn mark_applied(&mut self, version: i64) -> BoxFuture<'_, Result<bool>>;
    /// Forgets a dirty or applied migration's history row (after a human reverted it by hand).
    fn remove(&mut self, version: i64) -> BoxFuture<'_, Result<bool>>;
    /// Re-records an applied migration's checksum and name (after a deliberate edit of its file).
    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> BoxFuture<'a, Result<bool>>;
}

/// A backend's run-wide migration lock, reached through [`AnyBackend::locks`] as
/// `&mut dyn Lock`. Object-safe for the same reasons as [`History`].
pub trait Lock {
    /// Takes the run-wide migration lock, waiting up to `timeout`; [`Error::Locked`] says who
    /// holds it. (SQLite takes a file lock beside the database; each migration also takes the
    /// write lock and writes its history row first.)
    fn lock(&mut self, timeout: Duration, mode: LockMode) -> BoxFuture<'_, Result<()>>;
    /// Extends a [`LockMode::Table`] lock before the next migration (a no-op otherwise). Fails
    /// when the lock could not be renewed — its row is gone or another run's, or the database
    /// failed — and the run must then stop: another runner could take the lock once it expires.
    fn heartbeat(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Releases the migration lock. [`Error::Unlock`] says which kind of lock is left behind
    /// when it could not be released (a session lock goes with the session; a lock row stays
    /// until it expires).
    fn unlock(&mut self) -> BoxFuture<'_, Result<()>>;
}

/// The migration protocol of a database backend (its history and lock are [`History`] and
/// [`Lock`]).
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// Starts a migration: in a transaction, takes the write lock and records (or, going down,
    /// removes) its history row; outside one, records it as dirty. Fails with
    /// [`Error::Conflict`] when another runner got there first.
    async fn begin(&mut self, migration: &Migration, direction: Direction, transactional: bool) -> Result<()>;
    /// Runs a script (in one round trip where the database allows). On failure, returns how many
    /// statements had completed. `transactional` says whether [`Backend::begin`] opened a transaction.
    async fn exec_script(&mut self, sql: &str, transactional: bool) -> std::result::Result<(), (usize, DbError)>;
    /// Completes what [`Backend::begin`] started: the history row gets its duration and the
    /// transaction commits, or the dirty mark is resolved.
    async fn finish(&mut self, migration: &Migration, direction: Direction, transactional: bool, took: Duration) -> Result<()>;
    /// Abandons what [`Backend::begin`] started: rolls back, or — outside a transaction, when
    /// nothing was changed — removes the dirty mark again. Says what is left: nothing, a dirty
    /// row (part of it may have been applied), or — when the database could not be asked —
    /// unknown.
    async fn abort(&mut self, migration: &Migration, direction: Direction, transactional: bool, changed: bool) -> Kept;
    /// Releases the lock and closes the connection cleanly: [`Error::Unlock`] when the lock
    /// could not be released (the connection is closed all the same), else [`Error::Close`]
    /// when the connection could not be closed cleanly.
    async fn close(self) -> Result<()>;
    /// How many tables (collections) the database holds besides db-migrate's own.
    async fn user_tables(&mut self) -> Result<usize>;
    /// Opens a transaction with no history row (seeds record themselves at the end).
    async fn begin_plain(&mut self) -> Result<()>;
    /// Commits what [`Backend::begin_plain`] opened.
    async fn commit_plain(&mut self) -> Result<()>;
    /// Rolls back what [`Backend::begin_plain`] opened.
    async fn rollback_plain(&mut self);
}

/// How a run locks out other runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LockMode {
    /// The server's session lock (PostgreSQL advisory lock, MySQL `GET_LOCK`): released by the
    /// server if the runner dies. Needs a real session (not PgBouncer transaction pooling).
    #[default]
    Session,
    /// A row in `<history table>_lock` with an owner and an expiry, renewed between migrations:
    /// needs no session state, so it works behind transaction poolers. A runner that dies
    /// leaves the row until it expires ([`TABLE_LOCK_TTL`]).
    Table,
}

/// How long a table lock lives without renewal.
pub const TABLE_LOCK_TTL: Duration = Duration::from_secs(30 * 60);

/// Turns Nagle's algorithm off on the process's TCP sockets.
///
/// sqlx leaves it on. Most traffic is request/response and does not care, but a message that
/// follows another without waiting for a reply — COPY's closing `CopyDone` after its data, the
/// second half of a large multi-row INSERT — then waits for the server's delayed ACK: measured
/// here at 40–50 ms per batch, which made a 1,000,000-row seed on PostgreSQL 5× slower than its
/// COPY floor. sqlx exposes no socket option, so the sockets are found through `/proc/self/fd`
/// right after connecting (Linux; elsewhere this does nothing).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub fn disable_nagle() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in dir.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if !std::fs::read_link(entry.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")) {
            continue;
        }
        // SAFETY: `fd` is one of this process's open sockets, only borrowed for the duration of
        // one setsockopt call; a non-TCP socket (Unix, UDP) just refuses the option.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
    }
}

/// Whether a table belongs to db-migrate (history, its lock, the seed history).
pub fn is_own_table(name: &str, history: &str) -> bool {
    let bare = |t: &str| t.rsplit('.').next().unwrap_or(t).to_ascii_lowercase();
    let (n, h) = (bare(name), bare(history));
    n == h || n == format!("{h}_lock") || n == "db_migrate_seeds" || n.starts_with("_dbm_cursor_")
        // [workflow] placeholder values and repeatable migrations (crate::run::workflow).
        || n == format!("{h}_placeholders") || n == format!("{h}_repeatable")
}

/// A table lock's row (MongoDB: document) in `table`, for [`Error::Unlock`].
#[cfg(any(feature = "postgres", feature = "mysql", feature = "mongodb"))]
pub(crate) fn held_row(table: String) -> HeldLock {
    HeldLock::Row { table, ttl: TABLE_LOCK_TTL }
}

/// Why releasing or renewing a lock row did not count: the row is no longer this run's.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "mongodb"))]
pub(crate) fn row_not_ours() -> DbError {
    DbError { message: "the lock row was no longer this run's (it was deleted, or it expired and another run took it)".into(), code: None }
}

/// The error of a heartbeat that found the lock row gone or another run's.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "mongodb"))]
pub(crate) fn lock_row_lost(history: &str, table: &str) -> Error {
    Error::Locked(format!("the migration lock of {history} is no longer this run's: its row in {table} was deleted, or it expired and another run took it"))
}

/// Who this process is, for table locks and messages.
pub fn lock_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into());
    format!("db-migrate on {host}, pid {}", std::process::id())
}

/// A stable 64-bit lock key for a database and history table.
pub fn lock_key(what: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(what.as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Applies or reverts a SQL migration: the script in one call inside the migration's unit —
/// or, when it fails, the line of the statement that failed and what was kept.
pub async fn run_sql<B: Backend>(b: &mut B, m: &Migration, direction: Direction) -> Result<Duration> {
    let script = m.script(direction).ok_or_else(|| missing_script(m, direction))?;
    let unit = Unit::new(m, direction, script.transaction);
    let ran = unit
        .run(b, unit::itself, async |b: &mut B| {
            // Each statement is atomic: if the first one failed, nothing changed.
            b.exec_script(&script.sql, script.transaction).await.map_err(|(done, source)| BodyFailed { changed: done > 0, error: (done, source) })
        })
        .await;
    match ran {
        Ok(took) => Ok(took),
        Err(UnitError::Protocol(e)) => Err(e),
        Err(UnitError::Body { error: (done, source), kept }) => Err(Error::MigrationFailed {
            migration: MigrationRef { version: m.version, name: m.name.clone() },
            direction,
            path: script.path.clone(),
            line: statements::split(&script.sql).get(done).map(|s| script.file_line(s.line)),
            source,
            kept,
        }),
    }
}

/// Applies or reverts a MongoDB command file: the commands in order inside the migration's unit
/// (never transactional: MongoDB has no transactional DDL) — or the line and number of the
/// command that failed.
#[cfg(feature = "mongodb")]
pub async fn run_commands<B: Backend + documents::Documents>(b: &mut B, m: &Migration, direction: Direction) -> Result<Duration> {
    let script = m.commands(direction).ok_or_else(|| missing_script(m, direction))?;
    let docs = script.documents().map_err(|e| Error::Config(format!("{}: {e}", script.path.display())))?;
    let unit = Unit::new(m, direction, false);
    let ran = unit
        .run(b, unit::itself, async |b: &mut B| {
            b.exec_commands(&docs).await.map_err(|(done, source)| BodyFailed { changed: done > 0, error: (done, source) })
        })
        .await;
    match ran {
        Ok(took) => Ok(took),
        Err(UnitError::Protocol(e)) => Err(e),
        Err(UnitError::Body { error: (done, mut source), kept }) => {
            let c = &script.commands[done.min(script.commands.len().saturating_sub(1))];
            source.message = format!("command {} of {} (`{}`): {}", done + 1, script.commands.len(), c.name, source.message);
            Err(Error::MigrationFailed {
                migration: MigrationRef { version: m.version, name: m.name.clone() },
                direction,
                path: script.path.clone(),
                line: Some(c.line),
                source,
                kept,
            })
        }
    }
}

/// The planner only schedules directions a migration has; this is the error if it ever did not.
fn missing_script(m: &Migration, direction: Direction) -> Error {
    match direction {
        Direction::Down => Error::Plan(crate::migrate::error::PlanError::Irreversible(MigrationRef { version: m.version, name: m.name.clone() })),
        Direction::Up => Error::Source(crate::migrate::error::SourceError::file(&m.path, "the migration has nothing to apply")),
    }
}

/// A connected backend of any supported database.
///
/// Only the databases this build has a feature for are variants: code matching on it names each
/// variant under its `#[cfg(feature = ...)]`.
pub enum AnyBackend {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteBackend),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgBackend),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    Mysql(mysql::MySqlBackend),
    /// MongoDB.
    #[cfg(feature = "mongodb")]
    Mongo(mongo::MongoBackend),
}

impl AnyBackend {
    /// The history table, whatever the database.
    pub fn history(&mut self) -> &mut dyn History {
        match self {
            #[cfg(feature = "sqlite")]
            AnyBackend::Sqlite(b) => b,
            #[cfg(feature = "postgres")]
            AnyBackend::Postgres(b) => b,
            #[cfg(feature = "mysql")]
            AnyBackend::Mysql(b) => b,
            #[cfg(feature = "mongodb")]
            AnyBackend::Mongo(b) => b,
        }
    }

    /// The run-wide migration lock, whatever the database.
    pub fn locks(&mut self) -> &mut dyn Lock {
        match self {
            #[cfg(feature = "sqlite")]
            AnyBackend::Sqlite(b) => b,
            #[cfg(feature = "postgres")]
            AnyBackend::Postgres(b) => b,
            #[cfg(feature = "mysql")]
            AnyBackend::Mysql(b) => b,
            #[cfg(feature = "mongodb")]
            AnyBackend::Mongo(b) => b,
        }
    }

    /// The document-database capability, when the database has it (MongoDB). Callers see
    /// only the [`documents::Documents`] trait (and the migration protocol), never the driver.
    #[cfg(feature = "mongodb")]
    pub fn documents(&mut self) -> Option<&mut (impl documents::Documents + Backend + use<>)> {
        match self {
            AnyBackend::Mongo(m) => Some(m),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Whether this is a document database (MongoDB) rather than a SQL one.
    pub fn is_documents(&self) -> bool {
        #[cfg(feature = "mongodb")]
        return matches!(self, AnyBackend::Mongo(_));
        #[cfg(not(feature = "mongodb"))]
        false
    }

    /// The database's name for messages: `SQLite`, `PostgreSQL`, `MySQL/MariaDB`, `MongoDB`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            #[cfg(feature = "sqlite")]
            AnyBackend::Sqlite(_) => "SQLite",
            #[cfg(feature = "postgres")]
            AnyBackend::Postgres(_) => "PostgreSQL",
            #[cfg(feature = "mysql")]
            AnyBackend::Mysql(_) => "MySQL/MariaDB",
            #[cfg(feature = "mongodb")]
            AnyBackend::Mongo(_) => "MongoDB",
        }
    }
}

/// Makes `b`'s session read-only on the database's side, for a dry run that runs components
/// (`Sandbox::rehearse_migration`): the host sends them reads only, and a statement it took for
/// a read but that writes is refused by the database too. The session is never made writable
/// again; it is closed after the dry run.
pub async fn read_only_session(b: &mut AnyBackend) -> Result<()> {
    if b.is_documents() {
        return Ok(());
    }
    let statement = match b.dialect() {
        // (The file is opened read-only as well.)
        Dialect::Sqlite => "PRAGMA query_only = 1",
        Dialect::Postgres => "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        Dialect::Mysql => "SET SESSION TRANSACTION READ ONLY",
    };
    b.host_execute(statement, Vec::new())
        .await
        .map(drop)
        .map_err(|e| Error::Connect(format!("cannot make the dry run's session read-only: {e}")))
}

/// The database a URL names, as features say whether this build has it.
pub fn kind_of(url: &DatabaseUrl) -> &'static str {
    match url {
        DatabaseUrl::Sqlite(_) => "SQLite",
        DatabaseUrl::Postgres(_) => "PostgreSQL",
        DatabaseUrl::Mysql(_) => "MySQL/MariaDB",
        DatabaseUrl::Mongo(_) => "MongoDB",
    }
}

/// The error for a database this build was compiled without (its cargo feature is off).
#[allow(dead_code)]
pub(crate) fn not_built(url: &DatabaseUrl) -> Error {
    let feature = feature_of(url);
    Error::Connect(format!(
        "this build of db-migrate has no {} support: it was compiled without the `{feature}` feature of the `db-migrate` crate",
        kind_of(url)
    ))
}

/// A run's backend, which the run lends by value for one call at a time (the sandbox keeps the
/// connection in its store while a component runs) and always gets back: every lender returns
/// it with the outcome (`Sandbox::run_migration`, `Sandbox::run_seed`), whatever happened. So
/// between calls it is here, and this is the one place that says so.
pub struct Slot(Option<AnyBackend>);

impl Slot {
    /// A slot holding `b`.
    pub fn new(b: AnyBackend) -> Self {
        Slot(Some(b))
    }

    /// The backend, between loans.
    pub fn get(&mut self) -> &mut AnyBackend {
        self.0.as_mut().expect("the backend is back: every loan returns it with its outcome")
    }

    /// Lends the backend out for one call; [`Slot::give_back`] must follow before the next use.
    pub fn lend(&mut self) -> AnyBackend {
        self.0.take().expect("the backend is back: every loan returns it with its outcome")
    }

    /// Takes the backend back from a loan.
    pub fn give_back(&mut self, b: AnyBackend) {
        self.0 = Some(b);
    }

    /// The backend, at the end of the run.
    pub fn into_inner(self) -> AnyBackend {
        self.0.expect("the backend is back: every loan returns it with its outcome")
    }
}

/// Whether connecting may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-only commands (`status`, `validate`, `--dry-run`): never create or change anything.
    ReadOnly,
    /// Commands that migrate: create the database if it is missing.
    ReadWrite,
}

/// Connects to `url` to change it: a missing database is created, so there is always a backend.
pub async fn connect_writable(url: &DatabaseUrl, history_table: &str) -> Result<AnyBackend> {
    connect(url, history_table, OpenMode::ReadWrite)
        .await?
        .ok_or_else(|| Error::Connect("the database does not exist and could not be created".into()))
}

/// Connects to `url`. In [`OpenMode::ReadOnly`], a database that does not exist yet gives `None`
/// (it has no history), and nothing is created.
pub async fn connect(url: &DatabaseUrl, history_table: &str, mode: OpenMode) -> Result<Option<AnyBackend>> {
    let _ = (history_table, mode);
    match url {
        #[cfg(feature = "sqlite")]
        DatabaseUrl::Sqlite(target) => {
            Ok(sqlite::SqliteBackend::connect(target, history_table, mode).await?.map(AnyBackend::Sqlite))
        }
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(u) => Ok(postgres::PgBackend::connect(u, history_table, mode).await?.map(AnyBackend::Postgres)),
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(u) => Ok(mysql::MySqlBackend::connect(u, history_table, mode).await?.map(AnyBackend::Mysql)),
        #[cfg(feature = "mongodb")]
        DatabaseUrl::Mongo(u) => Ok(mongo::MongoBackend::connect(u, history_table, mode).await?.map(AnyBackend::Mongo)),
        #[allow(unreachable_patterns)]
        other => Err(not_built(other)),
    }
}

/// The cargo feature that brings a database's backend.
#[allow(dead_code)]
fn feature_of(url: &DatabaseUrl) -> &'static str {
    match url {
        DatabaseUrl::Sqlite(_) => "sqlite",
        DatabaseUrl::Postgres(_) => "postgres",
        DatabaseUrl::Mysql(_) => "mysql",
        DatabaseUrl::Mongo(_) => "mongodb",
    }
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            AnyBackend::Sqlite($b) => $e,
            #[cfg(feature = "postgres")]
            AnyBackend::Postgres($b) => $e,
            #[cfg(feature = "mysql")]
            AnyBackend::Mysql($b) => $e,
            #[cfg(feature = "mongodb")]
            AnyBackend::Mongo($b) => $e,
        }
    };
}

/// Like `dispatch!`, for the SQL-only operations: MongoDB answers `$mongo`. (A component that
/// imports `sql` is refused before it runs against MongoDB, so this is a last line only.)
macro_rules! dispatch_sql {
    ($self:ident, $b:ident => $e:expr, mongo => $mongo:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            AnyBackend::Sqlite($b) => $e,
            #[cfg(feature = "postgres")]
            AnyBackend::Postgres($b) => $e,
            #[cfg(feature = "mysql")]
            AnyBackend::Mysql($b) => $e,
            #[cfg(feature = "mongodb")]
            AnyBackend::Mongo(_) => $mongo,
        }
    };
}

#[cfg(feature = "mongodb")]
fn not_sql() -> GuestSqlError {
    GuestSqlError::InvalidInput("the database is MongoDB: it has no SQL (use the `documents` interface)".into())
}

impl Backend for AnyBackend {
    async fn begin(&mut self, m: &Migration, d: Direction, tx: bool) -> Result<()> {
        dispatch!(self, b => b.begin(m, d, tx).await)
    }
    async fn exec_script(&mut self, sql: &str, tx: bool) -> std::result::Result<(), (usize, DbError)> {
        dispatch!(self, b => b.exec_script(sql, tx).await)
    }
    async fn finish(&mut self, m: &Migration, d: Direction, tx: bool, took: Duration) -> Result<()> {
        dispatch!(self, b => b.finish(m, d, tx, took).await)
    }
    async fn abort(&mut self, m: &Migration, d: Direction, tx: bool, changed: bool) -> Kept {
        dispatch!(self, b => b.abort(m, d, tx, changed).await)
    }
    async fn close(self) -> Result<()> {
        dispatch!(self, b => b.close().await)
    }
    async fn begin_plain(&mut self) -> Result<()> {
        dispatch!(self, b => b.begin_plain().await)
    }
    async fn user_tables(&mut self) -> Result<usize> {
        dispatch!(self, b => b.user_tables().await)
    }
    async fn commit_plain(&mut self) -> Result<()> {
        dispatch!(self, b => b.commit_plain().await)
    }
    async fn rollback_plain(&mut self) {
        dispatch!(self, b => b.rollback_plain().await)
    }
}

// In a MongoDB-only build every SQL arm is compiled out, leaving the parameters unused.
#[allow(unused_variables, irrefutable_let_patterns)]
impl GuestSql for AnyBackend {
    fn dialect(&self) -> Dialect {
        // Grants parse with some dialect; MongoDB never gets here with SQL (see `dispatch_sql!`).
        dispatch_sql!(self, b => b.dialect(), mongo => Dialect::Sqlite)
    }
    async fn execute(&mut self, s: &str, p: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        dispatch_sql!(self, b => b.execute(s, p).await, mongo => Err(not_sql()))
    }
    async fn query(&mut self, s: &str, p: Vec<SqlValue>, max: usize, bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        dispatch_sql!(self, b => b.query(s, p, max, bytes).await, mongo => Err(not_sql()))
    }
    async fn execute_batch(&mut self, s: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        dispatch_sql!(self, b => b.execute_batch(s, rows, plan).await, mongo => Err(not_sql()))
    }
    async fn bulk_write(&mut self, s: &str, rows: Vec<Vec<SqlValue>>, plan: &guest::InsertPlan) -> std::result::Result<u64, GuestSqlError> {
        dispatch_sql!(self, b => b.bulk_write(s, rows, plan).await, mongo => Err(not_sql()))
    }
    async fn bulk_settle(&mut self) -> std::result::Result<u64, GuestSqlError> {
        dispatch_sql!(self, b => b.bulk_settle().await, mongo => Ok(0))
    }
    async fn bulk_abort(&mut self) {
        dispatch_sql!(self, b => b.bulk_abort().await, mongo => ())
    }
    async fn open_cursor(&mut self, s: &str, p: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        dispatch_sql!(self, b => b.open_cursor(s, p).await, mongo => Err(not_sql()))
    }
    async fn cursor_next(&mut self, id: u64, max: usize, bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        dispatch_sql!(self, b => b.cursor_next(id, max, bytes).await, mongo => Err(not_sql()))
    }
    async fn close_cursor(&mut self, id: u64) {
        dispatch_sql!(self, b => b.close_cursor(id).await, mongo => ())
    }
    async fn host_query(&mut self, s: &str, p: Vec<SqlValue>) -> std::result::Result<Rows, GuestSqlError> {
        dispatch_sql!(self, b => b.host_query(s, p).await, mongo => Err(not_sql()))
    }
    async fn host_execute(&mut self, s: &str, p: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        dispatch_sql!(self, b => b.host_execute(s, p).await, mongo => Err(not_sql()))
    }
    async fn enter_guest(&mut self, scope: &guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        #[cfg(feature = "mongodb")]
        if let AnyBackend::Mongo(m) = self {
            m.deadline = scope.deadline;
            m.max_bytes = scope.max_bytes;
            return Ok(());
        }
        dispatch_sql!(self, b => b.enter_guest(scope).await, mongo => Ok(()))
    }
    async fn end_guest_writes(&mut self) -> std::result::Result<(), GuestSqlError> {
        dispatch_sql!(self, b => b.end_guest_writes().await, mongo => Ok(()))
    }
    async fn leave_guest(&mut self) -> std::result::Result<(), GuestSqlError> {
        #[cfg(feature = "mongodb")]
        if let AnyBackend::Mongo(m) = self {
            m.deadline = None;
            m.max_bytes = usize::MAX;
            return Ok(());
        }
        dispatch_sql!(self, b => b.leave_guest().await, mongo => Ok(()))
    }
}
