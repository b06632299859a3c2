//! SQLite: sqlx's connection, with the host's own statements on SQLite's C API.
//!
//! sqlx runs SQLite on a worker thread and every call is a hand-off to it (tens of µs). The
//! history protocol, whole scripts (statements counted as they complete, which is how a failure
//! is mapped back to its line), reading the history and bulk inserts run on SQLite's C API with
//! the handle locked out from the worker once for many statements (`sqlite_conn`); guest
//! queries, cursors and the rare catalog reads still go through sqlx. `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two runners cannot interleave, and the
//! history row is written first: a second runner that planned the same migration fails on the
//! row's primary key before running any of its SQL.

use std::collections::{BTreeMap, HashMap};

/// Foreign-key violations: `(table, key number, row)` → the parent table (see
/// `SqliteBackend::foreign_key_state`).
type ForeignKeyState = BTreeMap<(String, i64, String), String>;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::OpenMode;
use super::url::SqliteTarget;
use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus, now_utc};
use super::guest::{DbErrorKind, Dialect, GuestSql, GuestSqlError, Rows, SqlValue};
use crate::migrate::source::Migration;
use super::sqlite_script::Bind;

mod guest;
mod history;
mod lock;
use history::HistorySql;

/// What happened when a guest statement ended the host's transaction (see `guest::transaction_kept`).
const LOST_TRANSACTION_HOST: &str = "one of its statements ended its transaction (a conflict resolved by ROLLBACK, or a full disk or temporary database), and SQLite rolled back everything it had done, its history row too; the statements after it were refused";

/// SQLite's result code for a constraint violation (primary key, unique).
const SQLITE_CONSTRAINT_CODES: [&str; 3] = ["19", "1555", "2067"];

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
    /// Deferred foreign-key violations when the guest's session began (see `leave_guest`).
    deferred_at_entry: i64,
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
    /// An Alembic revision runs with foreign keys off, as Alembic does on SQLite: `Some(was)`
    /// while it does, `was` the connection's setting before (see `foreign_keys_off`).
    foreign_keys_were: Option<bool>,
    /// The foreign-key violations that stood when that revision began: only new ones fail it.
    violations_before: ForeignKeyState,
    /// Outside the host's transaction (a `transaction: false` knex migration): the knex
    /// savepoint whose `SAVEPOINT` started SQLite's transaction (see `guest::knex_savepoint`).
    knex_outer: Option<String>,
    /// The host opened the transaction the current migration or seed runs in (`BEGIN
    /// IMMEDIATE`) and has not ended it: a guest statement must never end it.
    host_tx: bool,
    /// A guest statement ended the host's transaction (see `guest::transaction_kept`).
    tx_lost: bool,
    /// Opened read-only (see `close`).
    read_only: bool,
}

/// For a program that owns its process, before it opens any database (the CLI, first thing):
/// SQLite's allocator without its usage statistics. SQLite keeps them by default, taking a
/// global mutex around every allocation; nothing here reads them (no soft or hard heap limit is
/// set), and parsing the schema of a database with a thousand tables, which every connection's
/// first statement does, allocates tens of thousands of times. Does nothing once SQLite is
/// initialized; not for a library, where another thread may be using SQLite meanwhile.
pub fn tune_process_allocator() {
    // SAFETY: called before any other SQLite call of the process (see above), as
    // `sqlite3_config` requires; the option takes one int.
    unsafe {
        libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
    }
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
        Ok(Some(SqliteBackend { conn: super::sqlite_conn::Conn::new(conn), file, run_lock: None, sql: HistorySql::new(table), cursors: HashMap::new(), next_cursor: 0, guard: None, guest_depth: 0, knex_session: false, alembic_session: false, deferred_at_entry: 0, foreign_keys_were: None, violations_before: ForeignKeyState::new(), knex_outer: None, host_tx: false, tx_lost: false, read_only: mode == OpenMode::ReadOnly }))
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
        self.host_tx = false;
        self.tx_lost = false;
        let _ = self.conn.exec(&[("ROLLBACK", &[])]).await;
    }

    /// The host's transaction began (see `host_tx`).
    fn began(&mut self) {
        self.host_tx = true;
        self.tx_lost = false;
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
            Ok(_) => {
                if begin {
                    self.began();
                }
                Ok(())
            }
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
        SqliteBackend { conn: super::sqlite_conn::Conn::new(conn), file: None, run_lock: None, sql: HistorySql::new(table), cursors: HashMap::new(), next_cursor: 0, guard: None, guest_depth: 0, knex_session: false, alembic_session: false, deferred_at_entry: 0, foreign_keys_were: None, violations_before: ForeignKeyState::new(), knex_outer: None, host_tx: false, tx_lost: false, read_only: false }
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
        self.conn.exec(&[("BEGIN IMMEDIATE", &[])]).await.map_err(|e| self.history_err("cannot start a transaction", e))?;
        self.began();
        Ok(())
    }

    async fn commit_plain(&mut self) -> Result<()> {
        self.drop_cursors().await;
        self.host_tx = false;
        if std::mem::take(&mut self.tx_lost) {
            let _ = self.conn.exec(&[("ROLLBACK", &[])]).await;
            return Err(self.history_err("cannot commit", DbError { message: format!("{}; nothing of it was kept", LOST_TRANSACTION_HOST), code: None }));
        }
        self.conn.exec(&[("COMMIT", &[])]).await.map(drop).map_err(|e| self.history_err("cannot commit", e))
    }

    async fn rollback_plain(&mut self) {
        self.drop_cursors().await;
        self.rollback().await;
    }

    async fn begin(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        if transactional && m.kind() == crate::migrate::source::MigrationKind::Alembic {
            self.foreign_keys_off().await?;
        }
        let r = self.begin_unit(m, direction, transactional).await;
        if r.is_err() {
            self.foreign_keys_back().await;
        }
        r
    }

    async fn exec_script(&mut self, script: &str, _transactional: bool) -> std::result::Result<(), (usize, DbError)> {
        let handle = self.conn.handle().await.map_err(|e| (0, e))?;
        super::sqlite_script::exec_script(handle, script)
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, transactional: bool, took: Duration) -> Result<()> {
        let r = self.finish_unit(m, direction, transactional, took).await;
        self.foreign_keys_back().await;
        r
    }

    async fn abort(&mut self, m: &Migration, direction: Direction, transactional: bool, changed: bool) -> Kept {
        let kept = self.abort_unit(m, direction, transactional, changed).await;
        self.foreign_keys_back().await;
        kept
    }

    async fn close(self) -> Result<()> {
        if self.read_only && self.guard.is_none() {
            // Read-only, between statements, holding no lock, no hook of ours installed: nothing
            // depends on how it ends, and closing frees the parsed schema (for a thousand tables,
            // a good part of a large `status`). It is dropped on a blocking thread: whichever
            // thread drops the connection's last reference runs `sqlite3_close` (sqlx's worker
            // or the dropping one), and on this one it was 1.15 M instructions of `status`'s
            // critical path.
            // (Outside a Tokio runtime — sqlx's SQLite driver needs none — it is dropped here.)
            let conn = self.conn.into_inner();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(move || drop(conn))),
                Err(_) => drop(conn),
            }
            return Ok(());
        }
        self.conn.into_inner().close().await.map_err(|e| Error::Close(DbError::from(e)))
    }
}

// One migration's protocol: the history row with the migration's own transaction.
impl SqliteBackend {
    /// Switches foreign keys off for the migration about to begin (outside a transaction, the
    /// only place SQLite lets them change). Alembic's batch mode rebuilds a table by copying it,
    /// dropping the original and renaming the copy; with foreign keys on, SQLite's `DROP TABLE`
    /// of a table others reference deletes its rows first, which fails the references or
    /// cascades into the tables that hold them. Alembic on SQLite (pysqlite) runs with foreign
    /// keys off, so the revision does here too, and `finish` checks every key before it commits.
    async fn foreign_keys_off(&mut self) -> Result<()> {
        let was = match self.conn.handle().await {
            Ok(h) => super::sqlite_script::run_one(h, "PRAGMA foreign_keys", &[], Some((1, usize::MAX)))
                .map(|ran| ran.rows.rows.first().and_then(|r| r.first()).is_some_and(|v| matches!(v, SqlValue::Int(1)))),
            Err(e) => Err(e),
        };
        let was = was.map_err(|e| self.history_err("cannot read the foreign-key setting", e))?;
        self.violations_before = self.foreign_key_state().await.map_err(|e| self.history_err("cannot check the foreign keys", e))?;
        self.conn.exec(&[("PRAGMA foreign_keys = OFF", &[])]).await.map_err(|e| self.history_err("cannot switch foreign keys off", e))?;
        self.foreign_keys_were = Some(was);
        Ok(())
    }

    /// Restores the foreign-key setting `foreign_keys_off` changed (after the transaction).
    async fn foreign_keys_back(&mut self) {
        if let Some(was) = self.foreign_keys_were.take() {
            let _ = self.conn.exec(&[(if was { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" }, &[])]).await;
        }
    }

    /// Every foreign-key violation in the database, each as `(table, key number, row)` (the
    /// row: its rowid, or its primary key's values in a `WITHOUT ROWID` table), with the parent
    /// table for messages. SQLite's `pragma_foreign_key_check` serves rowid tables; it cannot
    /// name a `WITHOUT ROWID` table's row, and fails for a whole table when any one of its keys
    /// has a parent without a unique index ("foreign key mismatch"): such tables are checked key
    /// by key with a query of their own.
    async fn foreign_key_state(&mut self) -> std::result::Result<ForeignKeyState, DbError> {
        let h = self.conn.handle().await?;
        let all = |sql: &str, params: &[SqlValue]| {
            super::sqlite_script::run_one(h, sql, params, Some((usize::MAX, usize::MAX))).map(|ran| ran.rows.rows)
        };
        let text = |v: Option<&SqlValue>| match v {
            Some(SqlValue::Text(t)) => t.clone(),
            Some(SqlValue::Int(i)) => i.to_string(),
            _ => String::new(),
        };
        let int = |v: Option<&SqlValue>| match v {
            Some(SqlValue::Int(i)) => *i,
            _ => -1,
        };
        let tables = all(
            "SELECT DISTINCT t.name, t.wr FROM pragma_table_list t JOIN pragma_foreign_key_list(t.name) f WHERE t.schema = 'main' AND t.type = 'table' ORDER BY t.name",
            &[],
        )?;
        let mut state = ForeignKeyState::new();
        for row in tables {
            let table = text(row.first());
            let without_rowid = int(row.get(1)) == 1;
            if !without_rowid {
                if let Ok(found) = all("SELECT rowid, parent, fkid FROM pragma_foreign_key_check(?1)", &[SqlValue::Text(table.clone())]) {
                    for r in found {
                        state.insert((table.clone(), int(r.get(2)), text(r.first())), text(r.get(1)));
                    }
                    continue;
                }
            }
            // Key by key. The row: its rowid, or its primary key's values.
            let q = quote_ident_one;
            let identity = if without_rowid {
                let pk = all("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk", &[SqlValue::Text(table.clone())])?;
                format!("json_array({})", pk.iter().map(|r| format!("c.{}", q(&text(r.first())))).collect::<Vec<_>>().join(", "))
            } else {
                "c.rowid".to_string()
            };
            let keys = all("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq", &[SqlValue::Text(table.clone())])?;
            let mut by_key: BTreeMap<i64, (String, Vec<(String, Option<String>)>)> = BTreeMap::new();
            for k in keys {
                let to = match k.get(3) {
                    Some(SqlValue::Text(t)) => Some(t.clone()),
                    _ => None,
                };
                by_key.entry(int(k.first())).or_insert_with(|| (text(k.get(1)), Vec::new())).1.push((text(k.get(2)), to));
            }
            for (fkid, (parent, cols)) in by_key {
                let parent_exists = !all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE", &[SqlValue::Text(parent.clone())])?.is_empty();
                // A key naming no parent column refers to the parent's primary key.
                let mut to: Vec<String> = cols.iter().filter_map(|(_, t)| t.clone()).collect();
                if parent_exists && to.len() != cols.len() {
                    to = all("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk", &[SqlValue::Text(parent.clone())])?.iter().map(|r| text(r.first())).collect();
                }
                let present = cols.iter().map(|(f, _)| format!("c.{} IS NOT NULL", q(f))).collect::<Vec<_>>().join(" AND ");
                // A join, not `NOT EXISTS`: SQLite indexes the parent's columns for a join (an
                // automatic index) but scans it for every row in a correlated subquery. The
                // child's value loses its own affinity (`+c.x`), so the parent column's applies,
                // as in SQLite's own key lookup (`'01'` never equals `1` through a TEXT key),
                // and the lookup can use the parent's index.
                let sql = if parent_exists && to.len() == cols.len() && !to.is_empty() {
                    let on = cols.iter().zip(&to).map(|((f, _), t)| format!("p.{} = +c.{}", q(t), q(f))).collect::<Vec<_>>().join(" AND ");
                    format!("SELECT DISTINCT {identity} FROM {} c LEFT JOIN {} p ON {on} WHERE {present} AND p.{} IS NULL", q(&table), q(&parent), q(&to[0]))
                } else {
                    format!("SELECT {identity} FROM {} c WHERE {present}", q(&table))
                };
                for r in all(&sql, &[])? {
                    state.insert((table.clone(), fkid, text(r.first())), parent.clone());
                }
            }
        }
        Ok(state)
    }

    /// The violations that were not there when the revision began (up to 10, as `table row
    /// N → parent`); `None` when it added none. A failure to check counts as one (it is named).
    async fn foreign_key_violations(&mut self) -> Option<String> {
        let after = match self.foreign_key_state().await {
            Ok(a) => a,
            Err(e) => return Some(format!("the check could not run: {}", e.message)),
        };
        let before = std::mem::take(&mut self.violations_before);
        let mut new: Vec<String> = after
            .iter()
            .filter(|(k, _)| !before.contains_key(*k))
            .map(|((table, _, row), parent)| format!("`{table}` row {row} → `{parent}`"))
            .collect();
        if new.is_empty() {
            return None;
        }
        let more = new.len() > 10;
        new.truncate(10);
        if more {
            new.push("…".into());
        }
        Some(new.join(", "))
    }

    async fn begin_unit(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        match (direction, transactional) {
            (Direction::Up, true) => self.insert_row(m, RowStatus::Applied, true).await,
            (Direction::Up, false) => self.insert_row(m, RowStatus::Dirty, false).await,
            (Direction::Down, true) => {
                let delete: &str = &self.sql.delete;
                match self.conn.exec(&[("BEGIN IMMEDIATE", &[]), (delete, &[Bind::Int(m.version)])]).await {
                    Ok(1) => {
                        self.began();
                        Ok(())
                    }
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

    async fn finish_unit(&mut self, m: &Migration, direction: Direction, transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        if transactional && (std::mem::take(&mut self.tx_lost) || !self.conn.in_transaction().await) {
            // Nothing ran after the transaction ended (the session refused it), and SQLite
            // rolled back all before, the history row with it.
            self.rollback().await;
            return Err(self.history_err(
                "cannot record the migration in the history",
                DbError { message: format!("migration {}: {LOST_TRANSACTION_HOST}; nothing of it was kept", m.label()), code: None },
            ));
        }
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
        if transactional && self.foreign_keys_were.is_some() {
            if let Some(broken) = self.foreign_key_violations().await {
                self.rollback().await;
                return Err(self.history_err(
                    "cannot record the migration in the history",
                    DbError {
                        message: format!(
                            "Alembic revision {} left rows whose foreign keys point nowhere ({broken}); it ran with foreign keys off, as Alembic runs on SQLite, and every key is checked before it commits; it was rolled back: nothing of it was kept",
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
        let r = match (direction, transactional) {
            (Direction::Up, true) => self.conn.exec(&[(finish, &finished), ("COMMIT", &[])]).await,
            (Direction::Up, false) => self.conn.exec(&[(finish, &finished)]).await,
            (Direction::Down, true) => self.conn.exec(&[("COMMIT", &[])]).await,
            (Direction::Down, false) => self.conn.exec(&[(delete, &[Bind::Int(m.version)])]).await,
        };
        self.host_tx = false;
        if let Err(e) = r {
            if transactional {
                self.rollback().await;
            }
            return Err(self.history_err("cannot record the migration in the history", e));
        }
        Ok(())
    }

    async fn abort_unit(&mut self, m: &Migration, direction: Direction, transactional: bool, changed: bool) -> Kept {
        self.knex_session = false;
        self.knex_outer = None;
        self.tx_lost = false;
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
