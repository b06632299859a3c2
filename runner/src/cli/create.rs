//! `db-migrate create`: write a new, empty migration.

use std::process::ExitCode;

use clap::Args;

use super::Output;
use crate::config::Settings;
use crate::migrate::error::Error;
use crate::migrate::source;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the migration: letters, digits, `_` and `-` (e.g. add_users_table).
    #[arg(long, short)]
    name: String,
}

const TEMPLATE: &str = "-- migrate:up\n\n\n-- migrate:down\n\n";

pub fn run(settings: &Settings, args: CreateArgs, out: &Output) -> Result<ExitCode, Error> {
    if !source::is_valid_name(&args.name) {
        return Err(Error::Config(format!(
            "invalid migration name `{}`: use letters, digits, `_` and `-` only (e.g. `add_users_table`), \
             at most 200 characters",
            args.name
        )));
    }
    let dir = &settings.migrations_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.clone(), message: e.to_string() })?;

    // The UTC timestamp, bumped past any existing version so the new migration always sorts last.
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let stamp: i64 = now.format(&fmt).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let newest = existing_versions(dir).into_iter().max().unwrap_or(0);
    let version = stamp.max(newest + 1);

    let path = dir.join(format!("{version}_{}.sql", args.name));
    std::fs::write(&path, TEMPLATE).map_err(|e| Error::Io { path: path.clone(), message: e.to_string() })?;
    out.line(&format!("created {}", path.display()));
    out.json(&serde_json::json!({ "version": version, "name": args.name, "file": path.display().to_string() }));
    Ok(ExitCode::SUCCESS)
}

/// Versions of the entries in `dir`, read leniently from names (a broken file must not stop `create`).
fn existing_versions(dir: &std::path::Path) -> Vec<i64> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or("").to_string();
            source::parse_stem(&stem).and_then(|r| r.ok()).map(|(v, _)| v)
        })
        .collect()
}
