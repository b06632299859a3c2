//! Loading a run's next components ahead, on a thread of their own.
//!
//! A component taken from the compiled cache is deserialized before it runs (its types
//! registered, its code mapped): about 0.15 ms for a small Rust guest, a third of what a
//! component migration costs beyond its own SQL. The run's components are known before the
//! first one runs, so a thread loads them in the run's order, at most two ahead, while the
//! current one runs. It makes the same lookup the run's thread would (only authentic cache
//! entries, see [`super::cache`]); a miss is compiled on the run's thread as before. It also
//! resolves each component's imports against the run's linker (`instantiate_pre`: 0.08 M
//! instructions a component), which is the same whichever thread does it, so the run's thread
//! only instantiates. Nothing of a guest runs on this thread.
//!
//! Before that, while the run opens its database, takes its lock and reads its history, the
//! thread that makes the engine ([`ahead`]) also loads the newest migration's component, builds
//! its linker and resolves its imports: the run does not know yet what it will apply, but a
//! deploy usually applies the migration written last, and `down` reverts it. For a run of one
//! small component that takes loading (0.54 M instructions) and linking (0.27 M) off the run's
//! thread. The run waits for the guess only when it asks for that very component (which is
//! handed over once loaded, linked and described), or, at its first component, for a linker
//! the guess is still building. A wrong guess costs the other core that work and keeps the
//! guessed component mapped until the run ends.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre};
use wasmtime_wasi::WasiCtxBuilder;

use super::cache::Cache;
use super::host::HostState;
use super::inspect::{Description, describe};
use super::linking::Linkers;
use super::{EngineFeatures, engine_with};

/// A component ready to run: loaded, and, when a thread loaded it ahead, its imports already
/// resolved against the run's linker (`pre`: about 0.1 M instructions per component the run's
/// thread does not spend). Without `pre` the run resolves them itself, and meets any error.
pub(super) struct Loaded {
    pub(super) component: Component,
    pub(super) pre: Option<InstancePre<HostState>>,
    /// What it imports and exports, for the run's check of its world (0.03 M instructions).
    pub(super) description: Option<Description>,
}

impl Loaded {
    /// `component`, described and its imports resolved now (when they can be; else left to
    /// the run).
    fn resolved(engine: &Engine, linkers: &Linkers, component: Component) -> Self {
        let pre = linkers.for_component(engine, &component).ok().and_then(|l| l.instantiate_pre(&component).ok());
        Loaded { description: Some(describe(engine, &component)), component, pre }
    }
}

/// What a run makes ahead (see [`ahead`]), for its sandbox.
pub struct Ahead {
    pub(super) engine: Engine,
    /// What the engine and the cache were made for: a sandbox for anything else makes its own.
    pub(super) features: EngineFeatures,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) cache: Arc<Cache>,
    pub(super) linkers: Arc<Linkers>,
    pub(super) likely: Option<Likely>,
}

/// The component loaded on a guess: its SHA-256, and where it arrives (`None`: not in the cache).
pub(super) struct Likely {
    pub(super) sha: String,
    pub(super) loaded: Receiver<Option<Loaded>>,
}

/// Makes the engine for `features` and the cache of `cache_dir`, hands them to `ready`, then
/// loads the component of SHA-256 `likely` from the cache (never compiling it: a miss is left to
/// the run), builds its linker, resolves its imports and describes it (see [`Loaded`]). Runs on
/// a thread of the blocking pool while the run opens its database and takes its lock, so that
/// the run's thread finds it done, or nearly.
///
/// Making the engine detects the CPU's features (on a virtual machine every `cpuid` is a trip to
/// the hypervisor: about 0.1 ms here) and sets Cranelift up. The same thread also makes the
/// detections a component's first cache lookup (SHA-256's) and first store (the WASI context's
/// random generator, which the sandbox then replaces) would make on the run's thread; the
/// CPU-feature detections are kept process-wide.
pub fn ahead(features: EngineFeatures, cache_dir: Option<PathBuf>, likely: Option<String>, ready: impl FnOnce(wasmtime::Result<Ahead>)) {
    let engine = match engine_with(features) {
        Ok(e) => e,
        Err(e) => return ready(Err(e)),
    };
    let _ = crate::migrate::source::checksum_bytes(b"");
    drop(WasiCtxBuilder::new());
    let cache = Arc::new(Cache::new(cache_dir.clone(), &engine));
    let linkers = Arc::new(Linkers::default());
    let (tx, loaded) = sync_channel(1);
    let guess = likely.map(|sha| Likely { sha, loaded });
    let sha = guess.as_ref().map(|l| l.sha.clone());
    ready(Ok(Ahead { engine: engine.clone(), features, cache_dir, cache: Arc::clone(&cache), linkers: Arc::clone(&linkers), likely: guess }));
    if let Some(sha) = sha {
        // Its linker is built here too: the run finds it built (or waits for it, if it asks
        // for another component meanwhile).
        let _ = tx.send(cache.cached(&engine, &sha).map(|c| Loaded::resolved(&engine, &linkers, c)));
    }
}

impl Likely {
    /// `None` when the guess was another component; else the guess, taken: the component, or
    /// `None` when the cache did not hold it.
    pub(super) fn take(slot: &Mutex<Option<Likely>>, sha: &str) -> Option<Option<Loaded>> {
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref()?.sha != sha {
            return None;
        }
        Some(slot.take()?.loaded.recv().ok().flatten())
    }
}

/// The components a thread is loading for a run, in its order.
pub struct Prefetch {
    next: Mutex<Option<Receiver<(String, Option<Loaded>)>>>,
}

impl Prefetch {
    /// Starts loading the components whose SHA-256 are `checksums`, in that order, resolving
    /// their imports against `linkers`.
    pub(super) fn start(engine: Engine, cache: Arc<Cache>, linkers: Arc<Linkers>, checksums: Vec<String>) -> Self {
        // One waiting in the channel and one being loaded: two ahead at most.
        let (tx, rx) = sync_channel(1);
        let spawned = std::thread::Builder::new().name("db-migrate-prefetch".into()).spawn(move || {
            for sha in checksums {
                let component = cache.cached(&engine, &sha).map(|c| Loaded::resolved(&engine, &linkers, c));
                // The run ended or stopped taking them.
                if tx.send((sha, component)).is_err() {
                    return;
                }
            }
        });
        Prefetch { next: Mutex::new(spawned.ok().map(|_| rx)) }
    }

    /// The component of SHA-256 `sha`, when the thread found it in the cache. It must be the
    /// next in line: a run that asks out of order stops prefetching and loads on its own.
    pub(super) fn take(&self, sha: &str) -> Option<Loaded> {
        let mut next = self.next.lock().ok()?;
        match next.as_ref()?.recv() {
            Ok((s, component)) if s == sha => component,
            _ => {
                *next = None;
                None
            }
        }
    }
}
