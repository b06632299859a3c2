//! MySQL and MariaDB through sqlx.
//!
//! DDL commits implicitly here, so no migration can be atomic with its history row: every
//! migration follows the dirty protocol — recorded `dirty` first, flipped to `applied` when it
//! finished. A failure after the first statement leaves the dirty row and an error naming what to
//! check and the `repair` command. A run holds `GET_LOCK` for its whole length.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use sqlx::mysql::{MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::OpenMode;
use super::Lock as _;
use super::guest::{DbErrorKind, Dialect, GuestSql, GuestSqlError, Rows, SqlValue};
use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus};
use crate::migrate::source::Migration;

fn quote_ident(name: &str) -> String {
    name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".")
}

/// A MySQL or MariaDB database with its history table.
pub struct MySqlBackend {
    conn: MySqlConnection,
    table: String,
    lock_name: Option<String>,
    table_lock: Option<String>,
    /// Autocommit is off for the rest of the run (switched once, at the first migration).
    manual_commit: bool,
    cursors: HashMap<u64, (String, i64)>,
    next_cursor: u64,
    /// MariaDB (which has `SET STATEMENT … FOR`), not MySQL.
    mariadb: bool,
    /// The open guest session's deadline: its statements are stopped by the server then.
    deadline: Option<std::time::Instant>,
    /// How to connect (the guest's login reuses it with the guest account's name).
    opts: MySqlConnectOptions,
    /// Guest sessions entered and not yet left.
    guest_depth: u32,
    /// While a restricted guest session is open: the runner's own connection (holding the
    /// run's `GET_LOCK`) and its autocommit state, parked while `conn` is the guest's login.
    parked: Option<(MySqlConnection, bool)>,
    /// Guest logins by account (with their autocommit state), kept for the next component.
    guest_conns: HashMap<String, (MySqlConnection, bool)>,
    /// The account of the open restricted session.
    guest_account: Option<String>,
    /// The session's `sql_mode` before a guest session removed `NO_BACKSLASH_ESCAPES`.
    saved_sql_mode: Option<String>,
    /// The history as it stood when a restricted guest began.
    history_print: Option<String>,
    /// The runner's own connection id, asked once, for cancelling a statement on Ctrl-C.
    connection_id: Option<u64>,
    /// Galera hook: set when the server is a Galera cluster node (see `galera.rs`).
    galera: Option<super::galera::Galera>,
}

fn quote_one(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl MySqlBackend {
    /// Drops every table, view, sequence, routine and event of the database (the history
    /// included, except `keep`): what `reset` starts from. MySQL commits each DDL statement, so
    /// this is not atomic; foreign keys are ignored meanwhile. Returns `kind name` of each.
    pub async fn drop_objects(&mut self, keep: Option<&str>) -> Result<Vec<String>> {
        let listed: std::result::Result<Vec<(String, String)>, sqlx::Error> = sqlx::query_as(
            "SELECT CAST(CASE table_type WHEN 'VIEW' THEN 'view' WHEN 'SEQUENCE' THEN 'sequence' ELSE 'table' END AS CHAR), CAST(table_name AS CHAR) \
               FROM information_schema.tables WHERE table_schema = DATABASE() \
             UNION ALL SELECT CAST(LOWER(routine_type) AS CHAR), CAST(routine_name AS CHAR) FROM information_schema.routines WHERE routine_schema = DATABASE() \
             UNION ALL SELECT 'event', CAST(event_name AS CHAR) FROM information_schema.events WHERE event_schema = DATABASE()",
        )
        .fetch_all(&mut self.conn)
        .await;
        let mut objects = listed.map_err(|e| self.db_err("cannot list the schema", e))?;
        let rank = |k: &str| match k {
            "view" => 0,
            "table" => 1,
            _ => 2,
        };
        objects.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.1.cmp(&b.1)));
        // Galera hook: the run's lock row lives in `<history>_lock` whatever the lock mode.
        let galera_lock = self.galera.is_some().then(|| format!("{}_lock", self.table.rsplit('.').next().unwrap_or(&self.table)));
        let keep = keep.map(|k| k.rsplit('.').next().unwrap_or(k).to_string()).or(galera_lock);
        let _ = self.conn.execute("SET FOREIGN_KEY_CHECKS = 0").await;
        let mut dropped = Vec::new();
        let mut failed = None;
        for (kind, name) in objects {
            if kind == "table" && keep.as_deref() == Some(name.as_str()) {
                continue;
            }
            let q = format!("DROP {} IF EXISTS {}", kind.to_ascii_uppercase(), quote_one(&name));
            if let Err(e) = self.conn.execute(AssertSqlSafe(q)).await {
                failed = Some(e);
                break;
            }
            dropped.push(format!("{kind} {name}"));
        }
        let _ = self.conn.execute("SET FOREIGN_KEY_CHECKS = 1").await;
        match failed {
            Some(e) => Err(self.db_err(&format!("cannot drop the schema (dropped so far: {})", dropped.join(", ")), e)),
            None => Ok(dropped),
        }
    }
}

/// `DROP DATABASE` of the URL's database, over a connection without a default database.
/// Returns whether it existed.
pub async fn drop_database(url: &str) -> Result<bool> {
    let redacted = super::url::redact(url);
    let opts = super::url::mysql_options(url)
        .map_err(|e| Error::Connect(format!("bad MySQL URL `{redacted}`: {}", super::url::redact(&e.to_string()))))?;
    let Some(name) = opts.get_database().map(String::from).filter(|n| !n.is_empty()) else {
        return Err(Error::Config(format!("the URL `{redacted}` names no database to drop")));
    };
    if ["mysql", "information_schema", "performance_schema", "sys"].contains(&name.to_ascii_lowercase().as_str()) {
        return Err(Error::Config(format!("refusing to drop `{name}`: it is one of the server's own databases")));
    }
    let mut admin = opts.clone().database("").connect().await.map_err(|e| connect_error(&redacted, e))?;
    let r = async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?").bind(&name).fetch_one(&mut admin).await?;
        admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {}", quote_one(&name)))).await?;
        Ok::<_, sqlx::Error>(n > 0)
    }
    .await;
    let _ = admin.close().await;
    r.map_err(|e| Error::Database { context: format!("cannot drop the database `{name}`"), source: DbError::from(e) })
}

/// Most bytes of a script sent in one multi-statement query. The server refuses a packet over
/// `max_allowed_packet` (16 MiB by default on MariaDB, 64 MiB on MySQL 8), so a big data
/// migration goes out in pieces that end on statement boundaries; a few MiB per round trip keeps
/// the round trips themselves negligible.
const SCRIPT_CHUNK: usize = 4 << 20;

/// Splits `script` into runs of whole statements of about `max` bytes (a single statement larger
/// than that is one run of its own). Small scripts, the usual case, are one run and not split.
fn chunks(script: &str, max: usize) -> Vec<&str> {
    if script.len() <= max {
        return vec![script];
    }
    let base = script.as_ptr() as usize;
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    for stmt in crate::migrate::statements::split(script) {
        let s = stmt.text.as_ptr() as usize - base;
        let e = s + stmt.text.len();
        match start {
            Some(first) if e - first > max => {
                out.push(&script[first..end]);
                start = Some(s);
            }
            None => start = Some(s),
            _ => {}
        }
        end = e;
    }
    if let Some(first) = start {
        out.push(&script[first..end]);
    }
    out
}

fn connect_error(redacted: &str, e: sqlx::Error) -> Error {
    // Only a failure to reach the server is blamed on the connection.
    let hint = if matches!(e, sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut) {
        "; is the server running and the URL right? (`--wait` waits for it to start)"
    } else {
        ""
    };
    Error::Connect(format!("cannot connect to MySQL/MariaDB at `{redacted}`: {}{hint}", super::url::redact(&DbError::from(e).to_string())))
}

impl MySqlBackend {
    /// Connects; in read-write mode a missing database is created.
    pub async fn connect(url: &str, table: &str, mode: OpenMode) -> Result<Option<Self>> {
        let redacted = super::url::redact(url);
        let opts = super::url::mysql_options(url)
            .map_err(|e| Error::Connect(format!("bad MySQL URL `{redacted}`: {}", super::url::redact(&e.to_string()))))?;
        let conn = match opts.connect().await {
            Ok(c) => c,
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42000") && d.message().contains("Unknown database") => {
                let Some(name) = opts.get_database().map(String::from) else {
                    return Err(Error::Connect(format!("the database in `{redacted}` does not exist")));
                };
                if mode == OpenMode::ReadOnly {
                    return Ok(None);
                }
                let mut admin = opts.clone().database("").connect().await.map_err(|e| connect_error(&redacted, e))?;
                let create = format!("CREATE DATABASE IF NOT EXISTS `{}`", name.replace('`', "``"));
                match admin.execute(AssertSqlSafe(create)).await {
                    Ok(_) => {}
                    // ER_DB_CREATE_EXISTS: another runner created it at the same moment.
                    Err(sqlx::Error::Database(d)) if d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|m| m.number() == 1007) => {}
                    Err(e) => {
                        return Err(Error::Database {
                            context: format!(
                                "the database `{name}` does not exist and db-migrate could not create it (create it yourself, or grant db-migrate's user CREATE)"
                            ),
                            source: DbError::from(e),
                        });
                    }
                }
                let _ = admin.close().await;
                opts.connect().await.map_err(|e| connect_error(&redacted, e))?
            }
            Err(e) => return Err(connect_error(&redacted, e)),
        };
        super::disable_nagle();
        let mut conn = conn;
        let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut conn).await.unwrap_or_default();
        let galera = super::galera::detect(&mut conn).await; // Galera hook
        Ok(Some(MySqlBackend {
            conn,
            table: table.to_string(),
            lock_name: None,
            table_lock: None,
            manual_commit: false,
            cursors: HashMap::new(),
            next_cursor: 0,
            mariadb: version.to_ascii_lowercase().contains("mariadb"),
            deadline: None,
            opts,
            guest_depth: 0,
            parked: None,
            guest_conns: HashMap::new(),
            guest_account: None,
            saved_sql_mode: None,
            history_print: None,
            connection_id: None,
            galera,
        }))
    }

    fn t(&self) -> String {
        quote_ident(&self.table)
    }

    async fn history_has(&mut self, version: i64) -> Result<bool> {
        let q = format!("SELECT COUNT(*) FROM {} WHERE version = ?", self.t());
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(q)).bind(version).fetch_one(&mut self.conn).await.map_err(|e| self.db_err("cannot read the history", e))?;
        Ok(n == 1)
    }

    fn db_err(&self, context: &str, e: sqlx::Error) -> Error {
        Error::Database { context: format!("{context} ({})", self.table), source: DbError::from(e) }
    }

    fn conflict(m: &Migration) -> Error {
        Error::Conflict(MigrationRef { version: m.version, name: m.name.clone() })
    }

    async fn exec(&mut self, sql: String, version: i64) -> std::result::Result<u64, sqlx::Error> {
        sqlx::query(AssertSqlSafe(sql)).bind(version).execute(&mut self.conn).await.map(|r| r.rows_affected())
    }

    async fn history_exists(&mut self) -> Result<bool> {
        let (schema, name) = match self.table.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, self.table.clone()),
        };
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?",
        )
        .bind(schema)
        .bind(name)
        .fetch_one(&mut self.conn)
        .await
        .map_err(|e| self.db_err("cannot read the history table", e))?;
        Ok(n > 0)
    }

    async fn drop_cursors(&mut self) {
        let ids: Vec<u64> = self.cursors.keys().copied().collect();
        for id in ids {
            self.close_cursor(id).await;
        }
    }
}

impl super::Backend for MySqlBackend {
    async fn user_tables(&mut self) -> Result<usize> {
        let names: Vec<String> = sqlx::query_scalar("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()")
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot list the tables", e))?;
        Ok(names.iter().filter(|n| !super::is_own_table(n, &self.table)).count())
    }

    async fn begin_plain(&mut self) -> Result<()> {
        self.conn.execute("START TRANSACTION").await.map(drop).map_err(|e| self.db_err("cannot start a transaction", e))
    }

    async fn commit_plain(&mut self) -> Result<()> {
        self.drop_cursors().await;
        self.conn.execute("COMMIT").await.map(drop).map_err(|e| self.db_err("cannot commit", e))
    }

    async fn rollback_plain(&mut self) {
        self.drop_cursors().await;
        let _ = self.conn.execute("ROLLBACK").await;
    }

    async fn begin(&mut self, m: &Migration, direction: Direction, _transactional: bool) -> Result<()> {
        // Galera hook: a run whose lock row was taken over stops here.
        if self.galera.as_ref().is_some_and(|g| g.lost) {
            return Err(super::galera::lost(&self.table, &self.lock_table_name()));
        }
        // DDL commits implicitly, so the history row goes in first as `dirty`, with autocommit
        // off for the migration: the first DDL statement commits the dirty row together with
        // itself (a crash after it leaves a visible dirty row), and a migration of DML only
        // stays one transaction with its history row, all or nothing.
        // (Switched once per run: the run holds the migration lock, so nothing else writes the
        // history meanwhile, and each migration ends in its own COMMIT or ROLLBACK.)
        if !self.manual_commit {
            self.conn.execute("SET autocommit = 0").await.map_err(|e| self.db_err("cannot start the migration", e))?;
            self.manual_commit = true;
        }
        let r = self.begin_row(m, direction).await;
        if r.is_err() {
            let _ = self.conn.execute("ROLLBACK").await;
        } else if self.guest_account.is_some() {
            // The guest account may write the history: remember it as it stands now.
            self.history_print = self.history_fingerprint().await;
        }
        r
    }

    async fn exec_script(&mut self, script: &str, _transactional: bool) -> std::result::Result<(), (usize, DbError)> {
        if self.connection_id.is_none() {
            self.connection_id = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut self.conn).await.ok();
        }
        let _cancel = self.connection_id.map(|id| crate::interrupt::on_request(super::cancel::MySql { opts: self.opts.clone(), id }));
        let mut done = 0usize;
        for chunk in chunks(script, SCRIPT_CHUNK) {
            let mut stream = self.conn.execute_many(sqlx::raw_sql(AssertSqlSafe(chunk.to_string())));
            while let Some(r) = stream.next().await {
                match r {
                    Ok(_) => done += 1,
                    Err(e) => return Err((done, e.into())),
                }
            }
        }
        Ok(())
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, _transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        if let Some(before) = self.history_print.take() {
            if self.history_fingerprint().await.as_deref() != Some(before.as_str()) {
                let _ = self.conn.execute("ROLLBACK").await;
                return Err(Error::Config(format!(
                    "migration {} changed db-migrate's history table while it ran; it was rolled back (if it ran DDL, it stays dirty: check the history before `repair`)",
                    m.version
                )));
            }
        }
        let r = match direction {
            Direction::Up => {
                let q = format!("UPDATE {} SET status = 'applied', execution_ms = ? WHERE version = ?", self.t());
                sqlx::query(AssertSqlSafe(q)).bind(took.as_millis() as i64).bind(m.version).execute(&mut self.conn).await.map(drop)
            }
            Direction::Down => self.exec(format!("DELETE FROM {} WHERE version = ?", self.t()), m.version).await.map(drop),
        };
        let r = match r {
            Ok(()) => self.conn.execute("COMMIT").await.map(drop),
            Err(e) => {
                let _ = self.conn.execute("ROLLBACK").await;
                Err(e)
            }
        };
        // Galera hook: a refused COMMIT rolled back the migration's last transaction; say what stayed.
        if let (Some(_), Err(e)) = (&self.galera, &r) {
            if super::galera::certification_failure(e) {
                let q = format!("SELECT status FROM {} WHERE version = ?", self.t());
                let status = sqlx::query_scalar::<_, String>(AssertSqlSafe(q)).bind(m.version).fetch_optional(&mut self.conn).await;
                let dirty = status.ok().map(|s| s.as_deref() == Some("dirty"));
                return Err(super::galera::commit_refused(m.version, dirty, r.unwrap_err()));
            }
        }
        r.map_err(|e| self.db_err("cannot record the migration in the history", e))
    }

    async fn abort(&mut self, m: &Migration, direction: Direction, _transactional: bool, _changed: bool) -> Kept {
        self.drop_cursors().await;
        let _ = self.conn.execute("ROLLBACK").await;
        // What survived the rollback is what a DDL statement committed: the truth about
        // dirtiness. If the history cannot be read back (the connection is gone), nobody knows
        // what DDL committed before the failure, and the message must say so.
        let q = format!("SELECT status FROM {} WHERE version = ?", self.t());
        let status: Option<String> = match sqlx::query_scalar(AssertSqlSafe(q)).bind(m.version).fetch_optional(&mut self.conn).await {
            Ok(s) => s,
            Err(_) => return Kept::Unknown,
        };
        // Galera hook: a node cut off from the primary component cannot tell what the cluster kept.
        if self.galera.is_some() && !super::galera::primary(&mut self.conn).await {
            return Kept::Unknown;
        }
        let dirty = match direction {
            Direction::Up => status.is_some(),
            Direction::Down => status.as_deref() == Some("dirty"),
        };
        if dirty { Kept::Dirty } else { Kept::Nothing }
    }

    async fn close(mut self) -> Result<()> {
        if let Some((own, manual)) = self.parked.take() {
            let guest = std::mem::replace(&mut self.conn, own);
            self.manual_commit = manual;
            // The guest login's session: nothing of the run depends on how it ends.
            let _ = guest.close().await;
        }
        // The guest accounts' logins end with the run (a new password is set on the next).
        for (account, (c, _)) in std::mem::take(&mut self.guest_conns) {
            let _ = c.close().await;
            let _ = self.conn.execute(AssertSqlSafe(format!("ALTER USER '{account}'@'%' IDENTIFIED BY '{}'", super::guest::random_password()))).await;
        }
        let unlocked = self.unlock().await;
        let closed = self.conn.close().await.map_err(|e| Error::Close(DbError::from(e)));
        unlocked.and(closed)
    }
}

impl super::History for MySqlBackend {
    fn read_history(&mut self) -> super::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            if !self.history_exists().await? {
                return Ok(Vec::new());
            }
            let q = format!(
                "SELECT version, name, kind, checksum, status, DATE_FORMAT(applied_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS applied_at, execution_ms \
                 FROM {} ORDER BY version",
                self.t()
            );
            let rows = sqlx::query(AssertSqlSafe(q)).fetch_all(&mut self.conn).await.map_err(|e| self.db_err("cannot read the history table", e))?;
            rows.iter()
                .map(|r| {
                    Ok(AppliedMigration {
                        version: r.try_get("version")?,
                        name: r.try_get("name")?,
                        kind: r.try_get("kind")?,
                        checksum: r.try_get("checksum")?,
                        status: RowStatus::parse(&r.try_get::<String, _>("status")?),
                        applied_at: r.try_get("applied_at")?,
                        execution_ms: r.try_get("execution_ms")?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
                .map_err(|e| self.db_err("the history table has an unexpected shape", e))
        })
    }

    fn ensure_history(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let q = format!(
                "CREATE TABLE IF NOT EXISTS {} (version BIGINT PRIMARY KEY, name VARCHAR(255) NOT NULL, kind VARCHAR(32) NOT NULL, \
                 checksum CHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
                 execution_ms BIGINT NOT NULL DEFAULT 0)",
                self.t()
            );
            let r = match self.galera {
                // Galera hook: DDL under total order isolation may be asked to retry; this one is idempotent.
                Some(_) => {
                    super::galera::retry(&mut self.conn, "creating the history table", |c| {
                        let q = q.clone();
                        Box::pin(async move { c.execute(AssertSqlSafe(q)).await.map(drop) })
                    })
                    .await
                }
                None => self.conn.execute(AssertSqlSafe(q)).await.map(drop),
            };
            r.map_err(|e| self.db_err("cannot create the history table", e))
        })
    }

    fn mark_applied(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET status = 'applied' WHERE version = ?", self.t());
            Ok(self.exec(q, version).await.map_err(|e| self.db_err("cannot update the history", e))? == 1)
        })
    }

    fn remove(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = format!("DELETE FROM {} WHERE version = ?", self.t());
            Ok(self.exec(q, version).await.map_err(|e| self.db_err("cannot update the history", e))? == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> super::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET checksum = ?, name = ? WHERE version = ?", self.t());
            let r = sqlx::query(AssertSqlSafe(q)).bind(checksum).bind(name).bind(version).execute(&mut self.conn).await;
            let r = r.map_err(|e| self.db_err("cannot update the history", e))?;
            // MySQL counts changed rows: an identical checksum is still a match.
            Ok(r.rows_affected() == 1 || self.history_has(version).await?)
        })
    }
}

impl super::Lock for MySqlBackend {
    fn lock(&mut self, timeout: Duration, mode: super::LockMode) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Galera hook: GET_LOCK is local to a node, so a Galera run always takes the lock row.
            if let Some(g) = self.galera.clone() {
                let (t, history) = (self.lock_table_name(), self.table.clone());
                self.table_lock = Some(super::galera::lock(&mut self.conn, &g, &t, &history, timeout).await?);
                return Ok(());
            }
            if mode == super::LockMode::Table {
                return self.lock_table(timeout).await;
            }
            let db: Option<String> = sqlx::query_scalar("SELECT DATABASE()").fetch_one(&mut self.conn).await.map_err(|e| self.db_err("cannot take the migration lock", e))?;
            // GET_LOCK names are at most 64 characters: a hash keeps long names unique.
            let name = format!("db-migrate:{:016x}", super::lock_key(&format!("{}/{}", db.unwrap_or_default(), self.table)));
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(&name)
                .bind(timeout.as_secs_f64())
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| self.db_err("cannot take the migration lock", e))?;
            if got == Some(1) {
                self.lock_name = Some(name);
                return Ok(());
            }
            let holder: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)").bind(&name).fetch_one(&mut self.conn).await.ok().flatten();
            Err(Error::Locked(format!(
                "another db-migrate run holds the migration lock of {} (connection id {}); waited {:?} (--lock-timeout)",
                self.table,
                holder.map(|h| h.to_string()).unwrap_or_else(|| "unknown".into()),
                timeout
            )))
        })
    }

    fn heartbeat(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Galera hook: renewals retry certification conflicts.
            if let (Some(_), Some(owner)) = (&self.galera, self.table_lock.clone()) {
                let t = self.lock_table_name();
                let held = super::galera::heartbeat(&mut self.conn, &t, &owner, self.manual_commit).await;
                let held = held.map_err(|e| self.db_err("cannot renew the migration lock", e))?;
                if let Some(g) = self.galera.as_mut() {
                    g.lost |= !held;
                }
                if !held {
                    return Err(super::galera::lost(&self.table, &t));
                }
                return Ok(());
            }
            if let Some(owner) = self.table_lock.clone() {
                let q = format!("UPDATE {} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND WHERE id = 1 AND owner = ?", self.lock_table_name());
                let r = sqlx::query(AssertSqlSafe(q)).bind(super::TABLE_LOCK_TTL.as_secs() as i64).bind(owner).execute(&mut self.conn).await;
                let n = r.map_err(|e| self.db_err("cannot renew the migration lock", e))?.rows_affected();
                if self.manual_commit {
                    self.conn.execute("COMMIT").await.map_err(|e| self.db_err("cannot renew the migration lock", e))?;
                }
                if n != 1 {
                    return Err(super::lock_row_lost(&self.table, &format!("{}_lock", self.table)));
                }
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if std::mem::take(&mut self.manual_commit) {
                // Ends what autocommit-off left open; a failure here shows in the release below.
                let _ = self.conn.execute(sqlx::raw_sql("ROLLBACK; SET autocommit = 1")).await;
            }
            let row = super::held_row(format!("{}_lock", self.table));
            // Galera hook: the release retries certification conflicts.
            if let Some(owner) = self.table_lock.take_if(|_| self.galera.is_some()) {
                let t = self.lock_table_name();
                let ours = super::galera::unlock(&mut self.conn, &t, &owner).await.map_err(|e| Error::Unlock { lock: row.clone(), source: DbError::from(e) })?;
                if !ours {
                    return Err(Error::Unlock { lock: row, source: super::row_not_ours() });
                }
            }
            if let Some(owner) = self.table_lock.take() {
                let q = format!("DELETE FROM {} WHERE id = 1 AND owner = ?", self.lock_table_name());
                let r = sqlx::query(AssertSqlSafe(q)).bind(owner).execute(&mut self.conn).await;
                let n = r.map_err(|e| Error::Unlock { lock: row.clone(), source: DbError::from(e) })?.rows_affected();
                if n != 1 {
                    return Err(Error::Unlock { lock: row, source: super::row_not_ours() });
                }
            }
            if let Some(name) = self.lock_name.take() {
                let released: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)")
                    .bind(name)
                    .fetch_one(&mut self.conn)
                    .await
                    .map_err(|e| Error::Unlock { lock: super::HeldLock::Session, source: DbError::from(e) })?;
                if released != Some(1) {
                    return Err(Error::Unlock {
                        lock: super::HeldLock::Session,
                        source: DbError { message: "the server says this session did not hold it".into(), code: None },
                    });
                }
            }
            Ok(())
        })
    }
}

impl MySqlBackend {
    fn lock_table_name(&self) -> String {
        quote_ident(&format!("{}_lock", self.table))
    }

    /// Takes a lock row in `<history>_lock` (no session state needed), expiring stale ones.
    async fn lock_table(&mut self, timeout: Duration) -> Result<()> {
        let t = self.lock_table_name();
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, owner VARCHAR(255) NOT NULL, acquired_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NOT NULL)"
        );
        self.conn.execute(AssertSqlSafe(create)).await.map_err(|e| self.db_err("cannot create the lock table", e))?;
        let owner = super::lock_owner();
        let sql = super::sqlx_shared::LockRowSql {
            expire: format!("DELETE FROM {t} WHERE id = 1 AND expires_at < UTC_TIMESTAMP(6)"),
            insert: format!(
                "INSERT IGNORE INTO {t} (id, owner, acquired_at, expires_at) VALUES (1, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? SECOND)"
            ),
            holder: format!("SELECT CONCAT(owner, ', since ', acquired_at, ', expires ', expires_at) FROM {t} WHERE id = 1"),
        };
        let ttl = super::TABLE_LOCK_TTL.as_secs() as i64;
        super::sqlx_shared::take_lock_row::<MySql, _>(&mut self.conn, &sql, &owner, ttl, timeout, &self.table, &t, |r| r.rows_affected()).await?;
        self.table_lock = Some(owner);
        Ok(())
    }

    async fn begin_row(&mut self, m: &Migration, direction: Direction) -> Result<()> {
        match direction {
            Direction::Up => {
                let q = format!(
                    "INSERT INTO {} (version, name, kind, checksum, status, applied_at) VALUES (?, ?, ?, ?, 'dirty', UTC_TIMESTAMP(6))",
                    self.t()
                );
                let r = sqlx::query(AssertSqlSafe(q))
                    .bind(m.version)
                    .bind(&m.name)
                    .bind(m.kind().as_str())
                    .bind(&m.checksum)
                    .execute(&mut self.conn)
                    .await;
                match r {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23000") => Err(Self::conflict(m)),
                    Err(e) => Err(self.db_err("cannot record the migration in the history", e)),
                }
            }
            Direction::Down => {
                let q = format!("UPDATE {} SET status = 'dirty' WHERE version = ? AND status = 'applied'", self.t());
                match self.exec(q, m.version).await {
                    Ok(1) => Ok(()),
                    Ok(_) => Err(Self::conflict(m)),
                    Err(e) => Err(self.db_err("cannot update the history", e)),
                }
            }
        }
    }

}

fn bind_all<'q>(q: sqlx::query::Query<'q, MySql, MySqlArguments>, params: impl IntoIterator<Item = SqlValue>) -> sqlx::query::Query<'q, MySql, MySqlArguments> {
    super::sqlx_shared::bind_values(q, params, super::sqlx_shared::timestamp_as_text)
}

fn guest_error(e: sqlx::Error) -> GuestSqlError {
    match &e {
        sqlx::Error::Database(d) => {
            let number = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|m| m.number());
            let kind = match number {
                Some(1062) => DbErrorKind::UniqueViolation,
                Some(1451 | 1452) => DbErrorKind::ForeignKeyViolation,
                Some(1048) => DbErrorKind::NotNullViolation,
                Some(3819 | 4025) => DbErrorKind::CheckViolation,
                Some(1064) => DbErrorKind::Syntax,
                _ => DbErrorKind::Other,
            };
            GuestSqlError::Database { kind, message: d.message().to_string(), code: number.map(|n| n.to_string()).or_else(|| d.code().map(|c| c.into_owned())) }
        }
        other => GuestSqlError::Database { kind: DbErrorKind::Other, message: other.to_string(), code: None },
    }
}

fn row_values(row: &MySqlRow, skip: usize) -> std::result::Result<Vec<SqlValue>, GuestSqlError> {
    let decode = |e: sqlx::Error| GuestSqlError::Database { kind: DbErrorKind::Other, message: e.to_string(), code: None };
    (skip..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let ty = raw.type_info().name().to_string();
            Ok(match ty.as_str() {
                "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => SqlValue::Int(row.try_get(i).map_err(decode)?),
                "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => {
                    SqlValue::Int(row.try_get::<u32, _>(i).map_err(decode)? as i64)
                }
                "FLOAT" => SqlValue::Float(row.try_get::<f32, _>(i).map_err(decode)? as f64),
                "DOUBLE" => SqlValue::Float(row.try_get(i).map_err(decode)?),
                "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" | "JSON" => {
                    SqlValue::Text(row.try_get(i).map_err(decode)?)
                }
                other => {
                    return Err(GuestSqlError::InvalidInput(format!(
                        "column {} has type {other}, which the sql interface does not carry; CAST it to CHAR or SIGNED in the query",
                        i + 1
                    )));
                }
            })
        })
        .collect()
}

impl MySqlBackend {
    /// A guest statement with the server's own time limit attached (MariaDB's
    /// `SET STATEMENT max_statement_time = … FOR`): a statement still running at the guest's
    /// deadline is killed by the server, not waited for. (MySQL has no per-statement form for
    /// every statement; there the deadline is checked between statements.)
    fn timed(&self, statement: &str) -> String {
        match self.deadline {
            Some(d) if self.mariadb => {
                let left = d.saturating_duration_since(std::time::Instant::now()).as_secs_f64().max(0.001);
                format!("SET STATEMENT max_statement_time = {left:.3} FOR {statement}")
            }
            _ => statement.to_string(),
        }
    }
}

impl MySqlBackend {
    /// A digest of the whole history (absent table: `None`).
    async fn history_fingerprint(&mut self) -> Option<String> {
        let q = format!(
            "SELECT MD5(COALESCE(GROUP_CONCAT(CONCAT(version, '/', status, '/', checksum) ORDER BY version SEPARATOR ','), '')) FROM {}",
            self.t()
        );
        sqlx::query_scalar(AssertSqlSafe(q)).fetch_one(&mut self.conn).await.ok()
    }

    /// Opens a restricted guest session. MySQL cannot drop privileges inside a session, so a
    /// component whose grant names its tables runs on its own login: an account with exactly
    /// those privileges (and none of FILE, PROCESS, SUPER, lock or user administration), so the
    /// server refuses other tables, `LOAD_FILE`, `INTO OUTFILE` and other sessions' locks. The
    /// history row is written on the same session (the account may write the history table,
    /// which the host's check keeps every guest statement away from): a data-only migration
    /// still commits with its row in one transaction, and DDL keeps the dirty protocol. The
    /// run's `GET_LOCK` stays on the runner's own connection, parked meanwhile.
    async fn restricted_session(&mut self, scope: &super::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        let database = self.opts.get_database().unwrap_or_default().to_string();
        let account = scope.role_name(&database);
        let password = super::guest::random_password();
        let who = format!("'{account}'@'%'");
        let setup = |e: sqlx::Error| GuestSqlError::Denied(format!(
            "cannot set up the restricted account `{account}` that enforces this component's grant: {} \
             (db-migrate's database user needs CREATE USER and GRANT OPTION on the granted tables)",
            DbError::from(e)
        ));
        let db = format!("`{}`", database.replace('`', "``"));
        let mut grants = vec![
            format!("CREATE USER IF NOT EXISTS {who} IDENTIFIED BY '{password}'"),
            format!("ALTER USER {who} IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 8"),
            // Cursors are materialised into temporary tables of the session.
            format!("GRANT CREATE TEMPORARY TABLES ON {db}.* TO {who}"),
        ];
        let mut privileges = Vec::new();
        if scope.read {
            privileges.push("SELECT");
        }
        if scope.write {
            privileges.extend(["INSERT", "UPDATE", "DELETE"]);
        }
        if scope.ddl {
            privileges.extend(["CREATE", "ALTER", "DROP", "INDEX", "REFERENCES"]);
        }
        // (Not its `_lock` table: the run's lock is renewed on the runner's own connection.)
        let own = [self.table.clone(), scope.reserved.seeds.clone()];
        let mut tables: Vec<(String, Vec<&str>)> = own.into_iter().map(|t| (t, vec!["SELECT", "INSERT", "UPDATE", "DELETE"])).collect();
        if !privileges.is_empty() {
            tables.extend(scope.tables.iter().flatten().map(|t| (t.clone(), privileges.clone())));
        }
        for (t, privs) in &tables {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?")
                .bind(t)
                .fetch_optional(&mut self.conn)
                .await
                .map_err(setup)?;
            // Creating a table needs the grant before the table exists.
            if exists.is_none() && !privs.contains(&"CREATE") {
                continue;
            }
            grants.push(format!("GRANT {} ON {db}.`{}` TO {who}", privs.join(", "), t.replace('`', "``")));
        }
        for g in &grants {
            self.conn.execute(AssertSqlSafe(g.clone())).await.map_err(setup)?;
        }
        let (guest, manual) = match self.guest_conns.remove(&account) {
            Some(c) => c,
            None => {
                let opts = self.opts.clone().username(&account).password(&password);
                let c = opts.connect().await.map_err(|e| GuestSqlError::Denied(format!(
                    "cannot log in as the restricted account `{account}` that enforces this component's grant: {}",
                    DbError::from(e)
                )))?;
                super::disable_nagle();
                (c, false)
            }
        };
        let own_manual = std::mem::replace(&mut self.manual_commit, manual);
        self.parked = Some((std::mem::replace(&mut self.conn, guest), own_manual));
        self.guest_account = Some(account);
        Ok(())
    }
}

impl GuestSql for MySqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        let text = self.timed(statement);
        bind_all(sqlx::query(AssertSqlSafe(text)), params).execute(&mut self.conn).await.map(|r| r.rows_affected()).map_err(guest_error)
    }

    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        let text = self.timed(statement);
        let q = bind_all(sqlx::query(AssertSqlSafe(text)), params);
        let mut stream = q.fetch(&mut self.conn);
        let mut out = Rows::default();
        let mut bytes = 0;
        while let Some(row) = stream.next().await {
            let row = row.map_err(guest_error)?;
            if out.columns.is_empty() {
                out.columns = row.columns().iter().map(|c| sqlx::Column::name(c).to_string()).collect();
            }
            if out.rows.len() == max_rows {
                return Err(GuestSqlError::Denied(format!("the query returns more than {max_rows} rows; read large results with a cursor")));
            }
            let v = row_values(&row, 0)?;
            bytes += v.iter().map(super::guest::value_bytes).sum::<usize>();
            if bytes > max_bytes {
                return Err(super::guest::too_many_bytes(max_bytes));
            }
            out.rows.push(v);
        }
        Ok(out)
    }

    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&super::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        let Some(first) = rows.first() else { return Ok(0) };
        let width = first.len();
        if rows.iter().any(|r| r.len() != width) {
            return Err(GuestSqlError::InvalidInput("every row of a batch needs the same number of values".into()));
        }
        // `INSERT … VALUES (?, ?)` becomes multi-row statements within MySQL's 65,535
        // placeholders per statement: one round trip per chunk instead of one per row.
        if let Some(plan) = plan.filter(|p| width > 0 && p.width == width) {
            let per_chunk = (65_535 / width).clamp(1, 5_000);
            let mut total = 0;
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Vec<Vec<SqlValue>> = rows.by_ref().take(per_chunk).collect();
                let text = plan.multi_row(chunk.len());
                let q = bind_all(sqlx::query(AssertSqlSafe(self.timed(&text))), chunk.into_iter().flatten());
                total += q.execute(&mut self.conn).await.map_err(guest_error)?.rows_affected();
            }
            return Ok(total);
        }
        let mut total = 0;
        for row in rows {
            total += self.execute(statement, row).await?;
        }
        Ok(total)
    }

    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        // Materialised into a temporary table with a row number, read back in pages.
        let id = self.next_cursor;
        self.next_cursor += 1;
        let table = format!("dbm_cursor_{id}");
        let create = self.timed(&format!(
            "CREATE TEMPORARY TABLE `{table}` (dbm_row BIGINT AUTO_INCREMENT PRIMARY KEY) SELECT * FROM ({statement}) AS q"
        ));
        bind_all(sqlx::query(AssertSqlSafe(create)), params).execute(&mut self.conn).await.map_err(guest_error)?;
        // Temporary tables are not in information_schema on older servers: ask the statement.
        let prepared = (&mut self.conn).prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(format!("SELECT * FROM `{table}` LIMIT 0")))).await;
        let columns: Vec<String> = prepared
            .map(|st| {
                sqlx::Statement::columns(&st).iter().map(|c| sqlx::Column::name(c).to_string()).filter(|n| n != "dbm_row").collect()
            })
            .unwrap_or_default();
        self.cursors.insert(id, (table, 0));
        Ok((id, columns))
    }

    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        let Some((table, last)) = self.cursors.get(&id).cloned() else {
            return Err(GuestSqlError::InvalidInput("the cursor is closed".into()));
        };
        let q = format!("SELECT * FROM `{table}` WHERE dbm_row > ? ORDER BY dbm_row LIMIT ?");
        // Streamed: a page stops at the byte budget, and the rest comes with the next page.
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut new_last = last;
        {
            let mut stream = sqlx::query(AssertSqlSafe(q)).bind(last).bind(max_rows as i64).fetch(&mut self.conn);
            while let Some(row) = stream.next().await {
                let row = row.map_err(guest_error)?;
                let v = row_values(&row, 1)?;
                bytes += v.iter().map(super::guest::value_bytes).sum::<usize>();
                if bytes > max_bytes {
                    if page.is_empty() {
                        return Err(super::guest::too_many_bytes(max_bytes));
                    }
                    break;
                }
                new_last = row.try_get("dbm_row").map_err(guest_error)?;
                page.push(v);
            }
        }
        if page.is_empty() {
            return Ok(None);
        }
        self.cursors.insert(id, (table, new_last));
        Ok(Some(page))
    }

    async fn enter_guest(&mut self, scope: &super::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        self.deadline = scope.deadline;
        self.guest_depth += 1;
        if self.guest_depth > 1 {
            return Ok(());
        }
        let r = if scope.restricted() { self.restricted_session(scope).await } else { Ok(()) };
        if let Err(e) = r {
            self.guest_depth -= 1;
            return Err(e);
        }
        // The host reads a guest's strings with backslash escapes (MySQL's default); a server
        // set to NO_BACKSLASH_ESCAPES would end them elsewhere. Guests get the default.
        let mode: String = sqlx::query_scalar("SELECT @@SESSION.sql_mode").fetch_one(&mut self.conn).await.unwrap_or_default();
        let differs = |m: &str| m.eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES") || m.eq_ignore_ascii_case("ANSI_QUOTES") || m.eq_ignore_ascii_case("ANSI");
        if mode.split(',').any(differs) {
            let cleaned: Vec<&str> = mode.split(',').filter(|m| !differs(m)).collect();
            let set = format!("SET SESSION sql_mode = '{}'", cleaned.join(",").replace('\'', ""));
            if let Err(e) = self.conn.execute(AssertSqlSafe(set)).await {
                self.guest_depth -= 1;
                return Err(guest_error(e));
            }
            self.saved_sql_mode = Some(mode);
        }
        Ok(())
    }

    async fn leave_guest(&mut self) {
        self.guest_depth = self.guest_depth.saturating_sub(1);
        if self.guest_depth > 0 {
            return;
        }
        self.deadline = None;
        if let Some(mode) = self.saved_sql_mode.take() {
            let _ = self.conn.execute(AssertSqlSafe(format!("SET SESSION sql_mode = '{}'", mode.replace('\'', "")))).await;
        }
        if let (Some((own, manual)), Some(account)) = (self.parked.take(), self.guest_account.take()) {
            let guest = std::mem::replace(&mut self.conn, own);
            let guest_manual = std::mem::replace(&mut self.manual_commit, manual);
            self.guest_conns.insert(account, (guest, guest_manual));
        }
    }

    async fn close_cursor(&mut self, id: u64) {
        if let Some((table, _)) = self.cursors.remove(&id) {
            let _ = self.conn.execute(AssertSqlSafe(format!("DROP TEMPORARY TABLE IF EXISTS `{table}`"))).await;
        }
    }
}

#[cfg(test)]
mod chunk_tests {
    #[test]
    fn big_scripts_split_on_statement_boundaries_and_keep_every_statement() {
        let script = "INSERT INTO t VALUES ('a;b');\n-- c;\nINSERT INTO t VALUES (2);\nINSERT INTO t VALUES (3);\n";
        assert_eq!(super::chunks(script, 1 << 20), vec![script]);
        let parts = super::chunks(script, 55);
        assert_eq!(parts, vec!["INSERT INTO t VALUES ('a;b')", "INSERT INTO t VALUES (2);\nINSERT INTO t VALUES (3)"]);
        let rejoined: usize = parts.iter().map(|p| crate::migrate::statements::split(p).len()).sum();
        assert_eq!(rejoined, crate::migrate::statements::split(script).len());
    }
}
