//! `db-migrate seed`: fill the database with the project's seeds and configured seed packs.

use std::process::ExitCode;

use clap::Args;

use crate::Output;
use crate::config::Settings;
use db_migrate::migrate::error::Error;
use db_migrate::run::migrator::Event;
use db_migrate::seed::{SeedOptions, Seeder};

#[derive(Debug, Args)]
#[command(after_help = "\
Seeds run in this order: seeds/*.sql and seeds/*.wasm (components of the `seed` world) by file
name, then the [[seeds.pack]] sections of db-migrate.toml. Each runs in one transaction with its
record in the seed history. A SQL seed already run with the same content is skipped (it takes no
arguments, and --seed does not change it); a component already run with the same content,
arguments and random seed is skipped. A pack writes only the tables it lists, and runs only in
the environments it lists (development and test unless it says otherwise). --reset empties them
children first, in the order the database's foreign keys give. `db-migrate create --seed NAME`
scaffolds a new seed.

Examples:
  db-migrate seed                          run every seed that has not run yet
  db-migrate seed demo-users --arg users=50
  db-migrate seed demo-users --reset       empty the pack's tables, then run it again
  db-migrate seed --seed 42 --force        the same data as every other run with --seed 42
  db-migrate seed --list")]
pub struct SeedArgs {
    /// Seeds to run (default: all), by name: the file stem or the pack's name.
    names: Vec<String>,
    /// Random seed for the generated data (default: `seed` in db-migrate.toml, else 0).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Run seeds even if they already ran (SQL seeds: with the same content; components: with
    /// the same content, arguments and random seed).
    #[arg(long)]
    force: bool,
    /// Empty each selected pack's tables first (only the tables it lists, children before
    /// parents by their foreign keys), then run it.
    #[arg(long)]
    reset: bool,
    /// List the seeds and when each last ran; run nothing.
    #[arg(long, conflicts_with_all = ["force", "reset"])]
    list: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub guest: crate::GuestArgs,
}

/// A seeder for the project's settings.
fn seeder(settings: &Settings) -> Seeder {
    Seeder::new(&settings.seeds_dir, &settings.database_url)
        .base_dir(&settings.project_dir)
        .tables(&settings.history_table, &settings.seed_table)
        .packs(settings.seed_packs.clone())
        .policies(settings.policies.clone())
        .context(db_migrate::sandbox::GuestContext { environment: settings.environment.clone(), args: settings.args.clone(), seed: settings.seed })
        .cli_args(settings.cli_args.clone())
        .cache_dir(Some(settings.cache_dir.clone()))
        .lock(settings.lock_timeout, settings.lock_mode)
        .placeholders(settings.placeholders.clone())
}

fn rate(r: f64) -> String {
    crate::progress::rate(r, " rows/s")
}

pub async fn run(settings: &Settings, args: SeedArgs, out: &Output) -> Result<ExitCode, Error> {
    let mut seeder = seeder(settings);
    if let Some(s) = args.seed {
        seeder = seeder.random_seed(s);
    }
    if args.list {
        let list = seeder.list().await?;
        if list.is_empty() {
            out.line("no seeds: add seeds/*.sql, seeds/*.wasm or a [[seeds.pack]] section to db-migrate.toml");
        }
        for s in &list {
            let last = match &s.last_run {
                Some(r) if s.changed => format!("changed since its run at {}", r.applied_at),
                Some(r) => format!("ran {} ({} rows, seed {}, args {})", r.applied_at, r.rows, r.seed, r.args),
                None => "never run".to_string(),
            };
            let mut extra = String::new();
            if let Some(t) = &s.tables {
                extra.push_str(&format!("; writes {}", t.join(", ")));
            }
            if let Some(e) = &s.environments {
                extra.push_str(&format!("; environments {}{}", e.join(", "), if s.allowed_here { "" } else { " (not this one)" }));
            }
            out.line(&format!("{:<24} {:<9} {}  {last}{extra}", s.name, s.kind.as_str(), s.file));
        }
        out.json(&serde_json::json!({ "seeds": list }));
        return Ok(ExitCode::SUCCESS);
    }

    let o = *out;
    let progress = crate::progress::Progress::new(out);
    let audit = crate::audit::AuditLog::new(settings.project_dir.join(".db-migrate").join("audit.log"));
    let seeder = seeder.on_event(move |e| match e {
        Event::SeedSkipped { seed, reason } => o.line(&format!("skipped  {} ({reason})", seed.name)),
        Event::SeedFinished { seed, report } => {
            progress.finish();
            let tables: Vec<String> = report.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
            let rows = if report.rows.is_empty() { String::new() } else { format!(": {} rows ({})", report.total_rows, tables.join(", ")) };
            let reset = if report.reset.is_empty() { String::new() } else { format!(" after emptying {}", report.reset.join(", ")) };
            let speed = if report.total_rows > 0 { format!(", {}", rate(report.rows_per_sec)) } else { String::new() };
            o.line(&format!("seeded   {}{rows}{reset} in {:.1} ms{speed}", seed.name, report.duration_ms));
        }
        Event::Progress { migration, done, total } => progress.update(&migration.name, *done, *total),
        Event::GuestLog { migration, level, message } => {
            let level = serde_json::to_value(level).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            progress.suspend(|| o.note(&format!("[{}] {level}: {message}", migration.name)));
        }
        Event::GuestOutput { migration, stream, line } => o.note(&format!("[{}] {stream}: {line}", migration.name)),
        Event::Audit { migration, statement, reason } => {
            progress.suspend(|| o.note(&format!("[{}] audit: denied: {reason}", migration.name)));
            audit.record(&migration.name, statement, reason);
        }
        Event::ComponentLoaded { migration, origin, duration } => {
            let how = match origin {
                db_migrate::sandbox::Origin::Cached => "loaded from the compiled cache",
                db_migrate::sandbox::Origin::Compiled => "compiled",
            };
            o.verbose(&format!("[{}] component {how} in {:.1} ms", migration.name, duration.as_secs_f64() * 1e3));
        }
        Event::Warning { warning } => progress.suspend(|| o.warning(warning, None)),
        _ => {}
    });
    let mut opts = SeedOptions::default();
    opts.names = args.names;
    opts.force = args.force;
    opts.reset = args.reset;
    let report = seeder.run(&opts).await?;
    let rows: u64 = report.seeds.iter().map(|s| s.total_rows).sum();
    let n = report.seeds.len();
    if n == 0 && report.skipped.is_empty() {
        out.line("no seeds: add seeds/*.sql, seeds/*.wasm or a [[seeds.pack]] section to db-migrate.toml");
    } else {
        out.line(&format!(
            "seeded {n} seed{} ({rows} rows), skipped {}, in {:.1} ms",
            if n == 1 { "" } else { "s" },
            report.skipped.len(),
            report.total_ms
        ));
    }
    out.json(&serde_json::to_value(&report).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
