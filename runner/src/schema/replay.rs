//! `db-migrate test`: every migration's down must undo its up. On a shadow database, for each
//! migration in order: introspect, up, introspect, down, introspect and compare with the schema
//! before (must be equal), up again (must give the same schema as the first up).

use serde::Serialize;

use crate::backend::DatabaseUrl;
use crate::migrate::error::{Error, PlanError, Result};
use crate::migrate::plan::{DownTarget, UpOptions};
use crate::schema::compare::{Difference, compare};
use crate::schema::introspect::{Introspector, OwnTables};
use crate::schema::shadow::Shadow;
use crate::Migrator;

/// What is wrong with a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// It has no down: it cannot be reverted.
    Irreversible,
    /// Its up failed (on an empty history up to it): later migrations were not tested.
    UpFailed,
    /// Its down failed.
    DownFailed,
    /// Its down ran but left a different schema than before the up.
    NotRestored,
    /// Applying it again after its down failed.
    UpAgainFailed,
    /// Applying it again after its down gave a different schema than the first time.
    NotRepeatable,
}

/// One migration's finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// What is wrong.
    pub problem: Problem,
    /// In words (the database's error, where one failed).
    pub message: String,
    /// The schema differences (before the up vs after the down; first up vs second up).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

/// The result of `test`.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// The shadow database used.
    pub shadow: String,
    /// Versions tested, in order.
    pub tested: Vec<i64>,
    /// Findings, in migration order.
    pub findings: Vec<Finding>,
    /// Migrations without a down (not round-tripped; a finding too with `require_down`).
    pub irreversible: Vec<i64>,
}

/// Runs the round trip of every migration from `from` (all when None) on `shadow`. A migration
/// without a down is listed in `irreversible`, and is a finding only with `require_down`.
/// `make(url)` builds the runner for a database URL (the real [`Migrator`], configured like
/// `up`); `progress` hears one line per migration.
pub async fn test(
    shadow: &mut Shadow,
    make: &dyn Fn(&str) -> Migrator,
    own: &OwnTables,
    base: &std::path::Path,
    from: Option<i64>,
    require_down: bool,
    progress: &dyn Fn(&str),
) -> Result<TestReport> {
    let mut migrations = make(shadow.url()).migrations()?;
    migrations.sort_by_key(|m| m.version);
    let url = DatabaseUrl::parse(shadow.url(), base)?;
    let shadow_url = shadow.url().to_string();
    let up_to = |v: i64| {
        let shadow_url = &shadow_url;
        async move { make(shadow_url).up_with(UpOptions { to: Some(v), allow_out_of_order: true }).await.map(|_| ()) }
    };
    let mut reader = Introspector::new(own.clone());
    let mut known = None;
    let mut report = TestReport { shadow: shadow.describe(), tested: Vec::new(), findings: Vec::new(), irreversible: Vec::new() };
    if let Some(first) = from {
        if let Some(prev) = migrations.iter().filter(|m| m.version < first).map(|m| m.version).max() {
            up_to(prev).await?;
        }
    }
    for m in migrations.iter().filter(|m| from.is_none_or(|f| m.version >= f)) {
        let finding = |problem, message: String, differences| Finding { version: m.version, name: m.name.clone(), problem, message, differences };
        if let Some(signal) = crate::interrupt::requested() {
            return Err(Error::Interrupted { signal: signal.name(), completed: report.tested.len(), during: None });
        }
        report.tested.push(m.version);
        progress(&format!("testing {}", m.label()));
        // The schema after the previous migration's second up is this one's starting point.
        let before = match known.take() {
            Some(s) => s,
            None => reader.read(&url).await?,
        };
        match up_to(m.version).await {
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => {
                report.findings.push(finding(Problem::UpFailed, format!("{e:#}"), Vec::new()));
                break;
            }
            Ok(()) => {}
        }
        let after_up = reader.read(&url).await?;
        match make(&shadow_url).down(DownTarget::Steps(1)).await {
            Ok(_) => {}
            Err(Error::Plan(PlanError::Irreversible(_))) => {
                report.irreversible.push(m.version);
                if require_down {
                    report.findings.push(finding(Problem::Irreversible, format!("{} has no down: it cannot be reverted", m.label()), Vec::new()));
                }
                known = Some(after_up);
                continue;
            }
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => {
                report.findings.push(finding(Problem::DownFailed, format!("{e:#}"), Vec::new()));
                rebuild(shadow, &up_to, m.version).await?;
                continue;
            }
        }
        let after_down = reader.read(&url).await?;
        let diff = compare(&before, &after_down);
        if !diff.is_empty() {
            report.findings.push(finding(Problem::NotRestored, format!("the down of {} does not restore the schema it started from", m.label()), diff));
            rebuild(shadow, &up_to, m.version).await?;
            continue;
        }
        if let Err(e) = up_to(m.version).await {
            if matches!(e, Error::Interrupted { .. }) {
                return Err(e);
            }
            report.findings.push(finding(Problem::UpAgainFailed, format!("{e:#}"), Vec::new()));
            rebuild(shadow, &up_to, m.version).await?;
            continue;
        }
        let again = reader.read(&url).await?;
        let diff = compare(&after_up, &again);
        if !diff.is_empty() {
            report.findings.push(finding(Problem::NotRepeatable, format!("applying {} again after its down gives a different schema", m.label()), diff));
        }
        known = Some(again);
    }
    Ok(report)
}

/// After a finding leaves the shadow in an unknown state: a fresh shadow with every migration
/// up to `version` applied, so the next migrations are tested from the right starting point.
async fn rebuild<F, Fut>(shadow: &mut Shadow, up_to: &F, version: i64) -> Result<()>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    shadow.recreate().await?;
    up_to(version).await
}
