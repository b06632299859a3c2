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
    let mut held = Held::open(&url).await?;
    let result = round_trips(shadow, &mut held, &migrations, make, own, &url, &shadow_url, from, require_down, progress).await;
    held.close().await;
    result
}

/// The shadow database, held open across every step of `test`: one connection for all the
/// runs and introspections where the runner can work on a connection it is given (SQLite,
/// PostgreSQL). A connection per step cost more than the steps themselves: SQLite parses the
/// whole, growing schema on every open, and a server connection is a login.
enum Held {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
    /// Each step connects (MySQL/MariaDB, MongoDB), or the connection is being lent out.
    None,
}

impl Held {
    async fn open(url: &DatabaseUrl) -> Result<Held> {
        #[allow(unused_imports)]
        use sqlx::ConnectOptions;
        let held = match url {
            #[cfg(feature = "sqlite")]
            DatabaseUrl::Sqlite(crate::backend::url::SqliteTarget::File(path)) => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .busy_timeout(std::time::Duration::from_secs(60));
                let conn = opts.connect().await.map_err(|e| Error::Connect(format!("cannot open the shadow database {}: {}", path.display(), crate::migrate::error::DbError::from(e))))?;
                Held::Sqlite(conn)
            }
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(u) => {
                let redacted = crate::backend::url::redact(u);
                let opts = crate::backend::url::pg_options(u)
                    .map_err(|e| Error::Connect(format!("bad PostgreSQL URL `{redacted}`: {e}")))?
                    .application_name("db-migrate test");
                let conn = opts.connect().await.map_err(|e| Error::Connect(format!("cannot connect to the shadow database `{redacted}`: {}", crate::migrate::error::DbError::from(e))))?;
                Held::Postgres(conn)
            }
            _ => Held::None,
        };
        Ok(held)
    }

    async fn close(&mut self) {
        #[allow(unused_imports)]
        use sqlx::Connection;
        // A shadow database's connection, no lock held: how it ends matters to nothing.
        match std::mem::replace(self, Held::None) {
            #[cfg(feature = "sqlite")]
            Held::Sqlite(c) => drop(c.close().await),
            #[cfg(feature = "postgres")]
            Held::Postgres(c) => drop(c.close().await),
            Held::None => {}
        }
    }

    /// Applies the migrations up to `to` (`Some`) or reverts the newest (`None`).
    async fn run(&mut self, mut runner: Migrator, to: Option<i64>) -> Result<()> {
        let up = |v| UpOptions { to: Some(v), allow_out_of_order: true };
        let (back, r) = match std::mem::replace(self, Held::None) {
            #[cfg(feature = "sqlite")]
            Held::Sqlite(c) => {
                let (c, r) = match to {
                    Some(v) => runner.up_on_with(c, up(v)).await,
                    None => runner.down_on(c, DownTarget::Steps(1)).await,
                };
                (Held::Sqlite(c), r)
            }
            #[cfg(feature = "postgres")]
            Held::Postgres(c) => {
                let (c, r) = match to {
                    Some(v) => runner.up_on_with(c, up(v)).await,
                    None => runner.down_on(c, DownTarget::Steps(1)).await,
                };
                (Held::Postgres(c), r)
            }
            Held::None => {
                let r = match to {
                    Some(v) => runner.up_with(up(v)).await,
                    None => runner.down(DownTarget::Steps(1)).await,
                };
                (Held::None, r)
            }
        };
        *self = back;
        r.map(drop)
    }

    /// A digest of the schema that is equal exactly when the schemas are (SQLite: its stored
    /// `CREATE` texts); `None` where there is no cheap one, and the model is read every time.
    async fn digest(&mut self, own: &OwnTables) -> Result<Option<[u8; 32]>> {
        let _ = own;
        match self {
            #[cfg(feature = "sqlite")]
            Held::Sqlite(c) => crate::backend::sqlite_schema_digest(c, &|t| own.contains(t))
                .await
                .map(Some)
                .map_err(|e| Error::Database { context: "cannot read the shadow database's schema".into(), source: e }),
            _ => Ok(None),
        }
    }

    async fn read(&mut self, reader: &mut Introspector, url: &DatabaseUrl) -> Result<crate::schema::Schema> {
        match self {
            #[cfg(feature = "sqlite")]
            Held::Sqlite(c) => reader.read_sqlite(c).await,
            #[cfg(feature = "postgres")]
            Held::Postgres(c) => reader.read_postgres(c).await,
            Held::None => reader.read(url).await,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn round_trips(
    shadow: &mut Shadow,
    held: &mut Held,
    migrations: &[crate::migrate::source::Migration],
    make: &dyn Fn(&str) -> Migrator,
    own: &OwnTables,
    url: &DatabaseUrl,
    shadow_url: &str,
    from: Option<i64>,
    require_down: bool,
    progress: &dyn Fn(&str),
) -> Result<TestReport> {
    let mut reader = Introspector::new(own.clone());
    // The schema the shadow is in now: its model when it was read, and its digest. With a
    // digest (SQLite), a model is read only when two digests differ, to show the difference.
    let mut known: Option<crate::schema::Schema> = None;
    let mut known_digest: Option<[u8; 32]> = None;
    let mut report = TestReport { shadow: shadow.describe(), tested: Vec::new(), findings: Vec::new(), irreversible: Vec::new() };
    if let Some(first) = from {
        if let Some(prev) = migrations.iter().filter(|m| m.version < first).map(|m| m.version).max() {
            held.run(make(shadow_url), Some(prev)).await?;
        }
    }
    for m in migrations.iter().filter(|m| from.is_none_or(|f| m.version >= f)) {
        let finding = |problem, message: String, differences| Finding { version: m.version, name: m.name.clone(), problem, message, differences };
        if let Some(signal) = crate::interrupt::requested() {
            return Err(Error::Interrupted { signal: signal.name(), completed: report.tested.len(), during: None });
        }
        report.tested.push(m.version);
        progress(&format!("testing {}", m.label()));
        let previous = migrations.iter().filter(|p| p.version < m.version).map(|p| p.version).max();
        // The schema after the previous migration's second up is this one's starting point.
        let before_digest = match known_digest.take() {
            Some(d) => Some(d),
            None => held.digest(own).await?,
        };
        let before = match known.take() {
            Some(s) => Some(s),
            None if before_digest.is_none() => Some(held.read(&mut reader, url).await?),
            None => None,
        };
        match held.run(make(shadow_url), Some(m.version)).await {
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => {
                report.findings.push(finding(Problem::UpFailed, format!("{e:#}"), Vec::new()));
                break;
            }
            Ok(()) => {}
        }
        let after_up_digest = held.digest(own).await?;
        let after_up = match after_up_digest {
            Some(_) => None,
            None => Some(held.read(&mut reader, url).await?),
        };
        match held.run(make(shadow_url), None).await {
            Ok(_) => {}
            Err(Error::Plan(PlanError::Irreversible(_))) => {
                report.irreversible.push(m.version);
                if require_down {
                    report.findings.push(finding(Problem::Irreversible, format!("{} has no down: it cannot be reverted", m.label()), Vec::new()));
                }
                (known, known_digest) = (after_up, after_up_digest);
                continue;
            }
            Err(e @ Error::Interrupted { .. }) => return Err(e),
            Err(e) => {
                report.findings.push(finding(Problem::DownFailed, format!("{e:#}"), Vec::new()));
                rebuild(shadow, held, make, url, Some(m.version)).await?;
                continue;
            }
        }
        let after_down_digest = held.digest(own).await?;
        if before_digest.is_none() || after_down_digest != before_digest {
            let after_down = held.read(&mut reader, url).await?;
            let before = match before {
                Some(b) => b,
                // Only the digest was kept: the schema before the up again, from a fresh shadow
                // (which then is in that state, as the down should have left it).
                None => {
                    rebuild(shadow, held, make, url, previous).await?;
                    held.read(&mut reader, url).await?
                }
            };
            let diff = compare(&before, &after_down);
            if !diff.is_empty() {
                report.findings.push(finding(Problem::NotRestored, format!("the down of {} does not restore the schema it started from", m.label()), diff));
                rebuild(shadow, held, make, url, Some(m.version)).await?;
                continue;
            }
        }
        if let Err(e) = held.run(make(shadow_url), Some(m.version)).await {
            if matches!(e, Error::Interrupted { .. }) {
                return Err(e);
            }
            report.findings.push(finding(Problem::UpAgainFailed, format!("{e:#}"), Vec::new()));
            rebuild(shadow, held, make, url, Some(m.version)).await?;
            continue;
        }
        let again_digest = held.digest(own).await?;
        if again_digest.is_some() && again_digest == after_up_digest {
            known_digest = again_digest;
            continue;
        }
        let again = held.read(&mut reader, url).await?;
        let first = match after_up {
            Some(a) => a,
            // Only the digest was kept: the first up's schema again, from a fresh shadow with
            // every migration up to this one applied once (the shadow then stays in that state).
            None => {
                rebuild(shadow, held, make, url, Some(m.version)).await?;
                held.read(&mut reader, url).await?
            }
        };
        let diff = compare(&first, &again);
        if !diff.is_empty() {
            report.findings.push(finding(Problem::NotRepeatable, format!("applying {} again after its down gives a different schema", m.label()), diff));
        }
        if after_up_digest.is_none() {
            known = Some(again);
        }
    }
    Ok(report)
}

/// After a finding leaves the shadow in an unknown state: a fresh shadow with every migration
/// up to `version` applied (none when `None`), so the next migrations are tested from the right
/// starting point.
async fn rebuild(shadow: &mut Shadow, held: &mut Held, make: &dyn Fn(&str) -> Migrator, url: &DatabaseUrl, version: Option<i64>) -> Result<()> {
    // The shadow is dropped and made again: the connection to the old one goes first.
    held.close().await;
    shadow.recreate().await?;
    *held = Held::open(url).await?;
    match version {
        Some(v) => held.run(make(shadow.url()), Some(v)).await,
        None => Ok(()),
    }
}
