//! `db-migrate backup` and `restore`, and the backup `up`/`down`/`redo` take first when asked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::Output;
use db_migrate::backend::DatabaseUrl;
use crate::config::Settings;
use db_migrate::migrate::error::Error;

#[derive(Debug, Args)]
#[command(after_help = "\
SQLite: an online copy (VACUUM INTO); PostgreSQL: pg_dump -Fc; MySQL/MariaDB: mariadb-dump or
mysqldump; MongoDB: every collection with its indexes and documents, as JSON. The file is written
under a temporary name and renamed when complete: a failed backup leaves no file, and a backup
never replaces an existing one (default names get -2, -3… when taken).

Examples:
  db-migrate backup                         backups/<env>-<yyyymmdd-HHMMSS-mmm>.<ext>
  db-migrate --env production backup --out /var/backups/app.pgdump")]
pub struct BackupArgs {
    /// Where to write the backup (default: backups/<environment>-<UTC timestamp, ms>.<ext>); an
    /// existing file is refused.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The database afterwards holds exactly what the backup holds: tables, data and other objects made
after the backup are gone. SQLite: the file is swapped in with a rename. PostgreSQL: pg_restore
turns the backup into SQL, then one psql transaction drops the database's objects (extensions,
schemas other than public, and everything in public) and runs it, so a failure changes nothing.
MySQL/MariaDB: every table, view, routine and event is dropped, then the dump runs (DDL commits
as it goes there). MongoDB: every collection is dropped, then the backup's are created.")]
pub struct RestoreArgs {
    /// A backup written by `db-migrate backup`.
    file: PathBuf,
    /// Do not ask for confirmation (it is only asked on an interactive terminal).
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    pub db: crate::DbArgs,
}

/// Backs up the configured database; returns where the backup went.
pub async fn take(settings: &Settings, out: Option<PathBuf>) -> Result<PathBuf, Error> {
    let url = DatabaseUrl::parse(&settings.database_url, &settings.project_dir)?;
    let dest = match out {
        Some(p) => crate::backup::Destination::Exact(p),
        None => crate::backup::default_destination(&settings.project_dir, &settings.environment, &url),
    };
    crate::backup::backup(&url, &dest).await
}

pub async fn backup(settings: &Settings, args: BackupArgs, out: &Output) -> Result<ExitCode, Error> {
    let path = take(settings, args.out).await?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    out.line(&format!("backed up {} to {} ({:.1} KiB)", db_migrate::backend::url::redact(&settings.database_url), path.display(), bytes as f64 / 1024.0));
    out.json(&serde_json::json!({ "backup": path.display().to_string(), "bytes": bytes }));
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(settings: &Settings, args: RestoreArgs, out: &Output) -> Result<ExitCode, Error> {
    let url = DatabaseUrl::parse(&settings.database_url, &settings.project_dir)?;
    let shown = db_migrate::backend::url::redact(&settings.database_url);
    let question = format!("Replace everything in {shown} with {}?", args.file.display());
    if !args.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) && !out.json && !crate::commands::repair::confirm(&question) {
        return Err(Error::Config("restore cancelled: nothing changed".into()));
    }
    crate::backup::restore(&url, &args.file).await?;
    out.line(&format!("restored {shown} from {}", args.file.display()));
    out.json(&serde_json::json!({ "restored": args.file.display().to_string() }));
    Ok(ExitCode::SUCCESS)
}

/// Before a run that changes the database: back up when `--backup` or the environment says so.
/// A backup that cannot be taken stops the run before anything changes.
pub async fn before_run(settings: &Settings, asked: bool, out: &Output) -> Result<(), Error> {
    if !(asked || settings.backup_always) {
        return Ok(());
    }
    let url = DatabaseUrl::parse(&settings.database_url, &settings.project_dir)?;
    if let DatabaseUrl::Sqlite(db_migrate::backend::url::SqliteTarget::File(f)) = &url {
        if !f.exists() {
            out.note("no backup: the database does not exist yet");
            return Ok(());
        }
    }
    let path = take(settings, None).await.map_err(|e| Error::Config(format!("{e}\nno migration was run: the backup before it failed")))?;
    out.note(&format!("backed up to {} (restore with `db-migrate restore {}`)", path.display(), path.display()));
    Ok(())
}
