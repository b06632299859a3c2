//! `db-migrate drop`: drop the database itself (dbmate's `drop`).

use std::process::ExitCode;

use clap::Args;

use crate::{Output, migrator};
use db_migrate::backend::url::redact;
use crate::config::Settings;
use db_migrate::migrate::error::Error;

#[derive(Debug, Args)]
#[command(after_help = "\
SQLite: deletes the file and its -wal, -shm and -journal companions. PostgreSQL: DROP DATABASE
from the `postgres` maintenance database (refused while other sessions are connected).
MySQL/MariaDB: DROP DATABASE. MongoDB: dropDatabase. `up` creates the database again.
Refused in the `production` environment unless --force. Recorded in .db-migrate/audit.log.")]
pub struct DropArgs {
    /// Run even in the `production` environment.
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation (needed when there is no terminal to ask on).
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

pub async fn run(settings: &Settings, args: DropArgs, out: &Output) -> Result<ExitCode, Error> {
    crate::commands::reset::refuse_in_production(settings, args.force, "drop the database")?;
    let db = redact(&settings.database_url);
    let question = format!("Drop the database {db} (environment {}) with everything in it?", settings.environment);
    crate::commands::repair::require_confirmation(args.yes, out, &question, "drop")?;
    let existed = migrator(settings).drop_database().await?;
    crate::audit::AuditLog::new(settings.project_dir.join(".db-migrate").join("audit.log"))
        .operation("drop", serde_json::json!({ "environment": settings.environment, "database": db, "existed": existed }));
    if existed {
        out.line(&format!("dropped the database {db}"));
    } else {
        out.line(&format!("the database {db} does not exist: nothing to drop"));
    }
    out.json(&serde_json::json!({ "database": db, "dropped": existed }));
    Ok(ExitCode::SUCCESS)
}
