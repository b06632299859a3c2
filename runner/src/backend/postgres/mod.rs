//! PostgreSQL through sqlx.
//!
//! DDL is transactional here, so a migration and its history row commit together. A run holds a
//! session advisory lock (key derived from the database and the history table) for its whole
//! length; `transaction:false` scripts run statement by statement, outside any transaction block,
//! for `CREATE INDEX CONCURRENTLY` and friends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow, Postgres};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::OpenMode;
use super::guest::{DbErrorKind, Dialect, GuestSql, GuestSqlError, Rows, SqlValue};
use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus};
use crate::migrate::source::Migration;
use crate::migrate::statements;

mod guest;
use guest::guest_error;
mod history;
use history::HistorySql;
mod lock;

/// The backend's connection. A bulk insert lends it to the task that streams its `COPY` (see
/// `guest::Bulk`); every use of the backend's own settles or abandons the bulk insert first,
/// which gives it back, so it is here whenever it is used.
struct Conn(Option<PgConnection>);

const LENT: &str = "db-migrate bug: the PostgreSQL connection was used while a bulk insert held it";

impl std::ops::Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.0.as_ref().expect(LENT)
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.0.as_mut().expect(LENT)
    }
}

impl Conn {
    /// The connection itself, for closing it or giving it back.
    fn take(&mut self) -> PgConnection {
        self.0.take().expect(LENT)
    }
}

fn quote_ident(name: &str) -> String {
    name.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

/// A PostgreSQL database with its history table.
pub struct PgBackend {
    conn: Conn,
    /// The open bulk insert, streaming through `COPY` on a task that holds `conn` meanwhile.
    bulk: Option<guest::Bulk>,
    /// A bulk insert's error met where it could not be returned, for the end of the guest.
    bulk_failed: Option<GuestSqlError>,
    sql: HistorySql,
    lock_key: Option<i64>,
    table_lock: Option<String>,
    cursors: HashMap<u64, String>,
    next_cursor: u64,
    /// Inside a migration's transaction: guest statements then run under a savepoint, because
    /// one failed statement aborts a PostgreSQL transaction and the guest may handle the error.
    in_tx: bool,
    /// Outside the host's transaction (a `transaction: false` knex migration): the knex
    /// savepoint whose `SAVEPOINT` made the host send `BEGIN` (PostgreSQL has savepoints only
    /// in a transaction; knex, given its own connection, would have sent `BEGIN` itself).
    knex_outer: Option<String>,
    /// `BEGIN` not sent yet: it goes out just before the first statement (see `begin`).
    pending_begin: bool,
    /// The open guest session's deadline: its statements are stopped by the server then.
    deadline: Option<std::time::Instant>,
    /// How to connect (the guest's login reuses it with the guest role's name); unknown for a
    /// connection the application lent ([`PgBackend::from_connection`]).
    opts: Option<PgConnectOptions>,
    /// Guest sessions entered and not yet left (seeds enter around their transaction, and the
    /// sandbox again around the guest).
    guest_depth: u32,
    /// While a restricted guest session is open: the runner's own connection (holding the
    /// run's lock), parked while `conn` is the guest role's login.
    parked: Option<PgConnection>,
    /// Guest logins by role, kept for the next component with the same grant.
    guest_conns: HashMap<String, PgConnection>,
    /// The role of the open restricted session.
    guest_role: Option<String>,
    /// The history as it stood when a restricted guest began: checked again before the
    /// migration is recorded, since that role may write the history table.
    history_print: Option<String>,
    /// The runner's own backend's pid, asked once, for cancelling a statement on Ctrl-C.
    pid: Option<i32>,
}

/// Objects of the current schema that `reset` drops, as (`DROP …` statement, `kind name`),
/// leaving out what belongs to an extension (the extension itself is dropped instead).
const SCHEMA_OBJECTS: &str = "\
    WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
    SELECT 0 AS ord, format('DROP EXTENSION IF EXISTS %I CASCADE', e.extname), 'extension ' || e.extname \
      FROM pg_extension e WHERE e.extnamespace = (SELECT oid FROM s) \
    UNION ALL \
    SELECT 1, format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname), \
           CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' WHEN 'S' THEN 'sequence ' ELSE 'table ' END || c.relname \
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relnamespace = (SELECT oid FROM s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')) \
    UNION ALL \
    SELECT 2, format('DROP %s IF EXISTS %s CASCADE', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure), \
           'function ' || p.proname \
      FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM s) \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') \
    UNION ALL \
    SELECT 3, format('DROP %s IF EXISTS %I.%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname), \
           CASE t.typtype WHEN 'd' THEN 'domain ' ELSE 'type ' END || t.typname \
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
     WHERE t.typnamespace = (SELECT oid FROM s) AND t.typtype IN ('e', 'd', 'r', 'c') \
       AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') \
    ORDER BY 1, 3";

impl PgBackend {
    /// Drops every table, view, sequence, function, type, domain and extension of the current
    /// schema (the history included, except `keep`), in one transaction: what `reset` starts
    /// from. Returns `kind name` of each.
    pub async fn drop_objects(&mut self, keep: Option<&str>) -> Result<Vec<String>> {
        let objects: Vec<(i32, String, String)> =
            sqlx::query_as(SCHEMA_OBJECTS).fetch_all(&mut *self.conn).await.map_err(|e| self.db_err("cannot list the schema", e))?;
        let keep = keep.map(|k| format!("table {}", k.rsplit('.').next().unwrap_or(k)));
        let result = async {
            self.conn.execute("BEGIN").await?;
            let mut dropped = Vec::new();
            for (_, statement, what) in objects {
                if Some(&what) == keep.as_ref() {
                    continue;
                }
                self.conn.execute(AssertSqlSafe(statement)).await?;
                dropped.push(what);
            }
            self.conn.execute("COMMIT").await?;
            Ok::<_, sqlx::Error>(dropped)
        }
        .await;
        if result.is_err() {
            let _ = self.conn.execute("ROLLBACK").await;
        }
        result.map_err(|e| self.db_err("cannot drop the schema", e))
    }
}

/// `DROP DATABASE` of the URL's database, from the `postgres` maintenance database. Returns
/// whether it existed.
pub async fn drop_database(url: &str) -> Result<bool> {
    let redacted = super::url::redact(url);
    let opts = super::url::pg_options(url)
        .map_err(|e| Error::Connect(format!("bad PostgreSQL URL `{redacted}`: {}", super::url::redact(&e.to_string()))))?
        .application_name("db-migrate");
    let Some(name) = database_name(&opts) else {
        return Err(Error::Config(format!("the URL `{redacted}` names no database to drop")));
    };
    if ["postgres", "template0", "template1"].contains(&name.as_str()) {
        return Err(Error::Config(format!("refusing to drop `{name}`: it is one of PostgreSQL's own databases")));
    }
    let mut admin = opts.clone().database("postgres").connect().await.map_err(|e| connect_error(&redacted, e))?;
    let existed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .map_err(|e| Error::Database { context: "cannot list the databases".into(), source: db_error(e) })?;
    let drop = format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\""));
    let r = admin.execute(AssertSqlSafe(drop)).await;
    let _ = admin.close().await;
    match r {
        Ok(_) => Ok(existed),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("55006") => Err(Error::Config(format!(
            "cannot drop the database `{name}`: other sessions are connected to it ({}); close them (or stop the application) and try again",
            d.message()
        ))),
        Err(e) => Err(Error::Database { context: format!("cannot drop the database `{name}`"), source: db_error(e) }),
    }
}

fn db_error(e: sqlx::Error) -> DbError {
    DbError::from(e)
}

/// The name of the database a URL points at, for creating it when missing.
fn database_name(opts: &PgConnectOptions) -> Option<String> {
    opts.get_database().map(String::from)
}

impl PgBackend {
    /// Connects; in read-write mode a missing database is created (as `createdb` would).
    pub async fn connect(url: &str, table: &str, mode: OpenMode) -> Result<Option<Self>> {
        let redacted = super::url::redact(url);
        let opts = super::url::pg_options(url)
            .map_err(|e| Error::Connect(format!("bad PostgreSQL URL `{redacted}`: {}", super::url::redact(&e.to_string()))))?
            .application_name("db-migrate")
            // TCP keepalives: a runner whose machine vanished without closing the socket is
            // noticed in about a minute (see `watch_client` for a killed runner).
            .options([
                ("tcp_keepalives_idle", "30"),
                ("tcp_keepalives_interval", "10"),
                ("tcp_keepalives_count", "3"),
            ]);
        let conn = match opts.connect().await {
            Ok(c) => c,
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("3D000") => {
                let Some(name) = database_name(&opts) else {
                    return Err(Error::Connect(format!("the database in `{redacted}` does not exist")));
                };
                if mode == OpenMode::ReadOnly {
                    return Ok(None);
                }
                let mut admin = opts.clone().database("postgres").connect().await.map_err(|e| connect_error(&redacted, e))?;
                let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
                match admin.execute(AssertSqlSafe(create)).await {
                    Ok(_) => {}
                    // Another runner created it a moment ago: `duplicate_database` when its
                    // creation had committed, a unique violation on pg_database's name index
                    // when both were creating it at once.
                    Err(sqlx::Error::Database(d)) if matches!(d.code().as_deref(), Some("42P04" | "23505")) => {}
                    Err(e) => return Err(create_error(&name, e)),
                }
                let _ = admin.close().await;
                opts.connect().await.map_err(|e| connect_error(&redacted, e))?
            }
            Err(e) => return Err(connect_error(&redacted, e)),
        };
        super::disable_nagle();
        let mut conn = conn;
        if mode == OpenMode::ReadWrite {
            watch_client(&mut conn).await;
        }
        Ok(Some(PgBackend {
            conn: Conn(Some(conn)),
            bulk: None,
            bulk_failed: None,
            sql: HistorySql::new(table),
            lock_key: None,
            table_lock: None,
            cursors: HashMap::new(),
            next_cursor: 0,
            in_tx: false,
            knex_outer: None,
            pending_begin: false,
            deadline: None,
            opts: Some(opts),
            guest_depth: 0,
            parked: None,
            guest_conns: HashMap::new(),
            guest_role: None,
            history_print: None,
            pid: None,
        }))
    }

    fn db_err(&self, context: &str, e: sqlx::Error) -> Error {
        Error::Database { context: format!("{context} ({})", self.sql.table), source: db_error(e) }
    }

    /// Sends the deferred `BEGIN` if a guest or the history needs the transaction first.
    async fn ensure_begun(&mut self) -> std::result::Result<(), sqlx::Error> {
        if std::mem::take(&mut self.pending_begin) {
            self.conn.execute("BEGIN").await?;
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        self.in_tx = false;
        self.pending_begin = false;
        let _ = self.conn.execute("ROLLBACK").await;
    }

    /// Writes an applied migration's history row and commits, in one round trip: `INSERT …;
    /// COMMIT` as one query (with a `BEGIN` first when nothing opened the transaction yet). The
    /// server runs the COMMIT only when the INSERT succeeded; a failed INSERT leaves the
    /// transaction aborted, and it is rolled back. The values are literals: the version and
    /// time are numbers, the rest escaped text (`E'…'`, whatever `standard_conforming_strings`).
    async fn record_and_commit(&mut self, m: &Migration, ms: i64) -> Result<()> {
        let begin = if std::mem::take(&mut self.pending_begin) { "BEGIN; " } else { "" };
        let sql = format!(
            "{begin}{}({}, {}, {}, {}, 'applied', {ms}); COMMIT",
            self.sql.insert_done,
            m.version,
            pg_text(&m.name),
            pg_text(m.kind().as_str()),
            pg_text(&m.checksum)
        );
        self.in_tx = false;
        match self.conn.execute(sqlx::raw_sql(AssertSqlSafe(sql))).await {
            Ok(r) if r.rows_affected() == 1 => Ok(()),
            // Committed, but the row did not land (a rule on the history table made the INSERT
            // do nothing): said as it is.
            Ok(_) => Err(Error::Config(format!(
                "migration {} was committed, but its history row was not written (a rule or trigger on {} swallowed the INSERT); the run stops here: check the history before running again",
                m.label(),
                self.sql.table
            ))),
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") && d.table() == Some(self.sql.table.rsplit('.').next().unwrap_or(&self.sql.table)) => {
                // The history's own key: another runner recorded this version first. (A user
                // table's deferred unique constraint failing at the COMMIT names its table.)
                self.rollback().await;
                Err(Self::conflict(m))
            }
            Err(sqlx::Error::Database(d)) if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some_and(|p| matches!(p.severity(), sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic)) => {
                // The session itself ended (terminated, the server shutting down): that can come
                // after the commit was made, so its outcome is not known.
                Err(self.db_err(
                    &format!(
                        "cannot commit migration {}: the server ended the session during COMMIT, so whether it was committed (its changes with its history row) is unknown; \
                         run `db-migrate status` once the server is back: it shows {} applied if the commit went through, pending if not",
                        m.label(),
                        m.version
                    ),
                    sqlx::Error::Database(d),
                ))
            }
            Err(e @ sqlx::Error::Database(_)) => {
                // The INSERT failed (the transaction was aborted) or the COMMIT did (the server
                // rolled it back): nothing was kept either way.
                self.rollback().await;
                Err(self.db_err(&format!("cannot record and commit migration {}: the server refused and rolled it back, so nothing of it was kept", m.label()), e))
            }
            Err(e) => Err(self.db_err(
                &format!(
                    "cannot commit migration {}: the connection was lost during COMMIT, so whether it was committed (its changes with its history row) is unknown; \
                     run `db-migrate status` once the server is back: it shows {} applied if the commit went through, pending if not",
                    m.label(),
                    m.version
                ),
                e,
            )),
        }
    }

    /// Runs one guest operation; inside a transaction, under a savepoint that a failure rolls
    /// back to, so the transaction survives for the guest to carry on (or give up).
    async fn guarded<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut PgConnection) -> std::result::Result<T, sqlx::Error>,
    ) -> std::result::Result<T, GuestSqlError> {
        // The server stops a guest statement still running at the deadline (statement_timeout,
        // set in the same round trip as the savepoint).
        let timeout = self.deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()).as_millis().max(1));
        if !self.in_tx {
            if let Some(ms) = timeout {
                self.conn.execute(AssertSqlSafe(format!("SET statement_timeout = {ms}"))).await.map_err(guest_error)?;
            }
            let r = op(&mut *self.conn).await.map_err(guest_error);
            if timeout.is_some() {
                let _ = self.conn.execute("RESET statement_timeout").await;
            }
            return r;
        }
        self.ensure_begun().await.map_err(guest_error)?;
        let open = match timeout {
            Some(ms) => format!("SAVEPOINT dbm_guest; SET LOCAL statement_timeout = {ms}"),
            None => "SAVEPOINT dbm_guest".to_string(),
        };
        self.conn.execute(AssertSqlSafe(open)).await.map_err(guest_error)?;
        match op(&mut *self.conn).await {
            Ok(v) => {
                let close = if timeout.is_some() { "RELEASE SAVEPOINT dbm_guest; SET LOCAL statement_timeout TO DEFAULT" } else { "RELEASE SAVEPOINT dbm_guest" };
                self.conn.execute(close).await.map_err(guest_error)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute("ROLLBACK TO SAVEPOINT dbm_guest").await;
                Err(guest_error(e))
            }
        }
    }

    fn conflict(m: &Migration) -> Error {
        Error::Conflict(MigrationRef { version: m.version, name: m.name.clone() })
    }

    async fn history_exists(&mut self) -> Result<bool> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(quote_ident(&self.sql.table))
            .fetch_one(&mut *self.conn)
            .await
            .map_err(|e| self.db_err("cannot read the history table", e))?;
        Ok(exists)
    }

    async fn insert_row(&mut self, m: &Migration, status: RowStatus) -> Result<()> {
        let r = sqlx::query(AssertSqlSafe(self.sql.insert.clone()))
            .bind(m.version)
            .bind(&m.name)
            .bind(m.kind().as_str())
            .bind(&m.checksum)
            .bind(status.as_str())
            .execute(&mut *self.conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => Err(Self::conflict(m)),
            Err(e) => Err(self.db_err("cannot record the migration in the history", e)),
        }
    }

    async fn exec(&mut self, sql: String, version: i64) -> std::result::Result<u64, sqlx::Error> {
        sqlx::query(AssertSqlSafe(sql)).bind(version).execute(&mut *self.conn).await.map(|r| r.rows_affected())
    }

    async fn drop_cursors(&mut self) {
        let ids: Vec<u64> = self.cursors.keys().copied().collect();
        for id in ids {
            self.close_cursor(id).await;
        }
    }

}

fn connect_error(redacted: &str, e: sqlx::Error) -> Error {
    // Only a failure to reach the server is blamed on the connection; anything the server
    // answered (a refused login, a missing role) is reported as what it is.
    let hint = if matches!(e, sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut) {
        "; is the server running and the URL right? (`--wait` waits for it to start)"
    } else {
        ""
    };
    Error::Connect(format!("cannot connect to PostgreSQL at `{redacted}`: {}{hint}", super::url::redact(&DbError::from(e).to_string())))
}

/// A runner killed mid-statement (kill -9, Ctrl-\\, the OOM killer) must not leave its backend
/// running the statement and holding the run's lock until the statement ends: from PostgreSQL
/// 14 on, the server can poll the client's socket while a statement runs and end the session as
/// soon as the client is gone. Every 5 s: `bench/pg_client_check.py` measured a 1 s interval at
/// +30% on a run of 300 small migrations (psql, this machine), and 5 s within noise. Older
/// servers lack the setting (and refuse it as a startup option), so it is set only where it
/// exists.
async fn watch_client(conn: &mut PgConnection) {
    if conn.server_version_num().is_some_and(|v| v >= 140000) {
        let _ = conn.execute("SET client_connection_check_interval = 5000").await;
    }
}

/// Creating a missing database failed although the server answered.
fn create_error(name: &str, e: sqlx::Error) -> Error {
    Error::Database {
        context: format!(
            "the database `{name}` does not exist and db-migrate could not create it (create it yourself, or give db-migrate's user CREATEDB)"
        ),
        source: DbError::from(e),
    }
}

// Running on a connection the application lends (the library embedded in an application).
impl PgBackend {
    /// A backend over a connection the application already holds: nothing is opened and no
    /// session setting is changed; [`PgBackend::into_connection`] gives the connection back.
    /// Components whose grant needs a restricted login are refused (the options to log in with
    /// are unknown).
    pub fn from_connection(conn: PgConnection, table: &str) -> Self {
        PgBackend {
            conn: Conn(Some(conn)),
            bulk: None,
            bulk_failed: None,
            sql: HistorySql::new(table),
            lock_key: None,
            table_lock: None,
            cursors: HashMap::new(),
            next_cursor: 0,
            in_tx: false,
            knex_outer: None,
            pending_begin: false,
            deadline: None,
            opts: None,
            guest_depth: 0,
            parked: None,
            guest_conns: HashMap::new(),
            guest_role: None,
            history_print: None,
            pid: None,
        }
    }

    /// Ends the run and returns the connection: the run's lock is released, and the connection
    /// is the one lent (a guest login that stood in for it is closed).
    pub async fn into_connection(mut self) -> PgConnection {
        self.bulk_abort().await;
        if let Some(own) = self.parked.take() {
            let guest = std::mem::replace(&mut *self.conn, own);
            let _ = guest.close().await;
        }
        for (_, c) in std::mem::take(&mut self.guest_conns) {
            let _ = c.close().await;
        }
        self.drop_cursors().await;
        // The migrator releases the lock before it gives the connection back and reports a
        // failure; this only releases one it did not (then there is no one to tell).
        let _ = self.unlock().await;
        self.conn.take()
    }
}

impl super::Backend for PgBackend {
    async fn user_tables(&mut self) -> Result<usize> {
        let names: Vec<String> = sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()")
            .fetch_all(&mut *self.conn)
            .await
            .map_err(|e| self.db_err("cannot list the tables", e))?;
        Ok(names.iter().filter(|n| !super::is_own_table(n, &self.sql.table)).count())
    }

    async fn begin_plain(&mut self) -> Result<()> {
        // Deferred like a migration's: guests' statements then run under savepoints.
        self.in_tx = true;
        self.pending_begin = true;
        Ok(())
    }

    async fn commit_plain(&mut self) -> Result<()> {
        // (The host waits for a bulk insert's rows before it commits; this only makes sure.)
        if let Err(e) = self.bulk_end(true).await {
            self.rollback().await;
            let code = match &e {
                GuestSqlError::Database { code, .. } => code.clone(),
                _ => None,
            };
            return Err(Error::Database {
                context: "a bulk insert failed in the database, so the transaction was rolled back, not committed".into(),
                source: DbError { message: e.to_string(), code },
            });
        }
        self.drop_cursors().await;
        self.in_tx = false;
        if std::mem::take(&mut self.pending_begin) {
            return Ok(());
        }
        self.conn.execute("COMMIT").await.map(drop).map_err(|e| self.db_err("cannot commit", e))
    }

    async fn rollback_plain(&mut self) {
        self.bulk_abort().await;
        self.drop_cursors().await;
        if std::mem::take(&mut self.pending_begin) {
            self.in_tx = false;
            return;
        }
        self.rollback().await;
    }

    async fn begin(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        let r = self.begin_unchecked(m, direction, transactional).await;
        if r.is_ok() && self.guest_role.is_some() {
            self.history_print = self.history_fingerprint().await;
        }
        r
    }

    async fn exec_script(&mut self, script: &str, transactional: bool) -> std::result::Result<(), (usize, DbError)> {
        // The deferred `BEGIN` goes with the first statement, in one round trip (a multi-statement
        // query's `BEGIN` opens a transaction that outlives the query). Error positions are not
        // used, so the prefix moves nothing a message shows.
        let mut begin = transactional && std::mem::take(&mut self.pending_begin);
        // One statement per round trip, as psql does: measured faster on DDL-heavy scripts than
        // one multi-statement query, and outside a transaction it is required (several
        // statements in one simple query form an implicit transaction block, which
        // `CREATE INDEX CONCURRENTLY` refuses).
        if self.pid.is_none() {
            self.pid = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *self.conn).await.ok();
        }
        let _cancel = self.pid.zip(self.opts.clone()).map(|(pid, opts)| crate::interrupt::on_request(super::cancel::Pg { opts, pid }));
        for (done, stmt) in statements::split(script).iter().enumerate() {
            // A signal that came between statements: its cancel found nothing running.
            if let Some(signal) = crate::interrupt::requested() {
                return Err((done, DbError { message: format!("stopped by {} before the next statement", signal.name()), code: None }));
            }
            let text = if std::mem::take(&mut begin) { format!("BEGIN; {}", stmt.text) } else { stmt.text.to_string() };
            if let Err(e) = self.conn.execute(sqlx::raw_sql(AssertSqlSafe(text))).await {
                return Err((done, e.into()));
            }
        }
        if begin {
            // No statement to carry it: the history row's query opens the transaction.
            self.pending_begin = true;
        }
        Ok(())
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        if let Some(before) = self.history_print.take() {
            let now = self.history_fingerprint().await;
            if now.as_deref() != Some(before.as_str()) {
                if transactional {
                    self.rollback().await;
                }
                // A read that failed is not evidence of a change: say which it was.
                let what = match now {
                    Some(_) => "changed db-migrate's history table while it ran",
                    None => "could not be checked: the history table could not be read back to see that the migration left it alone",
                };
                return Err(Error::Config(format!(
                    "migration {} {what}; {}",
                    m.version,
                    if transactional { "nothing of it was kept" } else { "it stays dirty: check the history before `repair`" }
                )));
            }
        }
        let ms = took.as_millis() as i64;
        if transactional && direction == Direction::Up {
            return self.record_and_commit(m, ms).await;
        }
        if transactional {
            self.ensure_begun().await.map_err(|e| self.db_err("cannot start a transaction", e))?;
            let r = self.exec(self.sql.delete.clone(), m.version).await;
            return match r {
                Ok(1) => {
                    self.in_tx = false;
                    self.conn.execute("COMMIT").await.map(drop).map_err(|e| {
                        // The server answered: it rolled the transaction back. It did not: the
                        // COMMIT may or may not have reached it, and only the history can tell.
                        let context = if matches!(e, sqlx::Error::Database(_)) {
                            format!("cannot commit migration {}: the server refused the commit and rolled it back, so nothing of it was kept", m.label())
                        } else {
                            format!(
                                "cannot commit migration {}: the connection was lost during COMMIT, so whether it was committed (its changes with its history row) is unknown; \
                                 run `db-migrate status` once the server is back: it shows {} applied if the commit went through, pending if not",
                                m.label(),
                                m.version
                            )
                        };
                        self.db_err(&context, e)
                    })
                }
                Ok(_) => {
                    self.rollback().await;
                    Err(Self::conflict(m))
                }
                Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => {
                    self.rollback().await;
                    Err(Self::conflict(m))
                }
                Err(e) => {
                    self.rollback().await;
                    Err(self.db_err("cannot record the migration in the history", e))
                }
            };
        }
        let r = match direction {
            Direction::Up => sqlx::query(AssertSqlSafe(self.sql.finish.clone())).bind(ms).bind(m.version).execute(&mut *self.conn).await.map(drop),
            Direction::Down => self.exec(self.sql.delete.clone(), m.version).await.map(drop),
        };
        r.map_err(|e| self.db_err("cannot record the migration in the history", e))
    }

    async fn abort(&mut self, m: &Migration, direction: Direction, transactional: bool, changed: bool) -> Kept {
        self.drop_cursors().await;
        if transactional && std::mem::take(&mut self.pending_begin) {
            // Nothing was sent: nothing to undo.
            self.in_tx = false;
            return Kept::Nothing;
        }
        if transactional {
            // Even when the connection is gone: the server rolls back a transaction whose
            // session ends, and the COMMIT is only ever sent by `finish`.
            self.rollback().await;
            return Kept::Nothing;
        }
        if changed {
            return Kept::Dirty;
        }
        let undo = match direction {
            Direction::Up => self.sql.delete.clone(),
            Direction::Down => self.sql.mark_applied.clone(),
        };
        match self.exec(undo, m.version).await {
            Ok(_) => Kept::Nothing,
            // The dirty row was committed by `begin` and is still there.
            Err(_) => Kept::Dirty,
        }
    }

    async fn close(mut self) -> Result<()> {
        self.bulk_abort().await;
        if let Some(own) = self.parked.take() {
            let guest = std::mem::replace(&mut *self.conn, own);
            let _ = guest.close().await;
        }
        // The guest roles' logins end with the run: the password only this run knew is
        // retired too.
        for (role, c) in std::mem::take(&mut self.guest_conns) {
            let _ = c.close().await;
            let _ = self.conn.execute(AssertSqlSafe(format!("ALTER ROLE {} NOLOGIN", quote_ident(&role)))).await;
        }
        let unlocked = self.unlock().await;
        let closed = self.conn.take().close().await.map_err(|e| Error::Close(DbError::from(e)));
        unlocked.and(closed)
    }
}

/// `s` as a PostgreSQL escape-string literal (`E'…'`) of ASCII only: backslashes and quotes
/// doubled, every other character beyond ASCII written as a `\uXXXX` / `\UXXXXXXXX` escape. It
/// reads the same whatever `standard_conforming_strings` says, and whatever client encoding a
/// migration may have set (in some multibyte encodings a character's second byte is a
/// backslash, which would end the escaping early).
fn pg_text(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::pg_text;

    #[test]
    fn text_literals_are_ascii_with_quotes_and_backslashes_doubled() {
        assert_eq!(pg_text("plain_name-1"), "E'plain_name-1'");
        assert_eq!(pg_text("it's"), "E'it''s'");
        assert_eq!(pg_text("a\\'; DROP TABLE x; --"), "E'a\\\\''; DROP TABLE x; --'");
        assert_eq!(pg_text("café"), "E'caf\\u00E9'");
        assert_eq!(pg_text("x\u{1F600}\n"), "E'x\\U0001F600\\u000A'");
        assert!(pg_text("表\\'").is_ascii());
    }
}
