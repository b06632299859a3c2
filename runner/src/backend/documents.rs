//! The document-database capability: what MongoDB offers components (the `documents` WIT
//! interface) and command files, as a trait, so the sandbox and the migrator reach it through
//! [`super::AnyBackend::documents`] without naming a driver.

use mongodb::bson::Document;

use super::guest::GuestSqlError;
use crate::migrate::error::DbError;

pub use super::mongo::FindOptions;
pub use crate::migrate::extjson::{document_text, parse_document};

/// Documents in collections: the operations of the `documents` interface and of command files.
/// The futures are `Send`: the sandbox awaits them inside wasmtime's async host calls.
pub trait Documents {
    /// The database's name.
    fn database_name(&self) -> &str;
    /// Whether `collection` is db-migrate's own (history, lock) or the server's (`system.*`).
    fn is_reserved(&self, collection: &str) -> bool;
    /// Runs database commands in order; on failure, how many completed and the error.
    fn exec_commands(&mut self, commands: &[Document]) -> impl std::future::Future<Output = Result<(), (usize, DbError)>> + Send;
    /// Inserts Extended JSON documents; returns how many.
    fn insert_many(&mut self, collection: &str, docs: Vec<String>) -> impl std::future::Future<Output = Result<u64, GuestSqlError>> + Send;
    /// Finds up to `max` documents.
    fn find(&mut self, collection: &str, filter: &str, o: &FindOptions, max: usize) -> impl std::future::Future<Output = Result<Vec<String>, GuestSqlError>> + Send;
    /// Opens a cursor; returns its id.
    fn open_cursor(&mut self, collection: &str, filter: &str, o: &FindOptions) -> impl std::future::Future<Output = Result<u64, GuestSqlError>> + Send;
    /// The next page of a cursor, `None` at its end.
    fn cursor_next(&mut self, id: u64, max: usize) -> impl std::future::Future<Output = Result<Option<Vec<String>>, GuestSqlError>> + Send;
    /// Closes a cursor.
    fn close_cursor(&mut self, id: u64);
    /// Updates matching documents; returns (matched, modified).
    fn update_many(&mut self, collection: &str, filter: &str, update: &str) -> impl std::future::Future<Output = Result<(u64, u64), GuestSqlError>> + Send;
    /// Deletes matching documents; returns how many.
    fn delete_many(&mut self, collection: &str, filter: &str) -> impl std::future::Future<Output = Result<u64, GuestSqlError>> + Send;
    /// Counts matching documents.
    fn count(&mut self, collection: &str, filter: &str) -> impl std::future::Future<Output = Result<u64, GuestSqlError>> + Send;
    /// Runs one database command and returns its reply.
    fn run_command(&mut self, command: Document) -> impl std::future::Future<Output = Result<Document, GuestSqlError>> + Send;
}

impl Documents for super::mongo::MongoBackend {
    fn database_name(&self) -> &str {
        super::mongo::MongoBackend::database_name(self)
    }
    fn is_reserved(&self, collection: &str) -> bool {
        super::mongo::MongoBackend::is_reserved(self, collection)
    }
    async fn exec_commands(&mut self, commands: &[Document]) -> Result<(), (usize, DbError)> {
        super::mongo::MongoBackend::exec_commands(self, commands).await
    }
    async fn insert_many(&mut self, collection: &str, docs: Vec<String>) -> Result<u64, GuestSqlError> {
        super::mongo::MongoBackend::insert_many(self, collection, docs).await
    }
    async fn find(&mut self, collection: &str, filter: &str, o: &FindOptions, max: usize) -> Result<Vec<String>, GuestSqlError> {
        super::mongo::MongoBackend::find(self, collection, filter, o, max).await
    }
    async fn open_cursor(&mut self, collection: &str, filter: &str, o: &FindOptions) -> Result<u64, GuestSqlError> {
        super::mongo::MongoBackend::open_cursor(self, collection, filter, o).await
    }
    async fn cursor_next(&mut self, id: u64, max: usize) -> Result<Option<Vec<String>>, GuestSqlError> {
        super::mongo::MongoBackend::cursor_next(self, id, max).await
    }
    fn close_cursor(&mut self, id: u64) {
        super::mongo::MongoBackend::close_cursor(self, id)
    }
    async fn update_many(&mut self, collection: &str, filter: &str, update: &str) -> Result<(u64, u64), GuestSqlError> {
        super::mongo::MongoBackend::update_many(self, collection, filter, update).await
    }
    async fn delete_many(&mut self, collection: &str, filter: &str) -> Result<u64, GuestSqlError> {
        super::mongo::MongoBackend::delete_many(self, collection, filter).await
    }
    async fn count(&mut self, collection: &str, filter: &str) -> Result<u64, GuestSqlError> {
        super::mongo::MongoBackend::count(self, collection, filter).await
    }
    async fn run_command(&mut self, command: Document) -> Result<Document, GuestSqlError> {
        super::mongo::MongoBackend::run_command(self, command).await
    }
}

/// The name drivers give an index on `keys`: `field_1_other_-1`.
pub use super::mongo::default_index_name;
