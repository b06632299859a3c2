//! `db-migrate squash --to V`: replace the migrations up to V with one SQL migration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::config::Settings;
use crate::{Output, migrator};
use db_migrate::migrate::error::{Direction, Error};
use db_migrate::migrate::squash::{self, DataPolicy, Refusal};
use db_migrate::migrate::workflow_files::SQUASHED_DIR;

#[derive(Debug, Args)]
#[command(after_help = "\
Writes migrations/V_squashed.sql: the up sections of every migration up to V in order, and (when
each has one) their down sections in reverse order. Its first up line, `-- db-migrate:replaces
1,2,…,V`, lets databases that applied the old migrations keep working: `up` records it as applied
without running it. A database that applied only some of them is refused until it catches up.
The old files move to migrations/squashed/ (nothing reads them there).

Refused when a component (.wasm) or MongoDB command file (.mongo.json) is among them, and when
statements that change data (INSERT, UPDATE, DELETE, MERGE, COPY, REPLACE, TRUNCATE) would be
carried over without saying so: pass --keep-data or --drop-data.

Without --yes nothing is written: the command shows what it would do.

Examples:
  db-migrate squash --to 20240601000000
  db-migrate squash --to 20240601000000 --keep-data --yes")]
pub struct SquashArgs {
    /// Replace every migration up to and including this version.
    #[arg(long, value_name = "VERSION")]
    to: i64,
    /// Write the squashed migration and move the old files (without it: show what would happen).
    #[arg(long)]
    yes: bool,
    /// Keep statements that change data in the squashed migration (fresh databases get the data too).
    #[arg(long, conflicts_with = "drop_data")]
    keep_data: bool,
    /// Leave statements that change data out of the squashed migration (fresh databases get the schema only).
    #[arg(long)]
    drop_data: bool,
}

/// The files and folders a migration was read from.
fn files_of(m: &db_migrate::Migration) -> Vec<PathBuf> {
    let mut out = vec![m.path.clone()];
    if let Some(d) = m.script(Direction::Down) {
        if !d.path.starts_with(&m.path) && !out.contains(&d.path) {
            out.push(d.path.clone());
        }
    }
    out
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), message: e.to_string() }
}

pub fn run(settings: &Settings, args: SquashArgs, out: &Output) -> Result<ExitCode, Error> {
    let migrations = migrator(settings).migrations()?;
    if !migrations.iter().any(|m| m.version == args.to) {
        return Err(Error::Config(format!("no migration has version {}; `db-migrate status` lists them", args.to)));
    }
    let parts: Vec<&db_migrate::Migration> = migrations.iter().filter(|m| m.version <= args.to).collect();
    if parts.len() < 2 {
        return Err(Error::Config(format!("only {} is at or before version {}: there is nothing to squash", parts[0].label(), args.to)));
    }
    let policy = match (args.keep_data, args.drop_data) {
        (true, _) => DataPolicy::Keep,
        (_, true) => DataPolicy::Drop,
        _ => DataPolicy::Refuse,
    };
    let opted_out = |p: &Path| std::fs::read_to_string(p).is_ok_and(|t| db_migrate::migrate::placeholders::opts_out(&t));
    let file = squash::build(&parts, policy, opted_out).map_err(|r| match r {
        Refusal::NotSql(list) => Error::Config(format!(
            "cannot squash: these migrations are not SQL, so there is nothing to concatenate; squash up to a version before them:\n  - {}",
            list.join("\n  - ")
        )),
        Refusal::DataChanges(list) => Error::Config(format!(
            "these statements change data rather than schema; say what the squashed migration should do with them: \
             --keep-data (fresh databases get the data too) or --drop-data (schema only):\n  - {}",
            list.join("\n  - ")
        )),
        Refusal::MixedPlaceholders(list) => Error::Config(format!(
            "these files turn placeholders off (`-- db-migrate:no-placeholders`) while others use them; one file cannot do both: \
             squash up to a version before them, or write their `${{...}}` as `$${{...}}`:\n  - {}",
            list.join("\n  - ")
        )),
    })?;
    let target = settings.migrations_dir.join(&file.file_name);
    let moved: Vec<PathBuf> = parts.iter().flat_map(|m| files_of(m)).collect();
    let squashed_dir = settings.migrations_dir.join(SQUASHED_DIR);
    let destination = |p: &Path| squashed_dir.join(p.file_name().expect("migration files have names"));
    if target.exists() && !moved.contains(&target) {
        return Err(Error::Config(format!("{} exists already; move it away first", target.display())));
    }
    if let Some(p) = moved.iter().find(|p| destination(p).exists()) {
        return Err(Error::Config(format!("{} exists already (from an earlier squash?); move it away first", destination(p).display())));
    }
    let names: Vec<String> = parts.iter().map(|m| m.label()).collect();
    if args.yes {
        std::fs::create_dir_all(&squashed_dir).map_err(|e| io(&squashed_dir, e))?;
        for p in &moved {
            std::fs::rename(p, destination(p)).map_err(|e| io(p, e))?;
        }
        std::fs::write(&target, &file.text).map_err(|e| io(&target, e))?;
        out.line(&format!("wrote {} replacing {} migrations ({})", target.display(), parts.len(), names.join(", ")));
        out.line(&format!("moved their files to {}", squashed_dir.display()));
        out.line("databases that applied all of them record it on their next `up` without running it; fresh databases run it");
    } else {
        out.line(&format!("would write {} replacing {} migrations ({})", target.display(), parts.len(), names.join(", ")));
        out.line(&format!("would move their files to {}; run again with --yes to do it", squashed_dir.display()));
    }
    if !file.reversible {
        out.note("note: not every replaced migration has a down section, so the squashed one has none (it is irreversible)");
    }
    for d in &file.data_kept {
        out.verbose(&format!("kept data change {d}"));
    }
    for d in &file.data_dropped {
        out.verbose(&format!("left out data change {d}"));
    }
    out.json(&serde_json::json!({
        "written": args.yes,
        "file": target.display().to_string(),
        "replaces": file.replaces,
        "moved": moved.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "reversible": file.reversible,
        "data_kept": file.data_kept,
        "data_dropped": file.data_dropped,
    }));
    Ok(ExitCode::SUCCESS)
}
