//! The WebAssembly sandbox: runs component migrations with only the capabilities the host grants.
//!
//! One [`Sandbox`] per run holds the engine, the linker and the compiled-component cache; each
//! migration gets its own `Store`, its own WASI context (no files, no environment, no network,
//! empty stdin) and the database connection on loan for the duration of its call, inside the
//! migration's transaction.
//!
//! The engine (wasmtime) is the `components` cargo feature. Without it, what configures the
//! sandbox (limits, grants, policies) still compiles, so configuration reads the same, and a
//! component met at run time is refused by [`not_built`].

#[cfg(feature = "components")]
pub mod cache;
#[cfg(all(feature = "components", feature = "mongodb"))]
pub mod doc_grants;
pub mod grants;
#[cfg(feature = "components")]
pub mod host;
#[cfg(feature = "components")]
pub mod inspect;
#[cfg(feature = "components")]
pub mod alembic;
#[cfg(feature = "components")]
pub mod knex;
#[cfg(feature = "components")]
mod linking;
#[cfg(feature = "components")]
mod output;
#[cfg(feature = "components")]
mod prefetch;
#[cfg(feature = "components")]
mod random;
#[cfg(feature = "components")]
pub mod rehearsal;
#[cfg(feature = "components")]
mod scratch;
pub mod policy;

#[cfg_attr(not(feature = "components"), allow(unused_imports))]
use std::path::{Path, PathBuf};
#[cfg_attr(not(feature = "components"), allow(unused_imports))]
use std::sync::Arc;
#[cfg_attr(not(feature = "components"), allow(unused_imports))]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[cfg(feature = "components")]
use wasmtime::component::Component;
#[cfg(feature = "components")]
use wasmtime::{Config, Engine, Store};
#[cfg(feature = "components")]
use wasmtime_wasi::WasiCtxBuilder;

use crate::backend::guest::CallLimits;
#[cfg(feature = "components")]
use crate::backend::{AnyBackend, GuestSql};
#[cfg_attr(not(feature = "components"), allow(unused_imports))]
use crate::migrate::error::{Blame, Direction, Error, Kept, MigrationRef, Result};
#[cfg(feature = "components")]
use crate::migrate::events::{Event, Observer};
use crate::migrate::source::Migration;
#[cfg(feature = "components")]
pub use cache::Origin;
#[cfg(feature = "components")]
use host::HostState;
#[cfg(feature = "components")]
use host::DocumentMigration;
#[cfg(feature = "components")]
use host::Seed as SeedWorld;
#[cfg(feature = "components")]
use host::Migration as MigrationWorld;
use policy::Policy;

/// How long a database call may run past the guest's deadline before the process gives up on
/// it (a single SQL function the server cannot interrupt, such as a quadratic string search).
#[cfg(feature = "components")]
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

#[cfg(feature = "components")]
static WATCHDOG_LIMIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
#[cfg(feature = "components")]
static WATCHDOG_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Marks the start of a guest's database call: if it has not returned `WATCHDOG_GRACE` after
/// the deadline, the process stops (exit 2). Nothing false is left: the open transaction dies
/// with the connection, and the run's lock with the session.
///
/// The epoch ticker of a sandbox with deadlines looks every tick (see [`watchdog_check`]); only
/// when none runs does a watchdog thread of its own start.
#[cfg(feature = "components")]
pub(crate) fn db_call_begins(deadline: Option<Instant>, timeout: Option<Duration>) {
    let Some(d) = deadline else { return };
    let start = *WATCHDOG_START.get_or_init(Instant::now);
    let limit = (d + WATCHDOG_GRACE).saturating_duration_since(start).as_millis() as u64 + 1;
    WATCHDOG_TIMEOUT_MS.store(timeout.map(|t| t.as_millis() as u64).unwrap_or_default(), Ordering::SeqCst);
    WATCHDOG_LIMIT.store(limit, Ordering::SeqCst);
    // (Limit stored, then tickers counted; a ticker that stops counts itself out, then looks at
    // the limit: one of the two sees the other, and the call is watched either way.)
    if TICKERS.load(Ordering::SeqCst) == 0 {
        ensure_watchdog();
    }
}

/// Starts the watchdog thread of its own (once per process; it then lives with the process).
#[cfg(feature = "components")]
fn ensure_watchdog() {
    static SPAWN: std::sync::Once = std::sync::Once::new();
    SPAWN.call_once(|| {
        let _ = std::thread::Builder::new().name("db-migrate-watchdog".into()).spawn(|| loop {
            std::thread::sleep(Duration::from_millis(200));
            watchdog_check();
        });
    });
}

/// The time limit of the guest whose database call is watched, in milliseconds (for the message).
#[cfg(feature = "components")]
static WATCHDOG_TIMEOUT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Epoch ticker threads running: each also does the watchdog's check.
#[cfg(feature = "components")]
static TICKERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Stops the process if a guest's database call is still running `WATCHDOG_GRACE` past its
/// deadline.
#[cfg(feature = "components")]
fn watchdog_check() {
    let limit = WATCHDOG_LIMIT.load(Ordering::SeqCst);
    let Some(start) = WATCHDOG_START.get() else { return };
    if limit != 0 && start.elapsed().as_millis() as u64 > limit {
        eprintln!(
            "error: a component's database call was still running {}s past its time limit ({}s) and the database \
             could not stop it; db-migrate stops here. The migration's open transaction is discarded with the \
             connection (nothing of it is kept; on MySQL, DDL it already ran leaves the migration dirty for `repair`)",
            WATCHDOG_GRACE.as_secs(),
            WATCHDOG_TIMEOUT_MS.load(Ordering::SeqCst) as f64 / 1000.0
        );
        std::process::exit(2);
    }
}

/// Marks the end of a guest's database call.
#[cfg(feature = "components")]
pub(crate) fn db_call_ends() {
    WATCHDOG_LIMIT.store(0, Ordering::SeqCst);
}

/// The most of a guest's own error text that is shown.
#[cfg(feature = "components")]
const GUEST_TEXT: usize = 4096;

/// How often the epoch ticks; deadlines are counted in ticks.
#[cfg(feature = "components")]
const TICK: Duration = Duration::from_millis(10);

/// What a guest may learn about its run.
#[derive(Debug, Clone, Default)]
pub struct GuestContext {
    /// Environment name.
    pub environment: String,
    /// Arguments (`--arg k=v`, config).
    pub args: std::collections::BTreeMap<String, String>,
    /// Deterministic seed.
    pub seed: u64,
}

/// Limits applied to every guest.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time a guest call may take; `None` runs without a deadline (and without the
    /// epoch checks compiled into the code — for measurements, not for untrusted guests).
    pub timeout: Option<Duration>,
    /// Fuel (roughly, wasm instructions) a guest call may burn; `None` for no budget.
    pub fuel: Option<u64>,
    /// Linear memory a guest may grow to, in bytes.
    pub memory: usize,
    /// Bytes of stdout and of stderr kept (each).
    pub output: usize,
    /// Bytes of log messages shown.
    pub log: usize,
    /// Per-call limits on what the guest makes the host do.
    pub calls: CallLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Some(Duration::from_secs(600)),
            fuel: None,
            memory: 256 << 20,
            output: 64 << 10,
            log: 1 << 20,
            calls: CallLimits::default(),
        }
    }
}

/// Engine features a run needs, decided by its limits. Part of the cache key: code compiled with
/// epoch or fuel checks differs from code compiled without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineFeatures {
    /// Deadlines by epoch interruption.
    pub epoch: bool,
    /// Fuel metering.
    pub fuel: bool,
}

impl Default for EngineFeatures {
    fn default() -> Self {
        EngineFeatures { epoch: true, fuel: false }
    }
}

impl EngineFeatures {
    /// Whether an engine with these features can run what `other` needs.
    pub fn covers(self, other: EngineFeatures) -> bool {
        (self.epoch || !other.epoch) && (self.fuel || !other.fuel)
    }

    /// Both sets of features: a store that needs neither runs unlimited on either.
    pub fn union(self, other: EngineFeatures) -> EngineFeatures {
        EngineFeatures { epoch: self.epoch || other.epoch, fuel: self.fuel || other.fuel }
    }
}

/// The engine every component is compiled and run with.
#[cfg(feature = "components")]
pub fn engine_with(features: EngineFeatures) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(features.epoch);
    config.consume_fuel(features.fuel);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Instances come from a pool reserved once per engine: a run instantiates its components
    // one after another, and each instance otherwise maps its linear memory, tables and stack
    // afresh and unmaps them when it ends (with another thread of the run working, every unmap
    // stops the other core to flush its TLB). Where the reservation is refused (a low
    // `ulimit -v`), instances are allocated on demand as before.
    // A process keeps its first few engines' pools (a fleet makes an engine per target, and
    // the CLI leaves components, which hold their engine, to the process's exit): later
    // engines allocate on demand, so a fleet of thousands never reserves thousands of pools.
    let pooled = POOLED_ENGINES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < MAX_POOLED_ENGINES).then_some(n + 1)).is_ok();
    if !pooled {
        return Engine::new(&config);
    }
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool()));
    // A pooled stack serves one guest after another (a seed pack after the migrations): it is
    // zeroed before each, so no guest can ever find another's data there, even through a
    // compiler bug (on demand, each stack was fresh).
    config.async_stack_zeroing(true);
    Engine::new(&config).or_else(|_| {
        POOLED_ENGINES.fetch_sub(1, Ordering::Relaxed);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
        Engine::new(&config)
    })
}

/// How many engines of this process got an instance pool (see [`engine_with`]).
#[cfg(feature = "components")]
static POOLED_ENGINES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// At most this many engines of a process get an instance pool; each reserves about 16 GiB of
/// address space (not memory), and a 256 MiB table pool, also reserved only.
#[cfg(feature = "components")]
const MAX_POOLED_ENGINES: usize = 4;

/// The instance pool of an engine. The run has one guest instance at a time (a knex or Alembic
/// runtime and its migration included), so a few slots are enough; a slot is sized well above
/// the largest guests the first-party toolchains produce (componentize-py's libpython: 14 core
/// modules, one memory, tables of 5,690 and 101 elements), with memories of up to 4 GiB, the
/// most a 32-bit memory holds, and tables of up to 1,048,576 elements (the limiter's own cap),
/// so the grant's `memory_mib` (enforced by the store's limiter) is the only cap a guest meets.
/// The memories reserve address space only: 4 × (4 GiB + guard).
#[cfg(feature = "components")]
fn pool() -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(8)
        .total_core_instances(512)
        .total_memories(4)
        .total_tables(32)
        .total_stacks(8)
        .max_memories_per_module(4)
        .max_tables_per_module(16)
        .table_elements(1 << 20)
        .max_memory_size(1 << 32)
        .max_core_instance_size(8 << 20)
        .max_component_instance_size(8 << 20);
    // A stack is zeroed before its next guest (see `engine_with`): its top 64 KiB, the part
    // guests use, with a memset that keeps those pages resident; the rest is handed back.
    pool.async_stack_keep_resident(64 << 10);
    pool
}

#[cfg(feature = "components")]
pub use prefetch::{Ahead, ahead};
#[cfg(feature = "components")]
use prefetch::Loaded;

/// The default engine (deadlines on, fuel off), as `inspect` uses it.
#[cfg(feature = "components")]
pub fn engine() -> wasmtime::Result<Engine> {
    engine_with(EngineFeatures::default())
}

/// Whether the process ends when its command does (see [`exit_reclaims_components`]).
#[cfg(feature = "components")]
static EXIT_RECLAIMS: AtomicBool = AtomicBool::new(false);

/// How many bytes of compiled images may still be left to the process's exit.
#[cfg(feature = "components")]
static LEFT_TO_EXIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(256 << 20);

/// Says that this process exits when its command ends (the CLI does, at start): a component
/// that has run is then left mapped for the exit to take down with everything else, rather
/// than unmapped one by one (up to 256 MiB of compiled images; past that, as before).
///
/// Dropping a component unregisters its code and types (about 0.07 M instructions for a small
/// Rust guest, 0.18 M for the last one of a run) and unmaps its image: while another thread of
/// the run is working (the prefetch), each unmapping stops the other core to flush its TLB.
/// The process's exit tears the whole address space down at once. A library that runs for
/// long must not call this: what is left is never freed. What is left is more than the images:
/// each component keeps its run's engine and its type registrations alive (so a `fleet` of
/// many targets in one process keeps their engines until the images reach the bound).
#[cfg(feature = "components")]
pub fn exit_reclaims_components() {
    EXIT_RECLAIMS.store(true, Ordering::Relaxed);
}

/// The end of a component that has run: dropped, or left to the exit (see
/// [`exit_reclaims_components`]).
#[cfg(feature = "components")]
fn spend(loaded: Loaded) {
    if EXIT_RECLAIMS.load(Ordering::Relaxed) {
        let image = loaded.component.image_range();
        let size = (image.end as usize).saturating_sub(image.start as usize);
        if LEFT_TO_EXIT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(size)).is_ok() {
            std::mem::forget(loaded);
            return;
        }
    }
    drop(loaded);
}

/// Engine, linker and cache for one run.
#[cfg(feature = "components")]
pub struct Sandbox {
    engine: Engine,
    features: EngineFeatures,
    /// Linkers by what components import (see [`linking`]).
    linkers: Arc<linking::Linkers>,
    /// The component loaded on a guess while the run opened its database (see [`prefetch`]).
    likely: std::sync::Mutex<Option<prefetch::Likely>>,
    cache: Arc<cache::Cache>,
    /// The run's next components, loaded ahead (see [`prefetch`]).
    prefetch: Option<prefetch::Prefetch>,
    ticker: Arc<AtomicBool>,
    reserved: grants::Reserved,
    /// Where the knex runtime component is, and once loaded, the component (see [`knex`]).
    knex_runtime: Option<PathBuf>,
    knex_component: std::sync::OnceLock<std::result::Result<Component, String>>,
    /// The same for the Alembic runtime (see [`alembic`]).
    alembic_runtime: Option<PathBuf>,
    alembic_component: std::sync::OnceLock<std::result::Result<Component, String>>,
}

#[cfg(feature = "components")]
impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker.store(true, Ordering::Relaxed);
    }
}

/// Checks the first bytes of a file: a component, a core module, or not WebAssembly at all.
pub fn check_header(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly file (no `\\0asm` header); is this the right file?".into());
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(
            "a core WebAssembly module, not a component: build for `wasm32-wasip2` (`db-migrate build` does), \
             or wrap the module with `wasm-tools component new`"
                .into(),
        );
    }
    Ok(())
}

#[cfg(feature = "components")]
impl Sandbox {
    /// A sandbox caching compiled components in `cache_dir` (none: compile every time), with an
    /// engine that has the features the run's limits need.
    pub fn new(cache_dir: Option<PathBuf>, features: EngineFeatures) -> Result<Self> {
        Self::with_engine(cache_dir, features, None)
    }

    /// [`Sandbox::new`] with what was made ahead for `features` and `cache_dir` (see [`ahead`]);
    /// `None` makes it here.
    pub(crate) fn with_engine(cache_dir: Option<PathBuf>, features: EngineFeatures, ahead: Option<Ahead>) -> Result<Self> {
        let host = |e: wasmtime::Error| Error::Config(format!("cannot set up the WebAssembly sandbox: {e:#}"));
        // Made for other limits (an engine without epoch checks would ignore the deadline) or
        // another cache, it is not used.
        let ahead = ahead.filter(|a| a.features == features && a.cache_dir == cache_dir);
        let Ahead { engine, cache, linkers, likely, .. } = match ahead {
            Some(a) => a,
            None => {
                let engine = engine_with(features).map_err(host)?;
                let cache = Arc::new(cache::Cache::new(cache_dir.clone(), &engine));
                Ahead { engine, features, cache_dir, cache, linkers: Default::default(), likely: None }
            }
        };
        let ticker = Arc::new(AtomicBool::new(false));
        if features.epoch {
            let (stop, e) = (ticker.clone(), engine.clone());
            // Counted before it starts, so a database call right after sees it; it also does the
            // watchdog's check (one thread fewer to start per run).
            TICKERS.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new().name("db-migrate-epoch".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                    watchdog_check();
                }
                // A database call still in flight (another sandbox's, counting on this ticker)
                // gets the watchdog thread.
                TICKERS.fetch_sub(1, Ordering::SeqCst);
                if WATCHDOG_LIMIT.load(Ordering::SeqCst) != 0 {
                    ensure_watchdog();
                }
            });
            if let Err(e) = spawned {
                TICKERS.fetch_sub(1, Ordering::SeqCst);
                return Err(Error::Config(format!("cannot start the sandbox timer: {e}")));
            }
        }
        Ok(Sandbox {
            cache,
            prefetch: None,
            engine,
            features,
            linkers,
            likely: std::sync::Mutex::new(likely),
            ticker,
            reserved: Default::default(),
            knex_runtime: None,
            knex_component: Default::default(),
            alembic_runtime: None,
            alembic_component: Default::default(),
        })
    }

    /// The engine features this sandbox was made with.
    pub fn features(&self) -> EngineFeatures {
        self.features
    }

    /// Loads the components of SHA-256 `checksums` ahead, on a thread, in this order: the order
    /// the run will ask for them (see [`prefetch`]). The one loaded on a guess already is left
    /// out (at its first place: that is when the run takes it), and fewer than two are not
    /// worth a thread.
    pub fn prefetch(mut self, mut checksums: Vec<String>) -> Self {
        let guessed = self.likely.get_mut().unwrap_or_else(|e| e.into_inner()).as_ref().map(|l| l.sha.clone());
        if let Some(i) = guessed.and_then(|sha| checksums.iter().position(|c| *c == sha)) {
            checksums.remove(i);
        }
        if checksums.len() > 1 {
            self.prefetch =
                Some(prefetch::Prefetch::start(self.engine.clone(), Arc::clone(&self.cache), Arc::clone(&self.linkers), checksums));
        }
        self
    }

    /// Names the run's history table (its lock and the seed history go with it): no guest
    /// may touch them, whatever it was granted.
    pub fn history_table(mut self, table: &str) -> Self {
        let bare = table.rsplit('.').next().unwrap_or(table);
        self.reserved.history = bare.to_ascii_lowercase();
        self
    }

    /// Where the knex runtime component is, for knex migration files.
    pub fn knex_runtime(mut self, path: Option<PathBuf>) -> Self {
        self.knex_runtime = path;
        self
    }

    /// Where the Alembic runtime component is, for Alembic revision files.
    pub fn alembic_runtime(mut self, path: Option<PathBuf>) -> Self {
        self.alembic_runtime = path;
        self
    }

    /// The knex runtime, loaded (from the cache, or compiled) once per run.
    fn load_knex(&self) -> std::result::Result<(Component, Origin), String> {
        let fix = "run `db-migrate build` in the project (it needs Node.js and npm once), or set DB_MIGRATE_KNEX_RUNTIME to a built knex-runtime.wasm";
        self.load_runtime(&self.knex_component, self.knex_runtime.as_deref(), "knex", fix)
    }

    /// The Alembic runtime, loaded (from the cache, or compiled) once per run.
    fn load_alembic(&self) -> std::result::Result<(Component, Origin), String> {
        let fix = "run `db-migrate build` in the project (it needs Python 3 with pip and componentize-py once), or set DB_MIGRATE_ALEMBIC_RUNTIME to a built alembic-runtime.wasm";
        self.load_runtime(&self.alembic_component, self.alembic_runtime.as_deref(), "Alembic", fix)
    }

    /// A hosted runtime (one component running every migration file of a tool), loaded once
    /// per run into `slot`; the error says how to get one.
    fn load_runtime(
        &self,
        slot: &std::sync::OnceLock<std::result::Result<Component, String>>,
        path: Option<&Path>,
        tool: &str,
        fix: &str,
    ) -> std::result::Result<(Component, Origin), String> {
        let mut origin = Origin::Cached;
        let loaded = slot.get_or_init(|| {
            let Some(path) = path else {
                return Err(format!("this is a {tool} migration, and no {tool} runtime is configured: {fix}"));
            };
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read the {tool} runtime {}: {e}; {fix}", path.display()))?;
            let (c, o) = self.load_bytes(&bytes, None).map_err(|e| format!("the {tool} runtime {}: {e}", path.display()))?;
            origin = o;
            Ok(c)
        });
        loaded.clone().map(|c| (c, origin))
    }

    /// Names the seed history table, equally out of every guest's reach.
    pub fn seed_table(mut self, table: &str) -> Self {
        let bare = table.rsplit('.').next().unwrap_or(table);
        self.reserved.seeds = bare.to_ascii_lowercase();
        self
    }

    /// Loads (from the cache or by compiling) the component at `path`, checking its checksum.
    ///
    /// With `expected_sha256` (the checksum discovery computed from the file's bytes a moment
    /// ago), a cache hit needs neither the file nor a second hash: for a 15 MB Python or
    /// JavaScript component, reading and hashing it again was half of a warm run's cost.
    pub fn load(&self, path: &Path, expected_sha256: Option<&str>) -> std::result::Result<(Component, Origin), String> {
        if let Some(c) = expected_sha256.and_then(|sha| self.cache.cached(&self.engine, sha)) {
            return Ok((c, Origin::Cached));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read the component: {e}"))?;
        self.load_bytes(&bytes, expected_sha256)
    }

    /// Loads a migration's component: from its bytes when they are held in memory (an embedded
    /// set), else from its file.
    fn load_migration(&self, m: &Migration) -> std::result::Result<(Loaded, Origin), String> {
        let here = |(component, origin)| (Loaded { component, pre: None, description: None }, origin);
        match &m.body {
            crate::migrate::source::Body::Knex { .. } => self.load_knex().map(here),
            crate::migrate::source::Body::Alembic { .. } => self.load_alembic().map(here),
            crate::migrate::source::Body::Component(bytes) if let Some(guess) = prefetch::Likely::take(&self.likely, &m.checksum) => match guess {
                Some(loaded) => Ok((loaded, Origin::Cached)),
                // Not in the cache (it is left out of the prefetch list: asking it would
                // stop prefetching): loaded, or compiled, here.
                None => match bytes {
                    Some(b) => self.load_bytes(b.as_bytes(), Some(&m.checksum)).map(here),
                    None => self.load(&m.path, Some(&m.checksum)).map(here),
                },
            },
            crate::migrate::source::Body::Component(_) if let Some(loaded) = self.prefetch.as_ref().and_then(|p| p.take(&m.checksum)) => {
                Ok((loaded, Origin::Cached))
            }
            crate::migrate::source::Body::Component(Some(bytes)) => {
                if let Some(c) = self.cache.cached(&self.engine, &m.checksum) {
                    return Ok(here((c, Origin::Cached)));
                }
                self.load_bytes(bytes.as_bytes(), Some(&m.checksum)).map(here)
            }
            _ => self.load(&m.path, Some(&m.checksum)).map(here),
        }
    }

    /// Loads a component from its bytes (compiling it unless the cache has it), checking them
    /// against `expected_sha256`.
    pub fn load_bytes(&self, bytes: &[u8], expected_sha256: Option<&str>) -> std::result::Result<(Component, Origin), String> {
        check_header(bytes)?;
        let sha = crate::migrate::source::checksum_bytes(bytes);
        if let Some(expected) = expected_sha256 {
            if sha != expected {
                return Err("the file changed while db-migrate was running; run again".into());
            }
        }
        self.cache.load(&self.engine, bytes, &sha).map_err(|e| format!("not a valid component: {e:#}"))
    }

    /// Applies or reverts a component migration in its own store, with `db` lent to the guest
    /// under `policy`. The backend comes back whatever happens.
    pub async fn run_migration(
        &self,
        db: AnyBackend,
        m: &Migration,
        direction: Direction,
        context: Arc<GuestContext>,
        observer: Option<Observer>,
        policy: &Policy,
    ) -> (AnyBackend, Result<Duration>) {
        let fail = |blame: Blame, message: String, kept: Kept| Error::ComponentFailed {
            migration: MigrationRef { version: m.version, name: m.name.clone() },
            direction,
            path: m.path.clone(),
            blame,
            message,
            kept,
        };
        if let Some(pinned) = &policy.sha256 {
            if !pinned.eq_ignore_ascii_case(&m.checksum) {
                let msg = format!(
                    "the configuration pins sha256 {pinned}, but the file's is {}; refusing to run a component that is not the one you pinned",
                    m.checksum
                );
                return (db, Err(fail(Blame::Guest, msg, Kept::Nothing)));
            }
        }
        let component = match self.checked_component(&db, m, observer.as_ref()) {
            Ok(c) => c,
            Err(msg) => return (db, Err(fail(Blame::Guest, msg, Kept::Nothing))),
        };
        let limits = &policy.limits;
        let mut store = match self.store(db, m, context, observer.clone(), policy, false) {
            Ok(s) => s,
            Err((db, msg)) => return (db, Err(fail(Blame::Host, msg, Kept::Nothing))),
        };
        let mut scope = self.scope(policy, store.data().deadline);
        scope.knex = matches!(m.body, crate::migrate::source::Body::Knex { .. });
        scope.alembic = matches!(m.body, crate::migrate::source::Body::Alembic { .. });
        let result = match store.data_mut().db.enter_guest(&scope).await {
            Ok(()) => {
                let r = self.call(&mut store, &component, m, direction, limits, &fail).await;
                match store.data_mut().db.leave_guest().await {
                    // Recorded already: the error says so rather than that nothing was kept.
                    Err(e) if r.is_ok() => Err(Error::Database {
                        context: format!("migration {} was applied and recorded, but its session could not be closed cleanly; the run stops here", m.label()),
                        source: crate::migrate::error::DbError { message: e.to_string(), code: None },
                    }),
                    _ => r,
                }
            }
            Err(e) => Err(fail(Blame::Host, format!("cannot open the component's database session: {}", e), Kept::Nothing)),
        };
        let state = store.into_data();
        drain_output(&state, m, observer.as_ref(), limits);
        // A knex or Alembic runtime is one component the sandbox keeps for all of the run's
        // files: only a clone of it is dropped here.
        if matches!(m.body, crate::migrate::source::Body::Component(_)) {
            spend(component);
        }
        (state.db, result)
    }

    /// The migration's component, loaded (from the cache when it can be) and checked to be a
    /// migration of the world this database takes.
    fn checked_component(&self, db: &AnyBackend, m: &Migration, observer: Option<&Observer>) -> std::result::Result<Loaded, String> {
        let started = Instant::now();
        let (loaded, origin) = self.load_migration(m)?;
        if let Some(o) = observer {
            o(&Event::ComponentLoaded { migration: m, origin, duration: started.elapsed() });
        }
        match &loaded.description {
            Some(d) => inspect::check_migration_described(d, db.kind_name(), db.is_documents())?,
            None => inspect::check_migration_world(&self.engine, &loaded.component, db.kind_name(), db.is_documents())?,
        }
        Ok(loaded)
    }

    /// A dry run's rehearsal of one component migration (see [`rehearsal`]): the guest runs
    /// against the database as it is, on a connection the caller made read-only; its reads are
    /// answered and everything else is written down, never sent. Nothing is recorded in the
    /// history and no transaction is opened. A component whose grant a restricted login
    /// enforces (PostgreSQL, MySQL) is not rehearsed: setting that login up changes the server.
    pub async fn rehearse_migration(
        &self,
        db: AnyBackend,
        m: &Migration,
        direction: Direction,
        context: Arc<GuestContext>,
        policy: &Policy,
    ) -> (AnyBackend, rehearsal::Rehearsal) {
        use rehearsal::Rehearsal;
        if db.is_documents() {
            return (db, Rehearsal::skipped("a dry run does not rehearse MongoDB components"));
        }
        if policy.grants.tables.is_some() && db.dialect() != crate::backend::Dialect::Sqlite {
            let why = format!("its grant is enforced by a restricted {} login, which a dry run does not set up", db.kind_name());
            return (db, Rehearsal::skipped(why));
        }
        if let Some(pinned) = policy.sha256.as_ref().filter(|p| !p.eq_ignore_ascii_case(&m.checksum)) {
            return (db, Rehearsal::skipped(format!("the configuration pins sha256 {pinned}, but the file's is {}", m.checksum)));
        }
        let component = match self.checked_component(&db, m, None) {
            Ok(c) => c,
            Err(msg) => return (db, Rehearsal::skipped(msg)),
        };
        let mut store = match self.store(db, m, context, None, policy, false) {
            Ok(s) => s,
            Err((db, msg)) => return (db, Rehearsal::skipped(msg)),
        };
        store.data_mut().rehearsal = Some(rehearsal::Recorder::default());
        let mut scope = self.scope(policy, store.data().deadline);
        scope.knex = matches!(m.body, crate::migrate::source::Body::Knex { .. });
        scope.alembic = matches!(m.body, crate::migrate::source::Body::Alembic { .. });
        // On the servers, the rehearsal is one transaction, rolled back: it inherits the
        // session's read-only mode, which code on the session (a granted function calling
        // `set_config`) can change for later transactions but not for this one.
        let server = store.data().db.dialect() != crate::backend::Dialect::Sqlite;
        let stopped = match store.data_mut().db.enter_guest(&scope).await {
            Ok(()) => {
                use crate::backend::Backend;
                // The session's default, set again before each rehearsal: on MySQL a session
                // variable a granted function changed outlives the rollback, and the next
                // rehearsal's transaction would take it.
                let begun = if server {
                    match crate::backend::read_only_session(&mut store.data_mut().db).await {
                        Ok(()) => store.data_mut().db.begin_plain().await,
                        Err(e) => Err(e),
                    }
                } else {
                    Ok(())
                };
                let r = match begun {
                    Ok(()) => self.call_rehearsed(&mut store, &component.component, direction, &policy.limits).await,
                    Err(e) => Err(format!("cannot open the rehearsal's read-only transaction: {e}")),
                };
                if server {
                    store.data_mut().db.rollback_plain().await;
                }
                let left = store.data_mut().db.leave_guest().await;
                r.err().or_else(|| left.err().map(|e| e.to_string()))
            }
            Err(e) => Some(format!("cannot open the component's database session: {e}")),
        };
        let state = store.into_data();
        let rec = state.rehearsal.unwrap_or_default();
        let reads_held = (!policy.grants.functions.is_empty()).then(|| {
            "its grant lists functions of its own, which may do anything, so none of its statements were sent, reads included (they got no rows)".to_string()
        });
        let r = Rehearsal { statements: rec.sent, not_shown: rec.dropped, changes_not_shown: rec.dropped_changes, reads_held, stopped, skipped: None };
        (state.db, r)
    }

    /// Instantiates the component and calls its `up` or `down` with no unit around it (a
    /// rehearsal: nothing is recorded); the error says why the guest stopped.
    async fn call_rehearsed(&self, store: &mut Store<HostState>, component: &Component, direction: Direction, limits: &Limits) -> std::result::Result<(), String> {
        let why = |store: &Store<HostState>, e: &wasmtime::Error| trap_reason(store, e, limits);
        let linker = self.linkers.for_component(&self.engine, component)?;
        let instance = MigrationWorld::instantiate_async(&mut *store, component, &linker)
            .await
            .map(Instance::Sql)
            .map_err(|e| format!("cannot instantiate the component: {e:#}"))?;
        let deadline = store.data().deadline;
        let meta = within_deadline(deadline, instance.metadata(&mut *store)).await.map_err(|e| why(store, &e))?;
        if direction == Direction::Down && !meta.reversible {
            return Err("the component says it cannot be reverted".into());
        }
        match within_deadline(deadline, instance.run(&mut *store, direction)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(guest_says)) => Err(format!("the component returned an error: {}", host::clip(&guest_says, GUEST_TEXT))),
            Err(e) => Err(why(store, &e)),
        }
    }

    /// The database side of a policy: what the backend hands to the database to enforce.
    fn scope(&self, policy: &Policy, deadline: Option<Instant>) -> crate::backend::guest::GuestScope {
        guest_scope(policy, &self.reserved, deadline)
    }

    /// A store for one guest run: its WASI (deny by default), memory cap, deadline and fuel.
    fn store(
        &self,
        db: AnyBackend,
        m: &Migration,
        context: Arc<GuestContext>,
        observer: Option<Observer>,
        policy: &Policy,
        batch_commits: bool,
    ) -> std::result::Result<Store<HostState>, (AnyBackend, String)> {
        let limits = &policy.limits;
        // The Alembic runtime's snapshot starts at 54 MiB: a lower cap could never run it.
        let memory = match m.body {
            crate::migrate::source::Body::Alembic { .. } => limits.memory.max(alembic::MIN_MEMORY),
            _ => limits.memory,
        };
        let stdout = output::CappedOutput::new(limits.output);
        let stderr = output::CappedOutput::new(limits.output);
        let mut wasi = WasiCtxBuilder::new();
        // Deny by default, said out loud: no network, no name lookup, no environment, no
        // arguments, empty stdin, no files — and randomness from the configured seed only.
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .secure_random(random::SeededStream::new(context.seed, m.name.as_bytes()))
            .insecure_random(random::SeededStream::new(context.seed ^ 1, m.name.as_bytes()))
            .insecure_random_seed(u128::from(context.seed));
        if let Some(dir) = &policy.data_dir {
            if let Err(e) = wasi.preopened_dir(dir, "/data", wasmtime_wasi::FsPerms::ReadOnly) {
                return Err((db, format!("cannot grant the data folder {}: {e:#}", dir.display())));
            }
        }
        let state = HostState {
            rows: Default::default(),
            batch_commits,
            commits: 0,
            host_error: None,
            deadline: limits.timeout.map(|t| Instant::now() + t),
            deadline_hit: false,
            timeout: limits.timeout,
            rehearsal: None,
            bulk_open: None,
            bulk_target: None,
            bulk_handles: 0,
            in_metadata: false,
            wasi: wasi.build(),
            table: Default::default(),
            limiter: policy::MemoryLimiter::new(memory),
            db,
            call_limits: limits.calls,
            grants: policy.grants.clone(),
            collections: policy.collections.clone().or_else(|| policy.grants.tables.clone()),
            reserved: self.reserved.clone(),
            admitted: Default::default(),
            migration: m.clone(),
            context,
            observer,
            writes: 0,
            log_bytes: 0,
            log_cap: limits.log,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // What one call may copy from the guest into the host: no more than the guest's own
        // memory cap. A guest cannot hold more than that, so only a call whose parameters point
        // at the same bytes many times (the canonical ABI allows it) reaches the limit — and
        // without it the host would copy every alias.
        store.set_hostcall_fuel(memory);
        if self.features.epoch {
            let ticks = match limits.timeout {
                Some(t) => (t.as_millis() / TICK.as_millis()).max(1) as u64,
                None => u64::MAX,
            };
            // One tick at a time: at each, the guest stops if its time is up, or if Ctrl-C or
            // SIGTERM asked the run to stop (a guest computing in a loop would otherwise run on
            // until its deadline; a database call in flight is cancelled on its own).
            store.set_epoch_deadline(1);
            let mut left = ticks;
            store.epoch_deadline_callback(move |_| {
                left = left.saturating_sub(1);
                if left == 0 || crate::interrupt::requested().is_some() {
                    return Ok(wasmtime::UpdateDeadline::Interrupt);
                }
                Ok(wasmtime::UpdateDeadline::Continue(1))
            });
        }
        if self.features.fuel {
            if let Err(e) = store.set_fuel(limits.fuel.unwrap_or(u64::MAX)) {
                return Err((store.into_data().db, format!("cannot set the fuel budget: {e:#}")));
            }
        }

        Ok(store)
    }

    /// Runs a seed component (world `seed`) in the transaction the caller opened; returns how
    /// long it ran and the rows it wrote per table. With `batch_commits`, each batch is committed
    /// as it is written.
    pub async fn run_seed(
        &self,
        db: AnyBackend,
        m: &Migration,
        context: Arc<GuestContext>,
        observer: Option<Observer>,
        policy: &Policy,
        batch_commits: bool,
    ) -> (AnyBackend, std::result::Result<SeedOutcome, SeedFailure>) {
        if let Some(pinned) = &policy.sha256 {
            if !pinned.eq_ignore_ascii_case(&m.checksum) {
                let msg = format!(
                    "the configuration pins sha256 {pinned}, but the file's is {}; refusing to run a component that is not the one you pinned",
                    m.checksum
                );
                return (db, Err(SeedFailure { blame: Blame::Guest, message: msg, commits: 0 }));
            }
        }
        let loaded = Instant::now();
        let component = match self.load_migration(m) {
            Ok((c, origin)) => {
                if let Some(o) = &observer {
                    o(&Event::ComponentLoaded { migration: m, origin, duration: loaded.elapsed() });
                }
                c.component
            }
            Err(msg) => return (db, Err(SeedFailure { blame: Blame::Guest, message: msg, commits: 0 })),
        };
        if let Err(msg) = inspect::check_seed_world(&self.engine, &component, db.kind_name(), db.is_documents()) {
            return (db, Err(SeedFailure { blame: Blame::Guest, message: msg, commits: 0 }));
        }
        let limits = policy.limits;
        let mut store = match self.store(db, m, context, observer.clone(), policy, batch_commits) {
            Ok(s) => s,
            Err((db, msg)) => return (db, Err(SeedFailure { blame: Blame::Host, message: msg, commits: 0 })),
        };
        let started = Instant::now();
        let scope = self.scope(policy, store.data().deadline);
        if let Err(e) = store.data_mut().db.enter_guest(&scope).await {
            let db = store.into_data().db;
            return (db, Err(SeedFailure { blame: Blame::Host, message: format!("cannot open the seed's database session: {}", e), commits: 0 }));
        }
        let outcome = match self.linkers.for_component(&self.engine, &component) {
            // What is linked is what the component imports.
            Err(e) => Err((Blame::Guest, e)),
            Ok(linker) => match SeedWorld::instantiate_async(&mut store, &component, &linker).await {
                Err(e) => Err((Blame::Guest, format!("cannot instantiate the component: {e:#}"))),
                Ok(instance) => match within_deadline(store.data().deadline, instance.call_run(&mut store)).await {
                    Ok(Ok(())) => store.data_mut().end_guest_writes().await.map_err(|e| (Blame::Guest, e)),
                    Ok(Err(guest_says)) => Err((Blame::Guest, format!("the seed returned an error: {}", host::clip(&guest_says, GUEST_TEXT)))),
                    Err(e) => Err((Blame::Guest, trap_reason(&store, &e, &limits))),
                },
            },
        };
        let took = started.elapsed();
        let left = store.data_mut().db.leave_guest().await;
        let outcome = match (outcome, left) {
            (Ok(()), Err(e)) => Err((Blame::Guest, e.to_string())),
            (o, _) => o,
        };
        let state = store.into_data();
        drain_output(&state, m, observer.as_ref(), &limits);
        let commits = state.commits;
        let result = match (outcome, state.host_error.clone()) {
            (_, Some(host)) => Err(SeedFailure { blame: Blame::Host, message: host, commits }),
            (Ok(()), None) => Ok(SeedOutcome { duration: took, rows: state.rows.clone(), commits }),
            (Err((blame, message)), None) => Err(SeedFailure { blame, message, commits }),
        };
        (state.db, result)
    }
}

/// The error for a component in a build without the `components` feature.
#[cfg(not(feature = "components"))]
pub fn not_built(m: &Migration) -> Error {
    Error::Config(format!(
        "{} needs the WebAssembly sandbox, but this build of db-migrate was compiled without the `components` feature of the `db-migrate` crate; nothing was run (components are refused before the first migration of a run)",
        m.path.display()
    ))
}

/// The database side of a policy: what the backend hands to the database to enforce.
pub fn guest_scope(policy: &Policy, reserved: &grants::Reserved, deadline: Option<Instant>) -> crate::backend::guest::GuestScope {
    let c = &policy.grants.classes;
    crate::backend::guest::GuestScope {
        read: c.contains(&grants::Class::Read),
        write: c.contains(&grants::Class::Write),
        ddl: c.contains(&grants::Class::Ddl),
        tables: policy.grants.tables.clone(),
        functions: policy.grants.functions.clone(),
        reserved: reserved.clone(),
        deadline,
        max_bytes: policy.limits.calls.max_bytes,
        knex: false,
        alembic: false,
    }
}

/// Why a seed run failed.
#[derive(Debug, Clone)]
pub struct SeedFailure {
    /// Whose fault it is.
    pub blame: Blame,
    /// What happened.
    pub message: String,
    /// Batches committed before the failure (batched commits only).
    pub commits: u64,
}

/// What a seed run did.
#[derive(Debug, Clone, Default)]
pub struct SeedOutcome {
    /// How long the guest ran.
    pub duration: Duration,
    /// Rows written (inserted, updated or deleted) per table.
    pub rows: std::collections::BTreeMap<String, u64>,
    /// Batches committed along the way (batched commits only).
    pub commits: u64,
}

/// A guest still waiting in a host call other than the database's when its deadline passed.
#[cfg(feature = "components")]
#[derive(Debug)]
struct PastDeadline;

#[cfg(feature = "components")]
impl std::fmt::Display for PastDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the component was still waiting in a host call at its deadline")
    }
}

#[cfg(feature = "components")]
impl std::error::Error for PastDeadline {}

/// Runs one call into the guest, stopped at `deadline` even while the guest waits in a host
/// call: the epoch deadline interrupts WebAssembly code only, and database calls are stopped by
/// the database (and the watchdog), so a guest blocked in WASI's clocks (`sleep`, a pollable
/// far in the future) would otherwise never be stopped. A database call in flight is left to
/// those; anything else is dropped at the deadline (the guest's instance is not used again).
#[cfg(feature = "components")]
async fn within_deadline<T>(deadline: Option<Instant>, call: impl std::future::Future<Output = wasmtime::Result<T>>) -> wasmtime::Result<T> {
    let Some(d) = deadline else { return call.await };
    let mut call = std::pin::pin!(call);
    loop {
        let now = Instant::now();
        let wake = if now < d { d } else { now + Duration::from_millis(200) };
        tokio::select! {
            r = &mut call => return r,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                if Instant::now() >= d && WATCHDOG_LIMIT.load(Ordering::SeqCst) == 0 {
                    return Err(wasmtime::Error::new(PastDeadline));
                }
            }
        }
    }
}

/// Why a guest stopped, in a user's words.
#[cfg(feature = "components")]
fn trap_reason(store: &Store<HostState>, e: &wasmtime::Error, limits: &Limits) -> String {
    if let Some(rejected) = e.downcast_ref::<host::BulkRejected>() {
        return rejected.to_string();
    }
    if e.downcast_ref::<PastDeadline>().is_some() {
        return format!(
            "the component exceeded its time limit of {:?} (waiting in a host call outside the database) and was stopped",
            limits.timeout.unwrap_or_default()
        );
    }
    if store.data().deadline_hit {
        return format!(
            "the component exceeded its time limit of {:?} (inside a database call) and was stopped",
            limits.timeout.unwrap_or_default()
        );
    }
    if let Some(asked) = store.data().limiter.denied {
        return format!(
            "guest memory cap of {} MiB exceeded (it asked for {} MiB) and the component stopped",
            store.data().limiter.cap_mib(),
            asked.div_ceil(1 << 20)
        );
    }
    // wasmtime's hostcall fuel (its error type is private: known by its words).
    if format!("{e:#}").contains("fuel allocated for hostcalls has been exhausted") {
        return format!(
            "the component passed more data to one host call than its memory cap of {} MiB holds (parameters pointing at the same \
             bytes many times) and was stopped before the host copied it",
            limits.memory >> 20
        );
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) if crate::interrupt::requested().is_some() => {
            format!("the component was stopped by {}", crate::interrupt::requested().map(|s| s.name()).unwrap_or_default())
        }
        Some(wasmtime::Trap::Interrupt) => {
            format!("the component exceeded its time limit of {:?} and was stopped", limits.timeout.unwrap_or_default())
        }
        Some(wasmtime::Trap::OutOfFuel) => format!("the component exhausted its fuel budget of {} and was stopped", limits.fuel.unwrap_or(0)),
        _ => describe_trap(e),
    }
}

/// Shows what the guest wrote to stdout and stderr, with a note when some was dropped.
#[cfg(feature = "components")]
fn drain_output(state: &HostState, m: &Migration, observer: Option<&Observer>, limits: &Limits) {
    {
        for (stream, pipe) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
            let (text, dropped) = pipe.take();
            if let Some(o) = &observer {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    o(&Event::GuestOutput { migration: m, stream, line });
                }
                if dropped > 0 {
                    let note = format!("[{dropped} more bytes of {stream} dropped: the limit is {} bytes]", limits.output);
                    o(&Event::GuestOutput { migration: m, stream, line: &note });
                }
            }
        }
    }
}

#[cfg(feature = "components")]
impl Sandbox {

    async fn call(
        &self,
        store: &mut Store<HostState>,
        loaded: &Loaded,
        m: &Migration,
        direction: Direction,
        limits: &Limits,
        fail: &dyn Fn(Blame, String, Kept) -> Error,
    ) -> Result<Duration> {
        let why = |store: &Store<HostState>, e: &wasmtime::Error| trap_reason(store, e, limits);
        // Resolved ahead when a thread loaded it (see [`prefetch`]), else here.
        let pre = match &loaded.pre {
            Some(pre) => Ok(pre.clone()),
            None => self
                .linkers
                .for_component(&self.engine, &loaded.component)
                .map_err(wasmtime::Error::msg)
                .and_then(|linker| linker.instantiate_pre(&loaded.component)),
        };
        let instance = match pre {
            Err(e) => Err(e),
            Ok(pre) if store.data().db.is_documents() => match host::DocumentMigrationPre::new(pre) {
                Ok(pre) => pre.instantiate_async(&mut *store).await.map(Instance::Documents),
                Err(e) => Err(e),
            },
            Ok(pre) => match host::MigrationPre::new(pre) {
                Ok(pre) => pre.instantiate_async(&mut *store).await.map(Instance::Sql),
                Err(e) => Err(e),
            },
        };
        let instance = match instance {
            Ok(i) => i,
            Err(e) => return Err(fail(Blame::Guest, format!("cannot instantiate the component: {e:#}"), Kept::Nothing)),
        };
        let deadline = store.data().deadline;
        let meta = match within_deadline(deadline, instance.metadata(&mut *store)).await {
            Ok(meta) => meta,
            Err(e) => return Err(fail(Blame::Guest, why(store, &e), Kept::Nothing)),
        };
        if direction == Direction::Down && !meta.reversible {
            return Err(Error::Plan(crate::migrate::error::PlanError::Irreversible(MigrationRef {
                version: m.version,
                name: m.name.clone(),
            })));
        }
        let unit = crate::backend::Unit::new(m, direction, meta.transactional);
        let ran = unit
            .run(store, |s| &mut s.data_mut().db, async |store: &mut Store<HostState>| {
                let outcome = within_deadline(deadline, instance.run(&mut *store, direction)).await;
                if !matches!(outcome, Ok(Ok(()))) {
                    // A bulk insert still streaming is abandoned before the unit rolls back.
                    store.data_mut().db.bulk_abort().await;
                }
                let failure = match outcome {
                    Ok(Ok(())) => match store.data_mut().end_guest_writes().await {
                        Ok(()) => return Ok(()),
                        Err(e) => e,
                    },
                    Ok(Err(guest_says)) if store.data().limiter.denied.is_some() => {
                        format!("{} (the component then said: {})", why(store, &wasmtime::Error::msg("")), host::clip(&guest_says, GUEST_TEXT))
                    }
                    Ok(Err(guest_says)) => format!("the component returned an error: {}", host::clip(&guest_says, GUEST_TEXT)),
                    Err(e) => why(store, &e),
                };
                Err(crate::backend::BodyFailed { changed: store.data().writes > 0, error: failure })
            })
            .await;
        match ran {
            Ok(took) => Ok(took),
            Err(crate::backend::UnitError::Protocol(e)) => Err(e),
            Err(crate::backend::UnitError::Body { error, kept }) => Err(fail(Blame::Guest, error, kept)),
        }
    }
}

/// An instance of either migration world.
#[cfg(feature = "components")]
enum Instance {
    Sql(MigrationWorld),
    Documents(DocumentMigration),
}

/// What `metadata` says, whichever world.
#[cfg(feature = "components")]
struct Metadata {
    reversible: bool,
    transactional: bool,
}

#[cfg(feature = "components")]
impl Instance {
    /// The guest's `metadata`, which may not use the database: it runs before the migration's
    /// transaction (see `HostState::in_metadata`).
    async fn metadata(&self, store: &mut Store<HostState>) -> wasmtime::Result<Metadata> {
        store.data_mut().in_metadata = true;
        let m = self.metadata_call(store).await;
        store.data_mut().in_metadata = false;
        m
    }

    async fn metadata_call(&self, store: &mut Store<HostState>) -> wasmtime::Result<Metadata> {
        Ok(match self {
            Instance::Sql(i) => {
                let m = i.call_metadata(store).await?;
                Metadata { reversible: m.reversible, transactional: m.transactional }
            }
            Instance::Documents(i) => {
                let m = i.call_metadata(store).await?;
                Metadata { reversible: m.reversible, transactional: m.transactional }
            }
        })
    }

    async fn run(&self, store: &mut Store<HostState>, direction: Direction) -> wasmtime::Result<std::result::Result<(), String>> {
        match (self, direction) {
            (Instance::Sql(i), Direction::Up) => i.call_up(store).await,
            (Instance::Sql(i), Direction::Down) => i.call_down(store).await,
            (Instance::Documents(i), Direction::Up) => i.call_up(store).await,
            (Instance::Documents(i), Direction::Down) => i.call_down(store).await,
        }
    }
}

/// A trap as a user should read it: what happened, then where in the guest (a capped backtrace).
#[cfg(feature = "components")]
fn describe_trap(e: &wasmtime::Error) -> String {
    let what = match e.downcast_ref::<wasmtime::Trap>() {
        Some(t) => t.to_string(),
        None => format!("{e:#}"),
    };
    let mut s = format!("the component trapped: {what}");
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        // The guest's own frames matter; its language runtime's panic machinery does not.
        let text = bt.to_string();
        let runtime = ["!std[", "!core[", "!alloc[", "!__rustc", "!abort", "backtrace:"];
        let frames: Vec<&str> = text.lines().filter(|l| !runtime.iter().any(|r| l.contains(r))).collect();
        s.push_str("\n  in the guest, innermost first:");
        for l in frames.iter().take(10) {
            s.push_str("\n  ");
            s.push_str(l.trim_end());
        }
    }
    s
}

#[cfg(all(test, feature = "components"))]
mod engine_tests {
    use super::*;

    #[test]
    fn engines_get_an_instance_pool_up_to_the_bound_then_allocate_on_demand() {
        // Tests of this process make engines too: whatever their number, the count never
        // passes the bound, and engines past it are still made.
        let engines: Vec<Engine> = (0..MAX_POOLED_ENGINES + 2).map(|_| engine_with(EngineFeatures::default()).unwrap()).collect();
        let pooled = POOLED_ENGINES.load(Ordering::Relaxed);
        assert_eq!(pooled, MAX_POOLED_ENGINES, "the pool could not be reserved here, or the bound was not kept");
        // The compiled cache is shared by both kinds of engine: what one compiles, the other
        // loads (the allocation strategy is not part of compatibility).
        let empty_component = b"\0asm\x0d\0\x01\0";
        let made = |pool: bool| {
            let mut config = Config::new();
            config.wasm_component_model(true).epoch_interruption(true).cranelift_opt_level(wasmtime::OptLevel::Speed);
            if pool {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(super::pool()));
            }
            Engine::new(&config).unwrap()
        };
        let (pooled, on_demand) = (made(true), made(false));
        for (from, to) in [(&pooled, &on_demand), (&on_demand, &pooled)] {
            let compiled = Component::new(from, empty_component).unwrap().serialize().unwrap();
            // SAFETY: bytes this test's own engine just produced.
            unsafe { Component::deserialize(to, &compiled) }.expect("an engine refused what the other kind compiled");
        }
    }
}
