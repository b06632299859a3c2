//! Seeds on MongoDB: `seeds/*.json` and components of the `document-seed` world
//! (`seeds/*.wasm` and seed packs), in file-name order, packs last.
//!
//! Two shapes, both Extended JSON:
//! - documents by collection: `{ "users": [ {"_id": 1, "email": "a@example.com"} ], "plans": [...] }`,
//!   inserted collection by collection in the order written;
//! - a command file: `{ "up": [ {"insert": "users", "documents": [...]}, {"update": ...} ] }`, the
//!   commands run in order (as a `.mongo.json` migration's `up`).
//!
//! A component writes through the `documents` interface under its grants (collections) and
//! limits, as a MongoDB migration does.
//!
//! Each seed is recorded in the seed history collection (`db_migrate_seeds` unless configured)
//! as `{_id: name, kind, checksum, args, seed, rows, applied_at, execution_ms}`; one already run
//! with the same content (and, for a component, the same arguments and random seed) is skipped
//! unless `--force`. MongoDB has no transactional DDL: a seed that fails part-way keeps what it
//! wrote before the failure, and is not recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;

use super::source::SeedSource;
use super::{SeedOptions, SeedRecord, SeedReport, SeedRunReport, Seeder};
use crate::backend::documents::Documents;
use crate::backend::{self, AnyBackend, Backend, DatabaseUrl, OpenMode, Slot};
use crate::migrate::commands::{self, CommandScript};
use crate::migrate::error::{Blame, Direction, Error, Result, SourceError};
use crate::migrate::events::{Event, SeedKind};
use crate::migrate::source::{self, Body, Migration};
use crate::sandbox::{EngineFeatures, GuestContext, Sandbox};

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

/// The seed history on MongoDB: one document per seed, `_id` its name, the other fields those
/// of a SQL seed history row.
async fn recorded<D: Documents>(b: &mut D, table: &str) -> Result<BTreeMap<String, SeedRecord>> {
    let rows = b.find(table, "{}", &Default::default(), 1_000_000).await.map_err(|e| db_error("cannot read the seed history".into(), e))?;
    let mut out = BTreeMap::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r).unwrap_or_default();
        let int = |k: &str| v[k].as_i64().or_else(|| v[k]["$numberLong"].as_str().and_then(|n| n.parse().ok())).unwrap_or(0);
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        if let Some(name) = v["_id"].as_str() {
            out.insert(
                name.to_string(),
                SeedRecord {
                    name: name.to_string(),
                    kind: text("kind"),
                    checksum: text("checksum"),
                    args: if v["args"].is_string() { text("args") } else { "{}".into() },
                    seed: int("seed"),
                    rows: int("rows"),
                    applied_at: text("applied_at"),
                    execution_ms: int("execution_ms"),
                },
            );
        }
    }
    Ok(out)
}

/// The seed records on MongoDB, for `seed --list`; a missing collection reads as empty.
pub(super) async fn records(b: &mut AnyBackend, table: &str) -> Result<Vec<SeedRecord>> {
    match b.documents() {
        Some(d) => Ok(recorded(d, table).await?.into_values().collect()),
        None => Ok(Vec::new()),
    }
}

async fn record<D: Documents>(b: &mut D, table: &str, r: &SeedRecord) -> Result<()> {
    let id = serde_json::json!({ "_id": r.name }).to_string();
    b.delete_many(table, &id).await.map_err(|e| db_error(format!("cannot record seed {}", r.name), e))?;
    let doc = serde_json::json!({
        "_id": r.name, "kind": r.kind, "checksum": r.checksum, "args": r.args, "seed": r.seed, "rows": r.rows,
        "applied_at": r.applied_at, "execution_ms": r.execution_ms,
    });
    b.insert_many(table, vec![doc.to_string()]).await.map(drop).map_err(|e| db_error(format!("cannot record seed {}", r.name), e))
}

/// Whether a seed may not write `collection`: db-migrate's own (history, lock, seed history)
/// or the server's.
fn reserved<D: Documents>(b: &D, seed_table: &str, collection: &str) -> bool {
    b.is_reserved(collection) || collection == seed_table
}

/// Runs one JSON seed; rows written per collection.
async fn run_json<D: Documents>(b: &mut D, seed_table: &str, s: &JsonSeed) -> Result<BTreeMap<String, u64>> {
    let fail = |line: Option<usize>, message: String| Error::SeedFailed {
        seed: s.name.clone(),
        path: s.path.clone(),
        line,
        blame: None,
        message,
        committed: 0,
        keeps_writes: true,
        ddl_kept: None,
    };
    let mut rows = BTreeMap::new();
    match &s.work {
        Work::Insert(by_collection) => {
            for (collection, docs) in by_collection {
                if reserved(b, seed_table, collection) {
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

/// One seed of a MongoDB project, in run order: the `seeds/` folder's JSON files and
/// components by file name, then the configured packs.
enum Item {
    Json(JsonSeed),
    Component(SeedSource),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Json(j) => &j.name,
            Item::Component(c) => &c.name,
        }
    }
    fn path(&self) -> &Path {
        match self {
            Item::Json(j) => &j.path,
            Item::Component(c) => &c.path,
        }
    }
    fn kind(&self) -> SeedKind {
        match self {
            Item::Json(_) => SeedKind::Documents,
            Item::Component(c) => c.kind,
        }
    }
    fn checksum(&self) -> &str {
        match self {
            Item::Json(j) => &j.checksum,
            Item::Component(c) => &c.checksum,
        }
    }
    fn as_migration(&self) -> Migration {
        match self {
            Item::Json(j) => j.as_migration(),
            Item::Component(c) => c.as_migration(),
        }
    }
}

/// The seeds of a MongoDB project. A SQL seed is refused: MongoDB has no SQL.
fn discover_all(seeder: &Seeder) -> Result<Vec<Item>> {
    let (json, others) = discover(&seeder.dir)?;
    if let Some(p) = others.iter().find(|p| p.extension().and_then(|x| x.to_str()) == Some("sql")) {
        return Err(Error::Config(format!(
            "{} is a SQL seed, but the database is MongoDB; nothing was run. Seeds for MongoDB are seeds/*.json \
             (`{{\"collection\": [documents…]}}` or `{{\"up\": [commands…]}}`) and components of the `document-seed` world",
            p.display()
        )));
    }
    let mut project: Vec<Item> = json.into_iter().map(Item::Json).collect();
    let mut packs = Vec::new();
    for s in super::source::discover(&seeder.dir, &seeder.packs)? {
        match s.kind {
            SeedKind::Component => project.push(Item::Component(s)),
            SeedKind::Pack => packs.push(Item::Component(s)),
            SeedKind::Sql | SeedKind::Documents => {}
        }
    }
    project.sort_by(|a, b| a.path().cmp(b.path()));
    for pair in project.windows(2) {
        if pair[0].name() == pair[1].name() {
            return Err(Error::Config(format!(
                "two seeds are named `{}`: {} and {}; rename one",
                pair[0].name(),
                pair[0].path().display(),
                pair[1].path().display()
            )));
        }
    }
    if let Some(p) = packs.iter().find(|p| project.iter().any(|s| s.name() == p.name())) {
        return Err(Error::Config(format!("seed pack `{}` has the name of a seed in {}; rename one", p.name(), seeder.dir.display())));
    }
    project.extend(packs);
    Ok(project)
}

/// The seeds with their last runs, for `seed --list` on MongoDB. Creates nothing.
pub(super) async fn list(seeder: &Seeder, url: &DatabaseUrl) -> Result<Vec<super::SeedInfo>> {
    let items = discover_all(seeder)?;
    let records = match backend::connect(url, &seeder.history_table, OpenMode::ReadOnly).await? {
        Some(mut b) => {
            let r = records(&mut b, &seeder.seed_table).await;
            // Read-only and unlocked: nothing depends on how this connection ends.
            let _ = b.close().await;
            r?
        }
        None => Vec::new(),
    };
    Ok(items
        .into_iter()
        .map(|s| {
            let last = records.iter().find(|r| r.name == s.name()).cloned();
            let pack = match &s {
                Item::Component(c) => c.pack.map(|i| &seeder.packs[i]),
                Item::Json(_) => None,
            };
            super::SeedInfo {
                changed: last.as_ref().is_some_and(|r| r.checksum != s.checksum()),
                allowed_here: pack.is_none_or(|p| p.environments.contains(&seeder.context.environment)),
                name: s.name().to_string(),
                kind: s.kind(),
                file: s.path().display().to_string(),
                checksum: s.checksum().to_string(),
                tables: pack.map(|p| p.policy.grants.tables.iter().flatten().cloned().collect()),
                environments: pack.map(|p| p.environments.clone()),
                last_run: last,
            }
        })
        .collect())
}

/// The document capability of the connection in `slot` (always there: the URL is MongoDB's).
fn docs(slot: &mut Slot) -> Result<&mut (impl Documents + use<>)> {
    slot.get().documents().ok_or_else(|| Error::Config("the database is not MongoDB".into()))
}

/// `seed` against MongoDB.
pub(super) async fn run(seeder: &Seeder, url: &DatabaseUrl, opts: &SeedOptions, started: Instant) -> Result<SeedRunReport> {
    let items = discover_all(seeder)?;
    for n in &opts.names {
        if !items.iter().any(|s| s.name() == n) {
            let known: Vec<&str> = items.iter().map(Item::name).collect();
            return Err(Error::Config(format!(
                "no seed named `{n}` (known: {}); seeds on MongoDB are seeds/*.json, seeds/*.wasm (world `document-seed`) and [[seeds.pack]] sections",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )));
        }
    }
    let selected: Vec<&Item> = items.iter().filter(|s| opts.names.is_empty() || opts.names.iter().any(|n| n == s.name())).collect();
    for s in &selected {
        if let Item::Component(c) = s {
            if let Some(p) = c.pack.map(|i| &seeder.packs[i]) {
                if !opts.names.is_empty() && !p.environments.contains(&seeder.context.environment) {
                    return Err(Error::Config(format!(
                        "seed pack `{}` may run in {} (its `environments`), not in `{}`; nothing was run. \
                         Add `{}` to its environments in db-migrate.toml to allow it",
                        p.name,
                        p.environments.join(", "),
                        seeder.context.environment,
                        seeder.context.environment
                    )));
                }
            } else if opts.reset && !opts.names.is_empty() {
                return Err(Error::Config(format!(
                    "--reset empties the collections a seed pack declares; `{}` is not a pack, so it has none. Run it without --reset",
                    c.name
                )));
            }
        }
    }
    let mut any = backend::connect_writable(url, &seeder.history_table).await?;
    if let Err(e) = any.locks().lock(seeder.lock_timeout, seeder.lock_mode).await {
        seeder.close(any).await;
        return Err(e);
    }
    let mut slot = Slot::new(any);
    let mut sandbox: Option<Sandbox> = None;
    let result = async {
        let done = recorded(docs(&mut slot)?, &seeder.seed_table).await?;
        let mut report = SeedRunReport::default();
        for s in selected {
            Error::check_interrupted(report.seeds.len())?;
            let m = s.as_migration();
            let pack = match s {
                Item::Component(c) => c.pack.map(|i| &seeder.packs[i]),
                Item::Json(_) => None,
            };
            if let Some(p) = pack {
                if !p.environments.contains(&seeder.context.environment) {
                    let why = format!("may run in {} (its `environments`), not in `{}`", p.environments.join(", "), seeder.context.environment);
                    seeder.emit(Event::SeedSkipped { seed: &m, reason: &why });
                    report.skipped.push((s.name().to_string(), why));
                    continue;
                }
            }
            // A component is its content, arguments and random seed; a JSON seed its content.
            let mut args = match pack {
                Some(p) => p.args.clone(),
                None => seeder.context.args.clone(),
            };
            if matches!(s, Item::Component(_)) {
                args.extend(seeder.cli_args.iter().map(|(k, v)| (k.clone(), v.clone())));
            } else {
                args.clear();
            }
            let args_json = serde_json::to_string(&args).expect("a map of strings");
            let reset = opts.reset && pack.is_some();
            let same = done.get(s.name()).is_some_and(|r| {
                r.checksum == s.checksum() && (matches!(s, Item::Json(_)) || (r.args == args_json && r.seed == seeder.context.seed as i64))
            });
            if same && !opts.force && !reset {
                let why = match s {
                    Item::Json(_) => "already run with the same content (--force runs it again)",
                    Item::Component(_) => "already run with the same content, arguments and random seed (--force runs it again)",
                };
                seeder.emit(Event::SeedSkipped { seed: &m, reason: why });
                report.skipped.push((s.name().to_string(), why.to_string()));
                continue;
            }
            seeder.emit(Event::Started { migration: &m, direction: Direction::Up });
            let t = Instant::now();
            let mut reset_collections = Vec::new();
            let rows = match s {
                Item::Json(j) => run_json(docs(&mut slot)?, &seeder.seed_table, j).await,
                Item::Component(c) => {
                    let fail = |blame: Option<Blame>, message: String| Error::SeedFailed {
                        seed: c.name.clone(),
                        path: c.path.clone(),
                        line: None,
                        blame,
                        message,
                        committed: 0,
                        keeps_writes: true,
                        ddl_kept: None,
                    };
                    if let Some(p) = pack.filter(|_| reset) {
                        // MongoDB has no foreign keys: the pack's collections empty in any order.
                        let b = docs(&mut slot)?;
                        for coll in p.policy.grants.tables.iter().flatten() {
                            if reserved(b, &seeder.seed_table, coll) {
                                return Err(fail(None, format!("--reset will not empty `{coll}`: it is db-migrate's or the server's own collection")));
                            }
                            b.delete_many(coll, "{}").await.map_err(|e| fail(Some(Blame::Host), format!("--reset could not empty `{coll}`: {}", super::history::message(&e))))?;
                            reset_collections.push(coll.clone());
                        }
                    }
                    let policy = match pack {
                        Some(p) => &p.policy,
                        None => seeder.policies.get(&c.name, &c.name),
                    };
                    let needs = match pack {
                        Some(p) => EngineFeatures { epoch: p.policy.limits.timeout.is_some(), fuel: p.policy.limits.fuel.is_some() },
                        None => seeder.policies.features(),
                    };
                    // A seed whose limits the sandbox cannot enforce gets one that can.
                    let have = sandbox.as_ref().map(|sb| sb.features());
                    if !have.is_some_and(|h| h.covers(needs)) {
                        let features = have.map_or(needs, |h| h.union(needs));
                        sandbox = Some(Sandbox::new(seeder.cache_dir.clone(), features)?.history_table(&seeder.history_table).seed_table(&seeder.seed_table));
                    }
                    let sb = sandbox.as_ref().expect("created above");
                    let context = Arc::new(GuestContext { environment: seeder.context.environment.clone(), args: args.clone(), seed: seeder.context.seed });
                    let db = slot.lend();
                    let (back, r) = sb.run_seed(db, &m, context, seeder.observer.clone(), policy, false).await;
                    slot.give_back(back);
                    r.map(|o| o.rows).map_err(|f| fail(Some(f.blame), f.message))
                }
            }
            .map_err(|e| e.or_interrupted(report.seeds.len()))?;
            let took = t.elapsed();
            let total_rows: u64 = rows.values().sum();
            let r = SeedRecord {
                name: s.name().to_string(),
                kind: s.kind().as_str().to_string(),
                checksum: s.checksum().to_string(),
                args: args_json,
                seed: seeder.context.seed as i64,
                rows: total_rows as i64,
                applied_at: super::history::now(),
                execution_ms: took.as_millis() as i64,
            };
            record(docs(&mut slot)?, &seeder.seed_table, &r).await?;
            let secs = took.as_secs_f64();
            let r = SeedReport {
                name: s.name().to_string(),
                kind: s.kind(),
                rows,
                total_rows,
                duration_ms: secs * 1e3,
                rows_per_sec: if secs > 0.0 { (total_rows as f64 / secs).round() } else { 0.0 },
                reset: reset_collections,
                commits: 0,
            };
            seeder.emit(Event::SeedFinished { seed: &m, report: &r });
            report.seeds.push(r);
        }
        Ok::<_, Error>(report)
    }
    .await;
    let warning = seeder.close(slot.into_inner()).await;
    let mut report = result?;
    report.warnings.extend(warning);
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
