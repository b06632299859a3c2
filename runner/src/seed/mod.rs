//! Seeds: filling a database with test or reference data.
//!
//! Three sources, run in this order: the project's `seeds/*.sql` and `seeds/*.wasm` (world
//! `seed`), by file name, then the seed packs of `[[seeds.pack]]` in configuration order. A pack
//! is a component the user may not trust: it gets `read` and `write` on the tables its section
//! lists and nothing else, runs only in the environments it lists (development and test by
//! default), and may be pinned by SHA-256.
//!
//! Each seed runs in one transaction with its record in the seed history (`db_migrate_seeds`:
//! name, checksum, arguments, random seed, rows written, time). A SQL seed already run with the
//! same content, or a component with the same content, arguments and random seed, is skipped
//! unless forced; `reset` empties a pack's tables first, children before parents. The same random seed gives byte-identical data: components get it through
//! `context.random-seed` and as their only source of WASI randomness.

#[cfg(all(feature = "mongodb", feature = "components"))]
mod documents;
mod history;
mod reset;
mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use history::SeedRecord;
pub use crate::migrate::events::{SeedKind, SeedReport};
pub use source::SeedSource;

use crate::backend::{self, AnyBackend, Backend, DatabaseUrl, OpenMode};
use crate::migrate::error::{Error, Result};
use crate::migrate::events::{Event, Observer};
use crate::sandbox::policy::Policies;
use crate::sandbox::GuestContext;
#[cfg(feature = "components")]
use crate::sandbox::Sandbox;
/// Where a run keeps its sandbox once a component needs one (never, in a build without the
/// `components` feature).
#[cfg(not(feature = "components"))]
type Sandbox = std::convert::Infallible;

/// What `seed` runs and how.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SeedOptions {
    /// Only these seeds (by name); empty runs them all.
    pub names: Vec<String>,
    /// Run seeds that already ran with the same content, arguments and random seed.
    pub force: bool,
    /// Empty each pack's tables first (implies `force` for packs).
    pub reset: bool,
}

/// What a whole `seed` run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedRunReport {
    /// The seeds that ran, in order.
    pub seeds: Vec<SeedReport>,
    /// Seeds skipped, with why.
    pub skipped: Vec<(String, String)>,
    /// Wall time of the run, in milliseconds.
    pub total_ms: f64,
    /// What went wrong once the seeds were done without undoing any: the lock could not be
    /// released, or the connection not closed cleanly.
    pub warnings: Vec<crate::migrate::events::Warning>,
}

/// One seed as `--list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SeedInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: SeedKind,
    /// File.
    pub file: String,
    /// SHA-256 of its content.
    pub checksum: String,
    /// The tables a pack may write.
    pub tables: Option<Vec<String>>,
    /// The environments a pack may run in.
    pub environments: Option<Vec<String>>,
    /// Whether it may run in the current environment.
    pub allowed_here: bool,
    /// Its last run, if any.
    pub last_run: Option<SeedRecord>,
    /// Whether its content changed since that run.
    pub changed: bool,
}

/// A seed pack, resolved.
#[derive(Debug, Clone)]
pub struct SeedPack {
    /// Name.
    pub name: String,
    /// The component file.
    pub component: PathBuf,
    /// Arguments from the configuration (CLI `--arg`s override them when it runs).
    pub args: BTreeMap<String, String>,
    /// Environments it may run in.
    pub environments: Vec<String>,
    /// Commit per batch.
    pub batch_commits: bool,
    /// Grants (read + write on its tables), limits, pin and data folder.
    pub policy: crate::sandbox::policy::Policy,
}

/// Runs the seeds of one project against one database.
pub struct Seeder {
    dir: PathBuf,
    url: String,
    base: PathBuf,
    history_table: String,
    seed_table: String,
    packs: Vec<SeedPack>,
    policies: Policies,
    context: GuestContext,
    cli_args: BTreeMap<String, String>,
    cache_dir: Option<PathBuf>,
    observer: Option<Observer>,
    lock_timeout: Duration,
    lock_mode: backend::LockMode,
    // [workflow] values of `${name}` in SQL seeds.
    placeholders: crate::migrate::placeholders::Placeholders,
}

impl Seeder {
    /// A seeder for the seeds in `dir` (`seeds/*.sql`, `seeds/*.wasm`) and the database at `url`.
    pub fn new(dir: impl Into<PathBuf>, url: impl Into<String>) -> Self {
        Seeder {
            dir: dir.into(),
            url: url.into(),
            base: PathBuf::from("."),
            history_table: crate::migrate::history::DEFAULT_TABLE.to_string(),
            seed_table: "db_migrate_seeds".to_string(),
            packs: Vec::new(),
            policies: Policies::default(),
            context: GuestContext { environment: crate::migrate::DEFAULT_ENV.into(), ..Default::default() },
            cli_args: BTreeMap::new(),
            cache_dir: None,
            observer: None,
            lock_timeout: Duration::from_secs(60),
            lock_mode: backend::LockMode::default(),
            placeholders: Default::default(),
        }
    }

    /// Values for `${name}` placeholders in SQL seeds.
    pub fn placeholders(mut self, values: crate::migrate::placeholders::Placeholders) -> Self {
        self.placeholders = values;
        self
    }

    /// Where relative SQLite paths and pack components are resolved (default `.`).
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base = dir.into();
        self
    }

    /// The migration history table (its name is reserved from guests) and the seed history table.
    pub fn tables(mut self, history: impl Into<String>, seeds: impl Into<String>) -> Self {
        self.history_table = history.into();
        self.seed_table = seeds.into();
        self
    }

    /// The seed packs to run after the project's own seeds.
    pub fn packs(mut self, packs: Vec<SeedPack>) -> Self {
        self.packs = packs;
        self
    }

    /// Grants and limits per component.
    pub fn policies(mut self, policies: Policies) -> Self {
        self.policies = policies;
        self
    }

    /// What components learn of the run (environment, configured arguments, random seed).
    pub fn context(mut self, context: GuestContext) -> Self {
        self.context = context;
        self
    }

    /// Arguments from the command line: they override every seed's configured ones.
    pub fn cli_args(mut self, args: BTreeMap<String, String>) -> Self {
        self.cli_args = args;
        self
    }

    /// Where compiled components are cached.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// How long to wait for the migration lock, and which kind of lock.
    pub fn lock(mut self, timeout: Duration, mode: backend::LockMode) -> Self {
        self.lock_timeout = timeout;
        self.lock_mode = mode;
        self
    }

    /// Uses `seed` as the random seed instead of the configured one (`--seed N`).
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.context.seed = seed;
        self
    }

    /// Calls `f` for what seeds log, report and do.
    pub fn on_event(mut self, f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    fn emit(&self, e: Event<'_>) {
        if let Some(o) = &self.observer {
            o(&e);
        }
    }

    /// Every seed, in run order.
    pub fn sources(&self) -> Result<Vec<SeedSource>> {
        source::discover(&self.dir, &self.packs)
    }

    /// The seeds with their last runs, for `--list`. Creates nothing.
    pub async fn list(&self) -> Result<Vec<SeedInfo>> {
        let url = DatabaseUrl::parse(&self.url, &self.base)?;
        if let DatabaseUrl::Mongo(_) = url {
            #[cfg(all(feature = "mongodb", feature = "components"))]
            return documents::list(self, &url).await;
            #[cfg(not(all(feature = "mongodb", feature = "components")))]
            return Err(documents_not_built(&url));
        }
        let sources = self.sources()?;
        let records = match backend::connect(&url, &self.history_table, OpenMode::ReadOnly).await? {
            Some(mut b) => {
                let r = history::read(&mut b, &self.seed_table).await;
                // Read-only and unlocked: nothing depends on how this connection ends.
                let _ = b.close().await;
                r.unwrap_or_default()
            }
            None => Vec::new(),
        };
        Ok(sources
            .into_iter()
            .map(|s| {
                let last = records.iter().find(|r| r.name == s.name).cloned();
                let pack = s.pack.map(|i| &self.packs[i]);
                SeedInfo {
                    changed: last.as_ref().is_some_and(|r| r.checksum != s.checksum),
                    allowed_here: pack.is_none_or(|p| p.environments.contains(&self.context.environment)),
                    name: s.name,
                    kind: s.kind,
                    file: s.path.display().to_string(),
                    checksum: s.checksum,
                    tables: pack.map(|p| p.policy.grants.tables.iter().flatten().cloned().collect()),
                    environments: pack.map(|p| p.environments.clone()),
                    last_run: last,
                }
            })
            .collect())
    }

    /// Runs the selected seeds. The first failure stops the run; what it wrote is rolled back
    /// (unless its pack commits per batch), and seeds before it stay.
    pub async fn run(&self, opts: &SeedOptions) -> Result<SeedRunReport> {
        let started = Instant::now();
        if let DatabaseUrl::Mongo(_) = DatabaseUrl::parse(&self.url, &self.base)? {
            // [workflow] MongoDB seeds: seeds/*.json (see `documents`).
            #[cfg(all(feature = "mongodb", feature = "components"))]
            return documents::run(self, &DatabaseUrl::parse(&self.url, &self.base)?, opts, started).await;
            #[cfg(not(all(feature = "mongodb", feature = "components")))]
            return Err(documents_not_built(&DatabaseUrl::parse(&self.url, &self.base)?));
        }
        let mut sources = self.sources()?;
        // [workflow] placeholders in the selected SQL seeds; the checksum stays the raw file's.
        for s in sources.iter_mut().filter(|s| opts.names.is_empty() || opts.names.contains(&s.name)) {
            if let Some(sql) = s.sql.as_mut().filter(|t| t.contains("${") && !crate::migrate::placeholders::opts_out(t)) {
                let done = crate::migrate::placeholders::substitute(sql, &self.placeholders, crate::migrate::placeholders::Mode::Run, &s.path, 1)?;
                *sql = done.text;
            }
        }
        for n in &opts.names {
            if !sources.iter().any(|s| &s.name == n) {
                let known: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::Config(format!(
                    "no seed named `{n}` (known: {}); seeds are seeds/*.sql, seeds/*.wasm and [[seeds.pack]] sections",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )));
            }
        }
        let selected: Vec<&SeedSource> = sources.iter().filter(|s| opts.names.is_empty() || opts.names.contains(&s.name)).collect();
        // Refuse what may not run here before touching the database.
        for s in &selected {
            if let Some(p) = s.pack.map(|i| &self.packs[i]) {
                if !opts.names.is_empty() && !p.environments.contains(&self.context.environment) {
                    return Err(Error::Config(format!(
                        "seed pack `{}` may run in {} (its `environments`), not in `{}`; nothing was run. \
                         Add `{}` to its environments in db-migrate.toml to allow it",
                        p.name,
                        p.environments.join(", "),
                        self.context.environment,
                        self.context.environment
                    )));
                }
            }
            if opts.reset && !opts.names.is_empty() && s.pack.is_none() {
                return Err(Error::Config(format!(
                    "--reset empties the tables a seed pack declares; `{}` is not a pack, so it has none. Run it without --reset",
                    s.name
                )));
            }
        }

        let url = DatabaseUrl::parse(&self.url, &self.base)?;
        let mut b = backend::connect_writable(&url, &self.history_table).await?;
        let prepared = async {
            b.locks().lock(self.lock_timeout, self.lock_mode).await?;
            history::ensure(&mut b, &self.seed_table).await
        }
        .await;
        if let Err(e) = prepared {
            self.close(b).await;
            return Err(e);
        }
        let mut slot = backend::Slot::new(b);
        let mut sandbox: Option<Sandbox> = None;
        let result = async {
            let records = history::read(slot.get(), &self.seed_table).await?;
            let mut report = SeedRunReport::default();
            for s in selected {
                Error::check_interrupted(report.seeds.len())?;
                let pack = s.pack.map(|i| &self.packs[i]);
                // SQL seeds take no arguments; components get the configured ones and `--arg`s.
                let mut args = match (pack, s.kind) {
                    (_, SeedKind::Sql) => BTreeMap::new(),
                    (Some(p), _) => p.args.clone(),
                    (None, _) => self.context.args.clone(),
                };
                if s.kind != SeedKind::Sql {
                    args.extend(self.cli_args.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                let args_json = serde_json::to_string(&args).expect("a map of strings");
                let m = s.as_migration();
                if let Some(p) = pack {
                    if !p.environments.contains(&self.context.environment) {
                        let why = format!("may run in {} (its `environments`), not in `{}`", p.environments.join(", "), self.context.environment);
                        self.emit(Event::SeedSkipped { seed: &m, reason: &why });
                        report.skipped.push((s.name.clone(), why));
                        continue;
                    }
                }
                let reset = opts.reset && pack.is_some();
                // A SQL seed is its content: the random seed and arguments cannot change what it
                // writes. A component is its content, arguments and random seed.
                let same = records.iter().any(|r| {
                    r.name == s.name
                        && r.checksum == s.checksum
                        && (s.kind == SeedKind::Sql || (r.args == args_json && r.seed == self.context.seed as i64))
                });
                if same && !opts.force && !reset {
                    let why = if s.kind == SeedKind::Sql {
                        "already run with the same content (--force runs it again)".to_string()
                    } else {
                        "already run with the same content, arguments and random seed (--force runs it again)".to_string()
                    };
                    self.emit(Event::SeedSkipped { seed: &m, reason: &why });
                    report.skipped.push((s.name.clone(), why));
                    continue;
                }
                self.emit(Event::Started { migration: &m, direction: crate::migrate::error::Direction::Up });
                let context = Arc::new(GuestContext { environment: self.context.environment.clone(), args: args.clone(), seed: self.context.seed });
                let r = self
                    .run_one(&mut slot, &mut sandbox, s, &m, pack, reset, context, &args_json)
                    .await
                    .map_err(|e| e.or_interrupted(report.seeds.len()))?;
                self.emit(Event::SeedFinished { seed: &m, report: &r });
                report.seeds.push(r);
            }
            Ok::<_, Error>(report)
        }
        .await;
        let warning = self.close(slot.into_inner()).await;
        let mut report = result?;
        report.warnings.extend(warning);
        report.total_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// Closes `b` at the end of a run: a failure to release the lock or to close the
    /// connection cleanly is told to the observer and returned for the report.
    pub(crate) async fn close(&self, b: AnyBackend) -> Option<crate::migrate::events::Warning> {
        let w = b.close().await.err().map(|e| crate::migrate::events::Warning::release(&e));
        if let Some(w) = &w {
            self.emit(Event::Warning { warning: w });
        }
        w
    }

    #[allow(clippy::too_many_arguments)]
    /// Runs one seed; a component's runs inside a guest session opened before its transaction
    /// (on PostgreSQL and MySQL a restricted login, where the reset, the guest's writes and
    /// the seed's record commit together).
    #[allow(clippy::too_many_arguments)]
    async fn run_one(
        &self,
        slot: &mut backend::Slot,
        sandbox: &mut Option<Sandbox>,
        s: &SeedSource,
        m: &crate::migrate::source::Migration,
        pack: Option<&SeedPack>,
        reset: bool,
        context: Arc<GuestContext>,
        args_json: &str,
    ) -> Result<SeedReport> {
        use crate::backend::GuestSql;
        let reset = match (reset, pack) {
            (true, Some(p)) => Some(self.reset_plan(slot.get(), s, p).await?),
            _ => None,
        };
        let guest = match s.kind {
            SeedKind::Sql | SeedKind::Documents => None,
            SeedKind::Component | SeedKind::Pack => Some(match pack {
                Some(p) => &p.policy,
                None => self.policies.get(&s.name, &s.name),
            }),
        };
        if let Some(policy) = guest {
            let bare = self.history_table.rsplit('.').next().unwrap_or(&self.history_table).to_ascii_lowercase();
            let seeds = self.seed_table.rsplit('.').next().unwrap_or(&self.seed_table).to_ascii_lowercase();
            let scope = crate::sandbox::guest_scope(policy, &crate::sandbox::grants::Reserved { history: bare, seeds }, None);
            let b = slot.get();
            if let Err(e) = b.enter_guest(&scope).await {
                return Err(Error::SeedFailed {
                    seed: s.name.clone(),
                    path: s.path.clone(),
                    line: None,
                    blame: Some(crate::migrate::error::Blame::Host),
                    message: format!("cannot open the seed's database session: {}", crate::seed::SeedRecord::describe_error(&e)),
                    committed: 0,
                    keeps_writes: false,
                    ddl_kept: None,
                });
            }
        }
        let r = self.run_one_inner(slot, sandbox, s, m, pack, reset.as_ref(), context, args_json).await;
        if guest.is_some() {
            // The session ends after the seed's transaction (on a server the session is the
            // guest's own connection, which that transaction ran on): the seed stands.
            if let (Err(e), Ok(_)) = (slot.get().leave_guest().await, &r) {
                return Err(Error::Database {
                    context: format!("seed {} was applied and recorded, but its session could not be closed cleanly; the run stops here", s.name),
                    source: crate::migrate::error::DbError { message: crate::seed::SeedRecord::describe_error(&e), code: None },
                });
            }
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_one_inner(
        &self,
        slot: &mut backend::Slot,
        sandbox: &mut Option<Sandbox>,
        s: &SeedSource,
        m: &crate::migrate::source::Migration,
        pack: Option<&SeedPack>,
        reset: Option<&ResetPlan>,
        context: Arc<GuestContext>,
        args_json: &str,
    ) -> Result<SeedReport> {
        let fail = |line: Option<usize>, blame: Option<crate::migrate::error::Blame>, message: String, committed: u64| Error::SeedFailed {
            seed: s.name.clone(),
            path: s.path.clone(),
            line,
            blame,
            message,
            committed,
            keeps_writes: false,
            ddl_kept: None,
        };
        let b = slot.get();
        b.begin_plain().await?;
        let mut reset_tables = Vec::new();
        if let Some(plan) = reset {
            // Children first: the plan is ordered by the database's foreign keys.
            for t in &plan.tables {
                if let Err(e) = crate::backend::GuestSql::host_execute(b, &format!("DELETE FROM {t}"), Vec::new()).await {
                    b.rollback_plain().await;
                    let blockers = reset::outside_referrers(t, &plan.tables, &plan.fks);
                    let hint = if blockers.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} refer{} to it and {} not among the pack's tables: empty {} first or add {} to its `tables`",
                            blockers.join(", "),
                            if blockers.len() == 1 { "s" } else { "" },
                            if blockers.len() == 1 { "is" } else { "are" },
                            if blockers.len() == 1 { "it" } else { "them" },
                            if blockers.len() == 1 { "it" } else { "them" },
                        )
                    };
                    return Err(fail(None, None, format!("--reset could not empty `{t}`: {}{hint}", history::message(&e)), 0));
                }
                reset_tables.push(t.clone());
            }
        }
        let (outcome, committed) = match s.kind {
            SeedKind::Sql => {
                let script = m.script(crate::migrate::error::Direction::Up).expect("SQL seeds have a script");
                let started = Instant::now();
                match b.exec_script(&script.sql, true).await {
                    Ok(()) => (Ok((started.elapsed(), BTreeMap::new())), 0),
                    Err((done, e)) => {
                        let statements = crate::migrate::statements::split(&script.sql);
                        let line = statements.get(done).map(|st| script.file_line(st.line));
                        // MySQL and MariaDB commit the open transaction before a DDL statement
                        // runs (even one that then fails, unless it did not parse): the rollback
                        // keeps what ran up to the last such commit.
                        let ddl_kept = if crate::backend::GuestSql::dialect(b) == crate::backend::guest::Dialect::Mysql {
                            let failed_commits = statements.get(done).is_some_and(|st| commits_by_itself(st)) && !e.message.contains("SQL syntax");
                            let upto = if failed_commits { done } else { statements.iter().take(done).rposition(commits_by_itself).map_or(0, |i| i + 1) };
                            upto.checked_sub(1).and_then(|i| statements.get(i)).map(|st| script.file_line(st.line))
                        } else {
                            None
                        };
                        b.rollback_plain().await;
                        // The database may quote the substituted text: secret values never show.
                        let mut error = fail(line, None, self.placeholders.mask(&e.to_string()), 0);
                        if let Error::SeedFailed { ddl_kept: kept, .. } = &mut error {
                            *kept = ddl_kept;
                        }
                        return Err(error);
                    }
                }
            }
            SeedKind::Documents => unreachable!("JSON seeds are read only for MongoDB (seed::documents)"),
            #[cfg(not(feature = "components"))]
            SeedKind::Component | SeedKind::Pack => {
                let _ = (sandbox, context, pack);
                b.rollback_plain().await;
                return Err(fail(None, None, "a seed component needs the WebAssembly sandbox, but this build of db-migrate was compiled without the `components` feature of the `db-migrate` crate".into(), 0));
            }
            #[cfg(feature = "components")]
            SeedKind::Component | SeedKind::Pack => {
                let needs = match pack {
                    Some(p) => crate::sandbox::EngineFeatures { epoch: p.policy.limits.timeout.is_some(), fuel: p.policy.limits.fuel.is_some() },
                    None => self.policies.features(),
                };
                // A seed whose limits the run's sandbox cannot enforce (a pack with a deadline
                // after one without) gets a sandbox that can.
                let have = sandbox.as_ref().map(|sb| sb.features());
                if !have.is_some_and(|h| h.covers(needs)) {
                    let features = have.map_or(needs, |h| h.union(needs));
                    *sandbox = Some(Sandbox::new(self.cache_dir.clone(), features)?.history_table(&self.history_table).seed_table(&self.seed_table));
                }
                let sb = sandbox.as_ref().expect("created above");
                let policy = match pack {
                    Some(p) => &p.policy,
                    None => self.policies.get(&s.name, &s.name),
                };
                let db = slot.lend();
                let (back, r) = sb.run_seed(db, m, context, self.observer.clone(), policy, pack.is_some_and(|p| p.batch_commits)).await;
                slot.give_back(back);
                match r {
                    Ok(o) => {
                        let c = o.commits;
                        (Ok((o.duration, o.rows)), c)
                    }
                    Err(f) => (Err((f.blame, f.message)), f.commits),
                }
            }
        };
        let b = slot.get();
        let (duration, rows) = match outcome {
            Ok(v) => v,
            Err((blame, message)) => {
                b.rollback_plain().await;
                return Err(fail(None, Some(blame), message, committed));
            }
        };
        let total_rows: u64 = rows.values().sum();
        let record = SeedRecord {
            name: s.name.clone(),
            kind: s.kind.as_str().to_string(),
            checksum: s.checksum.clone(),
            args: args_json.to_string(),
            seed: context_seed(&self.context),
            rows: total_rows as i64,
            applied_at: history::now(),
            execution_ms: duration.as_millis() as i64,
        };
        if let Err(e) = history::write(b, &self.seed_table, &record).await {
            b.rollback_plain().await;
            return Err(e);
        }
        b.commit_plain().await?;
        let secs = duration.as_secs_f64();
        Ok(SeedReport {
            name: s.name.clone(),
            kind: s.kind,
            total_rows,
            // Whole rows: a fraction of a row per second is noise, not information.
            rows_per_sec: if secs > 0.0 { (total_rows as f64 / secs).round() } else { 0.0 },
            rows,
            duration_ms: secs * 1e3,
            reset: reset_tables,
            commits: committed,
        })
    }
}

/// The tables `--reset` empties, children first, and the foreign keys that ordered them.
struct ResetPlan {
    tables: Vec<String>,
    fks: Vec<reset::ForeignKey>,
}

impl Seeder {
    /// Orders a pack's tables for `--reset` by the database's foreign keys (read on the host's
    /// connection, before the seed's session); a cycle among them is refused before anything runs.
    async fn reset_plan(&self, b: &mut AnyBackend, s: &SeedSource, pack: &SeedPack) -> Result<ResetPlan> {
        let listed: Vec<String> = pack.policy.grants.tables.iter().flatten().cloned().collect();
        let fks = reset::foreign_keys(b).await?;
        let tables = reset::order(&listed, &fks).map_err(|reset::Cycle(c)| Error::SeedFailed {
            seed: s.name.clone(),
            path: s.path.clone(),
            line: None,
            blame: None,
            message: format!(
                "--reset cannot empty {} one after another: their foreign keys refer to each other in a cycle. \
                 Empty them yourself in one transaction (e.g. with deferred constraints), then run `seed {} --force`",
                c.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
                s.name
            ),
            committed: 0,
            keeps_writes: false,
            ddl_kept: None,
        })?;
        Ok(ResetPlan { tables, fks })
    }
}

/// Why MongoDB seeds cannot run in this build.
#[cfg(not(all(feature = "mongodb", feature = "components")))]
fn documents_not_built(url: &DatabaseUrl) -> Error {
    if cfg!(feature = "mongodb") {
        Error::Config("MongoDB seeds run in the seed sandbox, but this build of db-migrate was compiled without the `components` feature of the `db-migrate` crate".into())
    } else {
        crate::backend::not_built(url)
    }
}

fn context_seed(c: &GuestContext) -> i64 {
    c.seed as i64
}

/// Whether a statement commits the open transaction by itself on MySQL and MariaDB: DDL (but
/// not of temporary tables), account changes, table locks and table maintenance.
fn commits_by_itself(st: &crate::migrate::statements::Statement<'_>) -> bool {
    let keyword = st.keyword();
    let temporary = || st.text.split_whitespace().nth(1).is_some_and(|w| w.eq_ignore_ascii_case("TEMPORARY"));
    match keyword.as_str() {
        "CREATE" | "DROP" => !temporary(),
        "ALTER" | "RENAME" | "TRUNCATE" | "GRANT" | "REVOKE" | "LOCK" | "UNLOCK" | "ANALYZE" | "OPTIMIZE" | "REPAIR" | "FLUSH" | "INSTALL"
        | "UNINSTALL" | "CACHE" => true,
        _ => false,
    }
}
