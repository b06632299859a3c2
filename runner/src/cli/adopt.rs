//! `db-migrate detect` and `db-migrate import`: taking over from another migration tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Output, migrator};
use crate::adopt::{self, Tool};
use crate::config::Settings;
use crate::migrate::error::Error;

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The project to look at (default: the current one).
    path: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
SQL-based tools (prisma, dbmate, golang-migrate, sqlx, diesel, flyway): their migrations are
copied byte for byte into migrations/, keeping versions and order. With --adopt, the tool's
history in the live database is read and recorded as db-migrate's, so nothing runs again.

Code-based tools (knex, sequelize, typeorm, alembic): their migrations cannot be converted;
--adopt records one marker migration as applied (the database as the tool left it), and new
migrations continue in db-migrate.

Examples:
  db-migrate detect
  db-migrate import --from prisma
  db-migrate import --from dbmate --adopt
  db-migrate import --from knex --adopt")]
pub struct ImportArgs {
    /// The tool to import from (`detect` tells which).
    #[arg(long, value_enum)]
    from: Tool,
    /// The project using it (default: the current one).
    path: Option<PathBuf>,
    /// Also read the tool's history in the database and record it as db-migrate's.
    #[arg(long)]
    adopt: bool,
    #[command(flatten)]
    pub db: super::DbArgs,
}

pub fn detect(settings: &Settings, args: DetectArgs, out: &Output) -> Result<ExitCode, Error> {
    let root = args.path.unwrap_or_else(|| settings.project_dir.clone());
    let found = adopt::detect(&root);
    if found.is_empty() {
        out.line(&format!("no migration tool found in {}", root.display()));
    }
    for d in &found {
        out.line(&format!(
            "{:<14} {} migration(s) in {}/ · database {} (URL from {}) · history table {} · {} · found by {}",
            d.tool.name(),
            d.migrations,
            d.migrations_dir,
            d.database,
            d.url_source,
            d.history_table,
            if d.sql_based { "SQL: `import` converts it" } else { "code: `import --adopt` baselines it" },
            d.evidence
        ));
    }
    out.json(&serde_json::json!({ "tools": found }));
    Ok(ExitCode::SUCCESS)
}

pub async fn import(settings: &Settings, args: ImportArgs, out: &Output) -> Result<ExitCode, Error> {
    let root = args.path.unwrap_or_else(|| settings.project_dir.clone());
    let found = adopt::detect(&root);
    let Some(d) = found.iter().find(|d| d.tool == args.from) else {
        let seen: Vec<&str> = found.iter().map(|d| d.tool.name()).collect();
        return Err(Error::Config(format!(
            "no {} project found in {} (found: {}); `db-migrate detect` shows what is there",
            args.from.name(),
            root.display(),
            if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") }
        )));
    };
    if !d.sql_based {
        return baseline_code_tool(settings, d, args.adopt, out).await;
    }
    let plan = adopt::plan_import(args.from, &root.join(&d.migrations_dir), &settings.migrations_dir)?;
    adopt::apply(&plan)?;
    for c in &plan.copies {
        out.line(&format!("copied   {} -> {}", c.from.display(), c.to.display()));
    }
    for (f, why) in &plan.skipped {
        out.line(&format!("skipped  {}: {why}", f.display()));
    }
    out.line(&format!("imported {} migration(s) from {}", plan.versions.len(), args.from.name()));
    let mut adopted = Vec::new();
    let mut unmapped = Vec::new();
    if args.adopt {
        let applied = migrator(settings).read_column(adopt::applied_query(args.from)).await?;
        let mut versions = Vec::new();
        for name in &applied {
            match plan.versions.iter().find(|(n, _)| n == name || n.trim_start_matches('0') == name.trim_start_matches('0')) {
                Some((_, v)) => versions.push(*v),
                None => unmapped.push(name.clone()),
            }
        }
        let recorded = migrator(settings).record_applied(&versions).await?;
        for m in &recorded {
            out.line(&format!("adopted  {} (applied by {}, not run again)", m.label(), args.from.name()));
            adopted.push(m.version);
        }
        for n in &unmapped {
            out.note(&format!("warning: {} recorded `{n}` as applied, but no imported migration matches it; check it by hand", args.from.name()));
        }
    }
    out.json(&serde_json::json!({ "tool": args.from, "copies": plan.copies, "skipped": plan.skipped, "adopted": adopted, "unmapped": unmapped }));
    Ok(ExitCode::SUCCESS)
}

/// Code-based tools: a marker migration recorded as applied stands for everything the tool did.
async fn baseline_code_tool(settings: &Settings, d: &adopt::Detected, adopt: bool, out: &Output) -> Result<ExitCode, Error> {
    if !adopt {
        return Err(Error::Config(format!(
            "{} migrations are code and cannot be converted; run `db-migrate import --from {} --adopt` to baseline the database at {}'s current state",
            d.tool.name(),
            d.tool.name(),
            d.tool.name()
        )));
    }
    let mongo = d.tool == Tool::MigrateMongo;
    let applied = if mongo {
        if !(settings.database_url.starts_with("mongodb://") || settings.database_url.starts_with("mongodb+srv://")) {
            return Err(Error::Config("migrate-mongo's history is in MongoDB: set the database URL to its mongodb:// database".into()));
        }
        crate::backend::mongo::migrate_mongo_applied(&settings.database_url, d.history_table).await?
    } else {
        migrator(settings).read_column(adopt::applied_query(d.tool)).await?
    };
    let f = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let stamp = time::OffsetDateTime::now_utc().format(&f).unwrap_or_default();
    let name = format!("{stamp}_adopted_from_{}", d.tool.name().replace('-', "_"));
    let (file, text) = if mongo {
        // A command file with no commands: MongoDB projects take `.mongo.json` migrations.
        let description = format!("the database as migrate-mongo left it: {} migration(s) applied by it ({})", applied.len(), applied.join(", "));
        let body = serde_json::to_string_pretty(&serde_json::json!({ "description": description, "up": [], "down": [] })).expect("JSON");
        (settings.migrations_dir.join(format!("{name}.mongo.json")), body + "\n")
    } else {
        let mut text = format!(
            "-- The database as {} left it: {} migration(s) applied by it, listed below. This migration runs\n\
             -- nothing; `import --adopt` recorded it as applied. New migrations continue after it.\n",
            d.tool.name(),
            applied.len()
        );
        for a in &applied {
            text.push_str(&format!("--   {a}\n"));
        }
        text.push_str("-- migrate:up\n\n-- migrate:down\n");
        (settings.migrations_dir.join(format!("{name}.sql")), text)
    };
    std::fs::create_dir_all(&settings.migrations_dir).map_err(|e| Error::Io { path: settings.migrations_dir.clone(), message: e.to_string() })?;
    std::fs::write(&file, text).map_err(|e| Error::Io { path: file.clone(), message: e.to_string() })?;
    let version: i64 = stamp.parse().unwrap_or(0);
    migrator(settings).record_applied(&[version]).await?;
    out.line(&format!("wrote    {} ({} {} migration(s) applied)", file.display(), applied.len(), d.tool.name()));
    out.line(&format!(
        "adopted: the database is baselined at {}'s state; write new migrations with `db-migrate create` and stop running {}",
        d.tool.name(),
        d.tool.name()
    ));
    out.json(&serde_json::json!({ "tool": d.tool, "marker": file.display().to_string(), "applied_by_tool": applied }));
    Ok(ExitCode::SUCCESS)
}
