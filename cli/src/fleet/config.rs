//! `[fleets.NAME]` of `db-migrate.toml`: where a fleet's targets come from and how a rollout
//! proceeds, checked when the file is read (every problem of every fleet at once).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// One `[fleets.NAME]` section as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Target database URLs, listed.
    pub urls: Option<Vec<String>>,
    /// A file of URLs, one a line (`#` comments, blank lines ignored), relative to the project.
    pub urls_file: Option<PathBuf>,
    /// SQLite files matching a pattern (`*` and `?` within a path segment), relative to the project.
    pub sqlite_glob: Option<String>,
    /// A query against `control_url` whose first column is the targets' URLs.
    pub query: Option<String>,
    /// Schemas of one PostgreSQL database whose names match this `LIKE` pattern: each schema is
    /// a target with its own history table and lock.
    pub postgres_schemas: Option<String>,
    /// The PostgreSQL database holding the schemas (default: the environment's database URL).
    pub database_url: Option<String>,
    /// A PostgreSQL database holding the fleet's state (`db_migrate_fleet`): claims shared by
    /// several `fleet up` processes, and what `query` reads.
    pub control_url: Option<String>,
    /// The canary stage: the first N targets, or a list of targets by name.
    pub canary: Option<Canary>,
    /// Targets migrated at once (default 4).
    pub parallel: Option<usize>,
    /// Targets per wave after the canary stage (default: all the rest in one wave).
    pub wave_size: Option<usize>,
    /// Seconds a worker's claim on a target lives without a heartbeat (default 60).
    pub lease_secs: Option<f64>,
}

/// `canary = 2` or `canary = ["tenant_a", "tenant_b"]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Canary {
    /// The first N targets, in the source's order.
    First(usize),
    /// These targets, by the names `fleet status` shows.
    Named(Vec<String>),
}

/// Where a fleet's targets come from, validated.
#[derive(Debug, Clone)]
pub enum Source {
    /// `urls = [...]`.
    Urls(Vec<String>),
    /// `urls_file = "..."` (resolved against the project).
    UrlsFile(PathBuf),
    /// `sqlite_glob = "..."` (relative to the project).
    SqliteGlob(String),
    /// `query = "..."` against the control database.
    Query(String),
    /// `postgres_schemas = "tenant_%"` in `database` (None: the environment's database URL).
    PostgresSchemas { pattern: String, database: Option<String> },
}

/// A fleet, validated.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The section's name.
    pub name: String,
    /// Its targets' source.
    pub source: Source,
    /// The control database, if any.
    pub control_url: Option<String>,
    /// The canary stage.
    pub canary: Canary,
    /// Targets at once.
    pub parallel: usize,
    /// Targets per wave (None: the rest in one wave).
    pub wave_size: Option<usize>,
    /// Claim lifetime without a heartbeat.
    pub lease: std::time::Duration,
}

/// Most targets migrated at once: each holds a connection (and a SQLite worker thread).
pub const MAX_PARALLEL: usize = 256;

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Validates every `[fleets.NAME]`, expanding `${VAR}` in URLs; all problems at once.
pub fn validate(raw: &BTreeMap<String, FleetConfig>) -> Result<BTreeMap<String, Fleet>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = BTreeMap::new();
    for (name, c) in raw {
        let at = format!("[fleets.{name}]");
        if !db_migrate::migrate::source::is_valid_name(name) {
            problems.push(format!("{at}: a fleet name may only hold letters, digits, `_` and `-`"));
        }
        let mut expand = |what: &str, v: &str| match crate::config::expand_vars(v) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(format!("{at} {what}: {e}"));
                None
            }
        };
        let control_url = c.control_url.as_deref().and_then(|u| expand("control_url", u));
        let database = c.database_url.as_deref().and_then(|u| expand("database_url", u));
        let urls = c.urls.as_ref().map(|list| list.iter().filter_map(|u| expand("urls", u)).collect::<Vec<_>>());
        let given: Vec<&str> = [
            ("urls", c.urls.is_some()),
            ("urls_file", c.urls_file.is_some()),
            ("sqlite_glob", c.sqlite_glob.is_some()),
            ("query", c.query.is_some()),
            ("postgres_schemas", c.postgres_schemas.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect();
        let source = match given.as_slice() {
            [_] => {
                if let Some(u) = urls {
                    if u.is_empty() {
                        problems.push(format!("{at}: `urls` is empty: list at least one database URL"));
                    }
                    Some(Source::Urls(u))
                } else if let Some(f) = &c.urls_file {
                    Some(Source::UrlsFile(f.clone()))
                } else if let Some(g) = &c.sqlite_glob {
                    if g.trim().is_empty() || g.contains("**") {
                        problems.push(format!("{at}: `sqlite_glob` must be a path pattern such as \"tenants/*.sqlite3\" (`*` and `?` within one folder level; `**` is not supported)"));
                    }
                    Some(Source::SqliteGlob(g.clone()))
                } else if let Some(q) = &c.query {
                    if q.trim().is_empty() {
                        problems.push(format!("{at}: `query` is empty"));
                    }
                    if control_url.is_none() && c.control_url.is_none() {
                        problems.push(format!("{at}: `query` runs against `control_url`, which is not set"));
                    }
                    Some(Source::Query(q.clone()))
                } else if let Some(p) = &c.postgres_schemas {
                    if p.trim().is_empty() {
                        problems.push(format!("{at}: `postgres_schemas` is empty: give a LIKE pattern such as \"tenant_%\""));
                    }
                    if let Some(d) = &database
                        && !is_postgres(d)
                    {
                        problems.push(format!("{at}: `postgres_schemas` needs a PostgreSQL `database_url`, not `{}`", db_migrate::backend::url::redact(d)));
                    }
                    Some(Source::PostgresSchemas { pattern: p.clone(), database: database.clone() })
                } else {
                    None
                }
            }
            [] => {
                problems.push(format!("{at}: no targets: set one of `urls`, `urls_file`, `sqlite_glob`, `query` or `postgres_schemas`"));
                None
            }
            many => {
                problems.push(format!("{at}: set one source of targets, not {}", many.join(" and ")));
                None
            }
        };
        if c.database_url.is_some() && c.postgres_schemas.is_none() {
            problems.push(format!("{at}: `database_url` is only for `postgres_schemas` (the database holding the schemas)"));
        }
        if let Some(u) = &control_url
            && !is_postgres(u)
        {
            problems.push(format!("{at}: `control_url` must be a PostgreSQL URL (it holds the claim table), not `{}`", db_migrate::backend::url::redact(u)));
        }
        let parallel = c.parallel.unwrap_or(4);
        if parallel == 0 || parallel > MAX_PARALLEL {
            problems.push(format!("{at}: `parallel` must be between 1 and {MAX_PARALLEL}, not {parallel}"));
        }
        if c.wave_size == Some(0) {
            problems.push(format!("{at}: `wave_size` must be at least 1"));
        }
        if let Some(Canary::Named(list)) = &c.canary
            && list.iter().any(|n| n.trim().is_empty())
        {
            problems.push(format!("{at}: `canary` names an empty target"));
        }
        let lease_secs = c.lease_secs.unwrap_or(60.0);
        let lease = std::time::Duration::try_from_secs_f64(lease_secs).ok().filter(|_| (1.0..=86_400.0).contains(&lease_secs));
        if lease.is_none() {
            problems.push(format!("{at}: `lease_secs` must be between 1 and 86400 seconds, not {lease_secs}"));
        }
        if let (Some(source), Some(lease)) = (source, lease) {
            out.insert(
                name.clone(),
                Fleet {
                    name: name.clone(),
                    source,
                    control_url,
                    canary: c.canary.clone().unwrap_or(Canary::First(0)),
                    parallel: parallel.clamp(1, MAX_PARALLEL),
                    wave_size: c.wave_size,
                    lease,
                },
            );
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BTreeMap<String, Fleet>, Vec<String>> {
        #[derive(Deserialize)]
        struct F {
            fleets: BTreeMap<String, FleetConfig>,
        }
        validate(&toml::from_str::<F>(text).unwrap().fleets)
    }

    #[test]
    fn one_source_each() {
        let e = parse("[fleets.a]\nurls = [\"sqlite:a\"]\nsqlite_glob = \"t/*.db\"\n[fleets.b]\nparallel = 0\n").unwrap_err();
        assert!(e.iter().any(|p| p.contains("[fleets.a]: set one source of targets, not urls and sqlite_glob")), "{e:?}");
        assert!(e.iter().any(|p| p.contains("[fleets.b]: no targets")), "{e:?}");
        assert!(e.iter().any(|p| p.contains("[fleets.b]: `parallel` must be between 1")), "{e:?}");
    }

    #[test]
    fn query_needs_a_postgres_control_database() {
        let e = parse("[fleets.q]\nquery = \"SELECT url FROM tenants\"\n").unwrap_err();
        assert!(e.iter().any(|p| p.contains("`control_url`, which is not set")), "{e:?}");
        let e = parse("[fleets.q]\nquery = \"SELECT 1\"\ncontrol_url = \"mysql://root:secret@h/db\"\n").unwrap_err();
        assert!(e.iter().any(|p| p.contains("must be a PostgreSQL URL")), "{e:?}");
        assert!(!e.iter().any(|p| p.contains("secret")), "{e:?}");
    }

    #[test]
    fn canary_is_a_number_or_names() {
        let f = parse("[fleets.a]\nsqlite_glob = \"t/*.db\"\ncanary = [\"t/x.db\"]\nwave_size = 10\nparallel = 8\n").unwrap();
        assert_eq!(f["a"].canary, Canary::Named(vec!["t/x.db".into()]));
        assert_eq!((f["a"].parallel, f["a"].wave_size), (8, Some(10)));
        let f = parse("[fleets.a]\nsqlite_glob = \"t/*.db\"\ncanary = 3\n").unwrap();
        assert_eq!(f["a"].canary, Canary::First(3));
    }
}
