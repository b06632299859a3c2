//! `db-migrate drift`: the live schema against the schema its applied migrations produce,
//! replayed on a shadow database. Hand-made changes (an index a DBA added, a column type
//! changed, a table dropped) show as differences.

use serde::Serialize;

use crate::backend::DatabaseUrl;
use crate::migrate::error::Result;
use crate::migrate::plan::{State, UpOptions};
use crate::schema::compare::{Difference, compare};
use crate::schema::introspect::{OwnTables, introspect};
use crate::schema::shadow::Shadow;
use crate::Migrator;

/// The result of `drift`.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// The shadow database used.
    pub shadow: String,
    /// How many applied migrations were replayed.
    pub applied: usize,
    /// Applied migrations whose files are missing: they could not be replayed, so what they
    /// did shows as drift.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<i64>,
    /// What differs: `added` is in the live database only, `removed` in the migrations only.
    pub differences: Vec<Difference>,
}

/// Compares the live database at `live` with its applied migrations replayed on `shadow`.
pub async fn drift(live: &str, shadow: &Shadow, make: &dyn Fn(&str) -> Migrator, own: &OwnTables, base: &std::path::Path) -> Result<DriftReport> {
    let live_url = DatabaseUrl::parse(live, base)?;
    let entries = make(live).status().await?;
    let applied: Vec<i64> = entries.iter().filter(|e| matches!(e.state, State::Applied | State::Modified | State::Dirty)).map(|e| e.version).collect();
    let missing: Vec<i64> = entries.iter().filter(|e| e.state == State::Missing).map(|e| e.version).collect();
    if let Some(last) = applied.iter().max() {
        make(shadow.url()).up_with(UpOptions { to: Some(*last), allow_out_of_order: true }).await?;
    }
    let expected = introspect(&DatabaseUrl::parse(shadow.url(), base)?, own).await?;
    let actual = introspect(&live_url, own).await?;
    Ok(DriftReport { shadow: shadow.describe(), applied: applied.len(), missing, differences: compare(&expected, &actual) })
}
