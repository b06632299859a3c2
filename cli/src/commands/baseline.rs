//! `db-migrate baseline`: adopt an existing database by recording migrations as applied
//! without running them.

use std::process::ExitCode;

use clap::Args;

use crate::{Output, migrator};
use crate::config::Settings;
use db_migrate::migrate::error::Error;

#[derive(Debug, Args)]
#[command(after_help = "\
For a database whose schema already exists (created by hand, or by another tool): write
migrations that describe it, then record them as applied so `up` starts after them.

Examples:
  db-migrate baseline --version 20240101000000
  db-migrate baseline --version 20240301120000 --force   add the missing ones to an existing history")]
pub struct BaselineArgs {
    /// Record every migration up to and including this version as applied.
    #[arg(long, value_name = "VERSION")]
    version: i64,
    /// Also when the database already has a history (only missing migrations are recorded).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

pub async fn run(settings: &Settings, args: BaselineArgs, out: &Output) -> Result<ExitCode, Error> {
    let recorded = migrator(settings).on_event(crate::commands::run::warnings_only(out)).baseline(args.version, args.force).await?;
    for m in &recorded {
        out.line(&format!("recorded {} as applied (not run)", m.label()));
    }
    out.line(&format!("baseline at {}: {} migration{} recorded", args.version, recorded.len(), if recorded.len() == 1 { "" } else { "s" }));
    let versions: Vec<i64> = recorded.iter().map(|m| m.version).collect();
    out.json(&serde_json::json!({ "baseline": args.version, "recorded": versions, "warnings": out.warnings() }));
    Ok(ExitCode::SUCCESS)
}
