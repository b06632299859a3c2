//! `db-migrate reset`: drop every object of the database and apply every migration again
//! (`prisma migrate reset`), for development and test databases.

use std::process::ExitCode;

use clap::Args;

use crate::Output;
use db_migrate::backend::url::redact;
use crate::config::Settings;
use db_migrate::migrate::error::Error;

#[derive(Debug, Args)]
#[command(after_help = "\
What goes: every table, view, materialized view, sequence, function, procedure, type, domain and
extension of the configured schema (PostgreSQL: the current schema; MySQL/MariaDB: the database,
with its routines and events; SQLite: tables, views and triggers; MongoDB: every collection), the
history table included. Then `up` runs every migration from the first. Seeds do not run.
Refused in the `production` environment unless --force. Recorded in .db-migrate/audit.log.")]
pub struct ResetArgs {
    /// Run even in the `production` environment.
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation (needed when there is no terminal to ask on).
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

/// `reset` and `drop` destroy data: in `production` they need `--force`.
pub fn refuse_in_production(settings: &Settings, force: bool, command: &str) -> Result<(), Error> {
    if settings.environment == "production" && !force {
        return Err(Error::Config(format!(
            "refusing to {command} in the `production` environment: it destroys every row. \
             Use --force if this really is what you want (a `backup` first is wise)"
        )));
    }
    Ok(())
}

pub async fn run(settings: &Settings, args: ResetArgs, out: &Output) -> Result<ExitCode, Error> {
    refuse_in_production(settings, args.force, "reset")?;
    let db = redact(&settings.database_url);
    let question = format!(
        "Drop every table, view, sequence, function and type of {db} (environment {}), the history included, and apply every migration again?",
        settings.environment
    );
    crate::commands::repair::require_confirmation(args.yes, out, &question, "reset")?;
    let audit = crate::audit::AuditLog::new(settings.project_dir.join(".db-migrate").join("audit.log"));
    let result = crate::commands::run::with_progress(settings, out).reset().await;
    let record = |dropped: Option<usize>, error: Option<String>| {
        audit.operation(
            "reset",
            serde_json::json!({ "environment": settings.environment, "database": db, "dropped": dropped, "error": error }),
        )
    };
    let (dropped, report) = match result {
        Ok(r) => r,
        Err(e) => {
            record(None, Some(e.to_string()));
            return Err(e);
        }
    };
    record(Some(dropped.len()), None);
    out.line(&format!(
        "reset: dropped {} object(s), applied {} migration(s) in {:.1} ms",
        dropped.len(),
        report.steps.len(),
        report.total_ms
    ));
    out.json(&serde_json::json!({ "dropped": dropped, "steps": report.steps, "total_ms": report.total_ms, "warnings": report.warnings }));
    Ok(ExitCode::SUCCESS)
}
