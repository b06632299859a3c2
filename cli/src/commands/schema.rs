//! `schema dump`, `test` and `drift`: what the migrations make of the schema, and whether the
//! live database still matches it. Also the `schema_file` and `drift_check` hooks of `up`,
//! `down`, `redo` and `status --check`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};

use crate::Output;
use db_migrate::backend::DatabaseUrl;
use crate::config::Settings;
use db_migrate::migrate::error::{Error, Result};
use db_migrate::migrate::embedded::{DirectorySource, ReadOnce};
use db_migrate::schema::{OwnTables, Schema, Shadow, introspect, render};

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Print the database's schema as canonical DDL (or JSON): the same schema always gives the same bytes.
    Dump(DumpArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Sql,
    Json,
}

/// Where replayed migrations run: a temporary database, or the one given.
#[derive(Debug, Args, Clone, Default)]
pub struct ShadowArgs {
    /// A disposable database to replay migrations on (emptied before and after), instead of a
    /// temporary one db-migrate creates and drops (default: `shadow_database_url` of db-migrate.toml).
    #[arg(long, value_name = "URL", hide_env_values = true)]
    shadow_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// `sql`: DDL that recreates the schema; `json`: the schema model.
    #[arg(long, value_enum, default_value = "sql")]
    format: Format,
    /// The schema the migrations produce, replayed on a shadow database, instead of the live one.
    #[arg(long)]
    from_migrations: bool,
    /// Print how long introspection took (on stderr).
    #[arg(long)]
    timing: bool,
    #[command(flatten)]
    shadow: ShadowArgs,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Start at this version (the migrations before it are applied without testing).
    #[arg(long, value_name = "VERSION")]
    from: Option<i64>,
    /// A migration without a down is a finding (by default it is listed, and only its up is run).
    #[arg(long)]
    pub(crate) require_down: bool,
    #[command(flatten)]
    shadow: ShadowArgs,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    shadow: ShadowArgs,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

impl SchemaArgs {
    pub fn db(&self) -> &crate::DbArgs {
        match &self.command {
            SchemaCommand::Dump(a) => &a.db,
        }
    }
}

pub(super) fn own(settings: &Settings) -> OwnTables {
    OwnTables { history: settings.history_table.clone(), seeds: settings.seed_table.clone() }
}

fn live(settings: &Settings) -> Result<DatabaseUrl> {
    DatabaseUrl::parse(&settings.database_url, &settings.project_dir)
}

/// The runner for another database (a shadow), configured like `up`.
///
/// The migration folder is read once, on the first call, and that reading serves every later
/// runner: `test` builds three runners per migration, and reading and checksumming the whole
/// folder each time made it quadratic. A folder that cannot be read is read again by each runner,
/// which reports the error where it always did.
pub(super) fn runner_for(settings: &Settings) -> impl Fn(&str) -> db_migrate::Migrator + '_ {
    let once: std::sync::OnceLock<Option<ReadOnce>> = std::sync::OnceLock::new();
    move |url: &str| {
        let mut s = settings.clone();
        s.database_url = url.to_string();
        let read = once.get_or_init(|| {
            let memo = db_migrate::migrate::memo::ChecksumMemo::open(Some(&settings.cache_dir));
            let r = ReadOnce::read(&DirectorySource::new(&settings.migrations_dir).format(settings.migrations_format), &memo).ok();
            memo.save();
            r
        });
        match read {
            Some(r) => crate::migrator_with(&s, r.clone()),
            None => crate::migrator(&s),
        }
    }
}

async fn new_shadow(settings: &Settings, flag: &ShadowArgs, out: &Output) -> Result<Shadow> {
    let given = flag.shadow_url.clone().or_else(|| settings.schema.shadow_database_url.clone());
    let shadow = Shadow::create(&live(settings)?, given.as_deref(), &settings.project_dir, &settings.history_table).await?;
    out.verbose(&format!("shadow database: {}", shadow.describe()));
    Ok(shadow)
}

/// Runs `work` on a new shadow database and disposes of it on every path.
pub(super) async fn with_shadow<T>(settings: &Settings, flag: &ShadowArgs, out: &Output, work: impl AsyncFnOnce(&mut Shadow) -> Result<T>) -> Result<T> {
    let mut shadow = new_shadow(settings, flag, out).await?;
    let result = work(&mut shadow).await;
    let name = shadow.describe();
    if let Err(e) = shadow.dispose().await {
        out.note(&format!("warning: {e}"));
    } else {
        out.verbose(&format!("shadow database {name} dropped"));
    }
    result
}

/// The schema the migration directory produces, replayed on a shadow database.
async fn from_migrations(settings: &Settings, flag: &ShadowArgs, out: &Output) -> Result<Schema> {
    let own = own(settings);
    with_shadow(settings, flag, out, async |shadow: &mut Shadow| {
        runner_for(settings)(shadow.url()).up().await?;
        introspect(&DatabaseUrl::parse(shadow.url(), &settings.project_dir)?, &own).await
    })
    .await
}

pub async fn schema(settings: &Settings, args: SchemaArgs, out: &Output) -> Result<ExitCode> {
    match args.command {
        SchemaCommand::Dump(a) => dump(settings, a, out).await,
    }
}

async fn dump(settings: &Settings, args: DumpArgs, out: &Output) -> Result<ExitCode> {
    let started = Instant::now();
    let (schema, read) = if args.from_migrations {
        let s = from_migrations(settings, &args.shadow, out).await?;
        (s, started.elapsed())
    } else {
        db_migrate::schema::introspect::introspect_timed(&live(settings)?, &own(settings)).await?
    };
    if args.timing {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        eprintln!(
            "introspected {} table(s) in {:.1} ms ({:.1} ms reading the catalog once connected)",
            schema.tables.len() + schema.collections.len(),
            ms(started.elapsed()),
            ms(read)
        );
    }
    let json = out.json || args.format == Format::Json;
    let text = if json { format!("{}\n", serde_json::to_string_pretty(&schema).unwrap_or_default()) } else { render(&schema) };
    match &args.out {
        Some(file) => {
            let file = if file.is_absolute() { file.clone() } else { settings.project_dir.join(file) };
            std::fs::write(&file, &text).map_err(|e| Error::Io { path: file.clone(), message: format!("cannot write the schema: {e}") })?;
            out.line(&format!("wrote the schema ({} table(s)) to {}", schema.tables.len(), file.display()));
            out.json(&serde_json::json!({ "file": file.display().to_string(), "tables": schema.tables.len() }));
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn test(settings: &Settings, args: TestArgs, out: &Output) -> Result<ExitCode> {
    let report = test_report(settings, &args, out).await?;
    print_test(&report, args.require_down, out);
    out.json(&serde_json::to_value(&report).unwrap_or_default());
    Ok(if report.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What `test` finds, on a shadow database of the kind `settings` points at (`fleet test` runs
/// it once per kind of database in a fleet).
pub async fn test_report(settings: &Settings, args: &TestArgs, out: &Output) -> Result<db_migrate::schema::replay::TestReport> {
    let own = own(settings);
    let make = runner_for(settings);
    let progress = |s: &str| out.verbose(s);
    with_shadow(settings, &args.shadow, out, async |shadow: &mut Shadow| {
        db_migrate::schema::replay::test(shadow, &make, &own, &settings.project_dir, args.from, args.require_down, &progress).await
    })
    .await
}

/// The human lines of a `test` report.
pub fn print_test(report: &db_migrate::schema::replay::TestReport, require_down: bool, out: &Output) {
    for f in &report.findings {
        out.line(&format!("FAIL {}_{}: {}", f.version, f.name, f.message));
        for d in &f.differences {
            out.line(&format!("     {d}"));
        }
    }
    if !report.irreversible.is_empty() && !require_down {
        let list: Vec<String> = report.irreversible.iter().map(|v| v.to_string()).collect();
        out.note(&format!("note: {} migration(s) have no down and were only applied: {} (`--require-down` makes that a finding)", list.len(), list.join(", ")));
    }
    out.line(&format!(
        "tested {} migration(s) on the shadow database {} (dropped): {}",
        report.tested.len(),
        report.shadow,
        if report.findings.is_empty() { "every down restores the schema".to_string() } else { format!("{} problem(s)", report.findings.len()) }
    ));
}

async fn run_drift(settings: &Settings, flag: &ShadowArgs, out: &Output) -> Result<db_migrate::schema::drift::DriftReport> {
    let own = own(settings);
    let make = runner_for(settings);
    with_shadow(settings, flag, out, async |shadow: &mut Shadow| {
        db_migrate::schema::drift::drift(&settings.database_url, shadow, &make, &own, &settings.project_dir).await
    })
    .await
}

fn print_drift(report: &db_migrate::schema::drift::DriftReport, out: &Output) {
    for d in &report.differences {
        out.line(&format!("{d}"));
    }
    if !report.missing.is_empty() {
        out.note(&format!("warning: applied migration(s) {:?} have no file and could not be replayed", report.missing));
    }
}

pub async fn drift(settings: &Settings, args: DriftArgs, out: &Output) -> Result<ExitCode> {
    let report = run_drift(settings, &args.shadow, out).await?;
    print_drift(&report, out);
    out.line(&if report.differences.is_empty() {
        format!("no drift: the database matches its {} applied migration(s)", report.applied)
    } else {
        format!("drift: {} difference(s) between the database and its {} applied migration(s) (+ only in the database, - only in the migrations)", report.differences.len(), report.applied)
    });
    out.json(&serde_json::to_value(&report).unwrap_or_default());
    Ok(if report.differences.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `status --check` with `drift_check = true`: the differences, printed; None when not configured.
pub(super) async fn status_drift(settings: &Settings, out: &Output) -> Result<Option<Vec<db_migrate::schema::Difference>>> {
    if settings.schema.drift_check != Some(true) {
        return Ok(None);
    }
    let report = run_drift(settings, &ShadowArgs { shadow_url: None }, out).await?;
    if !report.differences.is_empty() && !out.json {
        out.line(&format!("\ndrift ({} difference(s); `db-migrate drift` shows them):", report.differences.len()));
        print_drift(&report, out);
    }
    Ok(Some(report.differences))
}

/// Writes `file` as a new file beside it, then renames it into place: a link at `file` (one a
/// cloned repository may hold) is replaced, never written through — the schema holds names a
/// migration chose, so a link to a shell's start-up file would make them commands.
fn replace_file(file: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = file.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).and_then(|mut f| f.write_all(bytes));
    match written.and_then(|()| std::fs::rename(&tmp, file)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// After a successful `up`, `down` or `redo`: writes `schema_file` when configured (`.json`
/// gives the model, anything else DDL). A failure is a warning: the migrations stand.
pub(super) async fn write_schema_file(settings: &Settings, out: &Output) {
    let Some(file) = &settings.schema.schema_file else { return };
    let file = if file.is_absolute() { file.clone() } else { settings.project_dir.join(file) };
    let result = async {
        let schema = introspect(&live(settings)?, &own(settings)).await?;
        let text = if file.extension().is_some_and(|e| e == "json") {
            format!("{}\n", serde_json::to_string_pretty(&schema).unwrap_or_default())
        } else {
            render(&schema)
        };
        replace_file(&file, text.as_bytes()).map_err(|e| Error::Io { path: file.clone(), message: format!("cannot write the schema: {e}") })
    }
    .await;
    match result {
        Ok(()) => out.verbose(&format!("wrote the schema to {}", file.display())),
        Err(e) => out.note(&format!("warning: the migrations succeeded, but schema_file could not be written: {e}")),
    }
}
