//! `db-migrate repair`: fix the history by hand once a human has decided what is true — a dirty
//! migration (applied or not), a migration edited on purpose after it was applied (`modified`),
//! or one whose file was deleted on purpose (`missing`).

use std::process::ExitCode;

use clap::{ArgGroup, Args};

use crate::{Output, migrator};
use crate::config::Settings;
use db_migrate::migrate::error::Error;
use db_migrate::run::migrator::Resolution;
use db_migrate::migrate::plan::State;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("how").required(true).args(["mark_applied", "mark_reverted", "accept_checksum", "forget"])))]
#[command(after_help = "\
Which flag fits which state (`db-migrate status` shows it):
  dirty      --mark-applied V (its changes are in place) or --mark-reverted V (they are not)
  modified   --accept-checksum V: you edited the file on purpose; the history takes its new checksum
  missing    --forget V: you deleted the file on purpose; its history row goes
Each change is written to .db-migrate/audit.log. On a terminal repair asks first; elsewhere
--accept-checksum and --forget need --yes.")]
pub struct RepairArgs {
    /// A dirty migration's changes are in place: record it as applied.
    #[arg(long, value_name = "VERSION")]
    mark_applied: Option<i64>,
    /// A dirty migration's changes are not in place (or were undone by hand): forget it.
    #[arg(long, value_name = "VERSION")]
    mark_reverted: Option<i64>,
    /// A modified migration was edited on purpose: record the file's current checksum.
    #[arg(long, value_name = "VERSION")]
    accept_checksum: Option<i64>,
    /// A missing migration's file was deleted on purpose: remove its history row.
    #[arg(long, value_name = "VERSION")]
    forget: Option<i64>,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

/// Asks on the terminal; anything but `y`/`yes` declines.
pub fn confirm(question: &str) -> bool {
    use std::io::Write;
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Confirmation for a change that cannot be taken back: `--yes` skips it; on a terminal the
/// question is asked; anywhere else (a script, CI, `--json`) the change is refused.
pub fn require_confirmation(yes: bool, out: &Output, question: &str, command: &str) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if !tty || out.json {
        return Err(Error::Config(format!(
            "{command} changes the database and needs confirmation, but there is no terminal to ask on: \
             rerun with --yes if you mean it. Nothing changed"
        )));
    }
    if confirm(question) { Ok(()) } else { Err(Error::Config(format!("{command} cancelled: nothing changed"))) }
}

pub async fn run(settings: &Settings, args: RepairArgs, out: &Output) -> Result<ExitCode, Error> {
    let (version, resolution) = match (args.mark_applied, args.mark_reverted, args.accept_checksum, args.forget) {
        (Some(v), ..) => (v, Resolution::MarkApplied),
        (_, Some(v), ..) => (v, Resolution::MarkReverted),
        (_, _, Some(v), _) => (v, Resolution::AcceptChecksum),
        (.., Some(v)) => (v, Resolution::Forget),
        _ => unreachable!("clap requires one"),
    };
    let mut m = migrator(settings).on_event(crate::commands::run::warnings_only(out));
    let entries = m.status().await?;
    let Some(entry) = entries.iter().find(|e| e.version == version) else {
        return Err(Error::Config(format!("no migration has version {version}; `db-migrate status` lists them")));
    };
    let (wanted, flag) = match resolution {
        Resolution::MarkApplied => (State::Dirty, "--mark-applied"),
        Resolution::MarkReverted => (State::Dirty, "--mark-reverted"),
        Resolution::AcceptChecksum => (State::Modified, "--accept-checksum"),
        Resolution::Forget => (State::Missing, "--forget"),
    };
    if entry.state != wanted {
        let hint = match entry.state {
            State::Dirty => " (a dirty one takes --mark-applied or --mark-reverted)",
            State::Modified => " (a modified one takes --accept-checksum)",
            State::Missing => " (a missing one takes --forget)",
            _ => " (nothing to repair)",
        };
        return Err(Error::Config(format!(
            "migration {version}_{} is {}, not {}: {flag} only resolves {} migrations{hint}",
            entry.name,
            entry.state.as_str(),
            wanted.as_str(),
            wanted.as_str()
        )));
    }
    let label = format!("{version}_{}", entry.name);
    let question = match resolution {
        Resolution::MarkApplied => format!("Record {label} as applied (its changes are all in place)?"),
        Resolution::MarkReverted => format!("Forget {label} (its changes are not in place, or were undone by hand)?"),
        Resolution::AcceptChecksum => format!("Accept the edited file of {label} as what was applied (its new SQL will never run here)?"),
        Resolution::Forget => format!("Remove the history row of {label}, whose file is gone (its changes stay in the database)?"),
    };
    match resolution {
        // Kept as it always was: asked on a terminal, done without asking elsewhere.
        Resolution::MarkApplied | Resolution::MarkReverted => {
            if !args.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) && !out.json && !confirm(&question) {
                return Err(Error::Config("repair cancelled: nothing changed".into()));
            }
        }
        Resolution::AcceptChecksum | Resolution::Forget => require_confirmation(args.yes, out, &question, "repair")?,
    }
    let old = m.history_row(version).await?;
    m.repair(version, resolution).await?;
    let (what, action) = match resolution {
        Resolution::MarkApplied => ("marked applied", "mark-applied"),
        Resolution::MarkReverted => ("marked reverted (history row removed)", "mark-reverted"),
        Resolution::AcceptChecksum => ("checksum accepted (the history now matches the file)", "accept-checksum"),
        Resolution::Forget => ("forgotten (history row removed)", "forget"),
    };
    let new_checksum = match resolution {
        Resolution::AcceptChecksum => m.history_row(version).await?.map(|h| h.checksum),
        _ => None,
    };
    crate::audit::AuditLog::new(settings.project_dir.join(".db-migrate").join("audit.log")).operation(
        "repair",
        serde_json::json!({
            "action": action,
            "migration": label,
            "environment": settings.environment,
            "database": db_migrate::backend::url::redact(&settings.database_url),
            "old_checksum": old.map(|h| h.checksum),
            "new_checksum": new_checksum,
        }),
    );
    out.line(&format!("{label}: {what}"));
    out.json(&serde_json::json!({ "version": version, "name": entry.name, "resolution": what, "action": action, "warnings": out.warnings() }));
    Ok(ExitCode::SUCCESS)
}
