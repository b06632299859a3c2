//! `fleet status`: where every target stands — its version, what is pending, and whether it is
//! dirty (a migration started outside a transaction and never finished) or drifting (an
//! applied migration's file changed since: checksum mismatch). Reads only; creates nothing.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde::Serialize;

use super::rollout::target_settings;
use super::targets::{Plan, Target};
use crate::config::Settings;
use db_migrate::migrate::embedded::ReadOnce;
use db_migrate::migrate::plan::State;

/// One target's state.
#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    /// The target's name.
    pub target: String,
    /// The newest applied migration (None: nothing applied, or the database does not exist).
    pub version: Option<i64>,
    /// Migrations not applied yet.
    pub pending: usize,
    /// Versions recorded dirty.
    pub dirty: Vec<i64>,
    /// Versions applied whose files changed since (checksum mismatch).
    pub modified: Vec<i64>,
    /// Versions applied whose files are gone.
    pub missing: Vec<i64>,
    /// Why the target could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TargetState {
    /// Up to date, clean, no drift.
    pub fn current(&self, latest: Option<i64>) -> bool {
        self.error.is_none() && self.pending == 0 && self.dirty.is_empty() && self.modified.is_empty() && self.missing.is_empty() && self.version == latest
    }
}

/// Every target's state, and the counts.
#[derive(Debug, Serialize)]
pub struct Census {
    /// The newest migration in the project.
    pub latest: Option<i64>,
    /// Each target, in the fleet's order.
    pub targets: Vec<TargetState>,
    /// How many targets sit at each version (`null`: nothing applied), newest first.
    pub versions: Vec<VersionCount>,
    /// Targets with a dirty migration.
    pub dirty: Vec<String>,
    /// Targets with an applied migration whose file changed or is gone.
    pub drifting: Vec<String>,
    /// Targets that could not be read.
    pub unreachable: Vec<String>,
    /// Targets with everything applied, clean.
    pub up_to_date: usize,
}

/// A version and how many targets sit at it.
#[derive(Debug, Serialize)]
pub struct VersionCount {
    /// The version (None: nothing applied).
    pub version: Option<i64>,
    /// How many targets.
    pub targets: usize,
}

/// Reads every target, `parallel` at a time.
pub async fn take(base: &Settings, plan: &Plan, source: &ReadOnce, parallel: usize) -> Census {
    let latest = source.list().iter().map(|m| m.version).max();
    let mut targets: Vec<TargetState> = futures_util::stream::iter(plan.targets.iter())
        .map(|t| read(base, t, source))
        .buffered(parallel.max(1))
        .collect()
        .await;
    targets.shrink_to_fit();
    let mut by_version: BTreeMap<Option<i64>, usize> = BTreeMap::new();
    for t in targets.iter().filter(|t| t.error.is_none()) {
        *by_version.entry(t.version).or_default() += 1;
    }
    let versions = by_version.into_iter().rev().map(|(version, targets)| VersionCount { version, targets }).collect();
    Census {
        latest,
        dirty: targets.iter().filter(|t| !t.dirty.is_empty()).map(|t| t.target.clone()).collect(),
        drifting: targets.iter().filter(|t| !t.modified.is_empty() || !t.missing.is_empty()).map(|t| t.target.clone()).collect(),
        unreachable: targets.iter().filter(|t| t.error.is_some()).map(|t| t.target.clone()).collect(),
        up_to_date: targets.iter().filter(|t| t.current(latest)).count(),
        versions,
        targets,
    }
}

async fn read(base: &Settings, t: &Target, source: &ReadOnce) -> TargetState {
    let settings = target_settings(base, t);
    let mut s = TargetState { target: t.name.clone(), version: None, pending: 0, dirty: vec![], modified: vec![], missing: vec![], error: None };
    match crate::migrator_with(&settings, source.clone()).status().await {
        Ok(entries) => {
            for e in entries {
                match e.state {
                    State::Applied => s.version = s.version.max(Some(e.version)),
                    State::Pending => s.pending += 1,
                    State::Dirty => s.dirty.push(e.version),
                    State::Modified => {
                        s.modified.push(e.version);
                        s.version = s.version.max(Some(e.version));
                    }
                    State::Missing => {
                        s.missing.push(e.version);
                        s.version = s.version.max(Some(e.version));
                    }
                    _ => {}
                }
            }
        }
        Err(e) => s.error = Some(db_migrate::backend::url::redact(&e.to_string())),
    }
    s
}
