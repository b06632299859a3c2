//! `db-migrate repair`: resolve a dirty migration after a human checked the schema.

use std::process::ExitCode;

use clap::{ArgGroup, Args};

use super::{Output, migrator};
use crate::config::Settings;
use crate::migrate::error::Error;
use crate::migrate::migrator::Resolution;
use crate::migrate::plan::State;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("how").required(true).args(["mark_applied", "mark_reverted"])))]
pub struct RepairArgs {
    /// The migration's changes are in place: record it as applied.
    #[arg(long, value_name = "VERSION")]
    mark_applied: Option<i64>,
    /// The migration's changes are not in place (or were undone by hand): forget it.
    #[arg(long, value_name = "VERSION")]
    mark_reverted: Option<i64>,
    /// Do not ask for confirmation (it is only asked on an interactive terminal).
    #[arg(long, short)]
    yes: bool,
}

/// Asks on the terminal; anything but `y`/`yes` declines.
pub fn confirm(question: &str) -> bool {
    use std::io::Write;
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

pub async fn run(settings: &Settings, args: RepairArgs, out: &Output) -> Result<ExitCode, Error> {
    let (version, resolution) = match (args.mark_applied, args.mark_reverted) {
        (Some(v), _) => (v, Resolution::MarkApplied),
        (_, Some(v)) => (v, Resolution::MarkReverted),
        _ => unreachable!("clap requires one"),
    };
    let mut m = migrator(settings);
    let entries = m.status().await?;
    let Some(entry) = entries.iter().find(|e| e.version == version) else {
        return Err(Error::Config(format!("no migration has version {version}; `db-migrate status` lists them")));
    };
    if entry.state != State::Dirty {
        return Err(Error::Config(format!(
            "migration {version}_{} is {}, not dirty; repair only resolves dirty migrations",
            entry.name,
            entry.state.as_str()
        )));
    }
    let question = match resolution {
        Resolution::MarkApplied => format!("Record {version}_{} as applied (its changes are all in place)?", entry.name),
        Resolution::MarkReverted => format!("Forget {version}_{} (its changes are not in place, or were undone by hand)?", entry.name),
    };
    if !args.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) && !out.json && !confirm(&question) {
        return Err(Error::Config("repair cancelled: nothing changed".into()));
    }
    m.repair(version, resolution).await?;
    let what = match resolution {
        Resolution::MarkApplied => "marked applied",
        Resolution::MarkReverted => "marked reverted (history row removed)",
    };
    out.line(&format!("{version}_{}: {what}", entry.name));
    out.json(&serde_json::json!({ "version": version, "name": entry.name, "resolution": what }));
    Ok(ExitCode::SUCCESS)
}
