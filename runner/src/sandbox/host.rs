//! The host side of the WIT interfaces: what a guest's imports do.
//!
//! Guest-visible failures (`denied`, database errors, invalid input) are returned as WIT values
//! the guest can handle; only host-side breakage becomes a trap.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};

use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::output::CappedOutput;
use crate::backend::guest::{CallLimits, DbErrorKind, Dialect, GuestSql, GuestSqlError, SqlValue};
use crate::backend::AnyBackend;
use crate::migrate::events::{Event, LogLevel, Observer};
use crate::migrate::source::Migration as MigrationFile;

// The `documents` interface (MongoDB) is implemented only in a build with MongoDB's driver; without it
// the linker does not offer the interface, and a component importing it is refused before it runs.
#[cfg(feature = "mongodb")]
mod document_calls;

/// Bindings generated from `wit/` (the one source of truth).
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "migration",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "db-migrate:runtime/sql.cursor": super::CursorHandle, "db-migrate:runtime/sql.bulk-insert": super::BulkHandle },
    });
}

/// Bindings of the MongoDB world; the interfaces it shares with `migration` are the same types.
#[allow(missing_docs)]
mod doc_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "document-migration",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "db-migrate:runtime/types": super::bindings::db_migrate::runtime::types,
            "db-migrate:runtime/log": super::bindings::db_migrate::runtime::log,
            "db-migrate:runtime/context": super::bindings::db_migrate::runtime::context,
            "db-migrate:runtime/documents.document-cursor": super::DocCursorHandle,
        },
    });
}

/// Bindings of the seed world (export `run`); its imports are the `migration` world's.
#[allow(missing_docs)]
mod seed_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "seed",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "db-migrate:runtime/types": super::bindings::db_migrate::runtime::types,
            "db-migrate:runtime/sql": super::bindings::db_migrate::runtime::sql,
            "db-migrate:runtime/log": super::bindings::db_migrate::runtime::log,
            "db-migrate:runtime/context": super::bindings::db_migrate::runtime::context,
        },
    });
}

pub use bindings::{Migration, MigrationPre};
pub use seed_bindings::Seed;
pub use bindings::db_migrate::runtime::{context, log, sql, types};
pub use doc_bindings::{DocumentMigration, DocumentMigrationPre};
pub use doc_bindings::db_migrate::runtime::documents;

/// The host's handle of an open document cursor.
pub struct DocCursorHandle {
    #[cfg_attr(not(feature = "mongodb"), allow(dead_code))]
    id: u64,
}

/// The host's handle of an open guest cursor.
pub struct CursorHandle {
    id: u64,
    columns: Vec<String>,
}

/// The most bulk inserts a guest may hold open at once.
const MAX_BULK_HANDLES: usize = 16;

/// The host's handle of a bulk insert: its admitted statement and the rows written through it.
pub struct BulkHandle {
    statement: String,
    width: usize,
    rows: u64,
}

/// Why a run ended at a bulk insert: the database rejected what it streamed (the WIT's
/// `bulk-insert` makes such errors end the run rather than return to the guest).
#[derive(Debug)]
pub struct BulkRejected(pub String);

impl std::fmt::Display for BulkRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BulkRejected {}

pub use super::GuestContext;

/// Everything one guest instance's store holds.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: super::policy::MemoryLimiter,
    /// The database, lent to the guest for the duration of the call.
    pub(super) db: AnyBackend,
    pub(super) call_limits: CallLimits,
    pub(super) grants: super::grants::Grants,
    /// The granted collections as written (MongoDB names are case-sensitive); `None`: any.
    #[cfg_attr(not(feature = "mongodb"), allow(dead_code))]
    pub(super) collections: Option<std::collections::BTreeSet<String>>,
    /// db-migrate's own tables in this run, never a guest's.
    pub(super) reserved: super::grants::Reserved,
    /// Statements already admitted in this run: guests repeat the same text (a seed's INSERT),
    /// and the grants cannot change mid-run, so each text is parsed and checked once.
    pub(super) admitted: std::collections::HashMap<String, super::grants::Admitted>,
    pub(super) migration: MigrationFile,
    pub(super) context: Arc<GuestContext>,
    pub(super) observer: Option<Observer>,
    /// Statements that changed something, to know whether a failed non-transactional run is dirty.
    pub(super) writes: u64,
    pub(super) log_bytes: usize,
    pub(super) log_cap: usize,
    pub(super) stdout: CappedOutput,
    pub(super) stderr: CappedOutput,
    /// Rows changed per table (seeds report them).
    pub(super) rows: BTreeMap<String, u64>,
    /// Commit after each batch (seed packs that opt in).
    pub(super) batch_commits: bool,
    /// Batches committed so far.
    pub(super) commits: u64,
    /// A failure of the host's own (a commit that failed), reported instead of the guest's.
    pub(super) host_error: Option<String>,
    /// When the guest's time is up (the epoch deadline's instant): a host call that returns
    /// after it stops the guest, so time inside database calls counts too.
    pub(super) deadline: Option<std::time::Instant>,
    /// Set when a host call ended past the deadline.
    pub(super) deadline_hit: bool,
    /// The time limit, for messages.
    pub(super) timeout: Option<std::time::Duration>,
    /// A dry run's rehearsal: statements are written down here, and only reads are sent.
    pub(super) rehearsal: Option<super::rehearsal::Recorder>,
    /// The bulk insert (its handle) whose rows the database may not have taken yet: any other
    /// call waits for them first.
    pub(super) bulk_open: Option<u32>,
    /// The table the open bulk insert writes, for its row count.
    pub(super) bulk_target: Option<String>,
    /// Bulk inserts the guest holds (each keeps its statement's text on the host's side).
    pub(super) bulk_handles: usize,
    /// While the guest's `metadata` runs: before the migration's transaction, so no database
    /// call is allowed (what it wrote would escape the transaction and the report).
    pub(super) in_metadata: bool,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl HostState {
    fn emit(&self, e: Event<'_>) {
        if let Some(o) = &self.observer {
            o(&e);
        }
    }

    /// Limits first, then grants; a refusal is audited and returned to the guest as `denied`.
    fn admit(&mut self, statement: &str, params: usize) -> Result<super::grants::Admitted, types::Error> {
        self.refuse_in_metadata()?;
        if let Err(e) = self.call_limits.check(statement, params) {
            if let Some(rec) = self.rehearsal.as_mut() {
                rec.note_denied(&clip(statement, 4096), &e.to_string());
            }
            return Err(to_wit_error(e));
        }
        if let Some(a) = self.admitted.get(statement) {
            return Ok(a.clone());
        }
        let knex = match &self.migration.body {
            crate::migrate::source::Body::Knex { .. } => super::knex::admit(self.db.dialect(), statement, &self.grants, &self.reserved),
            crate::migrate::source::Body::Alembic { .. } => super::alembic::admit(self.db.dialect(), statement, &self.grants, &self.reserved),
            _ => None,
        };
        let admitted = knex.unwrap_or_else(|| self.grants.check_with(self.db.dialect(), statement, &self.reserved)).map_err(|reason| {
            self.emit(Event::Audit { migration: &self.migration, statement: &clip(statement, 1024), reason: &reason });
            if let Some(rec) = self.rehearsal.as_mut() {
                rec.note_denied(statement, &reason);
            }
            types::Error::Denied(reason)
        })?;
        // Kept for the next call with the same text: at most 1,024 texts of at most 16 KiB (a
        // longer one is checked again each time rather than held).
        if statement.len() <= 16 << 10 {
            if self.admitted.len() >= 1024 {
                self.admitted.clear();
            }
            self.admitted.insert(statement.to_string(), admitted.clone());
        }
        Ok(admitted)
    }
}

/// At most `max` bytes of `s` (on a character boundary), with a note of what was cut: every
/// guest-supplied string is bounded before it is shown, logged or kept.
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… [{} more bytes cut]", &s[..end], s.len() - end))
}

impl HostState {
    /// In a rehearsal, writes `statement` down; `true` when it must not be sent: everything but
    /// a plain query the host's own check classed as a read (settings, savepoints and the like
    /// are written down too: they would act on a transaction a rehearsal does not open).
    fn rehearsed(&mut self, admitted: &super::grants::Admitted, statement: &str, params: &[types::Value], rows: Option<usize>) -> bool {
        // A grant that lists the component's own functions: they may do anything (run a command,
        // take a lock, write through a path no read-only transaction covers), and any read may
        // call them, so in a rehearsal nothing is sent at all.
        let own_functions = !self.grants.functions.is_empty();
        let Some(rec) = self.rehearsal.as_mut() else { return false };
        let read = admitted.class == super::grants::Class::Read && admitted.query && !own_functions;
        let shown: Vec<SqlValue> = params.iter().cloned().map(to_sql).collect();
        rec.note(statement, &shown, rows, read);
        !read
    }

    /// Stops the guest when a host call ended past its deadline.
    fn check_deadline(&mut self) -> wasmtime::Result<()> {
        if self.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            self.deadline_hit = true;
            return Err(wasmtime::Error::msg("the component's time limit passed inside a database call"));
        }
        // Ctrl-C / SIGTERM: the component stops at its next host call and its work rolls back.
        if let Some(signal) = crate::interrupt::requested() {
            return Err(wasmtime::Error::msg(format!("stopped by {} at a database call", signal.name())));
        }
        Ok(())
    }

    /// Waits until the database has taken the rows of the open bulk insert, if one is open. A
    /// rejection ends the run: the guest was told its rows were written, so it must not carry
    /// on as if they were (its unit's rollback takes back what the run did).
    async fn settle_bulk(&mut self) -> wasmtime::Result<()> {
        if self.bulk_open.is_none() {
            return Ok(());
        }
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.bulk_settle().await;
        super::db_call_ends();
        // Only now: a settle stopped halfway is done again by the next call.
        let (rep, target) = (self.bulk_open.take(), self.bulk_target.take());
        self.check_deadline()?;
        let skipped = r.map_err(|e| self.bulk_rejected(e))?;
        // Rows the database did not keep (a trigger skipping them, as it would an INSERT's)
        // are not reported as written.
        if skipped > 0 {
            if let Some(t) = target.and_then(|t| self.rows.get_mut(&t)) {
                *t = t.saturating_sub(skipped);
            }
            if let Some(h) = rep.and_then(|rep| self.table.get_mut(&Resource::<BulkHandle>::new_borrow(rep)).ok()) {
                h.rows = h.rows.saturating_sub(skipped);
            }
        }
        Ok(())
    }

    /// The refusal of a database call made from the guest's `metadata`.
    fn refuse_in_metadata(&self) -> Result<(), types::Error> {
        if self.in_metadata {
            return Err(types::Error::Denied(
                "`metadata` runs before the migration's transaction and may not use the database; do the work in `up` or `down`".into(),
            ));
        }
        Ok(())
    }

    /// After the guest returned successfully: waits for the rows of a bulk insert it left open,
    /// then takes away what its session made that would outlive it (see
    /// [`GuestSql::end_guest_writes`]). The error fails the run.
    pub(super) async fn end_guest_writes(&mut self) -> Result<(), String> {
        self.settle_bulk().await.map_err(|e| e.to_string())?;
        self.db.end_guest_writes().await.map_err(|e| e.to_string())
    }

    /// The error that ends a run whose bulk insert the database rejected.
    fn bulk_rejected(&self, e: GuestSqlError) -> wasmtime::Error {
        wasmtime::Error::new(BulkRejected(format!(
            "a bulk insert failed in the database: {}; a bulk insert's errors end the run (use execute-batch to handle them in the component)",
            clip(&e.to_string(), 4096)
        )))
    }

    /// Counts `n` changed rows against the table the statement writes.
    fn count_rows(&mut self, admitted: &super::grants::Admitted, n: u64) {
        if let Some(t) = &admitted.target {
            *self.rows.entry(t.clone()).or_default() += n;
        }
    }

    /// After a batch: commit it when the seed asked for batched commits.
    async fn after_batch(&mut self) -> wasmtime::Result<()> {
        if !self.batch_commits {
            return Ok(());
        }
        use crate::backend::Backend;
        // A database call like any other: not cut off halfway at the deadline.
        super::db_call_begins(self.deadline, self.timeout);
        let r = match self.db.commit_plain().await {
            Ok(()) => self.db.begin_plain().await,
            Err(e) => Err(e),
        };
        super::db_call_ends();
        match r {
            Ok(()) => {
                self.commits += 1;
                Ok(())
            }
            Err(e) => {
                let msg = format!("committing a batch failed: {e}");
                self.host_error = Some(msg.clone());
                Err(wasmtime::Error::msg(msg))
            }
        }
    }
}

fn to_sql(v: types::Value) -> SqlValue {
    use types::Value as V;
    match v {
        V::Null => SqlValue::Null,
        V::Boolean(b) => SqlValue::Bool(b),
        V::Int(i) => SqlValue::Int(i),
        V::Float(f) => SqlValue::Float(f),
        V::Text(s) => SqlValue::Text(s),
        V::Blob(b) => SqlValue::Blob(b),
        V::Timestamp(s) => SqlValue::Timestamp(s),
        V::Json(s) => SqlValue::Json(s),
    }
}

fn to_wit(v: SqlValue) -> types::Value {
    use types::Value as V;
    match v {
        SqlValue::Null => V::Null,
        SqlValue::Bool(b) => V::Boolean(b),
        SqlValue::Int(i) => V::Int(i),
        SqlValue::Float(f) => V::Float(f),
        SqlValue::Text(s) => V::Text(s),
        SqlValue::Blob(b) => V::Blob(b),
        SqlValue::Timestamp(s) => V::Timestamp(s),
        SqlValue::Json(s) => V::Json(s),
    }
}

fn to_wit_rows(rows: Vec<Vec<SqlValue>>) -> Vec<Vec<types::Value>> {
    rows.into_iter().map(|r| r.into_iter().map(to_wit).collect()).collect()
}

/// The most of a database's error message handed to a guest (a server may echo a huge value).
const ERROR_TEXT: usize = 8192;

fn to_wit_error(e: GuestSqlError) -> types::Error {
    match e {
        GuestSqlError::Denied(m) => types::Error::Denied(clip(&m, ERROR_TEXT).into_owned()),
        GuestSqlError::InvalidInput(m) => types::Error::InvalidInput(clip(&m, ERROR_TEXT).into_owned()),
        GuestSqlError::Database { kind, message, code } if message.len() > ERROR_TEXT => {
            to_wit_error(GuestSqlError::Database { kind, message: clip(&message, ERROR_TEXT).into_owned(), code })
        }
        GuestSqlError::Database { kind, message, code } => types::Error::Database(types::DatabaseError {
            kind: match kind {
                DbErrorKind::UniqueViolation => types::DatabaseErrorKind::UniqueViolation,
                DbErrorKind::ForeignKeyViolation => types::DatabaseErrorKind::ForeignKeyViolation,
                DbErrorKind::NotNullViolation => types::DatabaseErrorKind::NotNullViolation,
                DbErrorKind::CheckViolation => types::DatabaseErrorKind::CheckViolation,
                DbErrorKind::Syntax => types::DatabaseErrorKind::Syntax,
                DbErrorKind::Other => types::DatabaseErrorKind::Other,
            },
            message,
            code,
        }),
    }
}

impl types::Host for HostState {}

impl sql::Host for HostState {
    async fn dialect(&mut self) -> wasmtime::Result<sql::SqlDialect> {
        if self.db.is_documents() {
            return Err(wasmtime::Error::msg("the `sql` interface needs a SQL database"));
        }
        Ok(match self.db.dialect() {
            Dialect::Sqlite => sql::SqlDialect::Sqlite,
            Dialect::Postgres => sql::SqlDialect::Postgres,
            Dialect::Mysql => sql::SqlDialect::Mysql,
        })
    }

    async fn execute(&mut self, statement: String, params: Vec<types::Value>) -> wasmtime::Result<Result<u64, types::Error>> {
        self.settle_bulk().await?;
        let admitted = match self.admit(&statement, params.len()) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if self.rehearsed(&admitted, &statement, &params, None) {
            return Ok(Ok(0));
        }
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.execute(&statement, params.into_iter().map(to_sql).collect()).await;
        super::db_call_ends();
        self.writes += 1;
        self.check_deadline()?;
        if let Ok(n) = r {
            self.count_rows(&admitted, n);
        }
        Ok(r.map_err(to_wit_error))
    }

    async fn query(&mut self, statement: String, params: Vec<types::Value>) -> wasmtime::Result<Result<types::RowSet, types::Error>> {
        self.settle_bulk().await?;
        let admitted = match self.admit_bound(&statement, &params).await {
            Some(a) => a,
            None => self.admit(&statement, params.len()),
        };
        let admitted = match admitted {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if self.rehearsed(&admitted, &statement, &params, None) {
            return Ok(Ok(types::RowSet { columns: Vec::new(), rows: Vec::new() }));
        }
        let max = self.call_limits.max_rows;
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.query(&statement, params.into_iter().map(to_sql).collect(), max, self.call_limits.max_bytes).await;
        super::db_call_ends();
        // A query may write too (`INSERT … RETURNING`); count it as one for the dirty rule.
        self.writes += 1;
        self.check_deadline()?;
        if let Err(e @ (GuestSqlError::Denied(_) | GuestSqlError::InvalidInput(_))) = &r {
            if admitted.class != super::grants::Class::Read {
                // The host refused the result of a statement that changes rows (a cap, a value it
                // cannot carry) after the database ran it. Its changes cannot be taken back on
                // their own on every database, and a guest told "refused" must not carry on with
                // them in place: the migration stops, and the unit's rollback (or the dirty rule
                // without a transaction) takes care of what it did.
                return Err(wasmtime::Error::msg(format!(
                    "a statement that changes rows ran, but its result was refused ({e}); the migration stopped so that its changes are not kept behind the component's back"
                )));
            }
        }
        Ok(r.map(|rows| types::RowSet { columns: rows.columns, rows: to_wit_rows(rows.rows) }).map_err(to_wit_error))
    }

    async fn execute_batch(&mut self, statement: String, rows: Vec<Vec<types::Value>>) -> wasmtime::Result<Result<u64, types::Error>> {
        self.settle_bulk().await?;
        let params: usize = rows.iter().map(Vec::len).sum();
        let admitted = match self.admit(&statement, params) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if self.rehearsal.is_some() {
            let first = rows.first().cloned().unwrap_or_default();
            if self.rehearsed(&admitted, &statement, &first, Some(rows.len())) {
                return Ok(Ok(rows.len() as u64));
            }
        }
        let rows = rows.into_iter().map(|r| r.into_iter().map(to_sql).collect()).collect();
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.execute_batch(&statement, rows, admitted.insert.as_ref()).await;
        super::db_call_ends();
        self.writes += 1;
        self.check_deadline()?;
        if let Ok(n) = r {
            self.count_rows(&admitted, n);
            self.after_batch().await?;
        }
        Ok(r.map_err(to_wit_error))
    }

    async fn columns(&mut self, table: String) -> wasmtime::Result<Result<Vec<sql::ColumnInfo>, types::Error>> {
        if self.db.is_documents() {
            return Err(wasmtime::Error::msg("the `sql` interface needs a SQL database"));
        }
        self.settle_bulk().await?;
        Ok(self.describe_columns(table).await)
    }

    async fn open_bulk_insert(&mut self, statement: String) -> wasmtime::Result<Result<Resource<BulkHandle>, types::Error>> {
        if self.db.is_documents() {
            return Err(wasmtime::Error::msg("the `sql` interface needs a SQL database"));
        }
        let admitted = match self.admit(&statement, 0) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if self.bulk_handles >= MAX_BULK_HANDLES {
            return Ok(Err(types::Error::Denied(format!(
                "at most {MAX_BULK_HANDLES} bulk inserts may be open at once; finish and drop one first"
            ))));
        }
        let Some(plan) = admitted.insert else {
            return Ok(Err(types::Error::InvalidInput(
                "a bulk insert takes a plain `INSERT INTO t (a, b) VALUES (?, ?)` (`$1, $2` on PostgreSQL): one placeholder per value, in order, and nothing else (no RETURNING, no ON CONFLICT, no expressions); run other statements with execute-batch".into(),
            )));
        };
        let handle = self.table.push(BulkHandle { statement, width: plan.width, rows: 0 })?;
        self.bulk_handles += 1;
        Ok(Ok(handle))
    }

    async fn open_cursor(&mut self, statement: String, params: Vec<types::Value>) -> wasmtime::Result<Result<Resource<CursorHandle>, types::Error>> {
        self.settle_bulk().await?;
        let admitted = match self.admit_bound(&statement, &params).await {
            Some(a) => a,
            None => self.admit(&statement, params.len()),
        };
        match admitted {
            Ok(a) if a.query => {
                if self.rehearsed(&a, &statement, &params, None) {
                    return Ok(Err(types::Error::Denied("a dry run opens cursors on reads only".into())));
                }
            }
            Ok(_) => return Ok(Err(types::Error::InvalidInput("a cursor reads a query (`SELECT …`); run other statements with execute".into()))),
            Err(e) => return Ok(Err(e)),
        }
        if self.rehearsal.is_some() {
            return self.open_rehearsal_cursor(&statement, params).await;
        }
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.open_cursor(&statement, params.into_iter().map(to_sql).collect()).await;
        super::db_call_ends();
        self.check_deadline()?;
        match r {
            Ok((id, columns)) => Ok(Ok(self.table.push(CursorHandle { id, columns })?)),
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }
}

/// `name` or `schema.name`, plain identifiers only (it is spliced into a catalog query's check).
fn plain_table_name(t: &str) -> bool {
    let ident = |s: &str| !s.is_empty() && s.len() <= 63 && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match t.split_once('.') {
        Some((a, b)) => ident(a) && ident(b),
        None => ident(t),
    }
}

impl HostState {
    /// A rehearsal's cursor: its rows read at once, within the result cap, and paged from the
    /// host's memory (see [`super::rehearsal::Recorder::open_cursor`]).
    async fn open_rehearsal_cursor(&mut self, statement: &str, params: Vec<types::Value>) -> wasmtime::Result<Result<Resource<CursorHandle>, types::Error>> {
        super::db_call_begins(self.deadline, self.timeout);
        // Within a plain query's caps: a rehearsal's cursor costs the host what a query does.
        let r = self.db.query(statement, params.into_iter().map(to_sql).collect(), self.call_limits.max_rows, self.call_limits.max_bytes).await;
        super::db_call_ends();
        self.check_deadline()?;
        let rows = match r {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(to_wit_error(e))),
        };
        let Some(rec) = self.rehearsal.as_mut() else {
            return Ok(Err(types::Error::InvalidInput("not a rehearsal".into())));
        };
        match rec.open_cursor(rows.rows, self.call_limits.max_bytes) {
            Ok(id) => Ok(Ok(self.table.push(CursorHandle { id, columns: rows.columns })?)),
            Err(why) => Ok(Err(types::Error::Denied(why))),
        }
    }

    /// An Alembic revision's batch-mode statements whose table the statement check cannot see
    /// (`sandbox::alembic::Bound`): checked here, on every call (never cached), by the bound
    /// name or by the index's table as the schema says; `None` for every other statement.
    async fn admit_bound(&mut self, statement: &str, params: &[types::Value]) -> Option<Result<super::grants::Admitted, types::Error>> {
        if let Err(e) = self.refuse_in_metadata() {
            return Some(Err(e));
        }
        if !matches!(self.migration.body, crate::migrate::source::Body::Alembic { .. }) || self.db.dialect() != Dialect::Sqlite {
            return None;
        }
        let form = super::alembic::bound_form(statement)?;
        if let Err(e) = self.call_limits.check(statement, params.len()) {
            return Some(Err(to_wit_error(e)));
        }
        let table = match form {
            super::alembic::Bound::SchemaRead => match params {
                [types::Value::Text(name)] => Ok(name.clone()),
                _ => Err("this schema read takes one text parameter, the table's name".to_string()),
            },
            super::alembic::Bound::IndexInfo(index) => {
                let q = "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ? COLLATE NOCASE";
                match self.db.host_query(q, vec![SqlValue::Text(index.clone())]).await {
                    Ok(rows) => match rows.rows.first().and_then(|r| r.first()) {
                        Some(SqlValue::Text(t)) => Ok(t.clone()),
                        _ => Err(format!("no index named `{index}`")),
                    },
                    Err(e) => return Some(Err(to_wit_error(e))),
                }
            }
        };
        let admitted = table.and_then(|t| super::alembic::admit_bound(&t, &self.grants, &self.reserved));
        Some(admitted.map_err(|reason| {
            self.emit(Event::Audit { migration: &self.migration, statement: &clip(statement, 1024), reason: &reason });
            if let Some(rec) = self.rehearsal.as_mut() {
                rec.note_denied(statement, &reason);
            }
            types::Error::Denied(reason)
        }))
    }

    async fn describe_columns(&mut self, table: String) -> Result<Vec<sql::ColumnInfo>, types::Error> {
        if !plain_table_name(&table) {
            return Err(types::Error::InvalidInput(format!("`{table}` is not a plain table name (`name` or `schema.name`)")));
        }
        // Reading a table's shape needs `read` on the table, like reading its rows.
        self.admit(&format!("SELECT * FROM {table}"), 0)?;
        let (schema, name) = match table.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, table.clone()),
        };
        let schema_value = schema.clone().map(SqlValue::Text).unwrap_or(SqlValue::Null);
        let (q, params) = match self.db.dialect() {
            Dialect::Sqlite => (
                "SELECT name, type, \"notnull\" = 0 FROM pragma_table_info(?, ?) ORDER BY cid".to_string(),
                vec![SqlValue::Text(name.clone()), SqlValue::Text(schema.unwrap_or_else(|| "main".into()))],
            ),
            Dialect::Postgres => (
                "SELECT column_name::text, data_type::text, is_nullable = 'YES' FROM information_schema.columns \
                 WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2 ORDER BY ordinal_position"
                    .to_string(),
                vec![schema_value, SqlValue::Text(name.clone())],
            ),
            Dialect::Mysql => (
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), is_nullable = 'YES' FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? ORDER BY ordinal_position"
                    .to_string(),
                vec![schema_value, SqlValue::Text(name.clone())],
            ),
        };
        let rows = self.db.host_query(&q, params).await.map_err(to_wit_error)?;
        if rows.rows.is_empty() {
            return Err(types::Error::InvalidInput(format!("there is no table `{table}`")));
        }
        let text = |v: &SqlValue| match v {
            SqlValue::Text(s) => s.clone(),
            SqlValue::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        };
        let truthy = |v: &SqlValue| matches!(v, SqlValue::Bool(true) | SqlValue::Int(1..));
        Ok(rows.rows.iter().map(|r| sql::ColumnInfo { name: text(&r[0]), data_type: text(&r[1]), nullable: truthy(&r[2]) }).collect())
    }
}

impl sql::HostCursor for HostState {
    async fn columns(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&cursor)?.columns.clone())
    }

    async fn next_page(&mut self, cursor: Resource<CursorHandle>, max_rows: u32) -> wasmtime::Result<Result<Option<Vec<Vec<types::Value>>>, types::Error>> {
        self.settle_bulk().await?;
        let id = self.table.get(&cursor)?.id;
        let max = (max_rows as usize).clamp(1, self.call_limits.max_rows);
        if let Some(rec) = self.rehearsal.as_mut() {
            return Ok(Ok(rec.cursor_page(id, max).map(to_wit_rows)));
        }
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.cursor_next(id, max, self.call_limits.max_bytes).await;
        super::db_call_ends();
        self.check_deadline()?;
        Ok(r.map(|page| page.map(to_wit_rows)).map_err(to_wit_error))
    }

    async fn drop(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<()> {
        self.settle_bulk().await?;
        let handle = self.table.delete(cursor)?;
        if let Some(rec) = self.rehearsal.as_mut() {
            rec.close_cursor(handle.id);
            return Ok(());
        }
        self.db.close_cursor(handle.id).await;
        Ok(())
    }
}

impl sql::HostBulkInsert for HostState {
    async fn write(&mut self, bulk: Resource<BulkHandle>, rows: Vec<Vec<types::Value>>) -> wasmtime::Result<Result<(), types::Error>> {
        let rep = bulk.rep();
        let (statement, width) = {
            let h = self.table.get(&bulk)?;
            (h.statement.clone(), h.width)
        };
        if rows.is_empty() {
            return Ok(Ok(()));
        }
        if rows.iter().any(|r| r.len() != width) {
            return Ok(Err(types::Error::InvalidInput(format!("every row of this bulk insert needs {width} values, one per placeholder"))));
        }
        let admitted = match self.admit(&statement, rows.len().saturating_mul(width)) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let Some(plan) = admitted.insert.clone() else {
            return Ok(Err(types::Error::InvalidInput("not a plain INSERT".into())));
        };
        let n = rows.len() as u64;
        if self.rehearsal.is_some() {
            let first = rows.first().cloned().unwrap_or_default();
            self.rehearsed(&admitted, &statement, &first, Some(rows.len()));
            self.table.get_mut(&bulk)?.rows += n;
            return Ok(Ok(()));
        }
        // Another bulk insert's rows first: one stream at a time.
        if self.bulk_open.is_some_and(|open| open != rep) {
            self.settle_bulk().await?;
        }
        let rows = rows.into_iter().map(|r| r.into_iter().map(to_sql).collect()).collect();
        super::db_call_begins(self.deadline, self.timeout);
        let r = self.db.bulk_write(&statement, rows, &plan).await;
        super::db_call_ends();
        self.writes += 1;
        self.bulk_open = Some(rep);
        self.bulk_target = admitted.target.clone();
        self.check_deadline()?;
        // Rows taken (or, streaming, sent: `settle_bulk` takes off those not kept).
        let taken = match r {
            Ok(taken) => taken,
            Err(e) => {
                self.bulk_open = None;
                return Err(self.bulk_rejected(e));
            }
        };
        self.table.get_mut(&bulk)?.rows += taken;
        self.count_rows(&admitted, taken);
        if self.batch_commits {
            self.settle_bulk().await?;
            self.after_batch().await?;
        }
        Ok(Ok(()))
    }

    async fn finish(&mut self, bulk: Resource<BulkHandle>) -> wasmtime::Result<Result<u64, types::Error>> {
        if self.bulk_open == Some(bulk.rep()) {
            self.settle_bulk().await?;
        }
        Ok(Ok(self.table.get(&bulk)?.rows))
    }

    async fn drop(&mut self, bulk: Resource<BulkHandle>) -> wasmtime::Result<()> {
        let open = self.bulk_open == Some(bulk.rep());
        self.table.delete(bulk)?;
        self.bulk_handles = self.bulk_handles.saturating_sub(1);
        if open {
            self.settle_bulk().await?;
        }
        Ok(())
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.log_bytes >= self.log_cap {
            return Ok(());
        }
        // Bounded when received: one line never carries more than what is left of the cap.
        let message = clip(&message, self.log_cap - self.log_bytes).into_owned();
        self.log_bytes += message.len();
        let message = if self.log_bytes >= self.log_cap {
            format!("{message} [log limit of {} bytes reached: later lines dropped]", self.log_cap)
        } else {
            message
        };
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.emit(Event::GuestLog { migration: &self.migration, level, message: &message });
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.emit(Event::Progress { migration: &self.migration, done, total });
        Ok(())
    }
}

impl context::Host for HostState {
    async fn environment(&mut self) -> wasmtime::Result<String> {
        Ok(self.context.environment.clone())
    }
    async fn version(&mut self) -> wasmtime::Result<i64> {
        Ok(self.migration.version)
    }
    async fn name(&mut self) -> wasmtime::Result<String> {
        Ok(self.migration.name.clone())
    }
    async fn args(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        let mut args: Vec<(String, String)> = self.context.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        // A knex migration's file reaches the knex runtime as two arguments no user's replaces.
        if let Some(file) = super::knex::args(&self.migration) {
            args.retain(|(k, _)| k != super::knex::FILE_ARG && k != super::knex::SOURCE_ARG);
            args.extend(file);
        }
        // So does an Alembic revision's, to the Alembic runtime.
        if let Some(file) = super::alembic::args(&self.migration) {
            args.retain(|(k, _)| k != super::alembic::FILE_ARG && k != super::alembic::SOURCE_ARG);
            args.extend(file);
        }
        Ok(args)
    }
    async fn random_seed(&mut self) -> wasmtime::Result<u64> {
        // Same configuration, same migration: same seed. Mixing in the version keeps two
        // migrations from drawing the same numbers.
        Ok(self.context.seed ^ (self.migration.version as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}
