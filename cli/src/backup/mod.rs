//! Backups before migrating, and restoring them.
//!
//! Each database with its own native tool: SQLite online (`VACUUM INTO`, a consistent copy while
//! others read and write); PostgreSQL `pg_dump -Fc` / `pg_restore` + `psql`; MySQL and MariaDB
//! `mariadb-dump` (or `mysqldump`) / `mariadb` (or `mysql`); MongoDB through the driver, as one
//! JSON file of collections, their indexes and their documents in canonical Extended JSON.
//! Passwords reach the tools through their environment variables, never their command lines.
//!
//! A backup is written under a temporary name and published only when complete ([`output`]). A
//! restore replaces the database: what was created after the backup goes too ([`clean`]).

mod clean;
mod output;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use output::Destination;

use db_migrate::backend::DatabaseUrl;
use db_migrate::migrate::error::Error;

/// The file extension a backup of this database gets.
pub fn extension(url: &DatabaseUrl) -> &'static str {
    match url {
        DatabaseUrl::Sqlite(_) => "sqlite3",
        DatabaseUrl::Postgres(_) => "pgdump",
        DatabaseUrl::Mysql(_) => "sql",
        DatabaseUrl::Mongo(_) => "mongo.json",
    }
}

/// The default destination: `backups/<environment>-<UTC timestamp with milliseconds>.<ext>` in
/// the project, with `-2`, `-3`… added when that name is taken.
pub fn default_destination(project: &Path, environment: &str, url: &DatabaseUrl) -> Destination {
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]-[subsecond digits:3]");
    let stamp = time::OffsetDateTime::now_utc().format(&f).unwrap_or_default();
    Destination::Fresh { dir: project.join("backups"), stem: format!("{environment}-{stamp}"), ext: extension(url) }
}

fn tool(names: &[&str], package: &str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for n in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(n);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::Config(format!(
        "backing up or restoring this database needs `{}`, which is not on PATH: install {package}; nothing was changed",
        names.join("` or `")
    )))
}

fn run(mut c: Command, what: &str, stdin: Option<&Path>, stdout: Option<&Path>) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::Io { path: p.to_path_buf(), message: e.to_string() };
    if let Some(i) = stdin {
        c.stdin(std::fs::File::open(i).map_err(|e| io(i, e))?);
    }
    if let Some(o) = stdout {
        c.stdout(std::fs::File::create(o).map_err(|e| io(o, e))?);
    }
    let out = c.output().map_err(|e| Error::Config(format!("cannot run {what}: {e}")))?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "{what} failed: {}",
            db_migrate::backend::url::redact(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    Ok(())
}

/// Creates `path` as a new, empty file only its owner may read or write; refuses an existing
/// name, a link included (`O_EXCL`). A backup (or the SQL a restore reads) holds the whole
/// database.
fn private_file(path: &Path) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Io { path: path.to_path_buf(), message: format!("cannot create the file: {e}") })
}

fn file_stamp() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL without its password, and the password.
fn split_password(u: &str) -> Result<(String, Option<String>), Error> {
    let mut parsed = url::Url::parse(u).map_err(|e| Error::Connect(format!("bad database URL `{}`: {e}", db_migrate::backend::url::redact(u))))?;
    let password = parsed.password().map(percent_decode);
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

/// Writes a backup of the database at `url` to `dest`; returns the file it wrote. The tool
/// writes a temporary file next to it, renamed when complete; a failure leaves no file.
pub async fn backup(url: &DatabaseUrl, dest: &Destination) -> Result<PathBuf, Error> {
    let dir = dest.dir();
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io { path: dir.clone(), message: e.to_string() })?;
    }
    if let Destination::Exact(out) = dest {
        if out.exists() {
            return Err(output::exists(out));
        }
    }
    let tmp = dest.temporary();
    // Created here, private and new (never through a link): the tools write into it, and
    // the mode stays when it is published under its final name.
    private_file(&tmp)?;
    match write(url, &tmp).await {
        Ok(()) => dest.publish(&tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

async fn write(url: &DatabaseUrl, out: &Path) -> Result<(), Error> {
    match url {
        DatabaseUrl::Sqlite(db_migrate::backend::url::SqliteTarget::File(db)) => {
            use sqlx::{Connection, Executor};
            if !db.exists() {
                return Err(Error::Config(format!("there is no database at {} to back up", db.display())));
            }
            let mut c = sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true))
                .await
                .map_err(|e| Error::Connect(format!("cannot open {}: {e}", db.display())))?;
            let target = out.display().to_string().replace('\'', "''");
            let r = c.execute(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'"))).await;
            let _ = c.close().await;
            r.map(drop).map_err(|e| Error::Config(format!("the SQLite backup failed: {e}")))
        }
        DatabaseUrl::Sqlite(_) => Err(Error::Config("an in-memory SQLite database cannot be backed up".into())),
        DatabaseUrl::Postgres(u) => {
            let pg_dump = tool(&["pg_dump"], "the PostgreSQL client (`apt install postgresql-client`)")?;
            let (plain, password) = split_password(u)?;
            let mut c = Command::new(pg_dump);
            c.args(["-Fc", "--no-owner", "-f"]).arg(out).arg(format!("--dbname={plain}"));
            if let Some(p) = password {
                c.env("PGPASSWORD", p);
            }
            run(c, "pg_dump", None, None)
        }
        DatabaseUrl::Mysql(u) => {
            let dump = tool(&["mariadb-dump", "mysqldump"], "the MariaDB or MySQL client (`apt install mariadb-client`)")?;
            let (opts, password) = mysql_parts(u)?;
            let mut c = Command::new(dump);
            c.args(["--single-transaction", "--routines", "--triggers", "--events", "--skip-lock-tables"]);
            c.args(opts);
            if let Some(p) = password {
                c.env("MYSQL_PWD", p);
            }
            run(c, "the MySQL dump", None, Some(out))
        }
        DatabaseUrl::Mongo(u) => db_migrate::backend::mongo::export(u, out).await,
    }
}

/// Host, port, user and database as client arguments (the database last), and the password.
fn mysql_parts(u: &str) -> Result<(Vec<String>, Option<String>), Error> {
    let o = db_migrate::backend::url::mysql_options(u).map_err(|e| Error::Connect(format!("bad MySQL URL: {e}")))?;
    let (_, password) = split_password(u)?;
    let db = o.get_database().ok_or_else(|| Error::Config("the MySQL URL names no database".into()))?;
    Ok((
        vec![format!("--host={}", o.get_host()), format!("--port={}", o.get_port()), format!("--user={}", o.get_username()), db.to_string()],
        password,
    ))
}

/// Replaces the database at `url` with the backup in `file`: afterwards it holds exactly what
/// the backup holds. SQLite swaps the file in with a rename; PostgreSQL empties the database and
/// restores in one transaction; MySQL/MariaDB drops everything in the database, then restores
/// (DDL is not transactional there); MongoDB drops every collection, then restores.
pub async fn restore(url: &DatabaseUrl, file: &Path) -> Result<(), Error> {
    if !file.is_file() {
        return Err(Error::Config(format!("{} is not a backup file", file.display())));
    }
    match url {
        DatabaseUrl::Sqlite(db_migrate::backend::url::SqliteTarget::File(db)) => {
            let head = std::fs::read(file).map(|b| b.get(..16).map(<[u8]>::to_vec)).ok().flatten().unwrap_or_default();
            if head != b"SQLite format 3\0" {
                return Err(Error::Config(format!("{} is not a SQLite database file", file.display())));
            }
            // Copy next to the database, then swap it in, so a failure leaves the old one.
            let tmp = db.with_extension("restoring");
            // A stale copy (or a planted link: removing it removes the link, not its target) goes
            // first; the copy is then a new file, never written through a link.
            if std::fs::symlink_metadata(&tmp).is_ok() {
                std::fs::remove_file(&tmp).map_err(|e| Error::Io { path: tmp.clone(), message: e.to_string() })?;
            }
            let mut to = private_file(&tmp)?;
            let copied = std::fs::File::open(file).and_then(|mut from| std::io::copy(&mut from, &mut to)).and_then(|_| to.sync_all());
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::Io { path: tmp.clone(), message: e.to_string() });
            }
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            std::fs::rename(&tmp, db).map_err(|e| Error::Io { path: db.clone(), message: e.to_string() })
        }
        DatabaseUrl::Sqlite(_) => Err(Error::Config("an in-memory SQLite database cannot be restored".into())),
        DatabaseUrl::Postgres(u) => {
            let pg_restore = tool(&["pg_restore"], "the PostgreSQL client (`apt install postgresql-client`)")?;
            let psql = tool(&["psql"], "the PostgreSQL client (`apt install postgresql-client`)")?;
            // The backup as SQL first (this reads only the file), so a damaged backup stops
            // here; then one transaction empties the database and runs that SQL.
            let script = std::env::temp_dir().join(format!("db-migrate-restore-{}-{}.sql", std::process::id(), file_stamp()));
            // The whole database as SQL, in a shared folder: private to this user.
            private_file(&script)?;
            let mut c = Command::new(pg_restore);
            c.args(["--no-owner", "-f"]).arg(&script).arg(file);
            let r = run(c, "pg_restore (reading the backup)", None, None).and_then(|()| {
                let (plain, password) = split_password(u)?;
                let mut c = Command::new(psql);
                c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-c", clean::POSTGRES, "-f"])
                    .arg(&script)
                    .arg(format!("--dbname={plain}"));
                if let Some(p) = password {
                    c.env("PGPASSWORD", p);
                }
                run(c, "the PostgreSQL restore (psql; nothing was changed)", None, None)
            });
            let _ = std::fs::remove_file(&script);
            r
        }
        DatabaseUrl::Mysql(u) => {
            let client = tool(&["mariadb", "mysql"], "the MariaDB or MySQL client (`apt install mariadb-client`)")?;
            let head = std::fs::read(file).map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned()).unwrap_or_default();
            if !(head.contains("-- MariaDB dump") || head.contains("-- MySQL dump")) {
                return Err(Error::Config(format!("{} is not a MySQL or MariaDB dump; nothing was changed", file.display())));
            }
            let (opts, password) = mysql_parts(u)?;
            clean::mysql(u).await?;
            let mut c = Command::new(client);
            c.args(opts);
            if let Some(p) = password {
                c.env("MYSQL_PWD", p);
            }
            run(c, "the MySQL restore (the database was emptied first: run `restore` again once this is fixed)", Some(file), None)
        }
        DatabaseUrl::Mongo(u) => db_migrate::backend::mongo::import(u, file).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        let (u, p) = split_password("postgres://app:s%40cret@db:5432/app?sslmode=require").unwrap();
        assert_eq!(u, "postgres://app@db:5432/app?sslmode=require");
        assert_eq!(p.as_deref(), Some("s@cret"));
        let (_, p) = split_password("postgres://app@db/app").unwrap();
        assert!(p.is_none());
    }
}
