//! Typed errors of the migration core. The CLI renders them; library users can match on them.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a migration file or the migrations directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// One problem, located in a file (and a line when known).
    At {
        /// The file or folder at fault.
        path: PathBuf,
        /// 1-based line, when the problem has one.
        line: Option<usize>,
        /// What is wrong, and what to do.
        message: String,
    },
    /// Several problems, all reported at once.
    Many(Vec<SourceError>),
}

impl SourceError {
    /// A problem with a whole file.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        SourceError::At { path: path.to_path_buf(), line: None, message: message.into() }
    }

    /// A problem on one line of a file.
    pub fn at(path: &Path, line: usize, message: impl Into<String>) -> Self {
        SourceError::At { path: path.to_path_buf(), line: Some(line), message: message.into() }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::At { path, line: Some(l), message } => write!(f, "{}:{l}: {message}", path.display()),
            SourceError::At { path, line: None, message } => write!(f, "{}: {message}", path.display()),
            SourceError::Many(list) => {
                writeln!(f, "{} problems with the migration files:", list.len())?;
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "  - {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SourceError {}

/// A migration referred to by the history or by a plan problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationRef {
    /// Version number.
    pub version: i64,
    /// Name.
    pub name: String,
}

impl fmt::Display for MigrationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.version, self.name)
    }
}

fn list(items: &[MigrationRef]) -> String {
    items.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n")
}

/// Why the planner refuses a run. Nothing has touched the database when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A migration was left half-applied by a failed non-transactional run.
    #[error("{}", dirty_message(.0))]
    Dirty(Vec<MigrationRef>),
    /// Applied migrations whose files changed or disappeared.
    #[error("{}", drift_message(.modified, .missing))]
    Drift {
        /// Applied migrations whose file content no longer matches the recorded checksum.
        modified: Vec<MigrationRef>,
        /// Applied migrations with no file any more.
        missing: Vec<MigrationRef>,
    },
    /// Pending migrations older than the newest applied one.
    #[error(
        "pending migrations are older than the newest applied migration {newest}:\n{}\n\
         they were probably merged from another branch. Applying them out of order may be fine; \
         pass --allow-out-of-order (or set `allow_out_of_order = true` in db-migrate.toml) to apply them, \
         or give them newer versions",
        list(.pending)
    )]
    OutOfOrder {
        /// The pending migrations that are older than `newest`.
        pending: Vec<MigrationRef>,
        /// The newest applied migration.
        newest: MigrationRef,
    },
    /// `--to VERSION` names no known migration.
    #[error("no migration has version {0}; `db-migrate status` lists the versions")]
    UnknownTarget(i64),
    /// A migration to revert has no down section.
    #[error(
        "migration {0} is irreversible: it has no down section (`-- migrate:down` or a `.down.sql` file); \
         add one to make `down` possible"
    )]
    Irreversible(MigrationRef),
    /// A migration to revert has no file, so there is no down script to run.
    #[error("migration {0} is applied but its file is missing, so it cannot be reverted; restore the file first")]
    MissingFile(MigrationRef),
}

fn dirty_message(dirty: &[MigrationRef]) -> String {
    let v = dirty.first().map(|m| m.version.to_string()).unwrap_or_else(|| "VERSION".into());
    format!(
        "the database has dirty migrations (started outside a transaction and not finished: part of it may be applied):\n{}\n\
         check the schema by hand; if the migration's changes are all there, run `db-migrate repair --mark-applied {v}`, \
         if you undid them (or none happened), run `db-migrate repair --mark-reverted {v}`; then run `up` again",
        list(dirty)
    )
}

fn drift_message(modified: &[MigrationRef], missing: &[MigrationRef]) -> String {
    let mut s = String::from("applied migrations no longer match their files:");
    if !modified.is_empty() {
        s.push_str(&format!("\nmodified after being applied:\n{}", list(modified)));
    }
    if !missing.is_empty() {
        s.push_str(&format!("\napplied but their files are missing:\n{}", list(missing)));
    }
    s.push_str(
        "\nrestore the files as they were applied (`db-migrate validate` shows the drift); \
         change the schema with a new migration instead of editing an applied one",
    );
    if let Some(m) = modified.first() {
        s.push_str(&format!(". If an edit was deliberate (the schema already matches), `db-migrate repair --accept-checksum {}` records it", m.version));
    }
    if let Some(m) = missing.first() {
        s.push_str(&format!(". If a file was deleted on purpose, `db-migrate repair --forget {}` removes its history row", m.version));
    }
    s
}

/// An error reported by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// The database's own message.
    pub message: String,
    /// The driver's code (SQLSTATE, SQLite result code), when it gives one.
    pub code: Option<String>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{} (code {c})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DbError {}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) => {
                DbError { message: d.message().to_string(), code: d.code().map(|c| c.into_owned()) }
            }
            other => DbError { message: other.to_string(), code: None },
        }
    }
}

/// Which way a migration was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Applying.
    Up,
    /// Reverting.
    Down,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The migration files are wrong.
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The configuration is wrong.
    #[error("{0}")]
    Config(String),
    /// The run was refused before it touched the database.
    #[error("{0}")]
    Plan(#[from] PlanError),
    /// The database URL is wrong or the database cannot be reached.
    #[error("{0}")]
    Connect(String),
    /// The database failed outside a migration (reading history, creating the history table…).
    #[error("{context}: {source}")]
    Database {
        /// What the runner was doing.
        context: String,
        /// What the database said.
        source: DbError,
    },
    /// A migration's SQL failed. Its changes were rolled back unless `dirty` is set.
    #[error("{}", migration_failed(self))]
    MigrationFailed {
        /// The migration.
        migration: MigrationRef,
        /// Applying or reverting.
        direction: Direction,
        /// The file holding the failing statement.
        path: PathBuf,
        /// Line of the failing statement in `path`, when known.
        line: Option<usize>,
        /// The database's error.
        source: DbError,
        /// What the failure left behind.
        kept: Kept,
    },
    /// A component migration failed: it returned an error, trapped, ran out of time, or could not
    /// be loaded. Its changes were rolled back unless `dirty` is set.
    #[error("{}", component_failed(self))]
    ComponentFailed {
        /// The migration.
        migration: MigrationRef,
        /// Applying or reverting.
        direction: Direction,
        /// The component file.
        path: PathBuf,
        /// Whose fault it is.
        blame: Blame,
        /// What happened, in the guest's words where it said something.
        message: String,
        /// What the failure left behind.
        kept: Kept,
    },
    /// A seed failed: its SQL, its component, or its bookkeeping.
    #[error("{}", seed_failed(self))]
    SeedFailed {
        /// The seed's name.
        seed: String,
        /// Its file.
        path: PathBuf,
        /// Line of the failing statement (SQL seeds).
        line: Option<usize>,
        /// Whose fault it is (components).
        blame: Option<Blame>,
        /// What happened.
        message: String,
        /// Batches committed before the failure (batched commits only): they stay.
        committed: u64,
        /// Whether what the seed wrote before the failure stays although nothing was committed
        /// as a batch: seeds on MongoDB run outside a transaction.
        keeps_writes: bool,
        /// On MySQL or MariaDB, the line of the last statement of a failed SQL seed that a DDL
        /// statement's implicit commit kept (DDL commits what ran before it, then itself).
        ddl_kept: Option<usize>,
    },
    /// The migration lock could not be taken in time.
    #[error("{0}")]
    Locked(String),
    /// Another runner recorded the migration while this one was running.
    #[error(
        "migration {0} was recorded by another db-migrate run while this one was running; nothing of it was applied twice. \
         Run `db-migrate status` to see where things stand"
    )]
    Conflict(MigrationRef),
    /// A signal (Ctrl-C, SIGTERM) stopped the run: the migration in flight, if any, failed and
    /// was handled like any failure (`during` says what it left); the ones before it stay.
    #[error("{}", interrupted(self))]
    Interrupted {
        /// `SIGINT` or `SIGTERM`.
        signal: &'static str,
        /// Migrations (or seeds) this run completed before the signal: they stay.
        completed: usize,
        /// The failure of the step in flight, when one was running.
        during: Option<Box<Error>>,
    },
    /// The run's lock could not be renewed between migrations (its row was deleted or taken
    /// over, or the database failed to renew it): another runner could take the lock once it
    /// expires, so the run stopped before its next migration. The migrations it completed stay.
    #[error("{}", lock_lost(self))]
    LockLost {
        /// Migrations (or seeds) this run completed before it stopped: they stay.
        completed: usize,
        /// Why the renewal failed.
        cause: Box<Error>,
    },
    /// The migration lock could not be released once the run's work was done. A successful
    /// run reports it as a warning ([`crate::run::migrator::Report::warnings`]): nothing the
    /// run did is undone by it.
    #[error("{}", unlock_failed(.lock, .source))]
    Unlock {
        /// Which kind of lock is left behind, which says what frees it.
        lock: HeldLock,
        /// What the database said (or why the release did not count).
        source: DbError,
    },
    /// The connection could not be closed cleanly (after the lock was released).
    #[error("the database connection could not be closed cleanly (the migration lock had been released): {0}")]
    Close(DbError),
    /// Another tool's migrations could not be carried over (`import`).
    #[error("{0}")]
    Import(#[from] ImportError),
    /// A file operation of the CLI (init, create) failed.
    #[error("{path}: {message}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Why `import` cannot carry another tool's migrations over. Nothing is written when it fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The tool was detected but its migrations folder holds none of its migrations.
    #[error(
        "found no {tool} migrations in {}: the folder is missing or empty, or {tool}'s settings put them elsewhere. \
         Pass `--migrations-dir PATH` (relative to the project) to say where they are",
        .dir.display()
    )]
    NothingFound {
        /// The tool.
        tool: String,
        /// Where it looked.
        dir: PathBuf,
    },
    /// A version cannot become a db-migrate version without changing the order.
    #[error("{}: version {version} cannot be imported: {why}", .path.display())]
    Version {
        /// The tool's file.
        path: PathBuf,
        /// The version as the tool writes it.
        version: String,
        /// Why.
        why: String,
    },
    /// The file import would write exists with other content.
    #[error(
        "{} exists already with content different from {}: import only writes new files or keeps identical ones; \
         move it away (or compare the two) and import again",
        .existing.display(),
        .from.display()
    )]
    Differs {
        /// db-migrate's file.
        existing: PathBuf,
        /// The tool's file.
        from: PathBuf,
    },
}

/// What a failed migration left behind. A message about it must be true, so when the runner
/// could not find out (the connection was lost before it could roll back or read the history
/// back) it says so instead of guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kept {
    /// Everything was rolled back: the migration's changes and its history row.
    Nothing,
    /// It ran outside a transaction and part of it may have been applied; it is recorded as dirty.
    Dirty,
    /// The runner lost the database before it could tell: it may be partly applied (DDL commits
    /// implicitly on MySQL) and its history row may be dirty.
    Unknown,
}

/// What a failed migration left behind, and what to do about it.
fn aftermath(migration: &MigrationRef, kept: Kept) -> String {
    let v = migration.version;
    match kept {
        Kept::Dirty => format!(
            "\nthe migration ran outside a transaction, so part of it may have been applied; it is recorded as dirty. \
             Check the schema, then run `db-migrate repair --mark-applied {v}` or `db-migrate repair --mark-reverted {v}`"
        ),
        Kept::Nothing => "\nnothing of this migration was kept: its changes and its history row were rolled back".to_string(),
        Kept::Unknown => format!(
            "\nthe connection was lost (or its Galera node left the cluster) before db-migrate could roll back or read the history back, so what was kept is unknown: \
             statements that commit implicitly (DDL on MySQL/MariaDB, anything outside a transaction) may have been applied and \
             the history row of {v} may be dirty. Run `db-migrate status` once the database is back: if {v} shows `dirty`, \
             check the schema and run `db-migrate repair --mark-applied {v}` or `--mark-reverted {v}`"
        ),
    }
}

/// Whose fault a component failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Blame {
    /// The component: it returned an error, trapped, exceeded a limit, or is not a valid migration.
    Guest,
    /// db-migrate or the database underneath it.
    Host,
}

fn component_failed(e: &Error) -> String {
    let Error::ComponentFailed { migration, direction, path, blame, message, kept } = e else { unreachable!("called for Error::ComponentFailed only") };
    let who = match blame {
        Blame::Guest => "the component (guest) is at fault",
        Blame::Host => "the host (db-migrate or the database) is at fault, not the component",
    };
    let mut s = format!("migration {migration} failed ({direction}) in {}: {message}
{who}", path.display());
    s.push_str(&aftermath(migration, *kept));
    s
}

fn migration_failed(e: &Error) -> String {
    let Error::MigrationFailed { migration, direction, path, line, source, kept } = e else { unreachable!("called for Error::MigrationFailed only") };
    let loc = match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    };
    let mut s = format!("migration {migration} failed ({direction}) at {loc}: {source}");
    s.push_str(&aftermath(migration, *kept));
    s
}

impl Error {
    /// When a signal asked the run to stop, the failure of the step in flight becomes an
    /// [`Error::Interrupted`] carrying it; otherwise the error is returned as it is.
    pub fn or_interrupted(self, completed: usize) -> Error {
        match crate::interrupt::requested() {
            Some(signal) if !matches!(self, Error::Interrupted { .. }) => {
                Error::Interrupted { signal: signal.name(), completed, during: Some(Box::new(self)) }
            }
            _ => self,
        }
    }

    /// [`Error::Interrupted`] between steps, when a signal asked the run to stop.
    pub fn check_interrupted(completed: usize) -> Result<()> {
        match crate::interrupt::requested() {
            Some(signal) => Err(Error::Interrupted { signal: signal.name(), completed, during: None }),
            None => Ok(()),
        }
    }
}

fn interrupted(e: &Error) -> String {
    let Error::Interrupted { signal, completed, during } = e else { unreachable!("called for Error::Interrupted only") };
    let mut s = format!("interrupted by {signal}: the run stopped and released its lock; {completed} step(s) completed before it and stay");
    match during {
        Some(inner) => s.push_str(&format!("
the step in flight was stopped: {inner}")),
        None => s.push_str("; no migration was running"),
    }
    s
}

/// The kind of migration lock a run held, for saying what frees one that could not be released.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeldLock {
    /// A session lock (PostgreSQL advisory lock, MySQL `GET_LOCK`): the server frees it when
    /// the session ends.
    Session,
    /// A row (MongoDB: a document) with an owner and an expiry in this table (collection): it
    /// stays until it expires or is deleted.
    Row {
        /// The lock table (collection).
        table: String,
        /// How long the row lives without renewal.
        ttl: std::time::Duration,
    },
}

fn unlock_failed(lock: &HeldLock, source: &DbError) -> String {
    let what = match lock {
        HeldLock::Session => "it is a session lock: the server frees it when the session ends, which it does when db-migrate closes the \
                              connection or its process exits"
            .to_string(),
        HeldLock::Row { table, ttl } => format!(
            "it is a lock row in {table}: if the row is still there, it stays until it expires ({} minutes after its last renewal), \
             and other runs wait for it until then (--lock-timeout); once you are sure no run is active, delete it from {table} to free it at once",
            ttl.as_secs() / 60
        ),
    };
    format!("the migration lock could not be released: {source}; {what}")
}

fn lock_lost(e: &Error) -> String {
    let Error::LockLost { completed, cause } = e else { unreachable!("called for Error::LockLost only") };
    format!(
        "this run could not renew its migration lock, so it stopped before the next step (another run could take the lock once it expires): {cause}\n\
         {completed} step(s) completed before it and stay. Run `db-migrate status`, then run the command again"
    )
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn seed_failed(e: &Error) -> String {
    let Error::SeedFailed { seed, path, line, blame, message, committed, keeps_writes, ddl_kept } = e else { unreachable!("called for Error::SeedFailed only") };
    let at = match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    };
    let mut s = format!("seed {seed} failed at {at}: {message}");
    match blame {
        Some(Blame::Guest) => s.push_str("\nthe component (guest) is at fault"),
        Some(Blame::Host) => s.push_str("\nthe host (db-migrate or the database) is at fault, not the component"),
        None => {}
    }
    if *committed > 0 {
        s.push_str(&format!(
            "\n{committed} batch(es) were committed before the failure (the pack uses batched commits) and stay; \
             `db-migrate seed {seed} --reset` empties its tables and starts over"
        ));
    } else if let Some(l) = ddl_kept {
        s.push_str(&format!(
            "\nwhat it ran up to its statement at line {l} stays (MySQL and MariaDB commit the open transaction at each DDL statement, before running it); \
             the rest was rolled back and the seed was not recorded"
        ));
    } else if *keeps_writes {
        s.push_str(&format!(
            "\nwhat it wrote before the failure stays (seeds on MongoDB run outside a transaction), and the seed was not recorded: \
             fix it and run `db-migrate seed {seed}` again, or empty what it wrote first"
        ));
    } else {
        s.push_str("\nnothing of this seed was kept: everything it wrote was rolled back");
    }
    s
}
