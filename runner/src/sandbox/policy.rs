//! What one component is allowed: grants, limits, a pinned checksum, a read-only data folder.

use std::path::PathBuf;

#[cfg(feature = "components")]
use wasmtime::ResourceLimiter;

use super::Limits;
use super::grants::Grants;

/// The policy of one component (from `[components.NAME]`, or the defaults).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Statement classes and tables.
    pub grants: Grants,
    /// The granted tables as written, for MongoDB: its collection names are case-sensitive
    /// (`People` is not `people`), while `grants.tables` is folded to lower case for SQL. `None`:
    /// `grants.tables` is used, compared exactly.
    pub collections: Option<std::collections::BTreeSet<String>>,
    /// Limits.
    pub limits: Limits,
    /// The SHA-256 the component must have; a mismatch refuses to run it.
    pub sha256: Option<String>,
    /// A host folder the guest may read (not write) at `/data`.
    pub data_dir: Option<PathBuf>,
}

/// The policies of a run: one per configured component, and the default for the rest.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// For components without a section of their own.
    pub default: Policy,
    /// By migration label (`VERSION_name`) or name.
    pub by_name: std::collections::BTreeMap<String, Policy>,
}

impl Policies {
    /// The policy of the migration `label` (`VERSION_name`) called `name`.
    pub fn get(&self, label: &str, name: &str) -> &Policy {
        self.by_name.get(label).or_else(|| self.by_name.get(name)).unwrap_or(&self.default)
    }

    /// What the engine must support for these policies.
    pub fn features(&self) -> super::EngineFeatures {
        let all = || std::iter::once(&self.default).chain(self.by_name.values());
        super::EngineFeatures { epoch: all().any(|p| p.limits.timeout.is_some()), fuel: all().any(|p| p.limits.fuel.is_some()) }
    }
}

/// A memory limiter that remembers when it said no, so the failure can be reported as what it
/// is ("memory cap exceeded") rather than as whatever the guest's allocator did next.
pub struct MemoryLimiter {
    cap: usize,
    /// The largest size a denied request asked for.
    pub denied: Option<usize>,
}

impl MemoryLimiter {
    /// A limiter allowing `cap` bytes of linear memory per memory.
    pub fn new(cap: usize) -> Self {
        MemoryLimiter { cap, denied: None }
    }

    /// The cap, in MiB, for messages.
    pub fn cap_mib(&self) -> usize {
        self.cap >> 20
    }
}

#[cfg(feature = "components")]
impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.denied = Some(self.denied.map_or(desired, |d| d.max(desired)));
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far beyond any real guest.
        Ok(desired <= 1_000_000)
    }
}
