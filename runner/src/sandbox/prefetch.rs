//! Loading a run's next components ahead, on a thread of their own.
//!
//! A component taken from the compiled cache is deserialized before it runs (its types
//! registered, its code mapped): about 0.15 ms for a small Rust guest, a third of what a
//! component migration costs beyond its own SQL. The run's components are known before the
//! first one runs, so a thread loads them in the run's order, at most two ahead, while the
//! current one runs. It makes the same lookup the run's thread would (only authentic cache
//! entries, see [`super::cache`]); a miss is compiled on the run's thread as before. Nothing of
//! a guest runs on this thread.

use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache::Cache;

/// The components a thread is loading for a run, in its order.
pub struct Prefetch {
    next: Mutex<Option<Receiver<(String, Option<Component>)>>>,
}

impl Prefetch {
    /// Starts loading the components whose SHA-256 are `checksums`, in that order.
    pub fn start(engine: Engine, cache: Arc<Cache>, checksums: Vec<String>) -> Self {
        // One waiting in the channel and one being loaded: two ahead at most.
        let (tx, rx) = sync_channel(1);
        let spawned = std::thread::Builder::new().name("db-migrate-prefetch".into()).spawn(move || {
            for sha in checksums {
                let component = cache.cached(&engine, &sha);
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
    pub fn take(&self, sha: &str) -> Option<Component> {
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
