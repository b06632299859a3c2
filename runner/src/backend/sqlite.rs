//! SQLite through sqlx.
//!
//! sqlx runs SQLite on a worker thread and every call is a hand-off to it (tens of µs), so the
//! protocol here keeps round trips per migration few: a whole script is sent as one call and
//! statements are counted as they complete, which is how a failure is mapped back to its line.
//! `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two runners cannot interleave, and the
//! history row is written first: a second runner that planned the same migration fails on the
//! row's primary key before running any of its SQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row};

use super::OpenMode;
use super::url::SqliteTarget;
use crate::migrate::error::{DbError, Direction, Error, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus, now_utc};
use crate::migrate::source::{Migration, Script};
use crate::migrate::statements;

/// SQLite's result code for a constraint violation (primary key, unique).
const SQLITE_CONSTRAINT_CODES: [&str; 3] = ["19", "1555", "2067"];

/// The history protocol's SQL, built once per connection around the validated table name.
struct HistorySql {
    table: String,
    create: Arc<str>,
    select: Arc<str>,
    insert: Arc<str>,
    begin_insert: Arc<str>,
    finish: Arc<str>,
    finish_commit: Arc<str>,
    delete: Arc<str>,
    begin_delete: Arc<str>,
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
            begin_insert: format!(
                "BEGIN IMMEDIATE; INSERT INTO {t} (version, name, kind, checksum, status, applied_at, execution_ms) VALUES (?, ?, ?, ?, ?, ?, 0)"
            )
            .into(),
            finish: format!("UPDATE {t} SET status = 'applied', execution_ms = ? WHERE version = ?").into(),
            finish_commit: format!("UPDATE {t} SET status = 'applied', execution_ms = ? WHERE version = ?; COMMIT").into(),
            delete: format!("DELETE FROM {t} WHERE version = ?").into(),
            begin_delete: format!("BEGIN IMMEDIATE; DELETE FROM {t} WHERE version = ?").into(),
            mark_dirty: format!("UPDATE {t} SET status = 'dirty' WHERE version = ? AND status = 'applied'").into(),
            mark_applied: format!("UPDATE {t} SET status = 'applied' WHERE version = ?").into(),
        }
    }
}

/// `schema.table` → `"schema"."table"`; names were validated as plain identifiers beforehand.
fn quote_ident(name: &str) -> String {
    name.split('.').map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(".")
}

fn sql(s: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(s))
}

/// A SQLite database with its history table.
pub struct SqliteBackend {
    conn: SqliteConnection,
    sql: HistorySql,
}

impl SqliteBackend {
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
        Ok(Some(SqliteBackend { conn, sql: HistorySql::new(table) }))
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
            .fetch_optional(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot read the history table", e))?;
        Ok(row.is_some())
    }

    /// Runs a script as one call, counting finished statements so that a failure can name the
    /// line of the statement that failed.
    async fn exec_script(&mut self, script: &Script) -> std::result::Result<(), (usize, DbError)> {
        let mut done = 0usize;
        let mut stream = self.conn.execute_many(sqlx::raw_sql(AssertSqlSafe(script.sql.as_str())));
        while let Some(r) = stream.next().await {
            match r {
                Ok(_) => done += 1,
                Err(e) => return Err((done, e.into())),
            }
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        let _ = self.conn.execute("ROLLBACK").await;
    }

    fn failure(migration: &Migration, direction: Direction, script: &Script, done: usize, e: DbError, dirty: bool) -> Error {
        let line = statements::split(&script.sql).get(done).map(|s| script.file_line(s.line));
        Error::MigrationFailed {
            migration: MigrationRef { version: migration.version, name: migration.name.clone() },
            direction,
            path: script.path.clone(),
            line,
            source: e,
            dirty,
        }
    }

    fn conflict(migration: &Migration) -> Error {
        Error::Conflict(MigrationRef { version: migration.version, name: migration.name.clone() })
    }

    /// Inserts the history row; with `begin`, first opens the write transaction in the same call.
    async fn insert_row(&mut self, m: &Migration, status: RowStatus, begin: bool) -> Result<()> {
        let stmt = if begin { &self.sql.begin_insert } else { &self.sql.insert };
        let r = sqlx::query(sql(stmt))
            .bind(m.version)
            .bind(&m.name)
            .bind(m.kind.as_str())
            .bind(&m.checksum)
            .bind(status.as_str())
            .bind(now_utc())
            .execute(&mut self.conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => {
                let db = DbError::from(e);
                if db.code.as_deref().is_some_and(|c| SQLITE_CONSTRAINT_CODES.contains(&c)) {
                    Err(Self::conflict(m))
                } else {
                    Err(Error::Database { context: "cannot record the migration in the history".into(), source: db })
                }
            }
        }
    }

    async fn apply_transactional(&mut self, m: &Migration, script: &Script) -> Result<Duration> {
        if let Err(e) = self.insert_row(m, RowStatus::Applied, true).await {
            self.rollback().await;
            return Err(e);
        }
        let started = Instant::now();
        if let Err((done, e)) = self.exec_script(script).await {
            self.rollback().await;
            return Err(Self::failure(m, Direction::Up, script, done, e, false));
        }
        let took = started.elapsed();
        let r = sqlx::query(sql(&self.sql.finish_commit))
            .bind(took.as_millis() as i64)
            .bind(m.version)
            .execute(&mut self.conn)
            .await;
        if let Err(e) = r {
            self.rollback().await;
            return Err(self.db_err("cannot commit the migration", e));
        }
        Ok(took)
    }

    async fn apply_outside_transaction(&mut self, m: &Migration, script: &Script) -> Result<Duration> {
        self.insert_row(m, RowStatus::Dirty, false).await?;
        let started = Instant::now();
        if let Err((done, e)) = self.exec_script(script).await {
            // Each SQLite statement is atomic: if the first one failed, nothing changed and the
            // dirty mark can go. Otherwise it stays for a human to check.
            let dirty = done > 0;
            if !dirty {
                let _ = sqlx::query(sql(&self.sql.delete)).bind(m.version).execute(&mut self.conn).await;
            }
            return Err(Self::failure(m, Direction::Up, script, done, e, dirty));
        }
        let took = started.elapsed();
        sqlx::query(sql(&self.sql.finish))
            .bind(took.as_millis() as i64)
            .bind(m.version)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot record the migration in the history", e))?;
        Ok(took)
    }

    async fn revert_transactional(&mut self, m: &Migration, script: &Script) -> Result<Duration> {
        // Only the DELETE's own count matters: SQLite reports the previous statement's count for `BEGIN`.
        let deleted = {
            let mut results = self.conn.execute_many(sqlx::query(sql(&self.sql.begin_delete)).bind(m.version));
            let mut last = Ok(0);
            while let Some(r) = results.next().await {
                match r {
                    Ok(r) => last = Ok(r.rows_affected()),
                    Err(e) => {
                        last = Err(e);
                        break;
                    }
                }
            }
            last
        };
        match deleted {
            Ok(1) => {}
            Ok(_) => {
                self.rollback().await;
                return Err(Self::conflict(m));
            }
            Err(e) => {
                self.rollback().await;
                return Err(self.db_err("cannot update the history", e));
            }
        }
        let started = Instant::now();
        if let Err((done, e)) = self.exec_script(script).await {
            self.rollback().await;
            return Err(Self::failure(m, Direction::Down, script, done, e, false));
        }
        let took = started.elapsed();
        if let Err(e) = self.conn.execute("COMMIT").await {
            self.rollback().await;
            return Err(self.db_err("cannot commit the migration", e));
        }
        Ok(took)
    }

    async fn revert_outside_transaction(&mut self, m: &Migration, script: &Script) -> Result<Duration> {
        let r = sqlx::query(sql(&self.sql.mark_dirty))
            .bind(m.version)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot update the history", e))?;
        if r.rows_affected() != 1 {
            return Err(Self::conflict(m));
        }
        let started = Instant::now();
        if let Err((done, e)) = self.exec_script(script).await {
            let dirty = done > 0;
            if !dirty {
                let _ = sqlx::query(sql(&self.sql.mark_applied)).bind(m.version).execute(&mut self.conn).await;
            }
            return Err(Self::failure(m, Direction::Down, script, done, e, dirty));
        }
        let took = started.elapsed();
        sqlx::query(sql(&self.sql.delete))
            .bind(m.version)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot update the history", e))?;
        Ok(took)
    }
}

impl super::Backend for SqliteBackend {
    async fn read_history(&mut self) -> Result<Vec<AppliedMigration>> {
        // Reading straight away saves a round trip on every command; an absent table is the
        // rare case and is told apart by asking only then.
        let row = match sqlx::query(sql(&self.sql.select)).fetch_one(&mut self.conn).await {
            Ok(row) => row,
            Err(e) => {
                if !self.history_exists().await? {
                    return Ok(Vec::new());
                }
                return Err(self.db_err("cannot read the history table", e));
            }
        };
        let json: String = row.try_get(0).map_err(|e| self.db_err("cannot read the history table", e))?;
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
    }

    async fn ensure_history(&mut self) -> Result<()> {
        self.conn.execute(sql(&self.sql.create)).await.map_err(|e| self.db_err("cannot create the history table", e))?;
        Ok(())
    }

    async fn run(&mut self, m: &Migration, direction: Direction) -> Result<Duration> {
        match direction {
            Direction::Up if m.up.transaction => self.apply_transactional(m, &m.up).await,
            Direction::Up => self.apply_outside_transaction(m, &m.up).await,
            Direction::Down => {
                let script = m.down.as_ref().expect("the planner only reverts reversible migrations");
                if script.transaction {
                    self.revert_transactional(m, script).await
                } else {
                    self.revert_outside_transaction(m, script).await
                }
            }
        }
    }

    async fn mark_applied(&mut self, version: i64) -> Result<bool> {
        let r = sqlx::query(sql(&self.sql.mark_applied))
            .bind(version)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot update the history", e))?;
        Ok(r.rows_affected() == 1)
    }

    async fn remove(&mut self, version: i64) -> Result<bool> {
        let r = sqlx::query(sql(&self.sql.delete))
            .bind(version)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot update the history", e))?;
        Ok(r.rows_affected() == 1)
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}
