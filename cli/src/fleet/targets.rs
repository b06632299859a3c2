//! A fleet's targets, resolved from its source: URLs, a file of URLs, a glob of SQLite files, a
//! query's rows, or the schemas of one PostgreSQL database.
//!
//! Every target has a name that is safe to print and to store (the state file, the claim
//! table): a URL's password is masked, a SQLite file is named by its path in the project, a
//! schema by its name. The URL itself stays in memory only.

use std::path::{Path, PathBuf};

use sqlx::{Connection, Row};

use super::config::{Canary, Fleet, Source};
use crate::config::Settings;
use db_migrate::backend::url::redact;
use db_migrate::migrate::error::Error;

/// One database (or schema) of a fleet.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name shown and stored: never holds a secret.
    pub name: String,
    /// Where to connect (may hold a password: never print it).
    pub url: String,
    /// Schema-per-tenant: the schema, whose own history table and lock this target uses.
    pub schema: Option<String>,
}

/// The targets in order, and which stage each belongs to (0: the canary stage, then waves 1…).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Targets, in the source's order.
    pub targets: Vec<Target>,
    /// The stage of each target.
    pub stage: Vec<u32>,
}

/// Resolves the fleet's targets and stages them.
pub async fn resolve(fleet: &Fleet, settings: &Settings, canary_override: Option<&Canary>, wave_override: Option<usize>) -> Result<Plan, Error> {
    let targets = list(fleet, settings).await?;
    let mut seen = std::collections::HashSet::new();
    for t in &targets {
        if !seen.insert(t.name.as_str()) {
            return Err(Error::Config(format!("fleet `{}` lists the target {} twice", fleet.name, t.name)));
        }
    }
    let canary = canary_override.unwrap_or(&fleet.canary);
    let mut stage = vec![1u32; targets.len()];
    match canary {
        Canary::First(n) => stage.iter_mut().take(*n).for_each(|s| *s = 0),
        Canary::Named(names) => {
            for n in names {
                let Some(i) = targets.iter().position(|t| &t.name == n) else {
                    let some: Vec<&str> = targets.iter().take(3).map(|t| t.name.as_str()).collect();
                    return Err(Error::Config(format!(
                        "[fleets.{}] canary names `{n}`, which is not one of its {} targets (they are named like {})",
                        fleet.name,
                        targets.len(),
                        some.join(", ")
                    )));
                };
                stage[i] = 0;
            }
        }
    }
    if let Some(size) = wave_override.or(fleet.wave_size) {
        let mut k = 0usize;
        for s in stage.iter_mut().filter(|s| **s != 0) {
            *s = 1 + (k / size.max(1)) as u32;
            k += 1;
        }
    }
    Ok(Plan { targets, stage })
}

async fn list(fleet: &Fleet, settings: &Settings) -> Result<Vec<Target>, Error> {
    let at = format!("[fleets.{}]", fleet.name);
    match &fleet.source {
        Source::Urls(urls) => urls.iter().map(|u| url_target(u, settings)).collect(),
        Source::UrlsFile(file) => {
            let path = under(&settings.project_dir, file);
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Config(format!("{at} urls_file {}: {e}", path.display())))?;
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let url = crate::config::expand_vars(line).map_err(|e| Error::Config(format!("{}:{}: {e}", path.display(), i + 1)))?;
                out.push(url_target(&url, settings).map_err(|e| Error::Config(format!("{}:{}: {e}", path.display(), i + 1)))?);
            }
            Ok(out)
        }
        Source::SqliteGlob(pattern) => {
            let files = glob(&settings.project_dir, pattern).map_err(|e| Error::Config(format!("{at} sqlite_glob `{pattern}`: {e}")))?;
            Ok(files
                .into_iter()
                .map(|rel| {
                    let shown = rel.display().to_string();
                    Target { url: format!("sqlite:{shown}"), name: shown, schema: None }
                })
                .collect())
        }
        Source::Query(sql) => {
            let control = fleet.control_url.as_deref().ok_or_else(|| Error::Config(format!("{at} query needs control_url")))?;
            let urls = query_column(control, sql).await.map_err(|e| Error::Config(format!("{at} query: {e}")))?;
            urls.iter().map(|u| url_target(u, settings)).collect()
        }
        Source::PostgresSchemas { pattern, database } => {
            let db = database.clone().unwrap_or_else(|| settings.database_url.clone());
            if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
                return Err(Error::Config(format!(
                    "{at} postgres_schemas needs a PostgreSQL database: set `database_url` in the section (the environment's is `{}`)",
                    redact(&db)
                )));
            }
            if settings.history_table.contains('.') {
                return Err(Error::Config(format!(
                    "{at} postgres_schemas keeps a history table in each schema: history_table `{}` must be a plain table name",
                    settings.history_table
                )));
            }
            let schemas = schemas(&db, pattern).await?;
            schemas.into_iter().map(|s| schema_target(&db, s)).collect()
        }
    }
}

fn under(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
}

fn url_target(url: &str, settings: &Settings) -> Result<Target, Error> {
    // Parsed now so a bad URL is reported before anything runs.
    db_migrate::backend::DatabaseUrl::parse(url, &settings.project_dir)?;
    Ok(Target { name: redact(url), url: url.to_string(), schema: None })
}

/// A schema of `db` as a target: the connection's `search_path` is exactly that schema (sent as
/// a connection option, so nothing in the database can change what it resolves to before the
/// first statement), and the history table is qualified with it.
fn schema_target(db: &str, schema: String) -> Result<Target, Error> {
    let plain = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return Err(Error::Config(format!(
            "schema `{}` matches the fleet's pattern but is not a plain identifier (letters, digits, `_`): rename it or narrow the pattern",
            schema.escape_debug()
        )));
    }
    let mut url = url::Url::parse(db).map_err(|e| Error::Config(format!("bad PostgreSQL URL `{}`: {e}", redact(db))))?;
    url.query_pairs_mut().append_pair("options[search_path]", &format!("\"{schema}\""));
    Ok(Target { name: schema.clone(), url: url.to_string(), schema: Some(schema) })
}

/// The schemas of `db` whose names match `pattern` (SQL `LIKE`), sorted.
async fn schemas(db: &str, pattern: &str) -> Result<Vec<String>, Error> {
    let mut c = sqlx::PgConnection::connect(db).await.map_err(|e| Error::Connect(format!("cannot connect to `{}` to list its schemas: {}", redact(db), redact(&e.to_string()))))?;
    let rows = sqlx::query("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1 ORDER BY nspname")
        .bind(pattern)
        .fetch_all(&mut c)
        .await
        .map_err(|e| Error::Connect(format!("cannot list the schemas of `{}`: {e}", redact(db))))?;
    let _ = c.close().await;
    Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
}

/// The first column of `sql`'s rows, as text, run read-only on the PostgreSQL database `control`.
async fn query_column(control: &str, sql: &str) -> Result<Vec<String>, String> {
    let mut c = sqlx::PgConnection::connect(control).await.map_err(|e| format!("cannot connect to `{}`: {}", redact(control), redact(&e.to_string())))?;
    let mut tx = c.begin().await.map_err(|e| e.to_string())?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await.map_err(|e| e.to_string())?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut *tx).await.map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let v: Option<String> = r.try_get(0).map_err(|e| format!("row {}: the first column must be text (a database URL): {e}", i + 1))?;
        out.push(v.ok_or_else(|| format!("row {}: the URL is NULL", i + 1))?);
    }
    let _ = tx.rollback().await;
    Ok(out)
}

/// Files under `base` matching `pattern`: `/`-separated segments, `*` and `?` within a segment.
/// Returned relative to `base` (as written in the pattern), sorted.
pub fn glob(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let absolute = pattern.starts_with('/');
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let mut found = Vec::new();
    let root = if absolute { PathBuf::from("/") } else { PathBuf::new() };
    walk(base, root, &segments, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(base: &Path, rel: PathBuf, rest: &[&str], out: &mut Vec<PathBuf>) -> Result<(), String> {
    let Some((seg, more)) = rest.split_first() else {
        if base.join(&rel).is_file() {
            out.push(rel);
        }
        return Ok(());
    };
    if !seg.contains(['*', '?']) {
        return walk(base, rel.join(seg), more, out);
    }
    let dir = base.join(&rel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && !seg.starts_with('.') {
            continue;
        }
        if matches(seg.as_bytes(), name.as_bytes()) {
            walk(base, rel.join(name), more, out)?;
        }
    }
    Ok(())
}

/// `*` any run of bytes, `?` one byte, anything else itself.
fn matches(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => matches(&p[1..], s) || (!s.is_empty() && matches(p, &s[1..])),
        (Some(b'?'), Some(_)) => matches(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_within_segments() {
        let d = tempfile::tempdir().unwrap();
        for f in ["t/a.sqlite3", "t/b.sqlite3", "t/c.db", "t/sub/d.sqlite3", "u/e.sqlite3"] {
            std::fs::create_dir_all(d.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let got = glob(d.path(), "t/*.sqlite3").unwrap();
        assert_eq!(got, vec![PathBuf::from("t/a.sqlite3"), PathBuf::from("t/b.sqlite3")]);
        assert_eq!(glob(d.path(), "*/?.sqlite3").unwrap().len(), 3);
        assert!(glob(d.path(), "missing/*.db").unwrap().is_empty());
    }

    #[test]
    fn schema_targets_quote_the_search_path_and_hide_the_password() {
        let t = schema_target("postgres://u:secret@h/db", "tenant_1".into()).unwrap();
        assert_eq!(t.name, "tenant_1");
        assert!(t.url.contains("options%5Bsearch_path%5D=%22tenant_1%22"), "{}", t.url);
        assert!(schema_target("postgres://h/db", "a\"; drop".into()).unwrap_err().to_string().contains("not a plain identifier"));
    }
}
