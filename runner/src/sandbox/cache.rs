//! Compiled components, cached on disk.
//!
//! Compiling a component with Cranelift costs from milliseconds (a small Rust guest) to seconds
//! (a Python or JavaScript one). The result is kept under the project's `.db-migrate/cache/`,
//! keyed by the component's SHA-256 *and* the engine's configuration: a `.cwasm` only loads into
//! an engine compiled with the same settings, so a change of settings or of wasmtime simply
//! misses the cache instead of failing.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Deserialized from the cache.
    Cached,
    /// Compiled now (and stored, when a cache directory is set).
    Compiled,
}

/// The on-disk cache of compiled components.
pub struct Cache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl Cache {
    /// A cache in `dir` (`None`: compile every time) for components compiled by `engine`.
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        Cache { dir, engine_key: format!("{:016x}", h.finish()) }
    }

    fn file(&self, sha256: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{sha256}-{}.cwasm", self.engine_key)))
    }

    /// The cached component of SHA-256 `sha256`, if the cache holds a usable entry.
    pub fn cached(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let f = self.file(sha256).filter(|f| f.is_file())?;
        // SAFETY: the file is one this cache wrote for this engine configuration (the key is in
        // its name); wasmtime still checks its header and refuses a mismatched engine.
        unsafe { Component::deserialize_file(engine, &f) }.ok()
    }

    /// The component for `bytes` (whose SHA-256 is `sha256`): from the cache when it holds a
    /// usable entry, else compiled and stored.
    pub fn load(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> wasmtime::Result<(Component, Origin)> {
        let file = self.file(sha256);
        if let Some(c) = self.cached(engine, sha256) {
            return Ok((c, Origin::Cached));
        }
        let component = Component::new(engine, bytes)?;
        if let Some(f) = file {
            // A cache that cannot be written only costs time on the next run.
            let _ = store(&f, &component);
        }
        Ok((component, Origin::Compiled))
    }
}

fn store(file: &std::path::Path, component: &Component) -> anyhow::Result<()> {
    let dir = file.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}
