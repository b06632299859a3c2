//! [`Migrator`]: the library's front door, and what the CLI drives.
//!
//! ```no_run
//! # async fn start() -> Result<(), db_migrate::Error> {
//! // At application start-up: apply whatever is pending, refuse on drift.
//! let report = db_migrate::Migrator::new("migrations", "sqlite:app.sqlite3").up().await?;
//! println!("applied {} migrations", report.steps.len());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::migrate::error::{Direction, Error, Result};
pub use crate::migrate::events::{Event, LogLevel, Observer, Warning};
use crate::migrate::history::{self, AppliedMigration};
use crate::migrate::plan::{self, DownTarget, StatusEntry, Step, UpOptions};
use crate::migrate::source::{self, Migration};
use crate::migrate::source::Body;
use crate::migrate::embedded::{DirectorySource, MigrationSource};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::backend::lent::ExistingConnection;
use crate::backend::{self, AnyBackend, Backend, DatabaseUrl, OpenMode};
use crate::sandbox::policy::Policies;
use crate::sandbox::{GuestContext, Limits};
#[cfg(feature = "components")]
use crate::sandbox::Sandbox;

/// One migration a run applied or reverted.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Up or down.
    pub direction: Direction,
    /// Time the migration's own work took, in milliseconds.
    pub duration_ms: f64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// The migrations applied or reverted, in order.
    pub steps: Vec<StepReport>,
    /// Wall time of the whole run, in milliseconds.
    pub total_ms: f64,
    /// Repeatable migrations applied after the steps (new or changed).
    pub repeatable: Vec<crate::run::workflow::RepeatableReport>,
    /// What went wrong once the work was done without undoing it: the migration lock could not
    /// be released, or the connection not closed cleanly. The run still succeeded.
    pub warnings: Vec<Warning>,
}

/// A planned run, for `--dry-run`: what would run, in order.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Each migration with its direction.
    pub steps: Vec<(Direction, Migration)>,
    /// Repeatable migrations `up` would apply after the steps (new or changed).
    pub repeatables: Vec<crate::migrate::workflow_files::Repeatable>,
    /// Callbacks that would run around the steps (none when there are no steps).
    pub callbacks: Vec<crate::migrate::workflow_files::Callback>,
}

/// How `repair` resolves a dirty, modified or missing migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Dirty: the migration's changes are in place: record it as applied.
    MarkApplied,
    /// Dirty: the migration's changes are not in place: forget its history row.
    MarkReverted,
    /// Modified: the file was edited on purpose: record its current checksum (and name).
    AcceptChecksum,
    /// Missing: the file was deleted on purpose: forget its history row.
    Forget,
}

/// Runs the migrations of one directory against one database.
pub struct Migrator {
    source: Arc<dyn MigrationSource>,
    url: String,
    base: Option<PathBuf>,
    table: String,
    seed_table: String,
    allow_out_of_order: bool,
    observer: Option<Observer>,
    cache_dir: Option<PathBuf>,
    lock_timeout: Duration,
    lock_mode: backend::LockMode,
    policies: Policies,
    context: GuestContext,
    // [workflow] placeholder values for SQL scripts (see `crate::run::workflow`).
    placeholders: crate::migrate::placeholders::Placeholders,
    /// The knex runtime component knex migration files run in (see `crate::sandbox::knex`).
    knex_runtime: Option<PathBuf>,
    /// The Alembic runtime component Alembic revision files run in (see `crate::sandbox::alembic`).
    alembic_runtime: Option<PathBuf>,
    /// The sandbox's engine and cache, being made while the database is opened (see
    /// [`crate::sandbox::ahead`]), when the migrations include components.
    #[cfg(feature = "components")]
    engine_ahead: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<wasmtime::Result<crate::sandbox::Ahead>>>>,
}

impl Migrator {
    /// A migrator for the migrations in `dir` and the database at `url`
    /// (`sqlite:PATH`; relative paths are relative to the working directory unless
    /// [`Migrator::base_dir`] says otherwise).
    pub fn new(dir: impl Into<PathBuf>, url: impl Into<String>) -> Self {
        Self::with_source(DirectorySource::new(dir), url)
    }

    /// A migrator for the migrations of `source` — a [`DirectorySource`], or the
    /// [`crate::migrate::embedded::MemorySource`] that `embed_migrations!` builds — and the database at `url`.
    pub fn with_source(source: impl MigrationSource + 'static, url: impl Into<String>) -> Self {
        Migrator {
            source: Arc::new(source),
            url: url.into(),
            base: None,
            table: history::DEFAULT_TABLE.to_string(),
            seed_table: "db_migrate_seeds".to_string(),
            allow_out_of_order: false,
            observer: None,
            cache_dir: None,
            lock_timeout: Duration::from_secs(60),
            lock_mode: backend::LockMode::Session,
            policies: Policies::default(),
            context: GuestContext { environment: crate::migrate::DEFAULT_ENV.into(), ..Default::default() },
            knex_runtime: None,
            alembic_runtime: None,
            placeholders: Default::default(),
            #[cfg(feature = "components")]
            engine_ahead: Default::default(),
        }
    }

    /// Values for `${name}` placeholders in SQL migrations, repeatable migrations and callbacks.
    pub fn placeholders(mut self, values: crate::migrate::placeholders::Placeholders) -> Self {
        self.placeholders = values;
        self
    }

    /// Resolves relative SQLite paths against `base` (the CLI passes the project directory).
    pub fn base_dir(mut self, base: impl Into<PathBuf>) -> Self {
        self.base = Some(base.into());
        self
    }

    /// Names the seed history table (default `db_migrate_seeds`): like the history, no
    /// component may touch it.
    pub fn seed_table(mut self, table: impl Into<String>) -> Self {
        self.seed_table = table.into();
        self
    }

    /// Uses another history table (default `db_migrate_history`). Validated when the run starts.
    pub fn history_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Accepts pending migrations older than the newest applied one.
    pub fn allow_out_of_order(mut self, allow: bool) -> Self {
        self.allow_out_of_order = allow;
        self
    }

    /// Calls `f` as each migration starts and finishes, and for what components log.
    pub fn on_event(mut self, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// How long to wait for another run's migration lock (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How runs lock each other out (default: the server's session lock).
    pub fn lock_mode(mut self, mode: backend::LockMode) -> Self {
        self.lock_mode = mode;
        self
    }

    /// Keeps compiled components in `dir` (the CLI uses `.db-migrate/cache/` in the project);
    /// without it, components are compiled on every run.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The knex runtime component (`db-migrate build` writes it) that runs knex migration files
    /// (a folder read with `Format::Knex`); a knex migration without one is refused before
    /// anything runs.
    pub fn knex_runtime(mut self, path: impl Into<PathBuf>) -> Self {
        self.knex_runtime = Some(path.into());
        self
    }

    /// The Alembic runtime component (`db-migrate build` writes it) that runs Alembic revision
    /// files (a folder read with `Format::Alembic`); an Alembic migration without one is refused
    /// before anything runs.
    pub fn alembic_runtime(mut self, path: impl Into<PathBuf>) -> Self {
        self.alembic_runtime = Some(path.into());
        self
    }

    /// Default limits for component migrations.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.policies.default.limits = limits;
        self
    }

    /// Grants, limits, pins and data folders per component (`[components.NAME]`).
    pub fn policies(mut self, policies: Policies) -> Self {
        self.policies = policies;
        self
    }

    /// What component migrations may learn of the run: environment, arguments, seed.
    pub fn context(mut self, context: GuestContext) -> Self {
        self.context = context;
        self
    }

    /// The migrations directory (for an embedded set, the folder it was embedded from).
    pub fn dir(&self) -> &Path {
        self.source.location()
    }

    /// Files in the migrations directory that are not read but look as if they were meant to be
    /// (`1_x.SQL`, `1_x.sql.txt`, a folder without a version…), each with what is expected.
    pub fn warnings(&self) -> Vec<source::NameWarning> {
        self.source.warnings()
    }

    /// Reads the migrations directory.
    pub fn migrations(&self) -> Result<Vec<Migration>> {
        Ok(self.discover()?)
    }

    fn parsed_url(&self) -> Result<DatabaseUrl> {
        history::validate_table_name(&self.table).map_err(Error::Config)?;
        let base = match &self.base {
            Some(b) => b.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        DatabaseUrl::parse(&self.url, &base)
    }

    /// Migrations and history, read without creating or changing anything.
    ///
    /// Reading the files and reading the history overlap: the files are read on a blocking
    /// thread while the database connection opens.
    async fn read_only(&self) -> Result<(Vec<Migration>, Vec<AppliedMigration>)> {
        self.read_only_with(crate::migrate::memo::ChecksumMemo::open).await
    }

    /// [`Migrator::read_only`] with the memo `memo` opens (a status memo leaves unchanged SQL
    /// files unread: [`crate::migrate::memo::ChecksumMemo::for_status`]).
    async fn read_only_with(&self, memo: fn(Option<&Path>) -> crate::migrate::memo::ChecksumMemo) -> Result<(Vec<Migration>, Vec<AppliedMigration>)> {
        let url = self.parsed_url()?;
        let src = self.source.clone();
        let cache = self.cache_dir.clone();
        let files = tokio::task::spawn_blocking(move || src.migrations(&memo(cache.as_deref())));
        let history = async {
            match backend::connect(&url, &self.table, OpenMode::ReadOnly).await? {
                Some(mut b) => {
                    let h = b.history().read_history().await;
                    // Read-only and unlocked: nothing depends on how this connection ends.
                    let _ = b.close().await;
                    h
                }
                None => Ok(Vec::new()),
            }
        };
        let (files, history) = tokio::join!(files, history);
        let migrations = files.map_err(|e| Error::Config(format!("reading the migrations failed: {e}")))??;
        Ok((migrations, history?))
    }

    async fn writable(&self) -> Result<(Vec<Migration>, AnyBackend)> {
        self.writable_to(false).await
    }

    /// [`Migrator::writable`]; with `runs` (the call will run migrations), the sandbox's
    /// engine is made meanwhile when the migrations include components.
    async fn writable_to(&self, runs: bool) -> Result<(Vec<Migration>, AnyBackend)> {
        let url = self.parsed_url()?;
        let src = self.source.clone();
        // Read the files first: a broken migration directory must not create a database.
        let cache = self.cache_dir.clone();
        let migrations = tokio::task::spawn_blocking(move || discover_in(&*src, cache.as_deref(), true))
            .await
            .map_err(|e| Error::Config(format!("reading the migrations failed: {e}")))??;
        #[cfg(not(feature = "components"))]
        let _ = runs;
        #[cfg(feature = "components")]
        if runs && migrations.iter().any(|m| matches!(m.body, Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. })) {
            let features = self.policies.features();
            let cache = self.cache_dir.clone();
            // The guess: the migration written last, the one a deploy applies or `down` reverts.
            let likely = migrations.last().filter(|m| matches!(m.body, Body::Component(_))).map(|m| m.checksum.clone());
            let (ready, ahead) = tokio::sync::oneshot::channel();
            tokio::task::spawn_blocking(move || crate::sandbox::ahead(features, cache, likely, |a| drop(ready.send(a))));
            *self.engine_ahead.lock().unwrap_or_else(|e| e.into_inner()) = Some(ahead);
        }
        let mut b = backend::connect_writable(&url, &self.table).await?;
        // Lock before anything else touches the history; `close` releases it on every path.
        let prepared = async {
            b.locks().lock(self.lock_timeout, self.lock_mode).await?;
            b.history().ensure_history().await
        }
        .await;
        if let Err(e) = prepared {
            self.close(b).await;
            return Err(e);
        }
        Ok((migrations, b))
    }

    /// The state of every migration. Creates nothing: a database that does not exist yet shows
    /// everything pending.
    pub async fn status(&self) -> Result<Vec<StatusEntry>> {
        // Checksums only: unchanged SQL files are not read again (their bodies stay empty).
        let (m, h) = self.read_only_with(crate::migrate::memo::ChecksumMemo::for_status).await?;
        let h = crate::run::workflow::squashed_view(&m, h)?;
        Ok(plan::status_owned(m, h))
    }

    /// The history row of `version`, if there is one. Creates nothing.
    pub async fn history_row(&self, version: i64) -> Result<Option<AppliedMigration>> {
        let url = self.parsed_url()?;
        let Some(mut b) = backend::connect(&url, &self.table, OpenMode::ReadOnly).await? else { return Ok(None) };
        let h = b.history().read_history().await;
        // Read-only and unlocked: nothing depends on how this connection ends.
        let _ = b.close().await;
        Ok(h?.into_iter().find(|h| h.version == version))
    }

    /// Applied migrations that were modified or whose files are missing (empty when none).
    pub async fn validate(&self) -> Result<Vec<StatusEntry>> {
        let entries = self.status().await?;
        Ok(entries.into_iter().filter(|e| matches!(e.state, plan::State::Modified | plan::State::Missing)).collect())
    }

    /// What `up` would do, without doing it.
    pub async fn plan_up(&self, opts: UpOptions) -> Result<PlannedRun> {
        let (mut m, h) = self.read_only().await?;
        let h = crate::run::workflow::squashed_view(&m, h)?;
        let steps = plan::plan_up(&m, &h, self.up_opts(opts))?;
        crate::run::workflow::display(&mut m, &steps, &self.placeholders)?;
        let mut run = planned(&m, &steps);
        run.repeatables = self.due_repeatables().await?;
        run.callbacks = crate::run::workflow::planned_callbacks(self.dir(), &steps, &self.placeholders)?;
        Ok(run)
    }

    /// What `down` would do, without doing it.
    pub async fn plan_down(&self, target: DownTarget) -> Result<PlannedRun> {
        let (mut m, h) = self.read_only().await?;
        let h = crate::run::workflow::squashed_view(&m, h)?;
        let steps = plan::plan_down(&m, &h, target)?;
        crate::run::workflow::display(&mut m, &steps, &self.placeholders)?;
        let mut run = planned(&m, &steps);
        run.callbacks = crate::run::workflow::planned_callbacks(self.dir(), &steps, &self.placeholders)?;
        Ok(run)
    }

    fn up_opts(&self, mut opts: UpOptions) -> UpOptions {
        opts.allow_out_of_order |= self.allow_out_of_order;
        opts
    }

    /// Applies every pending migration.
    pub async fn up(&mut self) -> Result<Report> {
        self.up_with(UpOptions::default()).await
    }

    /// Applies pending migrations as `opts` says.
    pub async fn up_with(&mut self, opts: UpOptions) -> Result<Report> {
        let opts = self.up_opts(opts);
        self.execute(true, |m, h| plan::plan_up(m, h, opts)).await
    }

    /// [`Migrator::up_with`], but first reads the history once without locking: a database with
    /// nothing pending (no versioned or repeatable migration due) is left alone — no lock, no
    /// history table created — and gets an empty report. A fleet of thousands of mostly
    /// up-to-date databases is checked at the cost of one history read each. Whatever the read
    /// finds, a run that does go ahead plans again under the lock, so a concurrent run cannot
    /// make it apply anything twice.
    ///
    /// The read is only a shortcut: when it fails (a SQLite file a killed run left with a hot
    /// journal cannot be read without being written, say), the ordinary run decides and reports.
    pub async fn up_unless_current(&mut self, opts: UpOptions) -> Result<Report> {
        let started = Instant::now();
        let current = async {
            let (m, h) = self.read_only().await?;
            let h = crate::run::workflow::squashed_view(&m, h)?;
            let steps = plan::plan_up(&m, &h, self.up_opts(opts))?;
            Ok::<_, Error>(steps.is_empty() && self.due_repeatables().await?.is_empty())
        };
        if let Ok(true) = current.await {
            return Ok(Report { total_ms: started.elapsed().as_secs_f64() * 1e3, ..Default::default() });
        }
        self.up_with(opts).await
    }

    /// Reverts applied migrations as `target` says.
    pub async fn down(&mut self, target: DownTarget) -> Result<Report> {
        self.execute(false, |m, h| plan::plan_down(m, h, target)).await
    }

    /// Reverts the newest applied migration and applies it again.
    pub async fn redo(&mut self) -> Result<Report> {
        self.execute(false, |m, h| {
            let mut steps = plan::plan_down(m, h, DownTarget::Steps(1))?;
            if let Some(first) = steps.first().copied() {
                steps.push(Step { direction: Direction::Up, index: first.index });
            }
            Ok(steps)
        })
        .await
    }

    /// Adopts an existing database: records every migration up to and including `version` as
    /// applied without running it. Refuses when the history already has rows, unless `force`
    /// (then only the migrations not yet recorded are added). Returns what it recorded.
    pub async fn baseline(&mut self, version: i64, force: bool) -> Result<Vec<Migration>> {
        let (migrations, mut b) = self.writable().await?;
        let result = async {
            if !migrations.iter().any(|m| m.version == version) {
                let near: Vec<String> = migrations.iter().map(|m| m.label()).filter(|l| l.starts_with(&version.to_string()[..version.to_string().len().min(8)])).take(5).collect();
                return Err(Error::Config(format!(
                    "no migration has version {version}{}; `db-migrate status` lists them",
                    if near.is_empty() { String::new() } else { format!(" (close: {})", near.join(", ")) }
                )));
            }
            let history = b.history().read_history().await?;
            if !history.is_empty() && !force {
                return Err(Error::Config(format!(
                    "the database already has a migration history ({} rows): baseline adopts a database that has none. \
                     Use --force to record the missing ones up to {version} anyway",
                    history.len()
                )));
            }
            record(&mut b, migrations.iter().filter(|m| m.version <= version), &history).await
        }
        .await;
        self.close(b).await;
        result
    }

    /// Records the migrations of `versions` as applied without running them (those already in
    /// the history are left alone): how `import --adopt` takes over another tool's history.
    pub async fn record_applied(&mut self, versions: &[i64]) -> Result<Vec<Migration>> {
        let (migrations, mut b) = self.writable().await?;
        let result = async {
            let history = b.history().read_history().await?;
            record(&mut b, migrations.iter().filter(|m| versions.contains(&m.version)), &history).await
        }
        .await;
        self.close(b).await;
        result
    }

    /// Runs one read-only query (another tool's history) and returns its first column as text.
    pub async fn read_column(&self, sql: &str) -> Result<Vec<String>> {
        use crate::backend::GuestSql;
        let url = self.parsed_url()?;
        let Some(mut b) = backend::connect(&url, &self.table, OpenMode::ReadOnly).await? else {
            return Err(Error::Config("the database does not exist yet: there is no history to adopt".into()));
        };
        let rows = b.query(sql, Vec::new(), 1_000_000, usize::MAX).await;
        // Read-only and unlocked: nothing depends on how this connection ends.
        let _ = b.close().await;
        let rows = rows.map_err(|e| Error::Config(format!("cannot read the tool's history ({}): {}", sql, e)))?;
        Ok(rows
            .rows
            .iter()
            .filter_map(|r| r.first())
            .map(|v| match v {
                backend::SqlValue::Text(s) => s.clone(),
                backend::SqlValue::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            })
            .collect())
    }

    /// Whether the database holds tables (collections) but no migration history: an existing
    /// database that `baseline` should adopt before `up` runs anything. Creates nothing.
    pub async fn unadopted(&self) -> Result<Option<usize>> {
        let url = self.parsed_url()?;
        let Some(mut b) = backend::connect(&url, &self.table, OpenMode::ReadOnly).await? else { return Ok(None) };
        let r = async {
            if !b.history().read_history().await?.is_empty() {
                return Ok(None);
            }
            let n = b.user_tables().await?;
            Ok((n > 0).then_some(n))
        }
        .await;
        // Read-only and unlocked: nothing depends on how this connection ends.
        let _ = b.close().await;
        r
    }

    /// Resolves a dirty migration after a human checked the schema. Returns false when the
    /// version has no history row.
    pub async fn repair(&mut self, version: i64, resolution: Resolution) -> Result<bool> {
        let (migrations, mut b) = self.writable().await?;
        let r = match resolution {
            Resolution::MarkApplied => b.history().mark_applied(version).await,
            Resolution::MarkReverted | Resolution::Forget => b.history().remove(version).await,
            Resolution::AcceptChecksum => match migrations.iter().find(|m| m.version == version) {
                Some(m) => b.history().set_checksum(version, &m.name, &m.checksum).await,
                None => Err(Error::Config(format!("no migration file has version {version}: there is no checksum to accept"))),
            },
        };
        self.close(b).await;
        r
    }

    /// Drops every object of the database — tables, views, sequences, functions, types, the
    /// history — and applies every migration from scratch, all under one lock. Returns what was
    /// dropped and the run's report. A broken migrations directory stops it before anything is
    /// dropped.
    pub async fn reset(&mut self) -> Result<(Vec<String>, Report)> {
        let started = Instant::now();
        let (migrations, mut b) = self.writable().await?;
        // A table-mode lock (and MongoDB's lock document) lives in a table this run must keep.
        let lock_table = format!("{}_lock", self.table.rsplit('.').next().unwrap_or(&self.table));
        let keep = (self.lock_mode == backend::LockMode::Table || b.is_documents()).then_some(lock_table.as_str());
        let dropped = async {
            let d = backend::wipe::drop_objects(&mut b, keep).await?;
            b.history().ensure_history().await?;
            Ok::<_, Error>(d)
        }
        .await;
        let dropped = match dropped {
            Ok(d) => d,
            Err(e) => {
                self.close(b).await;
                return Err(e);
            }
        };
        let opts = self.up_opts(UpOptions::default());
        let mut report = self.execute_on(migrations, b, true, |m, h| plan::plan_up(m, h, opts)).await?;
        report.total_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok((dropped, report))
    }

    /// Drops the database itself (a SQLite file is deleted). Returns whether it existed.
    pub async fn drop_database(&self) -> Result<bool> {
        backend::wipe::drop_database(&self.parsed_url()?, &self.table).await
    }

    async fn execute(
        &mut self,
        repeatables: bool,
        planner: impl FnOnce(&[Migration], &[AppliedMigration]) -> std::result::Result<Vec<Step>, crate::migrate::error::PlanError>,
    ) -> Result<Report> {
        let started = Instant::now();
        let ran = async {
            let (migrations, b) = self.writable_to(true).await?;
            self.execute_on(migrations, b, repeatables, planner).await
        }
        .await;
        // What was made ahead for this run ends with it, used or not: a later run (perhaps
        // with other limits or another cache) makes its own.
        #[cfg(feature = "components")]
        drop(self.engine_ahead.lock().unwrap_or_else(|e| e.into_inner()).take());
        let mut report = ran?;
        report.total_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// Plans with the history of `b` and runs the steps; closes `b` on every path.
    async fn execute_on(
        &mut self,
        migrations: Vec<Migration>,
        b: AnyBackend,
        repeatables: bool,
        planner: impl FnOnce(&[Migration], &[AppliedMigration]) -> std::result::Result<Vec<Step>, crate::migrate::error::PlanError>,
    ) -> Result<Report> {
        let (b, mut result) = self.run_steps(migrations, b, repeatables, planner).await;
        if let Some(w) = self.close(b).await
            && let Ok(report) = &mut result
        {
            report.warnings.push(w);
        }
        result
    }

    /// Closes `b` at the end of a run. A failure to release the lock or to close the
    /// connection cleanly undoes nothing the run did: it is told to the observer, and returned
    /// for a successful run's report (a failed run's error stays the error).
    async fn close(&self, b: AnyBackend) -> Option<Warning> {
        let w = b.close().await.err().map(|e| Warning::release(&e));
        if let (Some(w), Some(o)) = (&w, &self.observer) {
            o(&Event::Warning { warning: w });
        }
        w
    }

    /// Plans with the history of `b` and runs the steps; returns `b` (the sandbox gives back
    /// the backend it is lent) with the outcome.
    async fn run_steps(
        &mut self,
        migrations: Vec<Migration>,
        b: AnyBackend,
        repeatables: bool,
        planner: impl FnOnce(&[Migration], &[AppliedMigration]) -> std::result::Result<Vec<Step>, crate::migrate::error::PlanError>,
    ) -> (AnyBackend, Result<Report>) {
        // The backend is lent to the sandbox for each component migration and comes back.
        let mut slot = backend::Slot::new(b);
        let observer = self.observer.clone();
        #[cfg(feature = "components")]
        let context = Arc::new(self.context.clone());
        #[cfg(feature = "components")]
        let mut sandbox: Option<Sandbox> = None;
        let mut migrations = migrations;
        let mut flow: Option<crate::run::workflow::Flow> = None;
        let result = async {
            let history = slot.get().history().read_history().await?;
            // [workflow] squashed migrations whose replaced versions are all applied are recorded.
            let history = crate::run::workflow::reconcile_squashed(slot.get(), &migrations, history, true).await?;
            let steps = planner(&migrations, &history)?;
            // An existing database that db-migrate has not recorded anything in: said before
            // the first migration runs (a failed count only loses the hint). Asked here, on the
            // run's own connection, rather than by a connection of its own before the run: a
            // deploy's `up` used to open the database and read the whole history twice.
            if let Some(o) = &observer
                && history.is_empty()
                && steps.iter().any(|s| s.direction == Direction::Up)
                && let Ok(tables) = slot.get().user_tables().await
                && tables > 0
            {
                o(&Event::Unadopted { tables });
            }
            // A SQL file cannot run on MongoDB, nor a command file on a SQL database: refuse
            // before anything runs, so the database stays exactly as it was.
            let b = slot.get();
            for step in &steps {
                let m = &migrations[step.index];
                // A build without the sandbox refuses components before the first step runs.
                #[cfg(not(feature = "components"))]
                if matches!(m.body, Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. }) {
                    return Err(crate::sandbox::not_built(m));
                }
                let mismatch = match m.body {
                    Body::Sql { .. } => b.is_documents(),
                    Body::Commands { .. } => !b.is_documents(),
                    Body::Component(_) => false,
                    Body::Knex { .. } | Body::Alembic { .. } => b.is_documents(),
                };
                if mismatch {
                    return Err(Error::Config(format!(
                        "{} is a {} migration, but the database is {}; nothing was run. Keep SQL migrations for SQL databases and `.mongo.json` command files for MongoDB",
                        m.path.display(),
                        match m.body {
                            Body::Sql { .. } => "SQL",
                            Body::Knex { .. } => "knex",
                            Body::Alembic { .. } => "Alembic",
                            _ => "MongoDB command-file",
                        },
                        b.kind_name()
                    )));
                }
            }
            // [workflow] placeholders, callbacks and repeatable migrations: read and checked
            // before anything runs.
            let f = flow.insert(crate::run::workflow::Flow::prepare(self.dir(), &self.table, &self.placeholders, &mut migrations, &steps, repeatables)?);
            f.ensure_tables(slot.get()).await?;
            let mut report = Report::default();
            // A table lock is renewed before each step after the first (and before what `finish`
            // runs): if it cannot be, another runner could take it once it expires, so the run
            // stops there. After the last step nothing is left to protect: a lock that is gone
            // by then shows when it is released.
            let mut renew = false;
            // Component migrations, in the order they will run: loaded ahead from the cache.
            #[cfg(feature = "components")]
            let components: Vec<String> =
                steps.iter().map(|s| &migrations[s.index]).filter(|m| matches!(m.body, Body::Component(_))).map(|m| m.checksum.clone()).collect();
            for step in steps {
                let m = &migrations[step.index];
                if renew {
                    renew_lock(slot.get(), report.steps.len()).await?;
                }
                renew = true;
                f.enter(slot.get(), step.direction).await?;
                Error::check_interrupted(report.steps.len())?;
                if let Some(o) = &observer {
                    o(&Event::Started { migration: m, direction: step.direction });
                }
                let ran = match m.body {
                    Body::Sql { .. } => f.run_sql(slot.get(), m, step.direction).await,
                    #[cfg(feature = "mongodb")]
                    Body::Commands { .. } => {
                        let mongo = slot.get().documents().expect("checked above: command files run only on MongoDB");
                        backend::run_commands(mongo, m, step.direction).await
                    }
                    // Refused above: without MongoDB, no database takes command files.
                    #[cfg(not(feature = "mongodb"))]
                    Body::Commands { .. } => unreachable!("a command file on a SQL database is refused before anything runs"),
                    #[cfg(not(feature = "components"))]
                    Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. } => unreachable!("refused before the first step"),
                    #[cfg(feature = "components")]
                    Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. } => {
                        if sandbox.is_none() {
                            let ahead = self.engine_ahead.lock().unwrap_or_else(|e| e.into_inner()).take();
                            // A failure to make it ahead is met again, and reported, below.
                            let made = match ahead {
                                Some(h) => h.await.ok().and_then(|r| r.ok()),
                                None => None,
                            };
                            sandbox = Some(
                                Sandbox::with_engine(self.cache_dir.clone(), self.policies.features(), made)?
                                    .history_table(&self.table)
                                    .seed_table(&self.seed_table)
                                    .knex_runtime(self.knex_runtime.clone())
                                    .alembic_runtime(self.alembic_runtime.clone())
                                    .prefetch(components.clone()),
                            );
                        }
                        let sb = sandbox.as_ref().expect("created above");
                        let db = slot.lend();
                        let policy = self.policies.get(&m.label(), &m.name);
                        let (back, r) = sb.run_migration(db, m, step.direction, context.clone(), observer.clone(), policy).await;
                        slot.give_back(back);
                        r
                    }
                };
                let duration = match ran {
                    Ok(d) => d,
                    // Another runner got there first. Its history row is the truth: if it did
                    // exactly this step, carry on with the rest; anything else is a real conflict.
                    Err(Error::Conflict(r)) => {
                        let now = slot.get().history().read_history().await?;
                        let recorded = now.iter().any(|h| h.version == m.version && h.checksum == m.checksum);
                        let done_elsewhere = match step.direction {
                            Direction::Up => recorded,
                            Direction::Down => !now.iter().any(|h| h.version == m.version),
                        };
                        if !done_elsewhere {
                            return Err(Error::Conflict(r));
                        }
                        if let Some(o) = &observer {
                            o(&Event::Skipped { migration: m, direction: step.direction });
                        }
                        continue;
                    }
                    Err(e) => return Err(e.or_interrupted(report.steps.len())),
                };
                f.after_step(slot.get(), m, step.direction).await?;
                if let Some(o) = &observer {
                    o(&Event::Finished { migration: m, direction: step.direction, duration });
                }
                report.steps.push(StepReport {
                    version: m.version,
                    name: m.name.clone(),
                    direction: step.direction,
                    duration_ms: duration.as_secs_f64() * 1e3,
                });
            }
            if renew && f.work_left() {
                renew_lock(slot.get(), report.steps.len()).await?;
            }
            report.repeatable = f.finish(slot.get()).await?;
            Ok::<Report, Error>(report)
        }
        .await;
        // [workflow] `on_error` callbacks.
        let result = match (result, &flow) {
            (Err(e), Some(f)) => Err(f.failed(slot.get(), e).await),
            (r, _) => r,
        };
        (slot.into_inner(), result)
    }
}

// Running on a connection the application already holds (the library embedded in a program).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl Migrator {
    /// Applies every pending migration on a connection the application already holds
    /// (`sqlx::SqliteConnection` or `sqlx::PgConnection`, outside a transaction) instead of
    /// connecting: the URL is not used. The connection comes back with the outcome, whatever
    /// happened, with the run's lock released.
    pub async fn up_on<C: ExistingConnection>(&mut self, conn: C) -> (C, Result<Report>) {
        self.up_on_with(conn, UpOptions::default()).await
    }

    /// [`Migrator::up_on`], as `opts` says.
    pub async fn up_on_with<C: ExistingConnection>(&mut self, conn: C, opts: UpOptions) -> (C, Result<Report>) {
        let opts = self.up_opts(opts);
        self.on_existing(conn, true, |m, h| plan::plan_up(m, h, opts)).await
    }

    /// Reverts applied migrations as `target` says, on a connection the application already
    /// holds (see [`Migrator::up_on`]).
    pub async fn down_on<C: ExistingConnection>(&mut self, conn: C, target: DownTarget) -> (C, Result<Report>) {
        self.on_existing(conn, false, |m, h| plan::plan_down(m, h, target)).await
    }

    /// Runs what `planner` plans on a lent connection and gives the connection back.
    async fn on_existing<C: ExistingConnection>(
        &mut self,
        conn: C,
        repeatables: bool,
        planner: impl FnOnce(&[Migration], &[AppliedMigration]) -> std::result::Result<Vec<Step>, crate::migrate::error::PlanError>,
    ) -> (C, Result<Report>) {
        let started = Instant::now();
        // Read the files first: a broken migration set must not touch the database.
        let read = async {
            history::validate_table_name(&self.table).map_err(Error::Config)?;
            let src = self.source.clone();
            let cache = self.cache_dir.clone();
            let found = tokio::task::spawn_blocking(move || discover_in(&*src, cache.as_deref(), true))
                .await
                .map_err(|e| Error::Config(format!("reading the migrations failed: {e}")))?;
            Ok::<_, Error>(found?)
        };
        let migrations = match read.await {
            Ok(m) => m,
            Err(e) => return (conn, Err(e)),
        };
        let mut b = conn.lend(&self.table);
        let prepared = async {
            b.locks().lock(self.lock_timeout, self.lock_mode).await?;
            b.history().ensure_history().await
        }
        .await;
        let (b, result) = match prepared {
            Ok(()) => self.run_steps(migrations, b, repeatables, planner).await,
            Err(e) => (b, Err(e)),
        };
        let mut b = b;
        // The lock is released here, where a failure can be reported; the connection stays
        // the application's.
        let mut result = result;
        if let Err(e) = b.locks().unlock().await {
            let w = Warning::release(&e);
            if let Some(o) = &self.observer {
                o(&Event::Warning { warning: &w });
            }
            if let Ok(report) = &mut result {
                report.warnings.push(w);
            }
        }
        let conn = match C::give_back(b).await {
            Ok(c) => c,
            Err(_) => unreachable!("the backend `lend` made is of the connection's own database"),
        };
        let result = result.map(|mut r| {
            r.total_ms = started.elapsed().as_secs_f64() * 1e3;
            r
        });
        (conn, result)
    }

    /// Applies every pending migration on a connection taken from the application's `pool`
    /// (SQLite or PostgreSQL). The connection is detached from the pool for the run and closed
    /// after it (the pool opens another when it needs one). An in-memory SQLite database lives
    /// in one connection: migrate that connection with [`Migrator::up_on`] instead.
    pub async fn up_on_pool<DB>(&mut self, pool: &sqlx::Pool<DB>) -> Result<Report>
    where
        DB: sqlx::Database,
        DB::Connection: ExistingConnection,
    {
        let conn = pool
            .acquire()
            .await
            .map_err(|e| Error::Connect(format!("cannot take a connection from the application's pool: {}", crate::migrate::error::DbError::from(e))))?
            .detach();
        let (conn, report) = self.up_on(conn).await;
        // The lock was released (or its failure reported) by `up_on`: nothing depends on this.
        let _ = sqlx::Connection::close(conn).await;
        report
    }
}

/// Renews the run's lock before the next step; a failure stops the run with
/// [`Error::LockLost`] (the `completed` steps stay).
async fn renew_lock(b: &mut AnyBackend, completed: usize) -> Result<()> {
    b.locks().heartbeat().await.map_err(|cause| Error::LockLost { completed, cause: Box::new(cause) })
}

/// Records `migrations` as applied without running them, skipping those already in `history`:
/// the protocol of a migration that does nothing (begin and finish, no body).
async fn record<'a>(b: &mut AnyBackend, migrations: impl Iterator<Item = &'a Migration>, history: &[AppliedMigration]) -> Result<Vec<Migration>> {
    let mut recorded = Vec::new();
    for m in migrations {
        if history.iter().any(|h| h.version == m.version) {
            continue;
        }
        backend::Unit::new(m, Direction::Up, true).record(b).await?;
        recorded.push(m.clone());
    }
    Ok(recorded)
}

/// Reads the migrations, taking components' checksums from the memo next to the compiled cache;
/// `remember` writes new ones back (commands that change nothing only read it).
fn discover_in(src: &dyn MigrationSource, cache: Option<&Path>, remember: bool) -> std::result::Result<Vec<Migration>, crate::migrate::error::SourceError> {
    let memo = crate::migrate::memo::ChecksumMemo::open(cache);
    let found = src.migrations(&memo);
    if remember {
        memo.save();
    }
    found
}

impl Migrator {
    /// A dry run's rehearsal of the planned components (knex files, Alembic revisions and
    /// migration components): each runs against the database as it is now, on a read-only
    /// session, and what it would send is written down (see [`crate::sandbox::rehearsal`]).
    /// One entry per step of `plan`: `None` for steps that are not components. Earlier pending
    /// migrations are not applied first, so a component that reads what they would create
    /// stops there, and says so.
    #[cfg(feature = "components")]
    pub async fn rehearse(&self, plan: &PlannedRun) -> Result<Vec<Option<crate::sandbox::rehearsal::Rehearsal>>> {
        use crate::sandbox::rehearsal::Rehearsal;
        let is_component = |m: &Migration| matches!(m.body, Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. });
        let mut out: Vec<Option<Rehearsal>> = plan.steps.iter().map(|_| None).collect();
        if !plan.steps.iter().any(|(_, m)| is_component(m)) {
            return Ok(out);
        }
        let url = self.parsed_url()?;
        let Some(mut b) = backend::connect(&url, &self.table, OpenMode::ReadOnly).await? else {
            for (slot, (_, m)) in out.iter_mut().zip(&plan.steps) {
                if is_component(m) {
                    *slot = Some(Rehearsal::skipped("the database does not exist yet"));
                }
            }
            return Ok(out);
        };
        if let Err(e) = backend::read_only_session(&mut b).await {
            let _ = b.close().await;
            return Err(e);
        }
        let sandbox = Sandbox::new(self.cache_dir.clone(), self.policies.features()).map(|s| {
            s.history_table(&self.table)
                .seed_table(&self.seed_table)
                .knex_runtime(self.knex_runtime.clone())
                .alembic_runtime(self.alembic_runtime.clone())
        });
        let sandbox = match sandbox {
            Ok(s) => s,
            Err(e) => {
                let _ = b.close().await;
                return Err(e);
            }
        };
        let context = Arc::new(self.context.clone());
        let mut slot = backend::Slot::new(b);
        for (i, (direction, m)) in plan.steps.iter().enumerate() {
            if !is_component(m) {
                continue;
            }
            let policy = self.policies.get(&m.label(), &m.name);
            let (back, r) = sandbox.rehearse_migration(slot.lend(), m, *direction, context.clone(), policy).await;
            slot.give_back(back);
            out[i] = Some(r);
        }
        // Read-only: nothing depends on how this connection ends.
        let _ = slot.into_inner().close().await;
        Ok(out)
    }

    fn discover(&self) -> std::result::Result<Vec<Migration>, crate::migrate::error::SourceError> {
        discover_in(&*self.source, self.cache_dir.as_deref(), false)
    }
}

fn planned(migrations: &[Migration], steps: &[Step]) -> PlannedRun {
    PlannedRun { steps: steps.iter().map(|s| (s.direction, migrations[s.index].clone())).collect(), repeatables: Vec::new(), callbacks: Vec::new() }
}

// [workflow] repeatable migrations and recorded placeholders, read without changing anything.
impl Migrator {
    async fn repeatable_rows(&self) -> Result<Vec<(String, String, String)>> {
        let url = self.parsed_url()?;
        let Some(mut b) = backend::connect(&url, &self.table, OpenMode::ReadOnly).await? else { return Ok(Vec::new()) };
        let rows = crate::run::workflow::repeatable_rows(&mut b, &self.table).await;
        // Read-only and unlocked: nothing depends on how this connection ends.
        let _ = b.close().await;
        rows
    }

    /// The state of every repeatable migration. Creates nothing.
    pub async fn repeatable_status(&self) -> Result<Vec<crate::run::workflow::RepeatableStatus>> {
        self.repeatable_status_of(crate::migrate::workflow_files::repeatables(self.dir())?).await
    }

    /// [`Migrator::repeatable_status`] of the repeatable migrations `files`, which the caller
    /// read from this migrator's folder with [`crate::migrate::workflow_files::repeatables`]
    /// (`status` lists the folder on another thread while it reads the history).
    pub async fn repeatable_status_of(&self, files: Vec<crate::migrate::workflow_files::Repeatable>) -> Result<Vec<crate::run::workflow::RepeatableStatus>> {
        if files.is_empty() {
            // No repeatable migrations: no connection (rows of deleted ones are not listed).
            return Ok(Vec::new());
        }
        Ok(crate::run::workflow::repeatable_status(&files, &self.repeatable_rows().await?))
    }

    /// The repeatable migrations `up` would apply, with placeholders shown (secrets masked).
    pub async fn due_repeatables(&self) -> Result<Vec<crate::migrate::workflow_files::Repeatable>> {
        let files = crate::run::workflow::read_repeatables(self.dir(), &self.placeholders, crate::migrate::placeholders::Mode::Display)?;
        if files.is_empty() {
            return Ok(files);
        }
        Ok(crate::run::workflow::due(files, &self.repeatable_rows().await?))
    }

    /// Substitutes placeholders in one direction of `m` for display (secrets masked): what
    /// `redo --dry-run` shows for the re-applied migration.
    pub fn display_placeholders(&self, m: &mut Migration, direction: Direction) -> Result<()> {
        crate::run::workflow::display(std::slice::from_mut(m), &[Step { direction, index: 0 }], &self.placeholders)
    }

    /// The placeholder values recorded when `version` was applied (`***` for secrets).
    pub async fn recorded_placeholders(&self, version: i64) -> Result<std::collections::BTreeMap<String, String>> {
        let url = self.parsed_url()?;
        let Some(mut b) = backend::connect(&url, &self.table, OpenMode::ReadOnly).await? else { return Ok(Default::default()) };
        let r = crate::run::workflow::recorded_placeholders(&mut b, &self.table, version).await;
        // Read-only and unlocked: nothing depends on how this connection ends.
        let _ = b.close().await;
        r
    }
}

/// A build without the sandbox (`default-features = false, features = ["sqlite"]`): tests/run.sh
/// runs these (`cargo test -p db-migrate --no-default-features --features sqlite --lib`).
#[cfg(all(test, feature = "sqlite", not(feature = "components")))]
mod without_components {
    use crate::{MemorySource, Migrator};

    #[tokio::test]
    async fn a_component_is_refused_before_any_migration_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.sqlite3");
        let url = format!("sqlite:{}", db.display());
        // A real component's first bytes: refused for what it needs, not for what it holds.
        let component = b"\0asm\x0d\x00\x01\x00".to_vec();
        let src = MemorySource::new("migrations")
            .file("1_people.sql", b"-- migrate:up\nCREATE TABLE people (id INTEGER);\n".to_vec())
            .file("2_backfill.wasm", component);
        let err = Migrator::with_source(src, &url).up().await.expect_err("a component needs the sandbox");
        let text = err.to_string();
        assert!(text.contains("2_backfill.wasm") && text.contains("`components` feature"), "{text}");
        // Refused before the first step: the SQL migration before it did not run either.
        let src = MemorySource::new("migrations").file("1_people.sql", b"-- migrate:up\nCREATE TABLE people (id INTEGER);\n".to_vec());
        let status = Migrator::with_source(src, &url).status().await.unwrap();
        assert_eq!(status.iter().map(|s| s.state).collect::<Vec<_>>(), vec![crate::State::Pending], "{status:?}");
    }

    #[tokio::test]
    async fn sql_migrations_run_without_the_sandbox() {
        let src = MemorySource::new("migrations")
            .file("1_people.sql", b"-- migrate:up\nCREATE TABLE people (id INTEGER);\n".to_vec())
            .file("2_pets.sql", b"-- migrate:up\nCREATE TABLE pets (id INTEGER);\n".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("app.sqlite3").display());
        let report = Migrator::with_source(src, &url).up().await.unwrap();
        assert_eq!(report.steps.iter().map(|s| s.version).collect::<Vec<_>>(), vec![1, 2]);
    }
}
