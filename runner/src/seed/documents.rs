//! Seeds on MongoDB: `seeds/*.json`, in file-name order.
//!
//! Two shapes, both Extended JSON:
//! - documents by collection: `{ "users": [ {"_id": 1, "email": "a@example.com"} ], "plans": [...] }`,
//!   inserted collection by collection in the order written;
//! - a command file: `{ "up": [ {"insert": "users", "documents": [...]}, {"update": ...} ] }`, the
//!   commands run in order (as a `.mongo.json` migration's `up`).
//!
//! Each seed is recorded in the seed history collection (`db_migrate_seeds` unless configured)
//! as `{_id: name, kind: "json", checksum, rows, applied_at, execution_ms}`; one already run
//! with the same content is skipped unless `--force`. MongoDB has no transactional DDL: a seed
//! that fails part-way keeps what it wrote before the failure, and is not recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{SeedOptions, SeedReport, SeedRunReport, Seeder};
use crate::backend::documents::Documents;
use crate::backend::{self, Backend, DatabaseUrl, OpenMode};
use crate::migrate::commands::{self, CommandScript};
use crate::migrate::error::{Direction, Error, Result, SourceError};
use crate::migrate::events::{Event, SeedKind};
use crate::migrate::source::{self, Body, Migration};

/// What a JSON seed does.
#[derive(Debug, Clone)]
enum Work {
    /// Documents (Extended JSON text) to insert, by collection, in file order.
    Insert(Vec<(String, Vec<String>)>),
    /// Commands to run in order.
    Commands(CommandScript),
}

/// One `seeds/NAME.json`.
#[derive(Debug, Clone)]
struct JsonSeed {
    name: String,
    path: PathBuf,
    checksum: String,
    work: Work,
}

impl JsonSeed {
    fn as_migration(&self) -> Migration {
        let up = CommandScript { path: self.path.clone(), commands: Vec::new() };
        Migration { version: 0, name: self.name.clone(), path: self.path.clone(), body: Body::Commands { up, down: None }, checksum: self.checksum.clone() }
    }
}

fn parse(text: &str, path: &Path) -> std::result::Result<Work, SourceError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| SourceError::at(path, e.line().max(1), format!("not valid JSON: {e}")))?;
    let serde_json::Value::Object(top) = value else {
        return Err(SourceError::file(path, "a JSON seed is one object: `{\"collection\": [documents…]}` or `{\"up\": [commands…]}`"));
    };
    if top.contains_key("up") {
        return Ok(Work::Commands(commands::parse(text, path)?.0));
    }
    let mut out = Vec::new();
    for (collection, docs) in top {
        let serde_json::Value::Array(docs) = docs else {
            return Err(SourceError::file(path, format!("`{collection}` must be an array of documents")));
        };
        let mut texts = Vec::with_capacity(docs.len());
        for (i, d) in docs.into_iter().enumerate() {
            if !d.is_object() {
                return Err(SourceError::file(path, format!("`{collection}` element {} is not a document (a JSON object)", i + 1)));
            }
            texts.push(d.to_string());
        }
        out.push((collection, texts));
    }
    Ok(Work::Insert(out))
}

fn discover(dir: &Path) -> Result<(Vec<JsonSeed>, Vec<PathBuf>)> {
    let mut seeds = Vec::new();
    let mut others = Vec::new();
    if !dir.is_dir() {
        return Ok((seeds, others));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Config(format!("{}: cannot read the seeds folder: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for path in files {
        match path.extension().and_then(|x| x.to_str()) {
            Some("json") => {}
            Some("sql" | "wasm") => {
                others.push(path);
                continue;
            }
            _ => continue,
        }
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if !source::is_valid_name(&name) {
            problems.push(SourceError::file(&path, "a seed's name may only hold letters, digits, `_` and `-`"));
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::Config(format!("{}: cannot read the seed: {e}", path.display())))?;
        let text = match source::decode_sql(bytes, &path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        match parse(&text, &path) {
            Ok(work) => seeds.push(JsonSeed { name, checksum: source::checksum([text.as_str()]), path, work }),
            Err(e) => problems.push(e),
        }
    }
    match problems.len() {
        0 => Ok((seeds, others)),
        1 => Err(problems.pop().expect("one").into()),
        _ => Err(SourceError::Many(problems).into()),
    }
}

fn db_error(context: String, e: crate::backend::GuestSqlError) -> Error {
    Error::Database { context, source: crate::migrate::error::DbError { message: super::history::message(&e), code: None } }
}

/// Checksums of the seeds already run, by name.
async fn recorded<D: Documents>(b: &mut D, table: &str) -> Result<BTreeMap<String, String>> {
    let rows = b.find(table, "{}", &Default::default(), 1_000_000).await.map_err(|e| db_error("cannot read the seed history".into(), e))?;
    let mut out = BTreeMap::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r).unwrap_or_default();
        if let (Some(n), Some(c)) = (v["_id"].as_str(), v["checksum"].as_str()) {
            out.insert(n.to_string(), c.to_string());
        }
    }
    Ok(out)
}

async fn record<D: Documents>(b: &mut D, table: &str, s: &JsonSeed, rows: u64, ms: i64) -> Result<()> {
    let id = serde_json::json!({ "_id": s.name }).to_string();
    b.delete_many(table, &id).await.map_err(|e| db_error(format!("cannot record seed {}", s.name), e))?;
    let doc = serde_json::json!({
        "_id": s.name, "kind": SeedKind::Documents.as_str(), "checksum": s.checksum, "rows": rows,
        "applied_at": super::history::now(), "execution_ms": ms,
    });
    b.insert_many(table, vec![doc.to_string()]).await.map(drop).map_err(|e| db_error(format!("cannot record seed {}", s.name), e))
}

/// Runs one seed; rows written per collection.
async fn run_one<D: Documents>(b: &mut D, s: &JsonSeed) -> Result<BTreeMap<String, u64>> {
    let fail = |line: Option<usize>, message: String| Error::SeedFailed { seed: s.name.clone(), path: s.path.clone(), line, blame: None, message, committed: 0 };
    let mut rows = BTreeMap::new();
    match &s.work {
        Work::Insert(by_collection) => {
            for (collection, docs) in by_collection {
                if b.is_reserved(collection) {
                    return Err(fail(None, format!("`{collection}` is db-migrate's or the server's own collection; seeds may not write it")));
                }
                let n = b.insert_many(collection, docs.clone()).await.map_err(|e| fail(None, format!("inserting into `{collection}`: {}", super::history::message(&e))))?;
                *rows.entry(collection.clone()).or_insert(0) += n;
            }
        }
        Work::Commands(script) => {
            let docs = script.documents().map_err(|e| fail(None, e))?;
            if let Err((done, e)) = b.exec_commands(&docs).await {
                let c = &script.commands[done.min(script.commands.len().saturating_sub(1))];
                return Err(fail(Some(c.line), format!("command {} of {} (`{}`): {}", done + 1, script.commands.len(), c.name, e.message)));
            }
        }
    }
    Ok(rows)
}

/// `seed` against MongoDB.
pub(super) async fn run(seeder: &Seeder, url: &DatabaseUrl, opts: &SeedOptions, started: Instant) -> Result<SeedRunReport> {
    let (seeds, others) = discover(&seeder.dir)?;
    if let Some(p) = others.first() {
        return Err(Error::Config(format!(
            "{} is a SQL seed or a seed component, but the database is MongoDB; nothing was run. Seeds for MongoDB are seeds/*.json \
             (`{{\"collection\": [documents…]}}` or `{{\"up\": [commands…]}}`)",
            p.display()
        )));
    }
    if !seeder.packs.is_empty() {
        return Err(Error::Config("seed packs run on SQL databases; on MongoDB, seeds are seeds/*.json; nothing was run".into()));
    }
    for n in &opts.names {
        if !seeds.iter().any(|s| &s.name == n) {
            let known: Vec<&str> = seeds.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Config(format!("no seed named `{n}` (known: {}); seeds on MongoDB are seeds/*.json", if known.is_empty() { "none".into() } else { known.join(", ") })));
        }
    }
    let mut any = backend::connect(url, &seeder.history_table, OpenMode::ReadWrite).await?.expect("read-write connect always yields a backend");
    if let Err(e) = any.lock(seeder.lock_timeout, seeder.lock_mode).await {
        any.close().await;
        return Err(e);
    }
    let result = async {
        let b = any.documents().expect("the URL is MongoDB");
        let done = recorded(b, &seeder.seed_table).await?;
        let mut report = SeedRunReport::default();
        for s in seeds.iter().filter(|s| opts.names.is_empty() || opts.names.contains(&s.name)) {
            Error::check_interrupted(report.seeds.len())?;
            let m = s.as_migration();
            if done.get(&s.name) == Some(&s.checksum) && !opts.force {
                let why = "already run with the same content (--force runs it again)".to_string();
                seeder.emit(Event::SeedSkipped { seed: &m, reason: &why });
                report.skipped.push((s.name.clone(), why));
                continue;
            }
            seeder.emit(Event::Started { migration: &m, direction: Direction::Up });
            let t = Instant::now();
            let rows = run_one(b, s).await.map_err(|e| e.or_interrupted(report.seeds.len()))?;
            let took = t.elapsed();
            let total_rows: u64 = rows.values().sum();
            record(b, &seeder.seed_table, s, total_rows, took.as_millis() as i64).await?;
            let secs = took.as_secs_f64();
            let r = SeedReport {
                name: s.name.clone(),
                kind: SeedKind::Documents,
                rows,
                total_rows,
                duration_ms: secs * 1e3,
                rows_per_sec: if secs > 0.0 { (total_rows as f64 / secs).round() } else { 0.0 },
                reset: Vec::new(),
                commits: 0,
            };
            seeder.emit(Event::SeedFinished { seed: &m, report: &r });
            report.seeds.push(r);
        }
        Ok::<_, Error>(report)
    }
    .await;
    any.close().await;
    let mut report = result?;
    report.total_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_parse_and_keep_order() {
        let Work::Insert(by) = parse(r#"{"users": [{"_id": 1, "b": 2, "a": 1}], "plans": []}"#, Path::new("s.json")).unwrap() else { panic!() };
        assert_eq!(by.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["users", "plans"]);
        assert_eq!(by[0].1, [r#"{"_id":1,"b":2,"a":1}"#]);
        assert!(matches!(parse(r#"{"up": [{"insert": "u", "documents": [{}]}]}"#, Path::new("s.json")).unwrap(), Work::Commands(_)));
        let e = parse(r#"{"users": {"_id": 1}}"#, Path::new("s.json")).unwrap_err().to_string();
        assert!(e.contains("`users` must be an array"), "{e}");
        assert!(parse("[1]", Path::new("s.json")).is_err());
    }
}
