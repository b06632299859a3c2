//! PostgreSQL through sqlx.
//!
//! DDL is transactional here, so a migration and its history row commit together. A run holds a
//! session advisory lock (key derived from the database and the history table) for its whole
//! length; `transaction:false` scripts run statement by statement, outside any transaction block,
//! for `CREATE INDEX CONCURRENTLY` and friends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow, Postgres};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};

use super::OpenMode;
use super::guest::{DbErrorKind, Dialect, GuestSql, GuestSqlError, Rows, SqlValue};
use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus};
use crate::migrate::source::Migration;
use crate::migrate::statements;

/// SQL of the history protocol, built once around the validated table name.
struct HistorySql {
    table: String,
    create: String,
    select: String,
    insert: String,
    insert_done: String,
    finish: String,
    delete: String,
    mark_dirty: String,
    mark_applied: String,
}

fn quote_ident(name: &str) -> String {
    name.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

impl HistorySql {
    fn new(table: &str) -> Self {
        let t = quote_ident(table);
        HistorySql {
            table: table.to_string(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (version BIGINT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, \
                 checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
                 execution_ms BIGINT NOT NULL DEFAULT 0)"
            ),
            select: format!(
                "SELECT version, name, kind, checksum, status, \
                 to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS applied_at, execution_ms \
                 FROM {t} ORDER BY version"
            ),
            insert: format!("INSERT INTO {t} (version, name, kind, checksum, status) VALUES ($1, $2, $3, $4, $5)"),
            insert_done: format!(
                "INSERT INTO {t} (version, name, kind, checksum, status, execution_ms) VALUES ($1, $2, $3, $4, 'applied', $5)"
            ),
            finish: format!("UPDATE {t} SET status = 'applied', execution_ms = $1 WHERE version = $2"),
            delete: format!("DELETE FROM {t} WHERE version = $1"),
            mark_dirty: format!("UPDATE {t} SET status = 'dirty' WHERE version = $1 AND status = 'applied'"),
            mark_applied: format!("UPDATE {t} SET status = 'applied' WHERE version = $1"),
        }
    }
}

/// A PostgreSQL database with its history table.
pub struct PgBackend {
    conn: PgConnection,
    sql: HistorySql,
    lock_key: Option<i64>,
    table_lock: Option<String>,
    cursors: HashMap<u64, String>,
    next_cursor: u64,
    /// Inside a migration's transaction: guest statements then run under a savepoint, because
    /// one failed statement aborts a PostgreSQL transaction and the guest may handle the error.
    in_tx: bool,
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
            sqlx::query_as(SCHEMA_OBJECTS).fetch_all(&mut self.conn).await.map_err(|e| self.db_err("cannot list the schema", e))?;
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
            conn,
            sql: HistorySql::new(table),
            lock_key: None,
            table_lock: None,
            cursors: HashMap::new(),
            next_cursor: 0,
            in_tx: false,
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
            let r = op(&mut self.conn).await.map_err(guest_error);
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
        match op(&mut self.conn).await {
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
            .fetch_one(&mut self.conn)
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
            .execute(&mut self.conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => Err(Self::conflict(m)),
            Err(e) => Err(self.db_err("cannot record the migration in the history", e)),
        }
    }

    async fn exec(&mut self, sql: String, version: i64) -> std::result::Result<u64, sqlx::Error> {
        sqlx::query(AssertSqlSafe(sql)).bind(version).execute(&mut self.conn).await.map(|r| r.rows_affected())
    }

    async fn drop_cursors(&mut self) {
        let ids: Vec<u64> = self.cursors.keys().copied().collect();
        for id in ids {
            self.close_cursor(id).await;
        }
    }

    /// Takes a lock row in `<history>_lock` (no session state needed), expiring stale ones.
    async fn lock_table(&mut self, timeout: Duration) -> Result<()> {
        let t = quote_ident(&format!("{}_lock", self.sql.table));
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, acquired_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)"
        );
        // Concurrent `CREATE TABLE IF NOT EXISTS` races in PostgreSQL's catalog; a
        // transaction-scoped advisory lock (fine behind transaction poolers) serialises it.
        let key = super::lock_key(&format!("create {}", self.sql.table));
        let created = async {
            self.conn.execute("BEGIN").await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut self.conn).await?;
            self.conn.execute(AssertSqlSafe(create)).await?;
            self.conn.execute("COMMIT").await
        }
        .await;
        if let Err(e) = created {
            self.rollback().await;
            return Err(self.db_err("cannot create the lock table", e));
        }
        let owner = super::lock_owner();
        let sql = super::sqlx_shared::LockRowSql {
            expire: format!("DELETE FROM {t} WHERE id = 1 AND expires_at < now()"),
            insert: format!(
                "INSERT INTO {t} (id, owner, acquired_at, expires_at) VALUES (1, $1, now(), now() + make_interval(secs => $2)) ON CONFLICT (id) DO NOTHING"
            ),
            holder: format!("SELECT format('%s, since %s, expires %s', owner, acquired_at, expires_at) FROM {t} WHERE id = 1"),
        };
        let ttl = super::TABLE_LOCK_TTL.as_secs() as f64;
        super::sqlx_shared::take_lock_row::<Postgres, _>(&mut self.conn, &sql, &owner, ttl, timeout, &self.sql.table, &t, |r| r.rows_affected()).await?;
        self.table_lock = Some(owner);
        Ok(())
    }

    /// Takes the run's advisory lock, waiting up to `timeout`; says who holds it on time-out.
    async fn lock_advisory(&mut self, timeout: Duration) -> Result<()> {
        let key_src: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| self.db_err("cannot take the migration lock", e))?;
        let key = super::lock_key(&format!("{key_src}/{}", self.sql.table));
        let started = Instant::now();
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| self.db_err("cannot take the migration lock", e))?;
            if got {
                self.lock_key = Some(key);
                return Ok(());
            }
            if started.elapsed() >= timeout {
                let holder: Option<String> = sqlx::query_scalar(
                    "SELECT format('pid %s, application %L, client %s, connected since %s', a.pid, a.application_name, \
                     coalesce(a.client_addr::text, 'local'), a.backend_start) \
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
                )
                .bind(key)
                .fetch_optional(&mut self.conn)
                .await
                .ok()
                .flatten();
                return Err(Error::Locked(format!(
                    "another db-migrate run holds the migration lock of {} ({}); waited {:?} (--lock-timeout)",
                    self.sql.table,
                    holder.unwrap_or_else(|| "holder unknown".into()),
                    timeout
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Releases the advisory or table lock (the advisory one also goes with the connection).
    /// A lock row that is no longer this run's, or an advisory lock the session did not hold,
    /// is an error too: the run was not protected by it to the end.
    pub async fn unlock(&mut self) -> Result<()> {
        if let Some(owner) = self.table_lock.take() {
            let table = format!("{}_lock", self.sql.table);
            let q = format!("DELETE FROM {} WHERE id = 1 AND owner = $1", quote_ident(&table));
            let held = super::held_row(table);
            let n = sqlx::query(AssertSqlSafe(q))
                .bind(owner)
                .execute(&mut self.conn)
                .await
                .map_err(|e| Error::Unlock { lock: held.clone(), source: DbError::from(e) })?
                .rows_affected();
            if n != 1 {
                return Err(Error::Unlock { lock: held, source: super::row_not_ours() });
            }
        }
        if let Some(key) = self.lock_key.take() {
            let released: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| Error::Unlock { lock: super::HeldLock::Session, source: DbError::from(e) })?;
            if !released {
                return Err(Error::Unlock {
                    lock: super::HeldLock::Session,
                    source: DbError {
                        message: "the server says this session did not hold it (is a transaction-mode pooler such as PgBouncer between db-migrate and the server? see --lock-mode table)".into(),
                        code: None,
                    },
                });
            }
        }
        Ok(())
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
            conn,
            sql: HistorySql::new(table),
            lock_key: None,
            table_lock: None,
            cursors: HashMap::new(),
            next_cursor: 0,
            in_tx: false,
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
        if let Some(own) = self.parked.take() {
            let guest = std::mem::replace(&mut self.conn, own);
            let _ = guest.close().await;
        }
        for (_, c) in std::mem::take(&mut self.guest_conns) {
            let _ = c.close().await;
        }
        self.drop_cursors().await;
        // The migrator releases the lock before it gives the connection back and reports a
        // failure; this only releases one it did not (then there is no one to tell).
        let _ = self.unlock().await;
        self.conn
    }
}

impl super::Backend for PgBackend {
    async fn user_tables(&mut self) -> Result<usize> {
        let names: Vec<String> = sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()")
            .fetch_all(&mut self.conn)
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
        self.drop_cursors().await;
        self.in_tx = false;
        if std::mem::take(&mut self.pending_begin) {
            return Ok(());
        }
        self.conn.execute("COMMIT").await.map(drop).map_err(|e| self.db_err("cannot commit", e))
    }

    async fn rollback_plain(&mut self) {
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
        if transactional {
            self.ensure_begun().await.map_err(|e| (0, e.into()))?;
        }
        // One statement per round trip, as psql does: measured faster on DDL-heavy scripts than
        // one multi-statement query, and outside a transaction it is required (several
        // statements in one simple query form an implicit transaction block, which
        // `CREATE INDEX CONCURRENTLY` refuses).
        if self.pid.is_none() {
            self.pid = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut self.conn).await.ok();
        }
        let _cancel = self.pid.zip(self.opts.clone()).map(|(pid, opts)| crate::interrupt::on_request(super::cancel::Pg { opts, pid }));
        for (done, stmt) in statements::split(script).iter().enumerate() {
            // A signal that came between statements: its cancel found nothing running.
            if let Some(signal) = crate::interrupt::requested() {
                return Err((done, DbError { message: format!("stopped by {} before the next statement", signal.name()), code: None }));
            }
            if let Err(e) = self.conn.execute(sqlx::raw_sql(AssertSqlSafe(stmt.text.to_string()))).await {
                return Err((done, e.into()));
            }
        }
        Ok(())
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        if let Some(before) = self.history_print.take() {
            if self.history_fingerprint().await.as_deref() != Some(before.as_str()) {
                if transactional {
                    self.rollback().await;
                }
                return Err(Error::Config(format!(
                    "migration {} changed db-migrate's history table while it ran; {}",
                    m.version,
                    if transactional { "nothing of it was kept" } else { "it stays dirty: check the history before `repair`" }
                )));
            }
        }
        let ms = took.as_millis() as i64;
        if transactional {
            self.ensure_begun().await.map_err(|e| self.db_err("cannot start a transaction", e))?;
            let r = match direction {
                Direction::Up => sqlx::query(AssertSqlSafe(self.sql.insert_done.clone()))
                    .bind(m.version)
                    .bind(&m.name)
                    .bind(m.kind().as_str())
                    .bind(&m.checksum)
                    .bind(ms)
                    .execute(&mut self.conn)
                    .await
                    .map(|_| 1),
                Direction::Down => self.exec(self.sql.delete.clone(), m.version).await,
            };
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
            Direction::Up => sqlx::query(AssertSqlSafe(self.sql.finish.clone())).bind(ms).bind(m.version).execute(&mut self.conn).await.map(drop),
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
        if let Some(own) = self.parked.take() {
            let guest = std::mem::replace(&mut self.conn, own);
            let _ = guest.close().await;
        }
        // The guest roles' logins end with the run: the password only this run knew is
        // retired too.
        for (role, c) in std::mem::take(&mut self.guest_conns) {
            let _ = c.close().await;
            let _ = self.conn.execute(AssertSqlSafe(format!("ALTER ROLE {} NOLOGIN", quote_ident(&role)))).await;
        }
        let unlocked = self.unlock().await;
        let closed = self.conn.close().await.map_err(|e| Error::Close(DbError::from(e)));
        unlocked.and(closed)
    }
}

impl super::History for PgBackend {
    fn read_history(&mut self) -> super::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            if !self.history_exists().await? {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(AssertSqlSafe(self.sql.select.clone()))
                .fetch_all(&mut self.conn)
                .await
                .map_err(|e| self.db_err("cannot read the history table", e))?;
            rows.iter()
                .map(|r| {
                    Ok(AppliedMigration {
                        version: r.try_get("version")?,
                        name: r.try_get("name")?,
                        kind: r.try_get("kind")?,
                        checksum: r.try_get("checksum")?,
                        status: RowStatus::parse(r.try_get::<&str, _>("status")?),
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
            self.conn
                .execute(AssertSqlSafe(self.sql.create.clone()))
                .await
                .map_err(|e| self.db_err("cannot create the history table", e))?;
            Ok(())
        })
    }

    fn mark_applied(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self.exec(self.sql.mark_applied.clone(), version).await.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn remove(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self.exec(self.sql.delete.clone(), version).await.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> super::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET checksum = $1, name = $2 WHERE version = $3", quote_ident(&self.sql.table));
            let r = sqlx::query(AssertSqlSafe(q)).bind(checksum).bind(name).bind(version).execute(&mut self.conn).await;
            let r = r.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.rows_affected() == 1)
        })
    }
}

impl super::Lock for PgBackend {
    fn lock(&mut self, timeout: Duration, mode: super::LockMode) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match mode {
                super::LockMode::Session => self.lock_advisory(timeout).await,
                super::LockMode::Table => self.lock_table(timeout).await,
            }
        })
    }

    fn heartbeat(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(owner) = &self.table_lock {
                let table = format!("{}_lock", self.sql.table);
                let q = format!("UPDATE {} SET expires_at = now() + make_interval(secs => $1) WHERE id = 1 AND owner = $2", quote_ident(&table));
                let r = sqlx::query(AssertSqlSafe(q)).bind(super::TABLE_LOCK_TTL.as_secs() as f64).bind(owner.clone()).execute(&mut self.conn).await;
                let n = r.map_err(|e| self.db_err("cannot renew the migration lock", e))?.rows_affected();
                if n != 1 {
                    return Err(super::lock_row_lost(&self.sql.table, &table));
                }
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            PgBackend::unlock(self).await
        })
    }
}

fn bind_all<'q>(q: sqlx::query::Query<'q, Postgres, PgArguments>, params: impl IntoIterator<Item = SqlValue>) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    super::sqlx_shared::bind_values(q, params, |q, s| match PgTimestamp::parse(&s) {
        Some(t) => q.bind(t),
        None => q.bind(s),
    })
}

/// A guest's `timestamp` value (RFC 3339 text), bound as the database's `timestamptz` (as the
/// WIT promises), so it fits `timestamptz` and `timestamp` columns as a driver's date would:
/// microseconds since 2000-01-01 UTC, PostgreSQL's binary form. Text that does not parse as
/// RFC 3339 is bound as text.
struct PgTimestamp(i64);

impl PgTimestamp {
    fn parse(s: &str) -> Option<Self> {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let epoch = time::macros::datetime!(2000-01-01 0:00 UTC);
        i64::try_from((t - epoch).whole_microseconds()).ok().map(PgTimestamp)
    }
}

impl sqlx::Type<Postgres> for PgTimestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        // 1184: timestamptz.
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(1184))
    }
}

impl sqlx::Encode<'_, Postgres> for PgTimestamp {
    fn encode_by_ref(&self, buf: &mut sqlx::postgres::PgArgumentBuffer) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        buf.extend_from_slice(&self.0.to_be_bytes());
        Ok(sqlx::encode::IsNull::No)
    }
}

fn guest_error(e: sqlx::Error) -> GuestSqlError {
    match &e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned());
            let kind = match code.as_deref() {
                Some("23505") => DbErrorKind::UniqueViolation,
                Some("23503") => DbErrorKind::ForeignKeyViolation,
                Some("23502") => DbErrorKind::NotNullViolation,
                Some("23514") => DbErrorKind::CheckViolation,
                Some("42601") => DbErrorKind::Syntax,
                _ => DbErrorKind::Other,
            };
            GuestSqlError::Database { kind, message: d.message().to_string(), code }
        }
        other => GuestSqlError::Database { kind: DbErrorKind::Other, message: other.to_string(), code: None },
    }
}

fn row_values(row: &PgRow) -> std::result::Result<Vec<SqlValue>, GuestSqlError> {
    let decode = |e: sqlx::Error| GuestSqlError::Database { kind: DbErrorKind::Other, message: e.to_string(), code: None };
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(decode)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let ty = raw.type_info().name().to_string();
            Ok(match ty.as_str() {
                "BOOL" => SqlValue::Bool(row.try_get(i).map_err(decode)?),
                "INT2" => SqlValue::Int(row.try_get::<i16, _>(i).map_err(decode)? as i64),
                "INT4" => SqlValue::Int(row.try_get::<i32, _>(i).map_err(decode)? as i64),
                "INT8" => SqlValue::Int(row.try_get(i).map_err(decode)?),
                "FLOAT4" => SqlValue::Float(row.try_get::<f32, _>(i).map_err(decode)? as f64),
                "FLOAT8" => SqlValue::Float(row.try_get(i).map_err(decode)?),
                "BYTEA" => SqlValue::Blob(row.try_get(i).map_err(decode)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => SqlValue::Text(row.try_get(i).map_err(decode)?),
                other => {
                    return Err(GuestSqlError::InvalidInput(format!(
                        "column {} has type {other}, which the sql interface does not carry; cast it to text in the query (`::text`)",
                        i + 1
                    )));
                }
            })
        })
        .collect()
}

impl PgBackend {
    /// `begin`, without the history fingerprint.
    async fn begin_unchecked(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        if transactional {
            // The run holds the advisory lock, so no other runner can record this migration
            // meanwhile: the history row is written at the end, in the same transaction, and
            // `BEGIN` waits until the first statement (of the script or of a guest) needs it.
            self.pending_begin = true;
            self.in_tx = true;
            return Ok(());
        }
        match direction {
            Direction::Up => self.insert_row(m, RowStatus::Dirty).await,
            Direction::Down => match self.exec(self.sql.mark_dirty.clone(), m.version).await {
                Ok(1) => Ok(()),
                Ok(_) => Err(Self::conflict(m)),
                Err(e) => Err(self.db_err("cannot update the history", e)),
            },
        }
    }


    /// A digest of the whole history (absent table: `None`).
    async fn history_fingerprint(&mut self) -> Option<String> {
        let q = format!(
            "SELECT md5(coalesce(string_agg(version::text || '/' || status || '/' || checksum, ',' ORDER BY version), '')) FROM {}",
            quote_ident(&self.sql.table)
        );
        sqlx::query_scalar(AssertSqlSafe(q)).fetch_one(&mut self.conn).await.ok()
    }

    /// Opens a restricted guest session: the statements of a component whose grant names its
    /// tables run on a login of a role that has exactly those privileges, so PostgreSQL itself
    /// refuses everything else — other tables, server files and programs, other roles. That
    /// session has no other role to switch back to (`SET ROLE`, `RESET ROLE`, `set_config`,
    /// `SET SESSION AUTHORIZATION` all fail: it is not a member of anything). The migration's
    /// history row is written on the same session, so it still commits with the guest's work in
    /// one transaction; the role may therefore write the history table, which the host's check
    /// keeps every guest statement away from. The run's advisory lock stays on the runner's own
    /// connection, parked meanwhile, where the guest cannot reach it.
    async fn restricted_session(&mut self, scope: &super::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        let Some(base) = self.opts.clone() else {
            return Err(GuestSqlError::Denied(
                "this component's grant is enforced by a login of a restricted role, and a connection lent by the application \
                 does not say how to log in: run it with `Migrator::up` and a URL, or grant it the whole database"
                    .into(),
            ));
        };
        let database = base.get_database().unwrap_or("postgres").to_string();
        let role = scope.role_name(&database);
        let password = super::guest::random_password();
        let r = quote_ident(&role);
        let setup = |e: sqlx::Error| GuestSqlError::Denied(format!(
            "cannot set up the restricted role `{role}` that enforces this component's grant: {} \
             (db-migrate's database user needs CREATEROLE, and the right to grant on the granted tables)",
            DbError::from(e)
        ));
        // CREATE ROLE may race with another runner creating the same role: then it exists.
        let create = format!("CREATE ROLE {r} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS");
        match self.conn.execute(AssertSqlSafe(create)).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if matches!(d.code().as_deref(), Some("42710" | "23505")) => {}
            Err(e) => return Err(setup(e)),
        }
        let mut grants = vec![
            format!("ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 8 PASSWORD '{password}'"),
            format!("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {r}", quote_ident(&database)),
            format!("GRANT USAGE ON SCHEMA public TO {r}"),
            // The runner may act on what the guest creates (a later SQL migration altering it).
            format!("GRANT {r} TO CURRENT_USER"),
        ];
        if scope.ddl {
            grants.push(format!("GRANT CREATE ON SCHEMA public TO {r}"));
        }
        let mut privileges = Vec::new();
        if scope.read {
            privileges.push("SELECT");
        }
        if scope.write {
            privileges.extend(["INSERT", "UPDATE", "DELETE"]);
        }
        // db-migrate's own tables: the history row is written on this session.
        // (Not its `_lock` table: the run's lock is renewed on the runner's own connection.)
        let own = [self.sql.table.clone(), scope.reserved.seeds.clone()];
        let mut tables: Vec<(String, Vec<&str>)> = own.into_iter().map(|t| (t, vec!["SELECT", "INSERT", "UPDATE", "DELETE"])).collect();
        if !privileges.is_empty() {
            tables.extend(scope.tables.iter().flatten().map(|t| (t.clone(), privileges.clone())));
        }
        for (t, privs) in &tables {
            let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text").bind(quote_ident(t)).fetch_one(&mut self.conn).await.map_err(setup)?;
            let Some(_) = exists else { continue };
            let qt = quote_ident(t);
            if let Some((schema, _)) = t.split_once('.') {
                grants.push(format!("GRANT USAGE ON SCHEMA {} TO {r}", quote_ident(schema)));
            }
            grants.push(format!("GRANT {} ON TABLE {qt} TO {r}", privs.join(", ")));
            // Sequences behind serial and identity columns, for the inserts' defaults.
            let seqs: Vec<String> = sqlx::query_scalar(
                "SELECT d.objid::regclass::text FROM pg_depend d JOIN pg_class c ON c.oid = d.objid \
                 WHERE c.relkind = 'S' AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')",
            )
            .bind(&qt)
            .fetch_all(&mut self.conn)
            .await
            .map_err(setup)?;
            for s in seqs {
                grants.push(format!("GRANT USAGE, SELECT ON SEQUENCE {s} TO {r}"));
            }
        }
        for g in &grants {
            if let Err(e) = self.conn.execute(AssertSqlSafe(g.clone())).await {
                // GRANT role TO CURRENT_USER fails harmlessly when it is already a member.
                if g.starts_with(&format!("GRANT {r} TO")) {
                    continue;
                }
                return Err(setup(e));
            }
        }
        let guest = match self.guest_conns.remove(&role) {
            Some(c) => c,
            None => {
                let opts = base.clone().username(&role).password(&password).application_name("db-migrate guest");
                let c = opts.connect().await.map_err(|e| GuestSqlError::Denied(format!(
                    "cannot log in as the restricted role `{role}` that enforces this component's grant: {} \
                     (the server's pg_hba.conf must let it connect like db-migrate's own user, with a password)",
                    DbError::from(e)
                )))?;
                super::disable_nagle();
                let mut c = c;
                // Strings end where the host's parser thinks they do.
                c.execute("SET standard_conforming_strings = on").await.map_err(|e| GuestSqlError::Denied(DbError::from(e).to_string()))?;
                watch_client(&mut c).await;
                c
            }
        };
        self.parked = Some(std::mem::replace(&mut self.conn, guest));
        self.guest_role = Some(role);
        Ok(())
    }
}

/// Why a result stopped being read.
enum Over {
    Rows,
    Bytes,
    Decode(GuestSqlError),
}

/// Reads rows as they arrive, decoding each, until `max_rows` + 1 or `max_bytes` is passed.
async fn fetch_within(
    mut stream: impl futures_util::Stream<Item = std::result::Result<sqlx::postgres::PgRow, sqlx::Error>> + Unpin,
    max_rows: usize,
    max_bytes: usize,
) -> std::result::Result<(Rows, Option<Over>), sqlx::Error> {
    let mut out = Rows::default();
    let mut bytes = 0;
    while let Some(row) = stream.next().await {
        let row = row?;
        if out.columns.is_empty() {
            out.columns = row.columns().iter().map(|c| sqlx::Column::name(c).to_string()).collect();
        }
        if out.rows.len() == max_rows {
            return Ok((out, Some(Over::Rows)));
        }
        match row_values(&row) {
            Ok(v) => {
                bytes += v.iter().map(super::guest::value_bytes).sum::<usize>();
                if bytes > max_bytes {
                    return Ok((out, Some(Over::Bytes)));
                }
                out.rows.push(v);
            }
            Err(e) => return Ok((out, Some(Over::Decode(e)))),
        }
    }
    Ok((out, None))
}

impl GuestSql for PgBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<u64, GuestSqlError> {
        if super::guest::is_knex_savepoint_statement(statement) {
            // A knex migration's own savepoint (the host admits these for knex migrations only)
            // lives beside the per-statement savepoint, which would take it along when released.
            if self.in_tx {
                self.ensure_begun().await.map_err(guest_error)?;
            }
            return self.conn.execute(AssertSqlSafe(statement.to_string())).await.map(|r| r.rows_affected()).map_err(guest_error);
        }
        let q = bind_all(sqlx::query(AssertSqlSafe(statement.to_string())), params);
        self.guarded(async |c| q.execute(c).await.map(|r| r.rows_affected())).await
    }

    async fn query(&mut self, statement: &str, params: Vec<SqlValue>, max_rows: usize, max_bytes: usize) -> std::result::Result<Rows, GuestSqlError> {
        let q = bind_all(sqlx::query(AssertSqlSafe(statement.to_string())), params);
        // Rows are decoded as they arrive and counted against both caps, so a larger result is
        // refused without being held.
        let (out, over) = self.guarded(async |c| fetch_within(q.fetch(c), max_rows, max_bytes).await).await?;
        match over {
            Some(Over::Rows) => Err(GuestSqlError::Denied(format!("the query returns more than {max_rows} rows; read large results with a cursor"))),
            Some(Over::Bytes) => Err(super::guest::too_many_bytes(max_bytes)),
            Some(Over::Decode(e)) => Err(e),
            None => Ok(out),
        }
    }

    async fn execute_batch(&mut self, statement: &str, rows: Vec<Vec<SqlValue>>, plan: Option<&super::guest::InsertPlan>) -> std::result::Result<u64, GuestSqlError> {
        let Some(first) = rows.first() else { return Ok(0) };
        let width = first.len();
        if rows.iter().any(|r| r.len() != width) {
            return Err(GuestSqlError::InvalidInput("every row of a batch needs the same number of values".into()));
        }
        // A plain `INSERT … VALUES ($1, …)` becomes one COPY: the fastest way rows reach the
        // server (no parameter limit, no per-row round trip). Anything else runs row by row.
        if let Some(plan) = plan.filter(|p| width > 0 && p.width == width) {
            let target = plan.target();
            let mut data = Vec::with_capacity(rows.len() * width * 12);
            for row in &rows {
                for (i, v) in row.iter().enumerate() {
                    if i > 0 {
                        data.push(b'\t');
                    }
                    super::guest::copy_text(&mut data, v);
                }
                data.push(b'\n');
            }
            let copy = format!("COPY {target} FROM STDIN");
            return self
                .guarded(async |c| {
                    let mut cp = c.copy_in_raw(&copy).await?;
                    if let Err(e) = cp.send(data).await {
                        let _ = cp.abort("db-migrate: sending the batch failed").await;
                        return Err(e);
                    }
                    cp.finish().await
                })
                .await;
        }
        let mut total = 0;
        for row in rows {
            total += self.execute(statement, row).await?;
        }
        Ok(total)
    }

    async fn open_cursor(&mut self, statement: &str, params: Vec<SqlValue>) -> std::result::Result<(u64, Vec<String>), GuestSqlError> {
        // A server-side cursor in the migration's transaction: pages are fetched on demand.
        let id = self.next_cursor;
        self.next_cursor += 1;
        let name = format!("dbm_cursor_{id}");
        // Outside a transaction (a non-transactional migration committing its batches as it
        // goes), a cursor must outlive each statement's implicit transaction: WITH HOLD.
        let hold = if self.in_tx { "" } else { " WITH HOLD" };
        let declare = bind_all(sqlx::query(AssertSqlSafe(format!("DECLARE {name} NO SCROLL CURSOR{hold} FOR {statement}"))), params);
        self.guarded(async |c| declare.execute(c).await.map(drop)).await?;
        let prepared = (&mut self.conn).prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(format!("SELECT * FROM ({statement}) AS q LIMIT 0")))).await;
        let columns = prepared
            .map(|st| sqlx::Statement::columns(&st).iter().map(|c| sqlx::Column::name(c).to_string()).collect())
            .unwrap_or_default();
        self.cursors.insert(id, name);
        Ok((id, columns))
    }

    async fn cursor_next(&mut self, id: u64, max_rows: usize, max_bytes: usize) -> std::result::Result<Option<Vec<Vec<SqlValue>>>, GuestSqlError> {
        let Some(name) = self.cursors.get(&id).cloned() else {
            return Err(GuestSqlError::InvalidInput("the cursor is closed".into()));
        };
        let fetch = sqlx::query(AssertSqlSafe(format!("FETCH {max_rows} FROM {name}")));
        let (out, over) = self.guarded(async |c| fetch_within(fetch.fetch(c), max_rows, max_bytes).await).await?;
        match over {
            // The server's cursor has moved past the rows; the page cannot be cut short.
            Some(Over::Bytes) => Err(GuestSqlError::Denied(format!(
                "a page of this cursor holds more than {} MiB of values; ask for fewer rows per page",
                max_bytes >> 20
            ))),
            Some(Over::Decode(e)) => Err(e),
            _ if out.rows.is_empty() => Ok(None),
            _ => Ok(Some(out.rows)),
        }
    }

    async fn enter_guest(&mut self, scope: &super::guest::GuestScope) -> std::result::Result<(), GuestSqlError> {
        self.deadline = scope.deadline;
        self.guest_depth += 1;
        if self.guest_depth > 1 {
            return Ok(());
        }
        if !scope.restricted() {
            // Strings end where the host's parser thinks they do (the default since 9.1).
            let scs: String = sqlx::query_scalar("SHOW standard_conforming_strings").fetch_one(&mut self.conn).await.unwrap_or_default();
            if scs != "on" {
                if let Err(e) = self.conn.execute("SET standard_conforming_strings = on").await {
                    self.guest_depth -= 1;
                    return Err(guest_error(e));
                }
            }
            return Ok(());
        }
        match self.restricted_session(scope).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.guest_depth -= 1;
                Err(e)
            }
        }
    }

    async fn leave_guest(&mut self) {
        self.guest_depth = self.guest_depth.saturating_sub(1);
        if self.guest_depth > 0 {
            return;
        }
        self.deadline = None;
        // The guest's scratch tables go with its session: they shadow nothing afterwards.
        if !self.in_tx {
            let _ = self.conn.execute("DISCARD TEMP").await;
        }
        if let (Some(own), Some(role)) = (self.parked.take(), self.guest_role.take()) {
            let guest = std::mem::replace(&mut self.conn, own);
            self.guest_conns.insert(role, guest);
        }
    }

    async fn close_cursor(&mut self, id: u64) {
        if let Some(name) = self.cursors.remove(&id) {
            let _ = self.conn.execute(AssertSqlSafe(format!("CLOSE {name}"))).await;
        }
    }
}
