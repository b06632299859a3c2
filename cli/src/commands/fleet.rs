//! `fleet up|down|status NAME`: the project's migrations over every database of a fleet
//! (`[fleets.NAME]` in db-migrate.toml).

use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};

use crate::Output;
use crate::config::Settings;
use crate::fleet::config::{Canary, Fleet};
use crate::fleet::rollout::{self, Job, Options, Summary};
use crate::fleet::{census, targets};
use db_migrate::migrate::embedded::{DirectorySource, ReadOnce};
use db_migrate::migrate::error::Error;
use db_migrate::migrate::plan::{DownTarget, UpOptions};

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Apply pending migrations on every target: the canary stage first, then the waves; a rerun skips targets already done.
    Up(FleetUpArgs),
    /// Revert every target to a version (or all the way): the canary stage first, then the waves.
    Down(FleetDownArgs),
    /// How many targets sit at which version; which are dirty, drifting (checksum mismatch) or unreachable. Creates nothing.
    Status(FleetStatusArgs),
    /// `test` once per kind of database in the fleet (SQLite, PostgreSQL, MySQL/MariaDB, MongoDB), each on a shadow database of that kind; exit 1 on findings.
    Test(FleetTestArgs),
}

#[derive(Debug, Args)]
pub struct FleetTestArgs {
    /// The fleet: a `[fleets.NAME]` section of db-migrate.toml.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub test: crate::commands::schema::TestArgs,
}

/// How a rollout runs (`fleet up` and `fleet down`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Rollout options")]
pub struct RolloutArgs {
    /// Targets migrated at once (default: the fleet's `parallel`, else 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=crate::fleet::config::MAX_PARALLEL as i64))]
    pub parallel: Option<u32>,
    /// After a failure outside the canary stage, finish the other targets and report the failures (default: stop starting new ones).
    #[arg(long)]
    pub keep_going: bool,
    /// The canary stage: the first N targets (0: none), overriding the fleet's `canary`.
    #[arg(long, value_name = "N")]
    pub canary: Option<usize>,
    /// Targets per wave after the canary stage, overriding the fleet's `wave_size`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub wave_size: Option<u64>,
    /// Check every target, also those the fleet's state records as done for these migrations.
    #[arg(long)]
    pub recheck: bool,
    /// A PostgreSQL database holding the fleet's state and claims, shared by every worker that
    /// names it (overrides the fleet's `control_url`): run `fleet up` on several machines at once.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub control_url: Option<String>,
    /// Seconds a worker's claim lives without its heartbeat; a dead worker's targets are taken over after it (default: the fleet's `lease_secs`, else 60).
    #[arg(long, value_name = "SECONDS", value_parser = crate::parse_seconds)]
    pub lease: Option<std::time::Duration>,
    /// Back each target up before migrating it.
    #[arg(long)]
    pub backup: bool,
}

#[derive(Debug, Args)]
pub struct FleetUpArgs {
    /// The fleet: a `[fleets.NAME]` section of db-migrate.toml.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Apply migrations up to and including this version.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
    /// Apply pending migrations older than the newest applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// In `production`, run even when lint finds errors in the migrations.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub guest: crate::GuestArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").args(["to", "all"]).required(true)))]
pub struct FleetDownArgs {
    /// The fleet: a `[fleets.NAME]` section of db-migrate.toml.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Revert every migration newer than VERSION on every target (VERSION stays applied).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
    /// Revert every applied migration on every target.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub guest: crate::GuestArgs,
}

#[derive(Debug, Args)]
pub struct FleetStatusArgs {
    /// The fleet: a `[fleets.NAME]` section of db-migrate.toml.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Exit 1 unless every target is at the newest migration, clean and without drift.
    #[arg(long)]
    pub check: bool,
    /// Targets read at once (default: the fleet's `parallel`, else 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=crate::fleet::config::MAX_PARALLEL as i64))]
    pub parallel: Option<u32>,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

impl FleetArgs {
    /// The database options of the subcommand.
    pub fn db(&self) -> &crate::DbArgs {
        match &self.command {
            FleetCommand::Up(a) => &a.db,
            FleetCommand::Down(a) => &a.db,
            FleetCommand::Status(a) => &a.db,
            FleetCommand::Test(a) => &a.test.db,
        }
    }

    /// `--set`s.
    pub fn sets(&self) -> &[(String, String)] {
        match &self.command {
            FleetCommand::Up(a) => &a.guest.sets,
            FleetCommand::Down(a) => &a.guest.sets,
            FleetCommand::Status(_) | FleetCommand::Test(_) => &[],
        }
    }

    /// `--arg`s.
    pub fn args(&self) -> &[(String, String)] {
        match &self.command {
            FleetCommand::Up(a) => &a.guest.args,
            FleetCommand::Down(a) => &a.guest.args,
            FleetCommand::Status(_) | FleetCommand::Test(_) => &[],
        }
    }
}

fn fleet<'a>(settings: &'a Settings, name: &str) -> Result<&'a Fleet, Error> {
    settings.fleets.get(name).ok_or_else(|| {
        let known: Vec<&str> = settings.fleets.keys().map(String::as_str).collect();
        Error::Config(if known.is_empty() {
            format!("no fleet `{name}`: db-migrate.toml has no [fleets.NAME] section (see `db-migrate fleet --help`)")
        } else {
            format!("no fleet `{name}` in db-migrate.toml; fleets: {}", known.join(", "))
        })
    })
}

/// The migrations, read once for every target.
fn read_once(settings: &Settings, out: &Output) -> Result<ReadOnce, Error> {
    crate::name_warnings(settings, out);
    let memo = db_migrate::migrate::memo::ChecksumMemo::open(Some(&settings.cache_dir));
    let r = ReadOnce::read(&DirectorySource::new(&settings.migrations_dir).format(settings.migrations_format), &memo)?;
    memo.save();
    Ok(r)
}

pub async fn run(settings: &Settings, args: FleetArgs, out: &Output) -> Result<ExitCode, Error> {
    match args.command {
        FleetCommand::Up(a) => {
            let mut o = UpOptions::default();
            o.to = a.to;
            o.allow_out_of_order = a.allow_out_of_order;
            rollout_cmd(settings, &a.name, a.rollout, Job::Up(o), a.force, out).await
        }
        FleetCommand::Down(a) => {
            let target = match a.to {
                Some(v) => DownTarget::To(v),
                None => DownTarget::All,
            };
            rollout_cmd(settings, &a.name, a.rollout, Job::Down(target), true, out).await
        }
        FleetCommand::Status(a) => status(settings, a, out).await,
        FleetCommand::Test(a) => test(settings, a, out).await,
    }
}

async fn rollout_cmd(settings: &Settings, name: &str, a: RolloutArgs, job: Job, force: bool, out: &Output) -> Result<ExitCode, Error> {
    let f = fleet(settings, name)?;
    let source = read_once(settings, out)?;
    let canary = a.canary.map(Canary::First);
    let plan = targets::resolve(f, settings, canary.as_ref(), a.wave_size.map(|w| w as usize)).await?;
    if let (Job::Up(o), false, "production") = (job, force, settings.environment.as_str())
        && let Some(first) = plan.targets.first()
    {
        crate::commands::run::refuse_on_lint_errors(&rollout::target_settings(settings, first), o, out).await?;
    }
    let control_url = match a.control_url.as_deref().map(crate::config::expand_vars).transpose()? {
        Some(u) if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) => {
            return Err(Error::Config(format!("--control-url must be a PostgreSQL URL (it holds the claim table), not `{}`", db_migrate::backend::url::redact(&u))));
        }
        Some(u) => Some(u),
        None => f.control_url.clone(),
    };
    let opts = Options {
        parallel: a.parallel.map(|p| p as usize).unwrap_or(f.parallel),
        keep_going: a.keep_going,
        recheck: a.recheck,
        backup: a.backup || settings.backup_always,
        control_url,
        lease: a.lease.filter(|l| !l.is_zero()).unwrap_or(f.lease),
    };
    let summary = rollout::run(settings, &f.name, &plan, &source, job, &opts, out).await?;
    Ok(report(&f.name, &summary, matches!(job, Job::Up(_)), out))
}

/// The final table: counts, every failure, and (for small fleets or with `-v`) every target.
fn report(name: &str, s: &Summary, up: bool, out: &Output) -> ExitCode {
    let count = |r: &str| s.targets.iter().filter(|o| o.result == r).count();
    let failed = count("failed");
    let mut counts = serde_json::Map::new();
    for r in ["migrated", "current", "done_earlier", "elsewhere", "failed", "not_run"] {
        counts.insert(r.into(), count(r).into());
    }
    out.json(&serde_json::json!({
        "fleet": name,
        "direction": if up { "up" } else { "down" },
        "targets": s.targets,
        "counts": counts,
        "stopped": s.stopped,
        "total_ms": s.total_ms,
        "fleet_states": s.fleet_states,
        "warnings": out.warnings(),
    }));
    if s.targets.len() <= 50 || out.verbose {
        out.line(&format!("{:<40} {:<7} {:<13} {:>5} {:>10}", "target", "stage", "result", "steps", "ms"));
        for o in &s.targets {
            let stage = if o.stage == 0 { "canary".to_string() } else { format!("wave {}", o.stage) };
            out.line(&format!("{:<40} {:<7} {:<13} {:>5} {:>10.1}", o.target, stage, o.result, o.steps, o.ms));
        }
    } else {
        for o in s.targets.iter().filter(|o| o.result == "failed") {
            let stage = if o.stage == 0 { "canary".to_string() } else { format!("wave {}", o.stage) };
            out.line(&format!("failed   {} ({stage})", o.target));
        }
    }
    for o in s.targets.iter().filter(|o| o.result == "failed") {
        out.line(&format!("  {}: {}", o.target, o.message.as_deref().unwrap_or("?")));
    }
    if let Some(slow) = s.targets.iter().filter(|o| o.ms > 0.0).max_by(|a, b| a.ms.total_cmp(&b.ms)) {
        out.verbose(&format!("slowest: {} ({:.1} ms)", slow.target, slow.ms));
    }
    out.line(&format!(
        "fleet {name}: {} targets — {} migrated, {} up to date, {} done earlier{}, {failed} failed, {} not run ({:.1} s)",
        s.targets.len(),
        count("migrated"),
        count("current"),
        count("done_earlier"),
        if count("elsewhere") > 0 { format!(", {} by other workers", count("elsewhere")) } else { String::new() },
        count("not_run"),
        s.total_ms / 1e3
    ));
    if let Some(why) = &s.stopped {
        out.line(&format!("stopped: {why}; the targets not run are left as they were (run the same command again to resume)"));
    }
    if db_migrate::interrupt::requested().is_some() {
        // As for a single run: 128 + SIGINT.
        ExitCode::from(130)
    } else if failed > 0 || s.stopped.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn status(settings: &Settings, a: FleetStatusArgs, out: &Output) -> Result<ExitCode, Error> {
    let f = fleet(settings, &a.name)?;
    let source = read_once(settings, out)?;
    let plan = targets::resolve(f, settings, None, None).await?;
    let c = census::take(settings, &plan, &source, a.parallel.map(|p| p as usize).unwrap_or(f.parallel)).await;
    out.json(&serde_json::json!({ "fleet": f.name, "census": c }));
    out.line(&format!(
        "fleet {}: {} targets; newest migration {}; {} up to date",
        f.name,
        plan.targets.len(),
        c.latest.map(|v| v.to_string()).unwrap_or_else(|| "none".into()),
        c.up_to_date
    ));
    for v in &c.versions {
        out.line(&format!("  at {:<20} {} target(s)", v.version.map(|v| v.to_string()).unwrap_or_else(|| "(nothing applied)".into()), v.targets));
    }
    let list = |title: &str, names: &[String]| {
        if !names.is_empty() {
            let shown: Vec<&str> = names.iter().take(20).map(String::as_str).collect();
            let more = if names.len() > 20 { format!(" and {} more", names.len() - 20) } else { String::new() };
            out.line(&format!("{title} ({}): {}{more}", names.len(), shown.join(", ")));
        }
    };
    list("dirty", &c.dirty);
    list("drifting (an applied migration's file changed or is gone)", &c.drifting);
    list("unreachable", &c.unreachable);
    for t in c.targets.iter().filter(|t| t.error.is_some()).take(5) {
        out.line(&format!("  {}: {}", t.target, t.error.as_deref().unwrap_or("")));
    }
    let all_current = c.up_to_date == plan.targets.len();
    Ok(if a.check && !all_current { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `test` on one shadow database per kind of database in the fleet: the migrations are the same
/// for every target of a kind, so one replay answers for all of them.
async fn test(settings: &Settings, a: FleetTestArgs, out: &Output) -> Result<ExitCode, Error> {
    use db_migrate::backend::DatabaseUrl;
    let f = fleet(settings, &a.name)?;
    let plan = targets::resolve(f, settings, None, None).await?;
    let mut kinds: Vec<(&'static str, Settings)> = Vec::new();
    for t in &plan.targets {
        let kind = match DatabaseUrl::parse(&t.url, &settings.project_dir)? {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
            DatabaseUrl::Mysql(_) => "mysql",
            DatabaseUrl::Mongo(_) => "mongodb",
        };
        if kinds.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        // A schema target's connection is pinned to its schema: the shadow is a database of
        // the same server, reached without that pin.
        let mut s = rollout::target_settings(settings, t);
        if let (Some(_), crate::fleet::config::Source::PostgresSchemas { database, .. }) = (&t.schema, &f.source) {
            s.database_url = database.clone().unwrap_or_else(|| settings.database_url.clone());
            s.history_table = settings.history_table.clone();
        }
        kinds.push((kind, s));
    }
    if kinds.is_empty() {
        return Err(Error::Config(format!("fleet `{}` has no targets: nothing tells which database to test on", f.name)));
    }
    let mut reports = Vec::new();
    let mut findings = 0;
    for (kind, s) in &kinds {
        out.line(&format!("{kind}:"));
        let r = crate::commands::schema::test_report(s, &a.test, out).await?;
        crate::commands::schema::print_test(&r, a.test.require_down, out);
        findings += r.findings.len();
        reports.push(serde_json::json!({ "kind": kind, "report": r }));
    }
    out.json(&serde_json::json!({ "fleet": f.name, "kinds": reports }));
    Ok(if findings == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
