//! Database backends: one trait, one implementation per database.
//!
//! A backend owns the connection, the history table and the transaction protocol around each
//! migration: a transactional migration and its history row commit together; a
//! non-transactional one records a `dirty` row first and flips it when done, so a crash leaves a
//! visible mark instead of a silent half-state.

pub mod sqlite;
pub mod url;

use std::time::Duration;

use crate::migrate::error::{Direction, Result};
use crate::migrate::history::AppliedMigration;
use crate::migrate::source::Migration;

pub use url::DatabaseUrl;

/// What every database backend does for the runner.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// Reads the history, oldest first. An absent history table reads as empty and is not created.
    async fn read_history(&mut self) -> Result<Vec<AppliedMigration>>;
    /// Creates the history table if it does not exist.
    async fn ensure_history(&mut self) -> Result<()>;
    /// Applies (`Up`) or reverts (`Down`) one migration together with its history change.
    /// Returns how long the migration's own work took.
    async fn run(&mut self, migration: &Migration, direction: Direction) -> Result<Duration>;
    /// Records a dirty migration as applied (after a human checked the schema).
    async fn mark_applied(&mut self, version: i64) -> Result<bool>;
    /// Forgets a dirty or applied migration's history row (after a human reverted it by hand).
    async fn remove(&mut self, version: i64) -> Result<bool>;
    /// Closes the connection cleanly.
    async fn close(self);
}

/// A connected backend of any supported database.
pub enum AnyBackend {
    /// SQLite.
    Sqlite(sqlite::SqliteBackend),
}

/// Whether connecting may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-only commands (`status`, `validate`, `--dry-run`): never create or change anything.
    ReadOnly,
    /// Commands that migrate: create the database if it is missing.
    ReadWrite,
}

/// Connects to `url`. In [`OpenMode::ReadOnly`], a database that does not exist yet gives `None`
/// (it has no history), and nothing is created.
pub async fn connect(url: &DatabaseUrl, history_table: &str, mode: OpenMode) -> Result<Option<AnyBackend>> {
    match url {
        DatabaseUrl::Sqlite(target) => {
            Ok(sqlite::SqliteBackend::connect(target, history_table, mode).await?.map(AnyBackend::Sqlite))
        }
    }
}

impl Backend for AnyBackend {
    async fn read_history(&mut self) -> Result<Vec<AppliedMigration>> {
        match self {
            AnyBackend::Sqlite(b) => b.read_history().await,
        }
    }
    async fn ensure_history(&mut self) -> Result<()> {
        match self {
            AnyBackend::Sqlite(b) => b.ensure_history().await,
        }
    }
    async fn run(&mut self, migration: &Migration, direction: Direction) -> Result<Duration> {
        match self {
            AnyBackend::Sqlite(b) => b.run(migration, direction).await,
        }
    }
    async fn mark_applied(&mut self, version: i64) -> Result<bool> {
        match self {
            AnyBackend::Sqlite(b) => b.mark_applied(version).await,
        }
    }
    async fn remove(&mut self, version: i64) -> Result<bool> {
        match self {
            AnyBackend::Sqlite(b) => b.remove(version).await,
        }
    }
    async fn close(self) {
        match self {
            AnyBackend::Sqlite(b) => b.close().await,
        }
    }
}
