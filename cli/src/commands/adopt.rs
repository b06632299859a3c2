//! `db-migrate detect` and `db-migrate import`: taking over from another migration tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::{Output, migrator};
use crate::adopt::{self, Tool};
use crate::config::Settings;
use db_migrate::migrate::error::{Error, ImportError};

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

The folder and the history table come from the tool's own settings (knexfile `migrations`,
.sequelizerc `migrations-path`, TypeORM `migrations`/`migrationsTableName`, flyway.conf
`flyway.locations`/`flyway.table`, alembic `script_location`/`version_table`, package.json
`prisma.schema`); `db-migrate detect` shows what was read. When a setting is computed at run
time and cannot be read, say it with --migrations-dir and --history-table.

Running `import` again (e.g. `import` first, `import --adopt` later) keeps files identical to
the ones it would write; a file with other content is refused. Flyway's dotted versions (V1.1)
become fixed-width numbers that keep Flyway's order (V1 → 1000, V1.1 → 1001, V2 → 2000).

Examples:
  db-migrate detect
  db-migrate import --from prisma
  db-migrate import --from dbmate --adopt
  db-migrate import --from knex --adopt
  db-migrate import --from flyway --migrations-dir database/sql --history-table schema_history --adopt")]
pub struct ImportArgs {
    /// The tool to import from (`detect` tells which).
    #[arg(long, value_enum)]
    from: Tool,
    /// The project using it (default: the current one).
    path: Option<PathBuf>,
    /// Also read the tool's history in the database and record it as db-migrate's.
    #[arg(long)]
    adopt: bool,
    /// The tool's migrations folder, relative to PATH, when its settings cannot be read.
    #[arg(long, value_name = "PATH")]
    migrations_dir: Option<PathBuf>,
    /// The table the tool records its history in, when its settings cannot be read.
    #[arg(long, value_name = "NAME")]
    history_table: Option<String>,
    #[command(flatten)]
    pub db: crate::DbArgs,
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
        if d.migrations == 0 {
            out.note(&format!(
                "note: no {} migrations in {}/; if its settings put them elsewhere, `import --migrations-dir PATH` says where",
                d.tool.name(),
                d.migrations_dir
            ));
        }
    }
    out.json(&serde_json::json!({ "tools": found }));
    Ok(ExitCode::SUCCESS)
}

pub async fn import(settings: &Settings, args: ImportArgs, out: &Output) -> Result<ExitCode, Error> {
    let root = args.path.unwrap_or_else(|| settings.project_dir.clone());
    let found = adopt::detect(&root);
    let seen: Vec<&str> = found.iter().map(|d| d.tool.name()).collect();
    let mut d = match (found.iter().find(|d| d.tool == args.from), &args.migrations_dir) {
        (Some(d), _) => d.clone(),
        // Not recognised from its files, but the user says where its migrations are.
        (None, Some(dir)) => adopt::Detected {
            tool: args.from,
            evidence: "--migrations-dir".into(),
            database: "unknown".into(),
            url_source: "the database URL given to db-migrate".into(),
            migrations_dir: dir.display().to_string(),
            migrations: 0,
            history_table: args.from.history_table().to_string(),
            sql_based: args.from.sql_based(),
        },
        (None, None) => {
            return Err(Error::Config(format!(
                "no {} project found in {} (found: {}); `db-migrate detect` shows what is there, \
                 `--migrations-dir PATH` says where its migrations are",
                args.from.name(),
                root.display(),
                if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") }
            )));
        }
    };
    if let Some(dir) = &args.migrations_dir {
        d.migrations_dir = dir.display().to_string();
    }
    if let Some(t) = &args.history_table {
        d.history_table = t.clone();
    }
    let dir = root.join(&d.migrations_dir);
    d.migrations = adopt::count(d.tool, &dir);
    if d.migrations == 0 {
        return Err(ImportError::NothingFound { tool: d.tool.name().to_string(), dir }.into());
    }
    if !d.sql_based {
        return baseline_code_tool(settings, &d, args.adopt, out).await;
    }
    let plan = adopt::plan_import(args.from, &dir, &settings.migrations_dir)?;
    // Read the tool's history before writing anything, so a wrong table changes nothing.
    let applied = if args.adopt { Some(read_history(settings, &d).await?) } else { None };
    let baselines = match adopt::baseline_query(d.tool, &d.history_table, is_mysql(settings))? {
        Some(sql) if args.adopt => migrator(settings).read_column(&sql).await?,
        _ => Vec::new(),
    };
    adopt::apply(&plan)?;
    for c in &plan.copies {
        if c.kept {
            out.line(&format!("kept     {} (identical to {})", c.to.display(), c.from.display()));
        } else {
            out.line(&format!("copied   {} -> {}", c.from.display(), c.to.display()));
        }
    }
    for (f, why) in &plan.skipped {
        out.line(&format!("skipped  {}: {why}", f.display()));
    }
    let kept = plan.copies.iter().filter(|c| c.kept).count();
    out.line(&format!(
        "imported {} migration(s) from {} ({}/, history table {}){}",
        plan.versions.len(),
        args.from.name(),
        d.migrations_dir,
        d.history_table,
        if kept > 0 { format!("; {kept} file(s) were there already") } else { String::new() }
    ));
    let mut adopted = Vec::new();
    let mut unmapped = Vec::new();
    if let Some(applied) = applied {
        let mut versions = Vec::new();
        for name in &applied {
            let key = adopt::history_key(args.from, name);
            match plan.versions.iter().find(|(n, _)| *n == key) {
                Some((_, v)) => versions.push(*v),
                None => unmapped.push(name.clone()),
            }
        }
        // A baseline stands for every version up to it (Flyway), whether its files ran or not.
        for b in &baselines {
            versions.extend(plan.versions.iter().filter(|(k, _)| adopt::below_baseline(k, b)).map(|(_, v)| *v));
        }
        versions.sort_unstable();
        versions.dedup();
        let recorded = migrator(settings).on_event(crate::commands::run::warnings_only(out)).record_applied(&versions).await?;
        for m in &recorded {
            out.line(&format!("adopted  {} (applied by {}, not run again)", m.label(), args.from.name()));
            adopted.push(m.version);
        }
        for n in &unmapped {
            out.note(&format!("warning: {} recorded `{n}` as applied, but no imported migration matches it; check it by hand", args.from.name()));
        }
    }
    out.json(&serde_json::json!({ "tool": args.from, "migrations_dir": d.migrations_dir, "history_table": d.history_table, "copies": plan.copies, "skipped": plan.skipped, "adopted": adopted, "unmapped": unmapped, "warnings": out.warnings() }));
    Ok(ExitCode::SUCCESS)
}

fn is_mysql(settings: &Settings) -> bool {
    settings.database_url.starts_with("mysql:") || settings.database_url.starts_with("mariadb:")
}

/// What the tool recorded as applied in its history table.
async fn read_history(settings: &Settings, d: &adopt::Detected) -> Result<Vec<String>, Error> {
    let sql = adopt::applied_query(d.tool, &d.history_table, is_mysql(settings))?;
    migrator(settings).read_column(&sql).await.map_err(|e| match e {
        Error::Config(m) => Error::Config(format!(
            "{m}\nif {} records its history in another table, pass `--history-table NAME`",
            d.tool.name()
        )),
        other => other,
    })
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
        db_migrate::backend::mongo::migrate_mongo_applied(&settings.database_url, &d.history_table).await?
    } else {
        read_history(settings, d).await?
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
    migrator(settings).on_event(crate::commands::run::warnings_only(out)).record_applied(&[version]).await?;
    out.line(&format!("wrote    {} ({} {} migration(s) applied)", file.display(), applied.len(), d.tool.name()));
    out.line(&format!(
        "adopted: the database is baselined at {}'s state; write new migrations with `db-migrate create` and stop running {}",
        d.tool.name(),
        d.tool.name()
    ));
    out.json(&serde_json::json!({ "tool": d.tool, "history_table": d.history_table, "marker": file.display().to_string(), "applied_by_tool": applied, "warnings": out.warnings() }));
    Ok(ExitCode::SUCCESS)
}
