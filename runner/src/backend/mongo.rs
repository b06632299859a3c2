//! MongoDB: the history in a collection, the run lock as a document, and the documents a
//! component reaches through the WIT `documents` interface.
//!
//! MongoDB has no transactional DDL, so migrations follow the dirty protocol (as on MySQL): the
//! history record is written `dirty` first and flipped to `applied` when the migration is done;
//! a failure after the first change leaves the record dirty for `repair`. A component migration
//! that declares itself transactional runs inside a MongoDB transaction together with its history
//! record where the server supports one (a replica set); elsewhere it falls back to the dirty
//! protocol.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, ClientSession, Collection, Cursor, Database, SessionCursor};

use super::OpenMode;
use super::Lock as _;
use super::guest::{DbErrorKind, GuestSqlError};
use crate::migrate::error::{DbError, Direction, Error, Kept, MigrationRef, Result};
use crate::migrate::history::{AppliedMigration, RowStatus};
use crate::migrate::source::Migration;

/// The lock document's `_id`.
const LOCK_ID: &str = "migrate";

/// MongoDB's code for a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

/// A connection to one MongoDB database.
pub struct MongoBackend {
    client: Client,
    db: Database,
    table: String,
    lock_owner: Option<String>,
    /// Open while a transactional component migration runs: every guest call joins it.
    session: Option<ClientSession>,
    cursors: HashMap<u64, DocCursor>,
    next_cursor: u64,
    /// The open guest session's deadline: finds carry the time left as the server's
    /// `maxTimeMS`, so a slow query stops there.
    pub deadline: Option<std::time::Instant>,
    /// Bytes of documents one result or cursor page may carry.
    pub max_bytes: usize,
}

enum DocCursor {
    Plain(Cursor<Document>),
    Session(SessionCursor<Document>),
}

/// The code and message of a driver error (command, write or bulk-insert failure).
pub fn error_parts(e: &mongodb::error::Error) -> (Option<i32>, String) {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => (Some(c.code), c.message.clone()),
        ErrorKind::Write(WriteFailure::WriteError(w)) => (Some(w.code), w.message.clone()),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => (Some(w.code), w.message.clone()),
        ErrorKind::InsertMany(m) => match m.write_errors.as_ref().and_then(|w| w.first()) {
            Some(w) => (Some(w.code), format!("document {} of the batch: {}", w.index, w.message)),
            None => match &m.write_concern_error {
                Some(w) => (Some(w.code), w.message.clone()),
                None => (None, e.to_string()),
            },
        },
        _ => (None, e.to_string()),
    }
}

fn db_error(e: &mongodb::error::Error) -> DbError {
    let (code, message) = error_parts(e);
    DbError { message: super::url::redact(&message), code: code.map(|c| c.to_string()) }
}

/// A write command answers `ok: 1` even when its writes failed: the failures are in
/// `writeErrors` / `writeConcernError` of the reply.
pub fn reply_error(reply: &Document) -> Option<DbError> {
    let first = match reply.get("writeErrors") {
        Some(Bson::Array(errors)) => errors.iter().find_map(|e| e.as_document()),
        _ => None,
    }
    .or_else(|| reply.get_document("writeConcernError").ok())?;
    let code = first.get_i32("code").ok().map(|c| c.to_string());
    let index = first.get_i32("index").map(|i| format!("document {i}: ")).unwrap_or_default();
    Some(DbError { message: format!("{index}{}", first.get_str("errmsg").unwrap_or("write failed")), code })
}

fn guest_error(e: mongodb::error::Error) -> GuestSqlError {
    let (code, message) = error_parts(&e);
    let kind = match code {
        Some(DUPLICATE_KEY) => DbErrorKind::UniqueViolation,
        Some(121) => DbErrorKind::CheckViolation, // DocumentValidationFailure
        Some(2 | 9 | 14 | 15 | 40 | 52) => DbErrorKind::Syntax, // BadValue, FailedToParse, TypeMismatch, Overflow, ConflictingUpdateOperators, DollarPrefixedFieldName
        _ => DbErrorKind::Other,
    };
    GuestSqlError::Database { kind, message, code: code.map(|c| c.to_string()) }
}

pub use crate::migrate::extjson::{document_text, json_to_document, parse_document};

fn guest_doc(text: &str, what: &str) -> std::result::Result<Document, GuestSqlError> {
    parse_document(text, what).map_err(GuestSqlError::InvalidInput)
}

/// How `find` shapes its result, parsed.
#[derive(Debug, Default, Clone)]
pub struct FindOptions {
    /// Projection.
    pub projection: Option<Document>,
    /// Sort.
    pub sort: Option<Document>,
    /// Skip.
    pub skip: Option<u64>,
    /// Limit.
    pub limit: Option<u64>,
}

/// Runs a driver action in the open transaction when there is one.
macro_rules! in_session {
    ($session:expr, $action:expr) => {
        match $session.as_mut() {
            Some(s) => $action.session(&mut *s).await,
            None => $action.await,
        }
    };
}

impl MongoBackend {
    /// Connects (MongoDB creates databases on first write, so nothing is created here).
    pub async fn connect(url: &str, table: &str, mode: OpenMode) -> Result<Option<Self>> {
        let redacted = super::url::redact(url);
        let mut opts = ClientOptions::parse(url)
            .await
            .map_err(|e| Error::Connect(format!("bad MongoDB URL `{redacted}`: {}", super::url::redact(&e.to_string()))))?;
        let Some(name) = opts.default_database.clone() else {
            return Err(Error::Connect(format!(
                "the MongoDB URL `{redacted}` names no database: put it in the path, e.g. `mongodb://localhost:27017/app`"
            )));
        };
        opts.app_name.get_or_insert_with(|| "db-migrate".into());
        // Fail in seconds, not the driver's 30, when nothing answers (`--wait` waits longer).
        opts.server_selection_timeout.get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(opts).map_err(|e| Error::Connect(format!("bad MongoDB URL `{redacted}`: {}", super::url::redact(&e.to_string()))))?;
        let db = client.database(&name);
        if let Err(e) = db.run_command(doc! { "ping": 1 }).await {
            use mongodb::error::ErrorKind;
            // Only when no server answered is the connection to blame; a server that refused
            // (authentication, a command error) said why.
            let unreachable = matches!(*e.kind, ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::DnsResolve { .. });
            let hint = if unreachable { "; is the server running and the URL right? (`--wait` waits for it to start)" } else { "" };
            return Err(Error::Connect(format!("cannot connect to MongoDB at `{redacted}`: {}{hint}", db_error(&e))));
        }
        // Read-only or not, nothing is created here: an absent history reads as empty.
        let _ = mode;
        Ok(Some(MongoBackend { client, db, table: table.to_string(), lock_owner: None, session: None, cursors: HashMap::new(), next_cursor: 0, deadline: None, max_bytes: usize::MAX }))
    }

    /// The migration's database.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    fn history(&self) -> Collection<Document> {
        self.db.collection(&self.table)
    }

    fn lock_collection(&self) -> Collection<Document> {
        self.db.collection(&format!("{}_lock", self.table))
    }

    /// The names guests may never touch: the history, its lock, and MongoDB's own collections.
    pub fn is_reserved(&self, collection: &str) -> bool {
        collection == self.table || collection == format!("{}_lock", self.table) || collection.starts_with("system.")
    }

    fn db_err(&self, context: &str, e: mongodb::error::Error) -> Error {
        Error::Database { context: format!("{context} ({})", self.table), source: db_error(&e) }
    }

    fn conflict(m: &Migration) -> Error {
        Error::Conflict(MigrationRef { version: m.version, name: m.name.clone() })
    }

    fn history_doc(m: &Migration, status: RowStatus) -> Document {
        doc! {
            "_id": m.version,
            "name": &m.name,
            "kind": m.kind().as_str(),
            "checksum": &m.checksum,
            "status": status.as_str(),
            "applied_at": bson::DateTime::now(),
            "execution_ms": 0_i64,
        }
    }

    /// Writes the history record that starts a migration, in the session when there is one.
    async fn begin_record(&mut self, m: &Migration, direction: Direction, status: RowStatus) -> Result<()> {
        let coll = self.history();
        match direction {
            Direction::Up => {
                let d = Self::history_doc(m, status);
                match in_session!(self.session, coll.insert_one(d)) {
                    Ok(_) => Ok(()),
                    Err(e) if error_parts(&e).0 == Some(DUPLICATE_KEY) => Err(Self::conflict(m)),
                    Err(e) => Err(self.db_err("cannot record the migration in the history", e)),
                }
            }
            Direction::Down => {
                let filter = doc! { "_id": m.version, "status": "applied" };
                let r = if status == RowStatus::Applied {
                    // In a transaction: the record goes now and comes back if it rolls back.
                    in_session!(self.session, coll.delete_one(filter)).map(|r| r.deleted_count)
                } else {
                    in_session!(self.session, coll.update_one(filter, doc! { "$set": { "status": "dirty" } })).map(|r| r.matched_count)
                };
                match r {
                    Ok(1) => Ok(()),
                    Ok(_) => Err(Self::conflict(m)),
                    Err(e) => Err(self.db_err("cannot update the history", e)),
                }
            }
        }
    }

    /// Runs a command file's commands in order. On failure, returns how many had completed.
    pub async fn exec_commands(&mut self, commands: &[Document]) -> std::result::Result<(), (usize, DbError)> {
        for (i, c) in commands.iter().enumerate() {
            match self.db.run_command(c.clone()).await {
                Ok(reply) => {
                    if let Some(e) = reply_error(&reply) {
                        return Err((i, e));
                    }
                }
                Err(e) => return Err((i, db_error(&e))),
            }
        }
        Ok(())
    }

    async fn drop_cursors(&mut self) {
        self.cursors.clear();
    }

    /// Whether the server runs transactions (a replica set or a sharded cluster).
    fn no_transactions(e: &mongodb::error::Error) -> bool {
        let (code, message) = error_parts(e);
        // IllegalOperation ("Transaction numbers are only allowed on a replica set member or
        // mongos") and NotAReplicaSet-style refusals.
        matches!(code, Some(20 | 263)) || message.contains("replica set") || message.contains("Transaction numbers")
    }
}

impl super::Backend for MongoBackend {
    async fn user_tables(&mut self) -> Result<usize> {
        let names = self.db.list_collection_names().await.map_err(|e| self.db_err("cannot list the collections", e))?;
        Ok(names.iter().filter(|n| !super::is_own_table(n, &self.table) && !n.starts_with("system.")).count())
    }

    async fn begin_plain(&mut self) -> Result<()> {
        Err(Error::Config("seeds run on SQL databases; on MongoDB, seed data with a migration (a command file or a component)".into()))
    }

    async fn commit_plain(&mut self) -> Result<()> {
        Ok(())
    }

    async fn rollback_plain(&mut self) {}

    async fn begin(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        if transactional {
            let mut session = self.client.start_session().await.map_err(|e| self.db_err("cannot start a session", e))?;
            match session.start_transaction().await {
                Ok(()) => {
                    self.session = Some(session);
                    match self.begin_record(m, direction, RowStatus::Applied).await {
                        Ok(()) => return Ok(()),
                        Err(Error::Database { source, .. }) if source.code.as_deref() == Some("20") || source.message.contains("Transaction numbers") => {
                            // Standalone server: no transactions. Fall through to the dirty protocol.
                            if let Some(mut s) = self.session.take() {
                                let _ = s.abort_transaction().await;
                            }
                        }
                        Err(e) => {
                            if let Some(mut s) = self.session.take() {
                                let _ = s.abort_transaction().await;
                            }
                            return Err(e);
                        }
                    }
                }
                Err(e) if Self::no_transactions(&e) => {}
                Err(e) => return Err(self.db_err("cannot start a transaction", e)),
            }
        }
        self.begin_record(m, direction, RowStatus::Dirty).await
    }

    async fn exec_script(&mut self, _sql: &str, _transactional: bool) -> std::result::Result<(), (usize, DbError)> {
        Err((0, DbError { message: "MongoDB runs command files (`.mongo.json`) and components, not SQL".into(), code: None }))
    }

    async fn finish(&mut self, m: &Migration, direction: Direction, _transactional: bool, took: Duration) -> Result<()> {
        self.drop_cursors().await;
        let coll = self.history();
        if let Some(mut s) = self.session.take() {
            if direction == Direction::Up {
                let set = doc! { "$set": { "execution_ms": took.as_millis() as i64 } };
                if let Err(e) = coll.update_one(doc! { "_id": m.version }, set).session(&mut s).await {
                    let _ = s.abort_transaction().await;
                    return Err(self.db_err("cannot record the migration in the history", e));
                }
            }
            return s.commit_transaction().await.map_err(|e| self.db_err("cannot commit the migration", e));
        }
        let r = match direction {
            Direction::Up => coll
                .update_one(doc! { "_id": m.version }, doc! { "$set": { "status": "applied", "execution_ms": took.as_millis() as i64 } })
                .await
                .map(drop),
            Direction::Down => coll.delete_one(doc! { "_id": m.version }).await.map(drop),
        };
        r.map_err(|e| self.db_err("cannot record the migration in the history", e))
    }

    async fn abort(&mut self, m: &Migration, direction: Direction, _transactional: bool, changed: bool) -> Kept {
        self.drop_cursors().await;
        if let Some(mut s) = self.session.take() {
            // The server aborts an uncommitted transaction on its own if this cannot reach it.
            let _ = s.abort_transaction().await;
            return Kept::Nothing;
        }
        if changed {
            return Kept::Dirty;
        }
        // Nothing was changed: undo the dirty mark.
        let coll = self.history();
        let undone = match direction {
            Direction::Up => coll.delete_one(doc! { "_id": m.version, "status": "dirty" }).await.is_ok(),
            Direction::Down => coll.update_one(doc! { "_id": m.version }, doc! { "$set": { "status": "applied" } }).await.is_ok(),
        };
        if undone { Kept::Nothing } else { Kept::Dirty }
    }

    async fn close(mut self) -> Result<()> {
        let unlocked = self.unlock().await;
        // The driver's shutdown reports nothing: it ends the client's sessions and pools.
        self.client.shutdown().await;
        unlocked
    }
}

impl super::History for MongoBackend {
    fn read_history(&mut self) -> super::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            let coll = self.history();
            let mut cursor = coll.find(doc! {}).sort(doc! { "_id": 1 }).await.map_err(|e| self.db_err("cannot read the history collection", e))?;
            let mut out = Vec::new();
            while let Some(d) = cursor.next().await {
                let d = d.map_err(|e| self.db_err("cannot read the history collection", e))?;
                let shape = |what: &str| Error::Database {
                    context: format!("the history collection {} has an unexpected shape", self.table),
                    source: DbError { message: format!("a record lacks `{what}`: {d}"), code: None },
                };
                let version = match d.get("_id") {
                    Some(Bson::Int64(v)) => *v,
                    Some(Bson::Int32(v)) => i64::from(*v),
                    _ => return Err(shape("_id (the version)")),
                };
                let text = |k: &str| d.get_str(k).map(str::to_string).map_err(|_| shape(k));
                out.push(AppliedMigration {
                    version,
                    name: text("name")?,
                    kind: text("kind")?,
                    checksum: text("checksum")?,
                    status: RowStatus::parse(&text("status")?),
                    applied_at: d
                        .get_datetime("applied_at")
                        .ok()
                        .and_then(|t| t.try_to_rfc3339_string().ok())
                        .unwrap_or_default(),
                    execution_ms: d.get_i64("execution_ms").or_else(|_| d.get_i32("execution_ms").map(i64::from)).unwrap_or(0),
                });
            }
            Ok(out)
        })
    }

    fn ensure_history(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // `_id` is the version: unique by construction; the collection appears on first insert.
            Ok(())
        })
    }

    fn mark_applied(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let r = self
                .history()
                .update_one(doc! { "_id": version }, doc! { "$set": { "status": "applied" } })
                .await
                .map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.matched_count == 1)
        })
    }

    fn remove(&mut self, version: i64) -> super::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let r = self.history().delete_one(doc! { "_id": version }).await.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.deleted_count == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> super::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let r = self
                .history()
                .update_one(doc! { "_id": version }, doc! { "$set": { "checksum": checksum, "name": name } })
                .await
                .map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.matched_count == 1)
        })
    }
}

impl super::Lock for MongoBackend {
    /// MongoDB has no session lock: both modes take the lock document (owner and expiry,
    /// renewed before each next migration; a dead runner's lock expires).
    fn lock(&mut self, timeout: Duration, _mode: super::LockMode) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let coll = self.lock_collection();
            let owner = super::lock_owner();
            let ttl = super::TABLE_LOCK_TTL.as_millis() as i64;
            let started = Instant::now();
            loop {
                let now = bson::DateTime::now();
                let _ = coll.delete_one(doc! { "_id": LOCK_ID, "expires_at": { "$lt": now } }).await;
                let d = doc! {
                    "_id": LOCK_ID,
                    "owner": &owner,
                    "acquired_at": now,
                    "expires_at": bson::DateTime::from_millis(now.timestamp_millis() + ttl),
                };
                match coll.insert_one(d).await {
                    Ok(_) => {
                        self.lock_owner = Some(owner);
                        return Ok(());
                    }
                    Err(e) if error_parts(&e).0 == Some(DUPLICATE_KEY) => {}
                    Err(e) => return Err(self.db_err("cannot take the migration lock", e)),
                }
                if started.elapsed() >= timeout {
                    let holder = coll.find_one(doc! { "_id": LOCK_ID }).await.ok().flatten().map(|h| {
                        let t = |k: &str| h.get_datetime(k).ok().and_then(|t| t.try_to_rfc3339_string().ok()).unwrap_or_default();
                        format!("{}, since {}, expires {}", h.get_str("owner").unwrap_or("unknown"), t("acquired_at"), t("expires_at"))
                    });
                    return Err(Error::Locked(format!(
                        "another db-migrate run holds the migration lock of {} ({}); waited {:?} (--lock-timeout). \
                         If that run died, the lock expires by itself, or delete the document from {}_lock",
                        self.table,
                        holder.unwrap_or_else(|| "holder unknown".into()),
                        timeout,
                        self.table
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    fn heartbeat(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(owner) = self.lock_owner.clone() {
                let expires = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + super::TABLE_LOCK_TTL.as_millis() as i64);
                let r = self.lock_collection().update_one(doc! { "_id": LOCK_ID, "owner": owner }, doc! { "$set": { "expires_at": expires } }).await;
                let r = r.map_err(|e| self.db_err("cannot renew the migration lock", e))?;
                if r.matched_count != 1 {
                    return Err(super::lock_row_lost(&self.table, &format!("{}_lock", self.table)));
                }
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> super::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(mut s) = self.session.take() {
                // A transaction left open by a failure: the server drops it with the session anyway.
                let _ = s.abort_transaction().await;
            }
            if let Some(owner) = self.lock_owner.take() {
                let held = super::held_row(format!("{}_lock", self.table));
                let r = self.lock_collection().delete_one(doc! { "_id": LOCK_ID, "owner": owner }).await;
                let r = r.map_err(|e| Error::Unlock { lock: held.clone(), source: db_error(&e) })?;
                if r.deleted_count != 1 {
                    return Err(Error::Unlock { lock: held, source: super::row_not_ours() });
                }
            }
            Ok(())
        })
    }
}

impl MongoBackend {
    /// Drops every collection and view of the database (the history included, except `keep`,
    /// and never `system.*`): what `reset` starts from. Returns `collection name` of each.
    pub async fn drop_objects(&mut self, keep: Option<&str>) -> Result<Vec<String>> {
        let names = self.db.list_collection_names().await.map_err(|e| self.db_err("cannot list the collections", e))?;
        let mut dropped = Vec::new();
        for name in names {
            if name.starts_with("system.") || Some(name.as_str()) == keep {
                continue;
            }
            self.db.collection::<Document>(&name).drop().await.map_err(|e| self.db_err(&format!("cannot drop the collection {name}"), e))?;
            dropped.push(format!("collection {name}"));
        }
        Ok(dropped)
    }

    /// The name of the lock collection (kept by `reset` while it holds the lock).
    pub fn lock_collection_name(&self) -> String {
        self.lock_collection().name().to_string()
    }

    /// `dropDatabase` on the URL's database. Returns whether it existed.
    pub async fn drop_database(self) -> Result<bool> {
        let name = self.db.name().to_string();
        let r = async {
            let existed = self.client.list_database_names().await?.contains(&name);
            self.db.drop().await?;
            Ok::<_, mongodb::error::Error>(existed)
        }
        .await;
        self.client.shutdown().await;
        r.map_err(|e| Error::Database { context: format!("cannot drop the database `{name}`"), source: db_error(&e) })
    }
}

/// The backend side of the WIT `documents` interface. Arguments arrive parsed; grants were
/// checked by the sandbox.
impl MongoBackend {
    /// Inserts documents in order; how many were inserted.
    pub async fn insert_many(&mut self, collection: &str, docs: Vec<String>) -> std::result::Result<u64, GuestSqlError> {
        if docs.is_empty() {
            return Ok(0);
        }
        let docs = docs.iter().enumerate().map(|(i, d)| guest_doc(d, &format!("document {i}"))).collect::<std::result::Result<Vec<_>, _>>()?;
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.insert_many(docs)).map(|r| r.inserted_ids.len() as u64).map_err(guest_error)
    }

    async fn open(&mut self, collection: &str, filter: &str, o: &FindOptions) -> std::result::Result<DocCursor, GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        let coll = self.db.collection::<Document>(collection);
        let mut find = coll.find(filter);
        if let Some(p) = &o.projection {
            find = find.projection(p.clone());
        }
        if let Some(s) = &o.sort {
            find = find.sort(s.clone());
        }
        if let Some(n) = o.skip {
            find = find.skip(n);
        }
        if let Some(n) = o.limit {
            find = find.limit(n.min(i64::MAX as u64) as i64);
        }
        if let Some(d) = self.deadline {
            find = find.max_time(d.saturating_duration_since(std::time::Instant::now()).max(std::time::Duration::from_millis(1)));
        }
        match self.session.as_mut() {
            Some(s) => find.session(&mut *s).await.map(DocCursor::Session),
            None => find.await.map(DocCursor::Plain),
        }
        .map_err(guest_error)
    }

    async fn next_batch(&mut self, id: u64, max: usize) -> std::result::Result<Option<Vec<String>>, GuestSqlError> {
        let Some(cursor) = self.cursors.get_mut(&id) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max {
            let next = match cursor {
                DocCursor::Plain(c) => c.next().await,
                DocCursor::Session(c) => {
                    let s = self.session.as_mut().ok_or_else(|| GuestSqlError::InvalidInput("the cursor outlived its transaction".into()))?;
                    c.next(s).await
                }
            };
            match next {
                Some(Ok(d)) => {
                    let text = document_text(d);
                    bytes += text.len();
                    if bytes > self.max_bytes {
                        self.cursors.remove(&id);
                        return Err(super::guest::too_many_bytes(self.max_bytes));
                    }
                    out.push(text)
                }
                Some(Err(e)) => return Err(guest_error(e)),
                None => break,
            }
        }
        if out.is_empty() {
            self.cursors.remove(&id);
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// The matching documents, at most `max` (more is an error: use a cursor).
    pub async fn find(&mut self, collection: &str, filter: &str, o: &FindOptions, max: usize) -> std::result::Result<Vec<String>, GuestSqlError> {
        let c = self.open(collection, filter, o).await?;
        let id = self.store(c);
        let first = self.next_batch(id, max + 1).await;
        self.cursors.remove(&id);
        let docs = first?.unwrap_or_default();
        if docs.len() > max {
            return Err(GuestSqlError::Denied(format!(
                "the result holds more than {max} documents (the row limit); read it with open-cursor"
            )));
        }
        Ok(docs)
    }

    fn store(&mut self, c: DocCursor) -> u64 {
        self.next_cursor += 1;
        self.cursors.insert(self.next_cursor, c);
        self.next_cursor
    }

    /// Opens a cursor; its id.
    pub async fn open_cursor(&mut self, collection: &str, filter: &str, o: &FindOptions) -> std::result::Result<u64, GuestSqlError> {
        let c = self.open(collection, filter, o).await?;
        Ok(self.store(c))
    }

    /// The next page of a cursor; `None` when exhausted.
    pub async fn cursor_next(&mut self, id: u64, max: usize) -> std::result::Result<Option<Vec<String>>, GuestSqlError> {
        self.next_batch(id, max).await
    }

    /// Releases a cursor.
    pub fn close_cursor(&mut self, id: u64) {
        self.cursors.remove(&id);
    }

    /// Updates every matching document: (matched, modified).
    pub async fn update_many(&mut self, collection: &str, filter: &str, update: &str) -> std::result::Result<(u64, u64), GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        // An update is a document of operators or a pipeline (an array of stages).
        let json: serde_json::Value =
            serde_json::from_str(update).map_err(|e| GuestSqlError::InvalidInput(format!("the update is not JSON: {e}")))?;
        let update: mongodb::options::UpdateModifications = match json {
            serde_json::Value::Array(stages) => mongodb::options::UpdateModifications::Pipeline(
                stages
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| json_to_document(s, &format!("update stage {i}")))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(GuestSqlError::InvalidInput)?,
            ),
            other => mongodb::options::UpdateModifications::Document(json_to_document(other, "the update").map_err(GuestSqlError::InvalidInput)?),
        };
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.update_many(filter, update)).map(|r| (r.matched_count, r.modified_count)).map_err(guest_error)
    }

    /// Deletes every matching document; how many.
    pub async fn delete_many(&mut self, collection: &str, filter: &str) -> std::result::Result<u64, GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.delete_many(filter)).map(|r| r.deleted_count).map_err(guest_error)
    }

    /// Counts the matching documents.
    pub async fn count(&mut self, collection: &str, filter: &str) -> std::result::Result<u64, GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.count_documents(filter)).map_err(guest_error)
    }

    /// Runs a command on the migration's database (the sandbox checked it); the reply.
    pub async fn run_command(&mut self, command: Document) -> std::result::Result<Document, GuestSqlError> {
        let reply = in_session!(self.session, self.db.run_command(command)).map_err(guest_error)?;
        match reply_error(&reply) {
            Some(e) => {
                let kind = if e.code.as_deref() == Some("11000") { DbErrorKind::UniqueViolation } else { DbErrorKind::Other };
                Err(GuestSqlError::Database { kind, message: e.message, code: e.code })
            }
            None => Ok(reply),
        }
    }
}

/// The `fileName`s migrate-mongo recorded as applied in its changelog collection.
pub async fn migrate_mongo_applied(url: &str, collection: &str) -> Result<Vec<String>> {
    let b = MongoBackend::connect(url, crate::migrate::history::DEFAULT_TABLE, OpenMode::ReadOnly).await?.ok_or_else(|| Error::Connect("MongoDB did not answer".into()))?;
    let mut cursor = b
        .db
        .collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! { "appliedAt": 1 })
        .await
        .map_err(|e| Error::Database { context: format!("cannot read migrate-mongo's {collection}"), source: db_error(&e) })?;
    let mut names = Vec::new();
    while let Some(d) = cursor.next().await {
        let d = d.map_err(|e| Error::Database { context: format!("cannot read migrate-mongo's {collection}"), source: db_error(&e) })?;
        if let Ok(f) = d.get_str("fileName") {
            names.push(f.to_string());
        }
    }
    // `shutdown` waits for every cursor to be dropped.
    drop(cursor);
    b.client.clone().shutdown().await;
    Ok(names)
}

/// Writes every collection of the URL's database — its index specifications and its documents in
/// canonical Extended JSON (types survive the round trip) — to one JSON file.
pub async fn export(url: &str, out: &std::path::Path) -> Result<()> {
    let b = MongoBackend::connect(url, crate::migrate::history::DEFAULT_TABLE, OpenMode::ReadOnly).await?.ok_or_else(|| Error::Connect("MongoDB did not answer".into()))?;
    let err = |what: &str, e: mongodb::error::Error| Error::Database { context: format!("the MongoDB backup could not {what}"), source: db_error(&e) };
    // Each collection's options (validator, validation level and action, capped size, a view's
    // pipeline…): a restore that lost them would not give back the same database.
    let listed = b.db.run_command(doc! { "listCollections": 1, "nameOnly": false }).await.map_err(|e| err("list the collections", e))?;
    let mut found: Vec<(String, Option<Document>)> = listed
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get_array("firstBatch").ok())
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_document())
        .filter_map(|c| Some((c.get_str("name").ok()?.to_string(), c.get_document("options").ok().filter(|o| !o.is_empty()).cloned())))
        .filter(|(n, _)| !n.starts_with("system."))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut collections = Vec::new();
    for (name, options) in found {
        if let Some(o) = options.as_ref().filter(|o| o.contains_key("viewOn")) {
            // A view: its definition is all there is (it has no indexes or documents of its own).
            collections.push(serde_json::json!({ "name": name, "options": Bson::Document(o.clone()).into_canonical_extjson(), "indexes": [], "documents": [] }));
            continue;
        }
        let reply = b.db.run_command(doc! { "listIndexes": &name }).await.map_err(|e| err("list the indexes", e))?;
        let indexes: Vec<serde_json::Value> = reply
            .get_document("cursor")
            .ok()
            .and_then(|c| c.get_array("firstBatch").ok())
            .map(|a| a.iter().cloned().map(Bson::into_canonical_extjson).collect())
            .unwrap_or_default();
        let mut cursor = b.db.collection::<Document>(&name).find(doc! {}).await.map_err(|e| err("read a collection", e))?;
        let mut documents = Vec::new();
        while let Some(d) = cursor.next().await {
            documents.push(Bson::Document(d.map_err(|e| err("read a collection", e))?).into_canonical_extjson());
        }
        let mut entry = serde_json::json!({ "name": name, "indexes": indexes, "documents": documents });
        if let Some(o) = options {
            entry["options"] = Bson::Document(o).into_canonical_extjson();
        }
        collections.push(entry);
    }
    let file = serde_json::json!({ "format": "db-migrate MongoDB backup 1", "database": b.db.name(), "collections": collections });
    b.client.clone().shutdown().await;
    std::fs::write(out, serde_json::to_vec(&file).expect("JSON")).map_err(|e| Error::Io { path: out.to_path_buf(), message: e.to_string() })
}

/// Replaces the URL's database with a backup [`export`] wrote: every collection is dropped, then
/// the backup's collections, indexes and documents are created again.
pub async fn import(url: &str, file: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::Io { path: file.to_path_buf(), message: e.to_string() })?;
    let backup: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config(format!("{} is not a MongoDB backup: {e}", file.display())))?;
    if backup.get("format").and_then(|f| f.as_str()) != Some("db-migrate MongoDB backup 1") {
        return Err(Error::Config(format!("{} is not a db-migrate MongoDB backup", file.display())));
    }
    let b = MongoBackend::connect(url, crate::migrate::history::DEFAULT_TABLE, OpenMode::ReadWrite).await?.ok_or_else(|| Error::Connect("MongoDB did not answer".into()))?;
    let err = |what: &str, e: mongodb::error::Error| Error::Database { context: format!("the MongoDB restore could not {what}"), source: db_error(&e) };
    for name in b.db.list_collection_names().await.map_err(|e| err("list the collections", e))? {
        if !name.starts_with("system.") {
            b.db.collection::<Document>(&name).drop().await.map_err(|e| err("drop a collection", e))?;
        }
    }
    for c in backup.get("collections").and_then(|c| c.as_array()).into_iter().flatten() {
        let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
        match c.get("options").filter(|o| o.as_object().is_some_and(|o| !o.is_empty())) {
            Some(options) => {
                let mut create = doc! { "create": &name };
                create.extend(json_to_document(options.clone(), "a collection's options").map_err(Error::Config)?);
                let reply = b.db.run_command(create).await.map_err(|e| err("create a collection", e))?;
                if let Some(e) = reply_error(&reply) {
                    return Err(Error::Database { context: "the MongoDB restore could not create a collection".into(), source: e });
                }
            }
            None => b.db.create_collection(&name).await.map_err(|e| err("create a collection", e))?,
        }
        // A view holds no documents or indexes of its own.
        if c.get("options").and_then(|o| o.get("viewOn")).is_some() {
            continue;
        }
        let mut specs = Vec::new();
        for i in c.get("indexes").and_then(|i| i.as_array()).into_iter().flatten() {
            let mut spec = json_to_document(i.clone(), "an index").map_err(Error::Config)?;
            if spec.get_str("name") == Ok("_id_") {
                continue;
            }
            spec.remove("v");
            spec.remove("ns");
            specs.push(spec);
        }
        if !specs.is_empty() {
            let reply = b.db.run_command(doc! { "createIndexes": &name, "indexes": specs }).await.map_err(|e| err("create the indexes", e))?;
            if let Some(e) = reply_error(&reply) {
                return Err(Error::Database { context: "the MongoDB restore could not create the indexes".into(), source: e });
            }
        }
        let docs = c.get("documents").and_then(|d| d.as_array()).cloned().unwrap_or_default();
        for chunk in docs.chunks(1000) {
            let batch = chunk.iter().map(|d| json_to_document(d.clone(), "a document")).collect::<std::result::Result<Vec<_>, _>>().map_err(Error::Config)?;
            b.db.collection::<Document>(&name).insert_many(batch).await.map_err(|e| err("insert documents", e))?;
        }
    }
    b.client.clone().shutdown().await;
    Ok(())
}

/// The name drivers give an index on `keys`: `field_1_other_-1`.
pub fn default_index_name(keys: &Document) -> String {
    keys.iter()
        .map(|(k, v)| {
            let v = match v {
                Bson::Int32(i) => i.to_string(),
                Bson::Int64(i) => i.to_string(),
                Bson::Double(f) => (*f as i64).to_string(),
                Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}_{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_json_round_trips() {
        let d = parse_document(r#"{"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "n": {"$numberLong": "7"}, "at": {"$date": "2024-01-31T12:00:00Z"}}"#, "d").unwrap();
        assert!(matches!(d.get("_id"), Some(Bson::ObjectId(_))));
        assert_eq!(d.get_i64("n").unwrap(), 7);
        assert!(d.get_datetime("at").is_ok());
        let text = document_text(d);
        assert!(text.contains("$oid") && text.contains("$date"), "{text}");
        assert!(parse_document("[1]", "the filter").unwrap_err().contains("must be a JSON object"));
        assert!(parse_document("{", "the filter").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn index_names_follow_the_driver_convention() {
        assert_eq!(default_index_name(&doc! { "email": 1, "created": -1 }), "email_1_created_-1");
        assert_eq!(default_index_name(&doc! { "body": "text" }), "body_text");
    }
}
