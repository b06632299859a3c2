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

pub use backup::{export, import};

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

// After `in_session!`, which they use (a macro is in scope only below its definition).
mod backup;
mod guest;
mod history;
mod lock;

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
