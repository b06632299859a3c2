//! The `db-migrate` command line: argument parsing, configuration, output, and one module per
//! subcommand (`commands/`), over the `db_migrate` library. What only the command line needs —
//! clap, config files, progress bars, importing other tools, backups, lint — lives here, so an
//! application that embeds the library compiles none of it.
//!
//! Exit codes: 0 success, 1 a `--check`/`validate` found something, 2 an error.

mod adopt;
mod audit;
mod backup;
mod commands;
mod config;
mod fleet;
mod lint;
mod output;
mod placeholders;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Overrides, Settings, UrlSource};
use db_migrate::migrate::error::Error;
pub use output::{Output, visible};

const ABOUT: &str = "Database migrations in plain SQL or sandboxed WebAssembly components.";

const LONG_ABOUT: &str = "\
Database migrations in plain SQL or sandboxed WebAssembly components.

Migrations live in `migrations/` as `VERSION_name.sql` files with `-- migrate:up` and
`-- migrate:down` sections; `.up.sql`/`.down.sql` pairs and diesel-style folders work too,
as do `.wasm` components and, for MongoDB, `.mongo.json` command files.
Each migration and its history row commit in one transaction where the database allows.

The database URL comes from --database-url, else DATABASE_URL, else .env, else
db-migrate.toml, else an embedded SQLite file in the project (db/<env>.sqlite3).
Supported: sqlite:, postgres://, mysql://, mariadb://, mongodb://, mongodb+srv://.

Exit codes: 0 ok, 1 a check found something (status --check, validate), 2 error.";

const AFTER_HELP: &str = "\
Examples:
  db-migrate init                          set up a project in the current directory
  db-migrate create --name add_users       write migrations/<timestamp>_add_users.sql
  db-migrate up                            apply everything pending
  db-migrate up --dry-run                  print the SQL that would run
  db-migrate down --steps 2                revert the last two migrations
  db-migrate status --check                exit 1 if the database is not up to date
  db-migrate reset --yes                   drop everything, apply every migration again
  db-migrate seed                          fill the database with seeds and seed packs";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "db-migrate", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    /// Also accepted before the command, for scripts written that way.
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Project root: where db-migrate.toml, migrations/ and seeds/ live.
    #[arg(long, global = true, value_name = "PATH", default_value = ".")]
    dir: PathBuf,
    /// Database URL, e.g. sqlite:db/app.sqlite3 (default: DATABASE_URL, .env, db-migrate.toml).
    #[arg(long, global = true, value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Configuration file (default: <dir>/db-migrate.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Environment: selects [environments.NAME] in the configuration (default: DB_MIGRATE_ENV or development).
    #[arg(long, global = true, value_name = "NAME")]
    env: Option<String>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more: where the database URL came from, each migration's file, component cache use.
    #[arg(short, long, global = true)]
    verbose: bool,
}

/// How a command that reaches the database waits for it and for other runs. Only commands that
/// connect take these, so only their `--help` shows them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database options")]
pub struct DbArgs {
    /// Seconds to wait for another run's migration lock before giving up (0 to a year; default 60).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    lock_timeout: Option<std::time::Duration>,
    /// How runs lock each other out: `session` (the server's own lock; default) or `table` (a
    /// lock row with an expiry, for PgBouncer transaction pooling and similar). On a MariaDB
    /// Galera cluster the lock row is always used: `GET_LOCK` holds on one node only.
    #[arg(long, value_name = "MODE", value_enum)]
    lock_mode: Option<CliLockMode>,
    /// Wait until the database accepts connections (default 60 s), e.g. while a container starts.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60", require_equals = true, value_parser = parse_seconds)]
    wait: Option<std::time::Duration>,
}

/// Arguments for components (`context.args`): only the commands that run components take them.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Component options")]
pub struct GuestArgs {
    /// An argument for components (`context.args`), KEY=VALUE; repeatable; overrides `args` of db-migrate.toml.
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_arg)]
    args: Vec<(String, String)>,
    /// A value for the placeholder `${NAME}` in SQL migrations, seeds, repeatable migrations and
    /// callbacks; repeatable; overrides [placeholders] of db-migrate.toml.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_arg, help_heading = "Placeholder options")]
    sets: Vec<(String, String)>,
}

/// `validate` takes only the database options.
#[derive(Debug, Args)]
struct ValidateArgs {
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CliLockMode {
    Session,
    Table,
}

/// The longest duration a flag takes: a year. Beyond it a number is a typo, and `Instant`
/// arithmetic would overflow.
const MAX_SECONDS: f64 = 31_536_000.0;

/// A number of seconds from the command line: finite, not negative, at most a year.
pub(crate) fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=MAX_SECONDS).contains(&secs) {
        return Err(format!("`{s}` is out of range: give a number of seconds from 0 to {MAX_SECONDS} (a year)"));
    }
    std::time::Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

fn parse_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up a project: db-migrate.toml (commented), migrations/ and seeds/.
    Init,
    /// Write a new migration file named with the current UTC time (or, with --seed, a new seed).
    Create(commands::create::CreateArgs),
    /// Apply pending migrations, oldest first.
    Up(commands::run::UpArgs),
    /// Revert applied migrations, newest first (default: the last one).
    Down(commands::run::DownArgs),
    /// Revert the last applied migration and apply it again.
    Redo(commands::run::RedoArgs),
    /// Show every migration: applied, pending, modified, missing or dirty.
    Status(commands::status::StatusArgs),
    /// Check that applied migrations still match their files; exit 1 on drift.
    Validate(ValidateArgs),
    /// Fix the history by hand: resolve a dirty migration, accept a modified one's new checksum, forget a missing one.
    Repair(commands::repair::RepairArgs),
    /// Drop every object of the database (history included) and apply every migration again; not in production without --force.
    Reset(commands::reset::ResetArgs),
    /// Drop the database itself (SQLite: delete the file); not in production without --force.
    Drop(commands::drop::DropArgs),
    /// Adopt an existing database: record migrations up to a version as applied, without running them.
    Baseline(commands::baseline::BaselineArgs),
    /// Identify the migration tools a project uses (Prisma, Knex, Alembic, Flyway, …).
    Detect(commands::adopt::DetectArgs),
    /// Take over from another tool: convert its SQL migrations, adopt its history.
    Import(commands::adopt::ImportArgs),
    /// Check SQL migrations for zero-downtime hazards (locks, rewrites, breaking changes); exit 1 on errors.
    Lint(commands::lint::LintArgs),
    /// Back the database up with its native tool (SQLite online copy, pg_dump, mariadb-dump, MongoDB export).
    Backup(commands::backup::BackupArgs),
    /// Replace the database with a backup written by `backup`.
    Restore(commands::backup::RestoreArgs),
    /// Fill the database: seeds/*.sql, seed components and sandboxed seed packs.
    Seed(commands::seed::SeedArgs),
    /// Build every guest in components/ (Rust, Python, JavaScript, C) into migrations/ or seeds/ and precompile it.
    Build(commands::build::BuildArgs),
    /// Show a component's world, imports and exports without running it.
    Inspect(commands::inspect::InspectArgs),
    /// The schema: `schema dump` prints it as canonical DDL or JSON (live, or replayed from the migrations).
    Schema(commands::schema::SchemaArgs),
    /// Check on a shadow database that every migration's down restores the schema its up started from; exit 1 on findings.
    Test(commands::schema::TestArgs),
    /// Compare the live schema with what its applied migrations produce (on a shadow database); exit 1 on drift.
    Drift(commands::schema::DriftArgs),
    /// Generate the migration (up and down) from the migrations' schema to a desired schema (--from-schema) or to the live one (--from-live).
    Diff(commands::diff::DiffArgs),
    /// Replace the migrations up to a version with one SQL migration (databases that applied them keep working).
    Squash(commands::squash::SquashArgs),
    /// Many databases or schemas at once ([fleets.NAME]): `fleet up|down|status NAME` — canary stage, waves, parallel workers, resumable.
    Fleet(commands::fleet::FleetArgs),
}

impl Command {
    /// The database options of a command that connects.
    fn db(&self) -> Option<&DbArgs> {
        Some(match self {
            Command::Up(a) => &a.db,
            Command::Down(a) => &a.db,
            Command::Redo(a) => &a.db,
            Command::Status(a) => &a.db,
            Command::Validate(a) => &a.db,
            Command::Repair(a) => &a.db,
            Command::Reset(a) => &a.db,
            Command::Drop(a) => &a.db,
            Command::Baseline(a) => &a.db,
            Command::Import(a) => &a.db,
            Command::Backup(a) => &a.db,
            Command::Restore(a) => &a.db,
            Command::Seed(a) => &a.db,
            Command::Schema(a) => a.db(),
            Command::Test(a) => &a.db,
            Command::Drift(a) => &a.db,
            Command::Diff(a) => &a.db,
            Command::Fleet(a) => a.db(),
            Command::Init | Command::Create(_) | Command::Detect(_) | Command::Lint(_) | Command::Build(_) | Command::Inspect(_) | Command::Squash(_) => return None,
        })
    }

    /// `--set`s of a command that runs SQL (placeholders).
    fn placeholder_sets(&self) -> &[(String, String)] {
        match self {
            Command::Up(a) => &a.guest.sets,
            Command::Down(a) => &a.guest.sets,
            Command::Redo(a) => &a.guest.sets,
            Command::Seed(a) => &a.guest.sets,
            Command::Fleet(a) => a.sets(),
            _ => &[],
        }
    }

    /// `--arg`s of a command that runs components.
    fn guest_args(&self) -> &[(String, String)] {
        match self {
            Command::Up(a) => &a.guest.args,
            Command::Down(a) => &a.guest.args,
            Command::Redo(a) => &a.guest.args,
            Command::Seed(a) => &a.guest.args,
            Command::Fleet(a) => a.args(),
            _ => &[],
        }
    }
}

/// Parses the process arguments, runs the command and returns the exit code.
fn main() -> ExitCode {
    // Before anything opens a database (see the function).
    db_migrate::backend::sqlite::tune_process_allocator();
    // The process ends with its command: components that have run are left to the exit.
    db_migrate::sandbox::exit_reclaims_components();
    let cli = Cli::parse();
    let out = Output::new(cli.global.json, cli.global.quiet, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            out.error(&Error::Config(format!("cannot start the async runtime: {e}")));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli, &out)) {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            // 128 + SIGINT, as shells report a process Ctrl-C stopped.
            ExitCode::from(if matches!(e, Error::Interrupted { .. }) { 130 } else { 2 })
        }
    }
}

async fn dispatch(cli: Cli, out: &Output) -> Result<ExitCode, Error> {
    // Database options before a command that never connects would be taken and ignored.
    if cli.command.db().is_none() && (cli.db.lock_timeout.is_some() || cli.db.lock_mode.is_some() || cli.db.wait.is_some()) {
        return Err(Error::Config(
            "`--lock-timeout`, `--lock-mode` and `--wait` apply to commands that connect to the database (up, down, status, seed, …); this one does not, so they would be ignored: leave them out"
                .into(),
        ));
    }
    let overrides = Overrides {
        dir: cli.global.dir.clone(),
        database_url: cli.global.database_url.clone(),
        config: cli.global.config.clone(),
        env: cli.global.env.clone(),
        args: cli.command.guest_args().to_vec(),
        sets: cli.command.placeholder_sets().to_vec(),
    };
    match cli.command {
        Command::Init => return commands::init::run(&cli.global.dir, out),
        Command::Inspect(a) => return commands::inspect::run(a, out),
        _ => {}
    }
    let mut settings = Settings::resolve(&overrides)?;
    if let Some(db) = cli.command.db() {
        // Given after the command wins over given before it.
        settings.lock_timeout = db.lock_timeout.or(cli.db.lock_timeout).unwrap_or(std::time::Duration::from_secs(60));
        if let Some(m) = db.lock_mode.or(cli.db.lock_mode) {
            settings.lock_mode = match m {
                CliLockMode::Session => db_migrate::backend::LockMode::Session,
                CliLockMode::Table => db_migrate::backend::LockMode::Table,
            };
        }
        if let Some(wait) = db.wait.or(cli.db.wait) {
            wait_for_database(&settings, wait, out).await?;
        }
    }
    out.verbose(&format!(
        "environment {}; database {} (from {})",
        settings.environment,
        db_migrate::backend::url::redact(&settings.database_url),
        settings.url_source.describe()
    ));
    if matches!(cli.command, Command::Up(_) | Command::Down(_) | Command::Redo(_) | Command::Seed(_) | Command::Test(_) | Command::Drift(_) | Command::Fleet(_)) {
        // Ctrl-C and SIGTERM roll back the migration in flight and release the lock (exit 130).
        if let Err(e) = db_migrate::interrupt::install() {
            out.verbose(&format!("cannot install the Ctrl-C handler ({e}); a signal stops the run without cleanup"));
        }
    }
    match cli.command {
        Command::Init | Command::Inspect(_) => unreachable!("handled above"),
        Command::Build(a) => commands::build::run(&settings, a, out),
        Command::Create(a) => match (&a.from_schema, &a.name) {
            (Some(schema), Some(name)) => commands::diff::create(&settings, name, schema, out).await,
            _ => commands::create::run(&settings, a, out),
        },
        Command::Up(a) => commands::run::up(&settings, a, out).await,
        Command::Down(a) => commands::run::down(&settings, a, out).await,
        Command::Redo(a) => commands::run::redo(&settings, a, out).await,
        Command::Status(a) => commands::status::status(&settings, a, out).await,
        Command::Validate(_) => commands::status::validate(&settings, out).await,
        Command::Repair(a) => commands::repair::run(&settings, a, out).await,
        Command::Reset(a) => commands::reset::run(&settings, a, out).await,
        Command::Drop(a) => commands::drop::run(&settings, a, out).await,
        Command::Baseline(a) => commands::baseline::run(&settings, a, out).await,
        Command::Backup(a) => commands::backup::backup(&settings, a, out).await,
        Command::Lint(a) => commands::lint::run(&settings, a, out),
        Command::Detect(a) => commands::adopt::detect(&settings, a, out),
        Command::Import(a) => commands::adopt::import(&settings, a, out).await,
        Command::Restore(a) => commands::backup::restore(&settings, a, out).await,
        Command::Seed(a) => commands::seed::run(&settings, a, out).await,
        Command::Schema(a) => commands::schema::schema(&settings, a, out).await,
        Command::Test(a) => commands::schema::test(&settings, a, out).await,
        Command::Drift(a) => commands::schema::drift(&settings, a, out).await,
        Command::Diff(a) => commands::diff::diff(&settings, a, out).await,
        Command::Squash(a) => commands::squash::run(&settings, a, out),
        Command::Fleet(a) => commands::fleet::run(&settings, a, out).await,
    }
}

/// The embedded default database file, when that is what the settings point at.
fn default_db_file(settings: &Settings) -> Option<PathBuf> {
    if settings.url_source != UrlSource::Default {
        return None;
    }
    let file = settings.database_url.strip_prefix("sqlite:")?;
    Some(if settings.project_dir == std::path::Path::new(".") { PathBuf::from(file) } else { settings.project_dir.join(file) })
}

/// `--wait`: retries connecting until the server answers or `secs` pass.
async fn wait_for_database(settings: &Settings, wait: std::time::Duration, out: &Output) -> Result<(), Error> {
    use db_migrate::backend::{DatabaseUrl, OpenMode};
    let url = DatabaseUrl::parse(&settings.database_url, &settings.project_dir)?;
    if matches!(url, DatabaseUrl::Sqlite(_)) {
        return Ok(());
    }
    let secs = wait.as_secs_f64();
    let deadline = std::time::Instant::now() + wait;
    let mut announced = false;
    loop {
        match db_migrate::backend::connect(&url, &settings.history_table, OpenMode::ReadOnly).await {
            Ok(b) => {
                if let Some(b) = b {
                    // Only probing that the server accepts connections: nothing is held.
                    let _ = db_migrate::backend::Backend::close(b).await;
                }
                return Ok(());
            }
            Err(Error::Connect(last)) => {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::Connect(format!("the database did not accept connections within {secs} s (--wait): {last}")));
                }
                if !announced {
                    out.note(&format!("waiting up to {secs} s for {} to accept connections…", db_migrate::backend::url::redact(&settings.database_url)));
                    announced = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(other) => return Err(other),
        }
    }
}

/// Prints the near-miss file names of the migrations directory on stderr (one `warning:` line
/// each) and returns them for `--json`.
fn name_warnings(settings: &Settings, out: &Output) -> Vec<db_migrate::migrate::source::NameWarning> {
    let warnings = db_migrate::migrate::source::name_warnings_format(&settings.migrations_dir, settings.migrations_format);
    show_name_warnings(&warnings, out);
    warnings
}

/// Prints warnings about file names (not under `--json`, where they are part of the document).
fn show_name_warnings(warnings: &[db_migrate::migrate::source::NameWarning], out: &Output) {
    if !out.json {
        for w in warnings {
            out.note(&format!("warning: {}: {}", w.file, w.message));
        }
    }
}

/// The warning for a database with tables but no migration history.
fn baseline_hint(tables: usize) -> String {
    format!(
        "warning: the database has {tables} table(s) but no migration history: if its schema already matches some migrations, \
         record them with `db-migrate baseline --version V` instead of running them"
    )
}

fn migrator(settings: &Settings) -> db_migrate::Migrator {
    migrator_with(settings, db_migrate::DirectorySource::new(&settings.migrations_dir).format(settings.migrations_format))
}

/// A migrator for the settings, reading its migrations from `source` (a fleet reads them once
/// for all its targets).
fn migrator_with(settings: &Settings, source: impl db_migrate::MigrationSource + 'static) -> db_migrate::Migrator {
    db_migrate::Migrator::with_source(source, &settings.database_url)
        .lock_timeout(settings.lock_timeout)
        .lock_mode(settings.lock_mode)
        .base_dir(&settings.project_dir)
        .history_table(&settings.history_table)
        .seed_table(&settings.seed_table)
        .allow_out_of_order(settings.allow_out_of_order)
        .cache_dir(settings.cache_dir.clone())
        .knex_runtime(settings.knex_runtime.clone())
        .alembic_runtime(settings.alembic_runtime.clone())
        .policies(settings.policies.clone())
        .placeholders(settings.placeholders.clone())
        .context(db_migrate::sandbox::GuestContext {
            environment: settings.environment.clone(),
            args: settings.args.clone(),
            seed: settings.seed,
        })
}
