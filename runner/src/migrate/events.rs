//! What a run reports while it goes: events for progress output and the reports they carry.
//!
//! These types sit in the base layer so the sandbox, the seeder and the migrator can all speak
//! them without importing each other.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::error::Direction;
use super::source::Migration;

/// Where a component came from on this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Deserialized from the cache (its MAC verified).
    Cached,
    /// Compiled now (and stored, when a cache directory and a key are available).
    Compiled,
}

/// Severity of a guest's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// Receives [`Event`]s; shared with the sandbox, hence `Fn` and `Sync`.
pub type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Something that happened during a run, for progress output.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A component was loaded, from the cache or by compiling it.
    ComponentLoaded {
        /// The migration.
        migration: &'a Migration,
        /// Cache hit or compilation.
        origin: Origin,
        /// How long loading took.
        duration: Duration,
    },
    /// A component logged a line through the `log` interface.
    GuestLog {
        /// The migration.
        migration: &'a Migration,
        /// Severity.
        level: LogLevel,
        /// The message.
        message: &'a str,
    },
    /// A line the component wrote to stdout or stderr (shown after it returns).
    GuestOutput {
        /// The migration.
        migration: &'a Migration,
        /// `stdout` or `stderr`.
        stream: &'a str,
        /// The line.
        line: &'a str,
    },
    /// A component's statement was refused by its grants (an audit record).
    Audit {
        /// The migration.
        migration: &'a Migration,
        /// The statement (as sent).
        statement: &'a str,
        /// Why it was refused.
        reason: &'a str,
    },
    /// A component reported progress.
    Progress {
        /// The migration.
        migration: &'a Migration,
        /// Units done.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
    },
    /// A migration is about to run.
    Started {
        /// The migration.
        migration: &'a Migration,
        /// Which way.
        direction: Direction,
    },
    /// The database holds tables (collections) but no migration history yet: told before an
    /// `up`'s first migration runs, since such a database may want `baseline` rather than
    /// migrations that create what it already has. Counted on the run's own connection, under
    /// its lock.
    Unadopted {
        /// How many tables (collections) it holds besides db-migrate's own.
        tables: usize,
    },
    /// Another runner applied (or reverted) this migration while this run was under way.
    Skipped {
        /// The migration.
        migration: &'a Migration,
        /// Which way.
        direction: Direction,
    },
    /// A seed was not run, and why.
    SeedSkipped {
        /// The seed.
        seed: &'a Migration,
        /// Why.
        reason: &'a str,
    },
    /// A seed ran and is committed.
    SeedFinished {
        /// The seed.
        seed: &'a Migration,
        /// What it did.
        report: &'a SeedReport,
    },
    /// The run's lock could not be released, or its connection not closed cleanly (see
    /// [`Warning`]). A successful run also lists it in its report.
    Warning {
        /// What happened and what it means.
        warning: &'a Warning,
    },
    /// A migration finished and is committed.
    Finished {
        /// The migration.
        migration: &'a Migration,
        /// Which way.
        direction: Direction,
        /// How long its own work took.
        duration: Duration,
    },
}

/// Something that went wrong once a run's work was done, without undoing any of it: the
/// migration lock could not be released, or the connection not closed cleanly.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    /// `unlock` (the lock could not be released) or `close` (the connection could not be
    /// closed cleanly).
    pub kind: &'static str,
    /// What happened and what it means (the error's whole message).
    pub message: String,
}

impl Warning {
    /// The warning for a failure to let go of the lock or the connection.
    pub fn release(e: &super::error::Error) -> Warning {
        let kind = match e {
            super::error::Error::Close(_) => "close",
            _ => "unlock",
        };
        Warning { kind, message: e.to_string() }
    }
}

/// What a seed is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedKind {
    /// `seeds/NAME.sql`: trusted SQL, run as a script.
    Sql,
    /// `seeds/NAME.wasm`: the project's own component (world `seed`).
    Component,
    /// A `[[seeds.pack]]`: a component held to its grants.
    Pack,
    /// `seeds/NAME.json` on MongoDB: documents by collection, or commands.
    #[serde(rename = "json")]
    Documents,
}

impl SeedKind {
    /// The name stored in the seed history.
    pub fn as_str(self) -> &'static str {
        match self {
            SeedKind::Sql => "sql",
            SeedKind::Component => "component",
            SeedKind::Pack => "pack",
            SeedKind::Documents => "json",
        }
    }
}

/// What one seed did.
#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    /// Its name.
    pub name: String,
    /// `sql`, `component` or `pack`.
    pub kind: SeedKind,
    /// Rows written per table (components; SQL seeds report none).
    pub rows: BTreeMap<String, u64>,
    /// Rows written in all.
    pub total_rows: u64,
    /// Time its own work took, in milliseconds.
    pub duration_ms: f64,
    /// Rows per second of its own work.
    pub rows_per_sec: f64,
    /// Tables emptied first (`--reset`).
    pub reset: Vec<String>,
    /// Batches committed along the way (packs with `batch_commits`).
    pub commits: u64,
}

