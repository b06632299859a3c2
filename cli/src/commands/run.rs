//! `up`, `down` and `redo`: the commands that change the database (or, with `--dry-run`, show how).

use std::process::ExitCode;

use clap::{ArgGroup, Args};

use crate::{Output, default_db_file, migrator};
use crate::config::Settings;
use db_migrate::migrate::error::{Direction, Error};
use db_migrate::run::migrator::{Event, PlannedRun, Report};
use db_migrate::migrate::plan::{DownTarget, UpOptions};
use db_migrate::migrate::source::Body;
use db_migrate::sandbox::rehearsal::Rehearsal;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply migrations up to and including this version.
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    /// Print the SQL that would run, and change nothing. Components (knex files, Alembic
    /// revisions) are rehearsed on a read-only session: their reads run, and every other
    /// statement they send is shown instead of sent.
    #[arg(long)]
    dry_run: bool,
    /// Apply pending migrations older than the newest applied one.
    #[arg(long)]
    allow_out_of_order: bool,
    /// Back the database up first (also `backup = "always"` in the environment's configuration).
    #[arg(long)]
    backup: bool,
    /// In `production`, run even when lint finds errors in the pending migrations.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub guest: crate::GuestArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").args(["steps", "to", "all"])))]
pub struct DownArgs {
    /// Revert the last N applied migrations (default 1; 0 is an error).
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Revert every migration newer than VERSION (VERSION stays applied).
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    /// Revert every applied migration.
    #[arg(long)]
    all: bool,
    /// Print the SQL that would run, and change nothing. Components (knex files, Alembic
    /// revisions) are rehearsed on a read-only session: their reads run, and every other
    /// statement they send is shown instead of sent.
    #[arg(long)]
    dry_run: bool,
    /// Back the database up first (also `backup = "always"` in the environment's configuration).
    #[arg(long)]
    backup: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub guest: crate::GuestArgs,
}

#[derive(Debug, Args)]
pub struct RedoArgs {
    /// Print the SQL that would run, and change nothing. Components (knex files, Alembic
    /// revisions) are rehearsed on a read-only session: their reads run, and every other
    /// statement they send is shown instead of sent.
    #[arg(long)]
    dry_run: bool,
    /// Back the database up first (also `backup = "always"` in the environment's configuration).
    #[arg(long)]
    backup: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
    #[command(flatten)]
    pub guest: crate::GuestArgs,
}

pub async fn up(settings: &Settings, args: UpArgs, out: &Output) -> Result<ExitCode, Error> {
    let mut opts = UpOptions::default();
    opts.to = args.to;
    opts.allow_out_of_order = args.allow_out_of_order;
    let warnings = crate::name_warnings(settings, out);
    if args.dry_run {
        let plan = migrator(settings).plan_up(opts).await?;
        return print_dry_run(settings, &plan, out).await;
    }
    if settings.environment == "production" && !args.force {
        if let Err(e) = refuse_on_lint_errors(settings, opts, out).await {
            // The run says it before its first migration (`Event::Unadopted`); a run refused
            // here never gets there, and lint errors on an unadopted database often mean that
            // its migrations would create what it already has.
            if let Ok(Some(n)) = migrator(settings).unadopted().await {
                out.note(&crate::baseline_hint(n));
            }
            return Err(e);
        }
    }
    crate::commands::backup::before_run(settings, args.backup, out).await?;
    let announce = announce_default(settings);
    let report = with_progress(settings, out).up_with(opts).await;
    announce(out);
    let report = report?;
    super::schema::write_schema_file(settings, out).await;
    finish_with(report, Direction::Up, out, &warnings)
}

pub async fn down(settings: &Settings, args: DownArgs, out: &Output) -> Result<ExitCode, Error> {
    if args.steps == Some(0) {
        return Err(Error::Config("--steps 0 reverts nothing: give the number of migrations to revert (1 or more), or use --to VERSION / --all".into()));
    }
    let target = match (args.steps, args.to, args.all) {
        (_, _, true) => DownTarget::All,
        (_, Some(v), _) => DownTarget::To(v),
        (Some(n), _, _) => DownTarget::Steps(n),
        _ => DownTarget::Steps(1),
    };
    if args.dry_run {
        let plan = migrator(settings).plan_down(target).await?;
        return print_dry_run(settings, &plan, out).await;
    }
    crate::commands::backup::before_run(settings, args.backup, out).await?;
    let report = with_progress(settings, out).down(target).await?;
    super::schema::write_schema_file(settings, out).await;
    finish(report, Direction::Down, out)
}

pub async fn redo(settings: &Settings, args: RedoArgs, out: &Output) -> Result<ExitCode, Error> {
    if args.dry_run {
        let mut plan = migrator(settings).plan_down(DownTarget::Steps(1)).await?;
        if let Some((_, mut m)) = plan.steps.first().cloned() {
            migrator(settings).display_placeholders(&mut m, Direction::Up)?;
            plan.steps.push((Direction::Up, m));
        }
        return print_dry_run(settings, &plan, out).await;
    }
    crate::commands::backup::before_run(settings, args.backup, out).await?;
    let report = with_progress(settings, out).redo().await?;
    super::schema::write_schema_file(settings, out).await;
    if report.steps.is_empty() {
        // Like `down` with nothing applied: nothing to do is not an error.
        out.line("nothing to redo: no migration is applied");
        out.json(&serde_json::json!({ "steps": report.steps, "total_ms": report.total_ms, "warnings": report.warnings }));
        return Ok(ExitCode::SUCCESS);
    }
    finish(report, Direction::Up, out)
}

/// In production, pending migrations with lint errors are refused before anything runs.
pub(crate) async fn refuse_on_lint_errors(settings: &Settings, opts: UpOptions, out: &Output) -> Result<(), Error> {
    let Some(dialect) = crate::commands::lint::dialect(settings)? else { return Ok(()) };
    let plan = migrator(settings).plan_up(opts).await?;
    let findings = crate::commands::lint::lint_pending(settings, plan.steps.iter().map(|(_, m)| m), dialect)?;
    let errors: Vec<_> = findings.iter().filter(|f| f.severity == crate::lint::Severity::Error).cloned().collect();
    if errors.is_empty() {
        for f in &findings {
            out.note(&format!("lint: {}:{}: {} warning: {}", f.file, f.line, f.rule, f.message));
        }
        return Ok(());
    }
    let list: Vec<String> = errors.iter().map(|f| format!("  {}:{}: {} {}
      instead: {}", f.file, f.line, f.rule, f.message, f.fix)).collect();
    Err(Error::Config(format!(
        "lint found {} error(s) in the pending migrations, and the environment is production; nothing was run:\n{}\n\
         fix them, suppress one with `-- db-migrate:nolint RULE reason`, or run `up --force`",
        errors.len(),
        list.join("\n")
    )))
}

/// Says once that the embedded default database was created, so nobody wonders where data went.
fn announce_default(settings: &Settings) -> impl FnOnce(&Output) {
    let file = default_db_file(settings).filter(|f| !f.exists());
    move |out: &Output| {
        if let Some(f) = file.filter(|f| f.exists()) {
            out.note(&format!(
                "note: no database URL is configured, so db-migrate created the embedded SQLite database {}; \
                 set DATABASE_URL or `database_url` in db-migrate.toml to use another database",
                f.display()
            ));
        }
    }
}

pub(super) fn with_progress(settings: &Settings, out: &Output) -> db_migrate::Migrator {
    let out = *out;
    let progress = crate::progress::Progress::new(&out);
    let audit = crate::audit::AuditLog::new(settings.project_dir.join(".db-migrate").join("audit.log"));
    migrator(settings).on_event(move |e| match e {
        Event::Skipped { migration, .. } => {
            out.line(&format!("skipped  {} (another db-migrate run did it meanwhile)", migration.label()));
        }
        Event::Finished { migration, direction, duration } => {
            progress.finish();
            let verb = match direction {
                Direction::Up => "applied ",
                Direction::Down => "reverted",
            };
            out.line(&format!("{verb} {} ({:.1} ms)", migration.label(), duration.as_secs_f64() * 1e3));
            out.verbose(&format!("         from {}", migration.path.display()));
        }
        Event::ComponentLoaded { migration, origin, duration } => {
            let how = match origin {
                db_migrate::sandbox::Origin::Cached => "loaded from the compiled cache",
                db_migrate::sandbox::Origin::Compiled => "compiled",
            };
            out.verbose(&format!("[{}] component {how} in {:.1} ms", migration.label(), duration.as_secs_f64() * 1e3));
        }
        Event::GuestLog { migration, level, message } => {
            progress.suspend(|| out.note(&format!("[{}] {}: {message}", migration.label(), serde_json::to_value(level).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default())));
        }
        Event::GuestOutput { migration, stream, line } => {
            out.note(&format!("[{}] {stream}: {line}", migration.label()));
        }
        Event::Progress { migration, done, total } => progress.update(&migration.label(), *done, *total),
        Event::Audit { migration, statement, reason } => {
            progress.suspend(|| out.note(&format!("[{}] audit: denied: {reason}", migration.label())));
            audit.record(&migration.label(), statement, reason);
        }
        Event::Warning { warning } => progress.suspend(|| out.warning(warning, None)),
        Event::Unadopted { tables } => progress.suspend(|| out.note(&crate::baseline_hint(*tables))),
        _ => {}
    })
}

/// An observer for commands without progress output (`baseline`, `repair`, `import --adopt`):
/// it prints what went wrong once their work was done (the lock could not be released…) as a
/// `warning:` line on stderr, and in the command's `--json` document.
pub(crate) fn warnings_only(out: &Output) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
    let out = *out;
    move |e| {
        if let Event::Warning { warning } = e {
            out.warning(warning, None);
        }
    }
}

fn finish(report: Report, direction: Direction, out: &Output) -> Result<ExitCode, Error> {
    finish_with(report, direction, out, &[])
}

fn finish_with(report: Report, direction: Direction, out: &Output, warnings: &[db_migrate::migrate::source::NameWarning]) -> Result<ExitCode, Error> {
    let n = report.steps.len();
    let plural = if n == 1 { "" } else { "s" };
    // [workflow] repeatable migrations applied after the versioned ones.
    for r in &report.repeatable {
        out.line(&format!("applied  repeatable {} ({:.1} ms)", r.name, r.duration_ms));
    }
    if n == 0 && !report.repeatable.is_empty() {
        out.line(&format!("applied {} repeatable migration(s); no versioned migration was pending", report.repeatable.len()));
    } else if n == 0 {
        out.line(match direction {
            Direction::Up => "nothing to apply: the database is up to date",
            Direction::Down => "nothing to revert: no migration is applied",
        });
    } else {
        let verb = if report.steps.iter().all(|s| s.direction == Direction::Down) { "reverted" } else { "done:" };
        let verb = if report.steps.iter().all(|s| s.direction == Direction::Up) { "applied" } else { verb };
        out.line(&format!("{verb} {n} migration{plural} in {:.1} ms", report.total_ms));
    }
    // Misnamed files (`file`, `message`), then what went wrong once the run's work was done
    // (`kind`: `unlock` or `close`, `message`; printed on stderr as it happened). The run
    // succeeded either way: exit 0.
    let mut all: Vec<serde_json::Value> = warnings.iter().map(|w| serde_json::json!(w)).collect();
    all.extend(report.warnings.iter().map(|w| serde_json::json!(w)));
    out.json(&serde_json::json!({ "steps": report.steps, "repeatable": report.repeatable, "total_ms": report.total_ms, "warnings": all }));
    Ok(ExitCode::SUCCESS)
}

/// A dry run: the plan, with each component rehearsed against the database as it is (its
/// reads answered, everything else written down and shown, nothing sent that changes anything).
async fn print_dry_run(settings: &Settings, plan: &PlannedRun, out: &Output) -> Result<ExitCode, Error> {
    let components = plan.steps.iter().filter(|(_, m)| matches!(m.body, Body::Component(_) | Body::Knex { .. } | Body::Alembic { .. })).count();
    if components > 0 {
        out.note(&format!(
            "rehearsing {components} component migration{} on a read-only session: {} reads are answered, nothing else is sent",
            if components == 1 { "" } else { "s" },
            if components == 1 { "its" } else { "their" }
        ));
    }
    let rehearsals = migrator(settings).rehearse(plan).await?;
    Ok(print_plan(plan, &rehearsals, out))
}

/// The statements of one rehearsal as SQL text: what would be sent, and (as comments) the reads
/// that were answered and why the rehearsal stopped early.
fn print_rehearsal(r: &Rehearsal, out: &Output) {
    if let Some(why) = &r.skipped {
        out.line(&format!("-- not rehearsed: {}", one_line(why)));
        return;
    }
    out.line("-- rehearsed against the database as it is now (earlier pending migrations not applied); it would send:");
    if let Some(why) = &r.reads_held {
        out.line(&format!("-- (reads not sent either: {})", one_line(why)));
    }
    for s in &r.statements {
        let params = crate::visible(&s.params.join(", ")).into_owned();
        let with = match (s.rows, s.params.is_empty()) {
            (Some(n), _) => format!(" -- {n} row{}, the first: ({params})", if n == 1 { "" } else { "s" }),
            (None, false) => format!(" -- with ({params})"),
            (None, true) => String::new(),
        };
        if let Some(why) = &s.denied {
            out.line(&format!("-- denied (a run refuses it too): {} -- {}", one_line(&s.sql), one_line(why)));
        } else if s.read {
            out.line(&format!("-- read: {}{with}", one_line(&s.sql)));
        } else {
            // One line per statement (`--json` has the exact text): a statement's own line
            // breaks and comments cannot draw lines that look like this output's. One that
            // starts with a comment is indented: every line of ours starts at the margin.
            let sql = one_line(&s.sql);
            let indent = if sql.starts_with("--") || sql.starts_with("/*") || sql.starts_with('#') { "    " } else { "" };
            out.line(&format!("{indent}{sql}{}{with}", if sql.ends_with(';') { "" } else { ";" }));
        }
    }
    if r.not_shown > 0 {
        out.line(&format!(
            "-- … and {} more statements, not shown ({} of them not reads: see `--json` for the count, and run a smaller step)",
            r.not_shown, r.changes_not_shown
        ));
    }
    if let Some(why) = &r.stopped {
        out.line(&format!(
            "-- the rehearsal stopped here: {} (a statement may need what an earlier one, or an earlier pending migration, would create)",
            one_line(why)
        ));
    }
}

/// `s` on one line (for a SQL comment), control characters shown as escapes.
fn one_line(s: &str) -> String {
    crate::visible(&s.split_whitespace().collect::<Vec<_>>().join(" ")).into_owned()
}

fn print_plan(plan: &PlannedRun, rehearsals: &[Option<Rehearsal>], out: &Output) -> ExitCode {
    if plan.steps.is_empty() && plan.repeatables.is_empty() {
        out.line("-- dry run: nothing to do");
    }
    let mut items = Vec::new();
    for (i, (direction, m)) in plan.steps.iter().enumerate() {
        let verb = if *direction == Direction::Up { "apply" } else { "revert" };
        let mut item = serde_json::json!({
            "version": m.version,
            "name": m.name,
            "kind": m.kind(),
            "direction": direction,
        });
        if let Some(commands) = m.commands(*direction) {
            out.line(&format!("-- dry run: would {verb} {} from {} ({} MongoDB commands)", m.label(), commands.path.display(), commands.commands.len()));
            for c in &commands.commands {
                out.line(&c.json.to_string());
            }
            item["file"] = commands.path.display().to_string().into();
            item["commands"] = commands.commands.iter().map(|c| c.json.clone()).collect::<Vec<_>>().into();
            out.line("");
            items.push(item);
            continue;
        }
        match m.script(*direction) {
            None => {
                // A component (a knex file, an Alembic revision) is described, then rehearsed.
                let what = match m.body {
                    Body::Knex { .. } => "knex migration",
                    Body::Alembic { .. } => "Alembic revision",
                    _ => "component",
                };
                out.line(&format!("-- dry run: would {verb} {} by running the {what} {} (sha256 {})", m.label(), m.path.display(), m.checksum));
                item["file"] = m.path.display().to_string().into();
                item["sha256"] = m.checksum.clone().into();
                if let Some(r) = rehearsals.get(i).and_then(Option::as_ref) {
                    print_rehearsal(r, out);
                    item["rehearsal"] = serde_json::to_value(r).unwrap_or_default();
                }
            }
            Some(script) => {
                out.line(&format!(
                    "-- dry run: would {verb} {} from {}{}",
                    m.label(),
                    script.path.display(),
                    if script.transaction { "" } else { " (outside a transaction)" }
                ));
                out.line(script.sql.trim_end());
                item["file"] = script.path.display().to_string().into();
                item["transaction"] = script.transaction.into();
                item["sql"] = script.sql.clone().into();
            }
        }
        out.line("");
        items.push(item);
    }
    // [workflow] repeatable migrations, applied after the versioned ones.
    let mut repeatable = Vec::new();
    for r in &plan.repeatables {
        out.line(&format!("-- dry run: would apply the repeatable migration {} from {} (new or changed)", r.name, r.script.path.display()));
        out.line(r.script.sql.trim_end());
        out.line("");
        repeatable.push(serde_json::json!({ "name": r.name, "file": r.script.path.display().to_string(), "checksum": r.checksum, "sql": r.script.sql }));
    }
    let mut callbacks = Vec::new();
    for c in &plan.callbacks {
        out.line(&format!("-- dry run: callback {} from {}", c.event.as_str(), c.script.path.display()));
        out.verbose(c.script.sql.trim_end());
        callbacks.push(serde_json::json!({ "event": c.event, "file": c.script.path.display().to_string(), "sql": c.script.sql }));
    }
    out.json(&serde_json::json!({ "dry_run": true, "steps": items, "repeatable": repeatable, "callbacks": callbacks }));
    ExitCode::SUCCESS
}
