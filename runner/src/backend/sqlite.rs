//! SQLite: sqlx's connection, with the host's own statements on SQLite's C API.
//!
//! sqlx runs SQLite on a worker thread and every call is a hand-off to it (tens of µs). The
//! history protocol, whole scripts (statements counted as they complete, which is how a failure
//! is mapped back to its line), reading the history and bulk inserts run on SQLite's C API with
//! the handle locked out from the worker once for many statements (`sqlite_conn`); guest
//! queries, cursors and the rare catalog reads still go through sqlx. `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two runners cannot interleave, and the
//! history row is written first: a second runner that planned the same migration fails on the
//! row's primary key before running any of its SQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::OpenMode;
use super::url::SqliteTarget;
use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus, now_utc};
use super::guest::{DbErrorKind, Dialect, GuestSql, GuestSqlError, Rows, SqlValue};
use crate::migrate::source::Migration;
use super::sqlite_script::Bind;

/// SQLite's result code for a constraint violation (primary key, unique).
const SQLITE_CONSTRAINT_CODES: [&str; 3] = ["19", "1555", "2067"];

/// The history protocol's SQL, built once per connection around the validated table name.
struct HistorySql {
    table: String,
    create: Arc<str>,
    select: Arc<str>,
    insert: Arc<str>,
    finish: Arc<str>,
    delete: Arc<str>,
    mark_dirty: Arc<str>,
    mark_applied: Arc<str>,
}

impl HistorySql {
    fn new(table: &str) -> Self {
        let t = quote_ident(table);
        HistorySql {
            table: table.to_string(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, \
                 checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TEXT NOT NULL, \
                 execution_ms INTEGER NOT NULL DEFAULT 0)"
            )
            .into(),
            // One row holding the whole history as JSON: a row per migration would cost a
            // worker-thread hand-off each, which dominates `status` on large projects.
            select: format!(
                "SELECT json_group_array(json_array(version, name, kind, checksum, status, applied_at, execution_ms)) \
                 FROM (SELECT * FROM {t} ORDER BY version)"
            )
            .into(),
            insert: format!(
                "INSERT INTO {t} (version, name, kind, checksum, status, applied_at, execution_ms) VALUES (?, ?, ?, ?, ?, ?, 0)"
            )
            .into(),
            finish: format!("UPDATE {t} SET status = 'applied', execution_ms = ? WHERE version = ?").into(),
            delete: format!("DELETE FROM {t} WHERE version = ?").into(),
            mark_dirty: format!("UPDATE {t} SET status = 'dirty' WHERE version = ? AND status = 'applied'").into(),
            mark_applied: format!("UPDATE {t} SET status = 'applied' WHERE version = ?").into(),
        }
    }
}

/// `schema.table` → `"schema"."table"`; names were validated as plain identifiers beforehand.
fn quote_ident(name: &str) -> String {
    name.split('.').map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(".")
}

/// A SQLite database with its history table.
pub struct SqliteBackend {
    conn: super::sqlite_conn::Conn,
    /// The database file (none in memory), for the run-wide lock beside it.
    file: Option<std::path::PathBuf>,
    /// The run-wide migration lock, while held.
    run_lock: Option<super::sqlite_lock::FileLock>,
    sql: HistorySql,
    /// Open guest cursors: id → (temp table, last rowid read).
    cursors: HashMap<u64, (String, i64)>,
    next_cursor: u64,
    /// The authorizer and progress handler, installed at the first guest session and kept
    /// (idle outside sessions). Declared after `conn`, so it outlives the connection.
    guard: Option<super::sqlite_guard::Installed>,
    /// Guest sessions entered and not yet left (seeds enter around their transaction, and the
    /// sandbox again around the guest).
    guest_depth: u32,
    /// The last guest session was a knex migration's: its rebuilds' scratch tables
    /// (`_knex_temp_alterNNN`, granted to knex migrations) must be gone before it is recorded.
    knex_session: bool,
    /// The same for an Alembic revision's batch-mode scratch copies (`_alembic_tmp_<table>`).
    alembic_session: bool,
}

impl SqliteBackend {
    /// A knex rebuild's scratch table (`_knex_temp_alterNNN`) that exists now, if any. Knex
    /// creates one and renames it onto the rebuilt table within one migration; one that outlives
    /// its migration would be a table every later knex migration may use whatever its grant.
    async fn knex_scratch_left(&mut self) -> std::result::Result<Option<String>, sqlx::Error> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE name LIKE '\\_knex\\_temp\\_alter%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(self.conn.sqlx())
        .await?;
        Ok(names.into_iter().find(|n| super::guest::is_knex_temp_table(&n.to_ascii_lowercase())))
    }

    /// An Alembic batch-mode scratch copy (`_alembic_tmp_<table>`) that exists now, if any.
    /// Alembic renames it onto the rebuilt table within one revision; one that stayed would be
    /// a table every later revision granted `<table>` may use, and the next rebuild of
    /// `<table>` would fail on it.
    async fn alembic_scratch_left(&mut self) -> std::result::Result<Option<String>, sqlx::Error> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE name LIKE '\\_alembic\\_tmp\\_%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(self.conn.sqlx())
        .await?;
        Ok(names.into_iter().find(|n| super::guest::alembic_scratch_of(&n.to_ascii_lowercase()).is_some()))
    }

    /// Opens the database. See [`super::connect`] for what `mode` changes.
    pub async fn connect(target: &SqliteTarget, table: &str, mode: OpenMode) -> Result<Option<Self>> {
        let mut opts = SqliteConnectOptions::new().busy_timeout(Duration::from_secs(60));
        match target {
            SqliteTarget::Memory => opts = opts.in_memory(true),
            SqliteTarget::File(path) => {
                if mode == OpenMode::ReadOnly && !path.exists() {
                    return Ok(None);
                }
                if mode == OpenMode::ReadWrite {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| {
                            Error::Connect(format!("cannot create the folder {} for the SQLite database: {e}", parent.display()))
                        })?;
                    }
                }
                opts = opts.filename(path).create_if_missing(mode == OpenMode::ReadWrite).read_only(mode == OpenMode::ReadOnly);
            }
        }
        let conn = opts.connect().await.map_err(|e| {
            let shown = match target {
                SqliteTarget::File(p) => p.display().to_string(),
                SqliteTarget::Memory => ":memory:".into(),
            };
            Error::Connect(format!("cannot open the SQLite database {shown}: {}", DbError::from(e)))
        })?;
        let file = match target {
            SqliteTarget::File(p) => Some(p.clone()),
            SqliteTarget::Memory => None,
        };
        Ok(Some(SqliteBackend { conn: super::sqlite_conn::Conn::new(conn), file, run_lock: None, sql: HistorySql::new(table), cursors: HashMap::new(), next_cursor: 0, guard: None, guest_depth: 0, knex_session: false, alembic_session: false }))
    }

    fn db_err(&self, context: &str, e: sqlx::Error) -> Error {
        Error::Database { context: format!("{context} ({})", self.sql.table), source: e.into() }
    }

    async fn history_exists(&mut self) -> Result<bool> {
        let (schema, name) = match self.sql.table.split_once('.') {
            Some((s, n)) => (s.to_string(), n.to_string()),
            None => ("main".to_string(), self.sql.table.clone()),
        };
        let q = format!("SELECT 1 FROM \"{schema}\".sqlite_master WHERE type = 'table' AND name = ?");
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(name)
            .fetch_optional(self.conn.sqlx())
            .await
            .map_err(|e| self.db_err("cannot read the history table", e))?;
        Ok(row.is_some())
    }

    async fn rollback(&mut self) {
        let _ = self.conn.exec(&[("ROLLBACK", &[])]).await;
    }

    fn conflict(migration: &Migration) -> Error {
        Error::Conflict(MigrationRef { version: migration.version, name: migration.name.clone() })
    }

    /// Inserts the history row; with `begin`, first opens the write transaction.
    async fn insert_row(&mut self, m: &Migration, status: RowStatus, begin: bool) -> Result<()> {
        let now = now_utc();
        let row = [Bind::Int(m.version), Bind::Text(&m.name), Bind::Text(m.kind().as_str()), Bind::Text(&m.checksum), Bind::Text(status.as_str()), Bind::Text(&now)];
        let insert: &str = &self.sql.insert;
        let r = if begin {
            self.conn.exec(&[("BEGIN IMMEDIATE", &[]), (insert, &row)]).await
        } else {
            self.conn.exec(&[(insert, &row)]).await
        };
        match r {
            Ok(_) => Ok(()),
            Err(db) => {
                if begin {
                    self.rollback().await;
                }
                if db.code.as_deref().is_some_and(|c| SQLITE_CONSTRAINT_CODES.contains(&c)) {
                    Err(Self::conflict(m))
                } else {
                    Err(Error::Database { context: "cannot record the migration in the history".into(), source: db })
                }
            }
        }
    }

    /// A history statement's failure, naming the table.
    fn history_err(&self, context: &str, source: DbError) -> Error {
        Error::Database { context: format!("{context} ({})", self.sql.table), source }
    }

    /// Runs one history statement binding `version` and returns the rows it changed.
    async fn on_version(&mut self, statement: &str, version: i64) -> std::result::Result<u64, DbError> {
        self.conn.exec(&[(statement, &[Bind::Int(version)])]).await
    }

    async fn drop_cursors(&mut self) {
        let ids: Vec<u64> = self.cursors.keys().copied().collect();
        for id in ids {
            self.close_cursor(id).await;
        }
    }
}

// Running on a connection the application lends (the library embedded in an application).
impl SqliteBackend {
    /// A backend over a connection the application already holds: nothing is opened, and
    /// [`SqliteBackend::into_connection`] gives the connection back.
    pub fn from_connection(conn: SqliteConnection, table: &str) -> Self {
        // No run-wide file lock: the application owns the connection and its file; each
        // migration still runs under `BEGIN IMMEDIATE` with its history row written first.
        SqliteBackend { conn: super::sqlite_conn::Conn::new(conn), file: None, run_lock: None, sql: HistorySql::new(table), cursors: HashMap::new(), next_cursor: 0, guard: None, guest_depth: 0, knex_session: false, alembic_session: false }
    }

    /// Ends the run and returns the connection as it was lent: guest cursors are dropped and the
    /// guest guard (authorizer, progress handler, temporary-database cap) is taken off it.
    pub async fn into_connection(mut self) -> SqliteConnection {
        self.drop_cursors().await;
        if let Some(installed) = self.guard.take() {
            // If the handle cannot be locked the connection is unusable anyway; the guard is then
            // kept alive for the connection's life rather than left dangling under SQLite.
            match self.conn.locked().await {
                Ok(h) => {
                    super::sqlite_guard::uninstall(h);
                    drop(installed);
                }
                Err(_) => std::mem::forget(installed),
            }
            // SQLite clamps this to its own maximum: the default cap again.
            let _ = self.conn.sqlx().execute("PRAGMA temp.max_page_count = 4294967294").await;
        }
        self.conn.into_inner()
    }
}

impl super::Backend for SqliteBackend {
    async fn user_tables(&mut self) -> Result<usize> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(self.conn.sqlx())
            .await
            .map_err(|e| self.db_err("cannot list the tables", e))?;
        Ok(names.iter().filter(|n| !super::is_own_table(n, &self.sql.table)).count())
    }

    async fn begin_plain(&mut self) -> Result<()> {
        self.conn.exec(&[("BEGIN IMMEDIATE", &[])]).await.map(drop).map_err(|e| self.history_err("cannot start a transaction", e))
    }

    async fn commit_plain(&mut self) -> Result<()> {
        self.drop_cursors().await;
        self.conn.exec(&[("COMMIT", &[])]).await.map(drop).map_err(|e| self.history_err("cannot commit", e))
    }

    async fn rollback_plain(&mut self) {
        self.drop_cursors().await;
        self.rollback().await;
    }

    async fn begin(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        match (direction, transactional) {
            (Direction::Up, true) => self.insert_row(m, RowStatus::Applied, true).await,
            (Direction::Up, false) => self.insert_row(m, RowStatus::Dirty, false).await,
            (Direction::Down, true) => {
                let delete: &str = &self.sql.delete;
                match self.conn.exec(&[("BEGIN IMMEDIATE", &[]), (delete, &[Bind::Int(m.version)])]).await {
                    Ok(1) => Ok(()),
                    Ok(_) => {
                        self.rollback().await;
                        Err(Self::conflict(m))
                    }
                    Err(e) => {
                        self.rollback().await;
                        Err(self.history_err("cannot update the history", e))
                    }
                }
            }
            (Direction::Down, false) => {
                let mark_dirty = Arc::clone(&self.sql.mark_dirty);
                let n = self.on_version(&mark_dirty, m.version).await.map_err(|e| self.history_err("cannot update the history", e))?;
                if n == 1 { Ok(()) } else { Err(Self::conflict(m)) }
            }
        }
    }

    async fn exec_script(&mut self, script: &str, _transactional: bool) -> std::result::Result<(), (usize, DbError)> {
        let handle = self.conn.handle().await.map_err(|e| (0, e))?;
        super::sqlite_script::exec_script(handle, script)
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        if std::mem::take(&mut self.knex_session) {
            let left = self.knex_scratch_left().await.map_err(|e| self.history_err("cannot record the migration in the history", e.into()))?;
            if let Some(table) = left {
                let kept = if transactional {
                    self.rollback().await;
                    "it was rolled back: nothing of it was kept"
                } else {
                    "what it did stays, and its history row stays dirty: drop that table, check the schema, then `db-migrate repair`"
                };
                return Err(self.history_err(
                    "cannot record the migration in the history",
                    DbError {
                        message: format!(
                            "knex migration {} left knex's scratch table `{table}` behind (a table rebuild's copy that knex renames back within the migration; one that stays would be shared by every later knex migration whatever its grant); {kept}",
                            m.label()
                        ),
                        code: None,
                    },
                ));
            }
        }
        if std::mem::take(&mut self.alembic_session) {
            let left = self.alembic_scratch_left().await.map_err(|e| self.history_err("cannot record the migration in the history", e.into()))?;
            if let Some(table) = left {
                let kept = if transactional {
                    self.rollback().await;
                    "it was rolled back: nothing of it was kept"
                } else {
                    "what it did stays, and its history row stays dirty: drop that table, check the schema, then `db-migrate repair`"
                };
                return Err(self.history_err(
                    "cannot record the migration in the history",
                    DbError {
                        message: format!(
                            "Alembic revision {} left batch mode's scratch table `{table}` behind (the copy Alembic renames back within the revision; one that stays counts as its table for every later revision); {kept}",
                            m.label()
                        ),
                        code: None,
                    },
                ));
            }
        }
        let ms = took.as_millis() as i64;
        let (finish, delete): (&str, &str) = (&self.sql.finish, &self.sql.delete);
        let finished = [Bind::Int(ms), Bind::Int(m.version)];
        // Without the host's transaction, a guest may have opened one (a knex transaction is a
        // SAVEPOINT, which outside a transaction starts one) and never closed it: recording now
        // would write the history inside it, to be rolled back with it when the connection
        // closes, after "applied" was reported. What it did in there is undone now instead, and
        // the row stays as the guest left it (dirty).
        if !transactional && self.conn.in_transaction().await {
            self.rollback().await;
            return Err(self.history_err(
                "cannot record the migration in the history",
                DbError {
                    message: format!(
                        "migration {} left a transaction open (a SAVEPOINT it never released); what it did inside that transaction was rolled back, and its history row stays dirty: check the schema, then `db-migrate repair`",
                        m.label()
                    ),
                    code: None,
                },
            ));
        }
        let r = match (direction, transactional) {
            (Direction::Up, true) => self.conn.exec(&[(finish, &finished), ("COMMIT", &[])]).await,
            (Direction::Up, false) => self.conn.exec(&[(finish, &finished)]).await,
            (Direction::Down, true) => self.conn.exec(&[("COMMIT", &[])]).await,
            (Direction::Down, false) => self.conn.exec(&[(delete, &[Bind::Int(m.version)])]).await,
        };
        if let Err(e) = r {
            if transactional {
                self.rollback().await;
            }
            return Err(self.history_err("cannot record the migration in the history", e));
        }
        Ok(())
    }

    async fn abort(&mut self, m: &Migration, direction: Direction, transactional: bool, changed: bool) -> Kept {
        self.knex_session = false;
        self.alembic_session = false;
        self.drop_cursors().await;
        if transactional {
            // SQLite rolls back an open transaction itself if this fails (the journal).
            self.rollback().await;
            return Kept::Nothing;
        }
        if changed {
            return Kept::Dirty;
        }
        let undo = match direction {
            Direction::Up => Arc::clone(&self.sql.delete),
            Direction::Down => Arc::clone(&self.sql.mark_applied),
        };
        match self.on_version(&undo, m.version).await {
            Ok(_) => Kept::Nothing,
            Err(_) => Kept::Dirty,
        }
    }

    async fn close(self) -> Result<()> {
        self.conn.into_inner().close().await.map_err(|e| Error::Close(DbError::from(e)))
    }
}

impl super::History for SqliteBackend {
    fn read_history(&mut self) -> super::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            // Reading straight away saves a round trip on every command; an absent table is the
            // rare case and is told apart by asking only then.
            let read = async |b: &mut Self| {
                let handle = b.conn.handle().await?;
                super::sqlite_script::query_text(handle, &b.sql.select)
            };
            let json = match read(self).await {
                Ok(json) => json,
                Err(e) => {
                    if !self.history_exists().await? {
                        return Ok(Vec::new());
                    }
                    // Another runner may have created the table between the two queries: read again.
                    match read(self).await {
                        Ok(json) => json,
                        Err(_) => return Err(self.history_err("cannot read the history table", e)),
                    }
                }
            };
            let json = json.unwrap_or_else(|| "[]".into());
            type Raw = (i64, String, String, String, String, String, i64);
            let rows: Vec<Raw> = serde_json::from_str(&json).map_err(|e| Error::Database {
                context: format!("the history table ({}) has an unexpected shape", self.sql.table),
                source: DbError { message: e.to_string(), code: None },
            })?;
            Ok(rows
                .into_iter()
                .map(|(version, name, kind, checksum, status, applied_at, execution_ms)| AppliedMigration {
                    version,
                    name,
                    kind,
                    checksum,
                    status: RowStatus::parse(&status),
                    applied_at,
                    execution_ms,
                })
                .collect())
        })
    }

    fn ensure_history(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let create: &str = &self.sql.create;
            self.conn.exec(&[(create, &[])]).await.map_err(|e| self.history_err("cannot create the history table", e))?;
            Ok(())
        })
    }

    fn mark_applied(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = Arc::clone(&self.sql.mark_applied);
            let n = self.on_version(&q, version).await.map_err(|e| self.history_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn remove(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = Arc::clone(&self.sql.delete);
            let n = self.on_version(&q, version).await.map_err(|e| self.history_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> super::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET checksum = ?, name = ? WHERE version = ?", quote_ident(&self.sql.table));
            let n = self
                .conn
                .exec(&[(&q, &[Bind::Text(checksum), Bind::Text(name), Bind::Int(version)])])
                .await
                .map_err(|e| self.history_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }
}

impl super::Lock for SqliteBackend {
    fn lock(&mut self, timeout: Duration, _mode: super::LockMode) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Each migration also runs under `BEGIN IMMEDIATE` and writes its history row first; the
            // run-wide lock adds `--lock-timeout` and the holder's name. Both lock modes take the
            // same file lock: the kernel frees it with the process, and no pooler stands between
            // db-migrate and a SQLite file. An in-memory database is this connection's alone.
            if let Some(file) = &self.file {
                self.run_lock = Some(super::sqlite_lock::acquire(file, timeout, &super::lock_owner()).await?);
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Closing the lock file releases the kernel's lock: nothing can fail.
            self.run_lock = None;
            Ok(())
        })
    }
}

impl SqliteBackend {
    /// Drops every table, view and trigger (indexes go with their tables), the history
    /// included, in one transaction: what `reset` starts from. Returns `kind name` of each.
    pub async fn drop_objects(&mut self) -> Result<Vec<String>> {
        let objects: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%' \
             ORDER BY CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 ELSE 2 END, \
             CASE WHEN sql LIKE 'CREATE VIRTUAL%' THEN 0 ELSE 1 END, name",
        )
        .fetch_all(self.conn.sqlx())
        .await
        .map_err(|e| self.db_err("cannot list the schema", e))?;
        // Foreign keys would make the order of drops matter; the pragma is a no-op inside a transaction.
        let _ = self.conn.sqlx().execute("PRAGMA foreign_keys = OFF").await;
        let result = async {
            self.conn.sqlx().execute("BEGIN IMMEDIATE").await?;
            let mut dropped = Vec::new();
            for (kind, name, _) in &objects {
                let q = format!("DROP {} IF EXISTS {}", kind.to_ascii_uppercase(), quote_ident_one(name));
                self.conn.sqlx().execute(AssertSqlSafe(q)).await?;
                dropped.push(format!("{kind} {name}"));
            }
            self.conn.sqlx().execute("COMMIT").await?;
            Ok::<_, sqlx::Error>(dropped)
        }
        .await;
        if result.is_err() {
            let _ = self.conn.sqlx().execute("ROLLBACK").await;
        }
        let _ = self.conn.sqlx().execute("PRAGMA foreign_keys = ON").await;
        result.map_err(|e| self.db_err("cannot drop the schema", e))
    }
}

/// Deletes a SQLite database file with its `-wal`, `-shm` and `-journal` companions. Returns
/// whether the database existed.
pub fn drop_database(target: &SqliteTarget) -> Result<bool> {
    let SqliteTarget::File(path) = target else {
        return Err(Error::Config("an in-memory SQLite database has nothing to drop".into()));
    };
    let existed = path.exists();
    for suffix in ["", "-wal", "-shm", "-journal", ".db-migrate.lock"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Config(format!("cannot delete {}: {e}", std::path::Path::new(&p).display()))),
        }
    }
    Ok(existed)
}

/// One identifier in double quotes, embedded quotes doubled (catalog names may hold anything).
fn quote_ident_one(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn bind_all<'q>(q: sqlx::query::Query<'q, Sqlite, SqliteArguments>, params: impl IntoIterator<Item = SqlValue>) -> sqlx::query::Query<'q, Sqlite, SqliteArguments> {
    super::sqlx_shared::bind_values(q, params, super::sqlx_shared::timestamp_as_text)
}

fn guest_error(e: sqlx::Error) -> GuestSqlError {
    match &e {
        sqlx::Error::Database(_) => guest_db_error(DbError::from(e)),
        other => GuestSqlError::Database { kind: DbErrorKind::Other, message: other.to_string(), code: None },
    }
}

/// A guest statement's failure as SQLite reported it (extended result code).
fn guest_db_error(e: DbError) -> GuestSqlError {
    let kind = match e.code.as_deref() {
        Some("1555" | "2067") => DbErrorKind::UniqueViolation,
        Some("787") => DbErrorKind::ForeignKeyViolation,
        Some("1299") => DbErrorKind::NotNullViolation,
        Some("275") => DbErrorKind::CheckViolation,
        _ if e.message.contains("syntax error") => DbErrorKind::Syntax,
        _ => DbErrorKind::Other,
    };
    GuestSqlError::Database { kind, message: e.message, code: e.code }
}

/// Reads one row's values by their stored type (SQLite types values, not columns).
fn row_values(row: &SqliteRow, skip: usize) -> std::result::Result<Vec<SqlValue>, GuestSqlError> {
    let decode = |e: sqlx::Error| GuestSqlError::Database { kind: DbErrorKind::Other, message: e.to_string(), code: None };
    (skip..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let ty = raw.type_info().name().to_string();
            Ok(match ty.as_str() {
                "INTEGER" => SqlValue::Int(row.try_get(i).map_err(decode)?),
                "REAL" => SqlValue::Float(row.try_get(i).map_err(decode)?),
                "BLOB" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                _ => SqlValue::Text(row.try_get(i).map_err(decode)?),
            })
        })
        .collect()
}

/// Pages of the temporary database a guest session may fill with cursor results (×4 KiB).
const TEMP_PAGES: i64 = 262_144;

impl SqliteBackend {
    /// Marks whose statement runs next (see [`super::sqlite_guard`]).
    fn mode(&self, mode: super::sqlite_guard::Mode) {
        // Outside a guest session these methods serve the host (reading another tool's history).
        if let Some(g) = self.guard.as_ref().filter(|_| self.guest_depth > 0) {
            g.guard().set(mode);
        }
    }

    /// A guest statement's failure: the authorizer's reason when it refused, a deadline when
    /// the progress handler stopped it.
    fn guest_failure(&self, e: sqlx::Error) -> GuestSqlError {
        self.mode(super::sqlite_guard::Mode::Off);
        self.guest_refusal().unwrap_or_else(|| guest_error(e))
    }

    /// The authorizer's reason, when it refused the guest's last statement.
    fn guest_refusal(&self) -> Option<GuestSqlError> {
        self.guard.as_ref().and_then(|g| g.guard().take_denied()).map(GuestSqlError::Denied)
    }
}

impl SqliteBackend {
    /// `PRAGMA foreign_keys = OFF`, admitted for knex's table rebuilds, is a no-op inside a
    /// transaction; outside one (a `transaction: false` migration) it would switch foreign keys
    /// off for real, for the rest of the run, letting a migration break references from tables
    /// its grant does not name. It is refused there.
    async fn refuse_foreign_keys_off(&mut self, statement: &str) -> std::result::Result<(), GuestSqlError> {
        let lower = statement.trim().trim_end_matches(';').to_ascii_lowercase();
        let words: Vec<&str> = lower.split_ascii_whitespace().collect();
        if words.as_slice() == ["pragma", "foreign_keys", "=", "off"] && !self.conn.in_transaction().await {
            return Err(GuestSqlError::Denied(
                "PRAGMA foreign_keys = OFF outside the migration's transaction would switch foreign keys off for the rest of the run; \
                 it is admitted only inside one (where SQLite ignores it): give the migration its transaction"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl GuestSql for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        self.refuse_foreign_keys_off(statement).await?;
        // Not kept in sqlx's statement cache: each guest statement is compiled (and so
        // authorized) anew, never served from a statement the host prepared.
        let q = bind_all(sqlx::query(AssertSqlSafe(statement.to_string())).persistent(false), params);
        self.mode(super::sqlite_guard::Mode::Guest);
        let r = q.execute(self.conn.sqlx()).await;
        match r {
            Ok(r) => {
                self.mode(super::sqlite_guard::Mode::Off);
                Ok(r.rows_affected())
            }
            Err(e) => Err(self.guest_failure(e)),
        }
    }

    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        self.refuse_foreign_keys_off(statement).await?;
        let q = bind_all(sqlx::query(AssertSqlSafe(statement.to_string())).persistent(false), params);
        self.mode(super::sqlite_guard::Mode::Guest);
        let mut out = Rows::default();
        let mut bytes = 0;
        let mut failure = None;
        {
            let mut stream = q.fetch(self.conn.sqlx());
            while let Some(row) = stream.next().await {
                let row = match row {
                    Ok(r) => r,
                    Err(e) => {
                        failure = Some(Err(e));
                        break;
                    }
                };
                if out.columns.is_empty() {
                    out.columns = row.columns().iter().map(|c| sqlx::Column::name(c).to_string()).collect();
                }
                if out.rows.len() == max_rows {
                    failure = Some(Ok(GuestSqlError::Denied(format!(
                        "the query returns more than {max_rows} rows; read large results with a cursor"
                    ))));
                    break;
                }
                match row_values(&row, 0) {
                    Ok(v) => {
                        bytes += v.iter().map(super::guest::value_bytes).sum::<usize>();
                        if bytes > max_bytes {
                            failure = Some(Ok(super::guest::too_many_bytes(max_bytes)));
                            break;
                        }
                        out.rows.push(v);
                    }
                    Err(e) => {
                        failure = Some(Ok(e));
                        break;
                    }
                }
            }
        }
        match failure {
            None => {
                self.mode(super::sqlite_guard::Mode::Off);
                Ok(out)
            }
            Some(Ok(e)) => {
                self.mode(super::sqlite_guard::Mode::Off);
                Err(e)
            }
            Some(Err(e)) => Err(self.guest_failure(e)),
        }
    }

    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&super::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        let Some(first) = rows.first() else { return Ok(0) };
        let width = first.len();
        if rows.iter().any(|r| r.len() != width) {
            return Err(GuestSqlError::InvalidInput("every row of a batch needs the same number of values".into()));
        }
        // `INSERT … VALUES (?, ?)`, rebuilt from the parsed statement (the plan), is prepared
        // once — and so authorized once — and stepped per row on SQLite's C API.
        if let Some(plan) = plan.filter(|p| width > 0 && p.width == width) {
            let text = plan.multi_row(1);
            let guard = self.guard.as_ref().filter(|_| self.guest_depth > 0).map(|g| Arc::clone(g.guard()));
            let mode = |guest: bool| {
                if let Some(g) = &guard {
                    g.set(if guest { super::sqlite_guard::Mode::Guest } else { super::sqlite_guard::Mode::Off });
                }
            };
            let handle = self.conn.handle().await.map_err(guest_db_error)?;
            return match super::sqlite_script::insert_rows(handle, &text, &rows, mode) {
                Ok(n) => Ok(n),
                Err(e) => Err(self.guest_refusal().unwrap_or_else(|| guest_db_error(e))),
            };
        }
        let mut total = 0;
        for row in rows {
            total += self.execute(statement, row).await?;
        }
        Ok(total)
    }

    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        // The result is materialised into a temporary table (on disk, not in memory, within
        // the session's page cap) and read back by rowid: pages stay small, the guest may
        // change the source table between pages, and the rows are those of the moment the
        // cursor opened. The authorizer checks the guest's query inside the wrapper.
        let id = self.next_cursor;
        self.next_cursor += 1;
        let table = format!("_dbm_cursor_{id}");
        let create = format!("CREATE TEMP TABLE \"{table}\" AS {statement}");
        self.mode(super::sqlite_guard::Mode::Cursor);
        let r = bind_all(sqlx::query(AssertSqlSafe(create)).persistent(false), params).execute(self.conn.sqlx()).await;
        if let Err(e) = r {
            return Err(self.guest_failure(e));
        }
        self.mode(super::sqlite_guard::Mode::Off);
        let info = format!("SELECT name FROM pragma_table_info('{table}', 'temp') ORDER BY cid");
        let columns: Vec<String> = sqlx::query_scalar(AssertSqlSafe(info)).fetch_all(self.conn.sqlx()).await.map_err(guest_error)?;
        self.cursors.insert(id, (table, 0));
        Ok((id, columns))
    }

    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        let Some((table, last)) = self.cursors.get(&id).cloned() else {
            return Err(GuestSqlError::InvalidInput("the cursor is closed".into()));
        };
        let q = format!("SELECT rowid, * FROM temp.\"{table}\" WHERE rowid > ? ORDER BY rowid LIMIT ?");
        let rows = sqlx::query(AssertSqlSafe(q)).bind(last).bind(max_rows as i64).fetch_all(self.conn.sqlx()).await.map_err(guest_error)?;
        if rows.is_empty() {
            return Ok(None);
        }
        // A page stops early at the byte budget; the rest comes with the next page.
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut new_last = last;
        for r in &rows {
            let v = row_values(r, 1)?;
            bytes += v.iter().map(super::guest::value_bytes).sum::<usize>();
            if bytes > max_bytes {
                if page.is_empty() {
                    return Err(super::guest::too_many_bytes(max_bytes));
                }
                break;
            }
            new_last = r.try_get(0).map_err(guest_error)?;
            page.push(v);
        }
        self.cursors.insert(id, (table, new_last));
        Ok(Some(page))
    }

    async fn host_query(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<Rows, GuestSqlError> {
        // With the guard set aside, the mode stays `Off`: the authorizer lets it through.
        let guard = self.guard.take();
        let r = self.query(statement, params, usize::MAX, usize::MAX).await;
        self.guard = guard;
        r
    }

    async fn host_execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        let guard = self.guard.take();
        let r = self.execute(statement, params).await;
        self.guard = guard;
        r
    }

    async fn enter_guest(&mut self, scope: &super::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        self.guest_depth += 1;
        if self.guest_depth > 1 {
            if let Some(g) = &self.guard {
                g.guard().set_deadline(scope.deadline);
            }
            return Ok(());
        }
        self.knex_session = scope.knex;
        self.alembic_session = scope.alembic;
        if scope.alembic {
            // A table under the scratch name, left by anyone, would count as its table's.
            let refusal = match self.alembic_scratch_left().await {
                Ok(None) => None,
                Ok(Some(t)) => Some(GuestSqlError::Denied(format!(
                    "a table named `{t}` exists: that is Alembic batch mode's scratch name, which an Alembic revision may use wherever it may use the table, so no Alembic revision runs while it exists; drop or rename it"
                ))),
                Err(e) => Some(guest_error(e)),
            };
            if let Some(e) = refusal {
                self.guest_depth -= 1;
                return Err(e);
            }
        }
        if scope.knex {
            // A scratch table left by anyone (plain SQL, an older run) would be granted to this
            // migration by its name alone.
            let refusal = match self.knex_scratch_left().await {
                Ok(None) => None,
                Ok(Some(t)) => Some(GuestSqlError::Denied(format!(
                    "a table named `{t}` exists: that is knex's scratch name for a table rebuild, which a knex migration may use whatever its grant, so no knex migration runs while it exists; drop or rename it"
                ))),
                Err(e) => Some(guest_error(e)),
            };
            if let Some(e) = refusal {
                self.guest_depth -= 1;
                return Err(e);
            }
        }
        let r = async {
            if self.guard.is_none() {
                // Once per connection: the temporary database's cap, and the guard itself.
                let pages = format!("PRAGMA temp.max_page_count = {TEMP_PAGES}");
                self.conn.sqlx().execute(AssertSqlSafe(pages)).await?;
                self.guard = Some(super::sqlite_guard::install(self.conn.locked().await?));
            }
            // Foreign keys between granted tables and others: SQLite reads their columns to
            // check the guest's writes. (Unrestricted guests may read every table but
            // db-migrate's, which have none.)
            let fks: Vec<(String, String, String, Option<String>)> = if scope.restricted() {
                sqlx::query_as(
                    "SELECT m.name, f.\"from\", f.\"table\", f.\"to\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
                )
                .fetch_all(self.conn.sqlx())
                .await?
            } else {
                Vec::new()
            };
            super::sqlite_guard::limit_length(self.conn.locked().await?, Some(scope.max_bytes));
            self.guard.as_ref().expect("installed above").guard().start(scope.clone(), &fks);
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(e) = r {
            self.guest_depth -= 1;
            return Err(guest_error(e));
        }
        Ok(())
    }

    async fn leave_guest(&mut self) {
        self.guest_depth = self.guest_depth.saturating_sub(1);
        if let Some(g) = &self.guard {
            if self.guest_depth > 0 {
                g.guard().set_deadline(None);
                return;
            }
            g.guard().stop();
            if let Ok(h) = self.conn.locked().await {
                super::sqlite_guard::limit_length(h, None);
            }
            // The guest's scratch tables go with its session: they shadow nothing afterwards.
            let scratch: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_temp_master WHERE type = 'table' AND name NOT LIKE '\\_dbm\\_cursor\\_%' ESCAPE '\\'",
            )
            .fetch_all(self.conn.sqlx())
            .await
            .unwrap_or_default();
            for t in scratch {
                let _ = self.conn.sqlx().execute(AssertSqlSafe(format!("DROP TABLE IF EXISTS temp.\"{}\"", t.replace('"', "\"\"")))).await;
            }
        }
    }

    async fn close_cursor(&mut self, id: u64) {
        if let Some((table, _)) = self.cursors.remove(&id) {
            let _ = self.conn.sqlx().execute(AssertSqlSafe(format!("DROP TABLE IF EXISTS temp.\"{table}\""))).await;
        }
    }
}
