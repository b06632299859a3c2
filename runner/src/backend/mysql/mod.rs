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

mod guest;
mod history;
mod lock;

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

/// How many tables are called `name` in `schema` (the connection's database when `None`): 0 or 1.
/// One read, safe to repeat (on Galera it is retried when aborted).
pub(super) fn tables_named(c: &mut MySqlConnection, schema: Option<String>, name: String) -> futures_util::future::BoxFuture<'_, std::result::Result<i64, sqlx::Error>> {
    Box::pin(async move {
        sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ?")
            .bind(schema)
            .bind(name)
            .fetch_one(c)
            .await
    })
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
        // Which server this is decides how a guest's deadline reaches the server (MariaDB kills
        // a statement at it, see `timed`): a failure here is an error, never a guess of MySQL.
        let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)").fetch_one(&mut conn).await.map_err(|e| Error::Database {
            context: format!("cannot learn the server version of {redacted}"),
            source: DbError::from(e),
        })?;
        // Galera hook.
        let galera = super::galera::detect(&mut conn).await.map_err(|e| Error::Database {
            context: format!("cannot learn the Galera cluster's state of {redacted}"),
            source: DbError::from(e),
        })?;
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
        let n: i64 = self
            .read_retrying("reading the history", |c| {
                let q = q.clone();
                Box::pin(async move { sqlx::query_scalar(AssertSqlSafe(q)).bind(version).fetch_one(c).await })
            })
            .await
            .map_err(|e| self.db_err("cannot read the history", e))?;
        Ok(n == 1)
    }

    /// Runs one read of the history or its table's existence. On Galera a read can be aborted
    /// by a replicated write or DDL it waited for (reported as a deadlock, 1213/40001); a read is
    /// safe to repeat, so it is retried like the lock's bookkeeping. Elsewhere it runs once.
    async fn read_retrying<T, F>(&mut self, what: &str, mut op: F) -> std::result::Result<T, sqlx::Error>
    where
        F: for<'c> FnMut(&'c mut MySqlConnection) -> futures_util::future::BoxFuture<'c, std::result::Result<T, sqlx::Error>>,
    {
        match self.galera {
            Some(_) => crate::backend::galera::retry(&mut self.conn, what, op).await,
            None => op(&mut self.conn).await,
        }
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
        let n: i64 = self
            .read_retrying("reading the history", |c| tables_named(c, schema.clone(), name.clone()))
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
        // Autocommit off, as for a migration (see `begin`): a DDL statement commits the
        // transaction by itself, and with autocommit on every statement after it would commit
        // alone too, where a rollback should still take them back.
        // Sent every time (callbacks and seeds are few): a script may have set autocommit.
        self.conn.execute("SET autocommit = 0").await.map_err(|e| self.db_err("cannot start a transaction", e))?;
        self.manual_commit = true;
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

    async fn exec_script(&mut self, script: &str, transactional: bool) -> std::result::Result<(), (usize, DbError)> {
        if self.connection_id.is_none() {
            self.connection_id = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut self.conn).await.ok();
        }
        // A script without a transaction runs with autocommit on, each statement kept as it
        // runs, as elsewhere: with the run's autocommit off it would be one implicit
        // transaction until its end, holding its row locks, and a failure would take it all
        // back. Turning autocommit on commits what is open (a migration's `dirty` row).
        let own_autocommit = !transactional && self.manual_commit;
        if own_autocommit {
            self.conn.execute("SET autocommit = 1").await.map_err(|e| {
                let e = DbError::from(e);
                (0, DbError { message: format!("cannot turn autocommit on for a script without a transaction: {}", e.message), ..e })
            })?;
        }
        let r = self.run_chunks(script).await;
        // Back to the autocommit state the run keeps (see `begin`), which a script without a
        // transaction, or one that sets `autocommit` itself, has changed.
        if own_autocommit || mentions_autocommit(script) {
            let set = if self.manual_commit { "SET autocommit = 0" } else { "SET autocommit = 1" };
            if let Err(e) = self.conn.execute(set).await {
                return r.and(Err((usize::MAX, DbError::from(e))));
            }
        }
        r
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, _transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        if let Some(before) = self.history_print.take() {
            let now = self.history_fingerprint().await;
            if now.as_deref() != Some(before.as_str()) {
                let _ = self.conn.execute("ROLLBACK").await;
                // A read that failed is not evidence of a change: say which it was.
                let what = match now {
                    Some(_) => "changed db-migrate's history table while it ran",
                    None => "could not be checked: the history table could not be read back to see that the migration left it alone",
                };
                return Err(Error::Config(format!(
                    "migration {} {what}; it was rolled back (if it ran DDL, it stays dirty: check the history before `repair`)",
                    m.version
                )));
            }
        }
        let r = match direction {
            Direction::Up => {
                let q = format!("UPDATE {} SET status = 'applied', execution_ms = ? WHERE version = ?", self.t());
                sqlx::query(AssertSqlSafe(q)).bind(took.as_millis() as i64).bind(m.version).execute(&mut self.conn).await.map(|r| r.rows_affected())
            }
            Direction::Down => self.exec(format!("DELETE FROM {} WHERE version = ?", self.t()), m.version).await,
        };
        // The row written `dirty` when the migration began is gone: the server rolled back the
        // transaction holding it (a deadlock, or a lock wait time-out with
        // `innodb_rollback_on_timeout`) while the migration ran on. Committing now would report
        // it applied with no row.
        if matches!(r, Ok(0)) {
            let _ = self.conn.execute("ROLLBACK").await;
            return Err(Error::Database {
                context: format!("cannot record the migration in the history ({})", self.table),
                source: DbError {
                    message: format!(
                        "migration {}'s history row was lost with a transaction the server rolled back while it ran (a deadlock or a lock wait time-out); what it did since is rolled back now, except DDL, which MySQL commits as it runs: check the schema before running it again",
                        m.label()
                    ),
                    code: None,
                },
            });
        }
        let r = r.map(drop);
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

    async fn abort(&mut self, m: &Migration, direction: Direction, transactional: bool, changed: bool) -> Kept {
        self.drop_cursors().await;
        let _ = self.conn.execute("ROLLBACK").await;
        // A script without a transaction committed its history row before its first statement
        // (see `exec_script`): when that statement failed, nothing ran, and the row is put back.
        if !transactional && !changed {
            let undo = match direction {
                Direction::Up => format!("DELETE FROM {} WHERE version = ? AND status = 'dirty'", self.t()),
                Direction::Down => format!("UPDATE {} SET status = 'applied' WHERE version = ? AND status = 'dirty'", self.t()),
            };
            if self.exec(undo, m.version).await.is_ok() && self.commit_edit().await.is_ok() {
                return Kept::Nothing;
            }
        }
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

impl MySqlBackend {
    async fn run_chunks(&mut self, script: &str) -> std::result::Result<(), (usize, DbError)> {
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
}

/// Whether a script may set `autocommit` itself (`SET autocommit = …`, `SET @@autocommit`, or
/// a procedure it calls): then the run's own setting is sent again after it. The word in a
/// comment or string, or `call` inside another word, only costs that one statement more.
fn mentions_autocommit(script: &str) -> bool {
    let b = script.as_bytes();
    b.windows(10).any(|w| w.eq_ignore_ascii_case(b"autocommit")) || b.windows(4).any(|w| w.eq_ignore_ascii_case(b"call"))
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
