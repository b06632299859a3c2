//! Backups before migrating, and restoring them.
//!
//! Each database with its own native tool: SQLite online (`VACUUM INTO`, a consistent copy while
//! others read and write); PostgreSQL `pg_dump -Fc` / `pg_restore`; MySQL and MariaDB
//! `mariadb-dump` (or `mysqldump`) / `mariadb` (or `mysql`); MongoDB through the driver, as one
//! JSON file of collections, their indexes and their documents in canonical Extended JSON.
//! Passwords reach the tools through their environment variables, never their command lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backend::DatabaseUrl;
use crate::migrate::error::Error;

/// The file extension a backup of this database gets.
pub fn extension(url: &DatabaseUrl) -> &'static str {
    match url {
        DatabaseUrl::Sqlite(_) => "sqlite3",
        DatabaseUrl::Postgres(_) => "pgdump",
        DatabaseUrl::Mysql(_) => "sql",
        DatabaseUrl::Mongo(_) => "mongo.json",
    }
}

/// A default backup path: `backups/<environment>-<UTC timestamp>.<ext>` in the project.
pub fn default_path(project: &Path, environment: &str, url: &DatabaseUrl) -> PathBuf {
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = time::OffsetDateTime::now_utc().format(&f).unwrap_or_default();
    project.join("backups").join(format!("{environment}-{stamp}.{}", extension(url)))
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
            crate::backend::url::redact(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    Ok(())
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
    let mut parsed = url::Url::parse(u).map_err(|e| Error::Connect(format!("bad database URL `{}`: {e}", crate::backend::url::redact(u))))?;
    let password = parsed.password().map(percent_decode);
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

/// Writes a backup of the database at `url` to `out`.
pub async fn backup(url: &DatabaseUrl, out: &Path) -> Result<(), Error> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.to_path_buf(), message: e.to_string() })?;
    }
    if out.exists() {
        return Err(Error::Config(format!("{} exists already; choose another --out", out.display())));
    }
    match url {
        DatabaseUrl::Sqlite(crate::backend::url::SqliteTarget::File(db)) => {
            use sqlx::{Connection, Executor};
            if !db.exists() {
                return Err(Error::Config(format!("there is no database at {} to back up", db.display())));
            }
            let mut c = sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true))
                .await
                .map_err(|e| Error::Connect(format!("cannot open {}: {e}", db.display())))?;
            let target = out.display().to_string().replace('\'', "''");
            c.execute(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
                .await
                .map_err(|e| Error::Config(format!("the SQLite backup failed: {e}")))?;
            let _ = c.close().await;
            Ok(())
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
            c.args(["--single-transaction", "--routines", "--triggers", "--skip-lock-tables"]);
            c.args(opts);
            if let Some(p) = password {
                c.env("MYSQL_PWD", p);
            }
            run(c, "the MySQL dump", None, Some(out))
        }
        DatabaseUrl::Mongo(u) => crate::backend::mongo::export(u, out).await,
    }
}

/// Host, port, user and database as client arguments (the database last), and the password.
fn mysql_parts(u: &str) -> Result<(Vec<String>, Option<String>), Error> {
    use std::str::FromStr;
    let o = sqlx::mysql::MySqlConnectOptions::from_str(u).map_err(|e| Error::Connect(format!("bad MySQL URL: {e}")))?;
    let (_, password) = split_password(u)?;
    let db = o.get_database().ok_or_else(|| Error::Config("the MySQL URL names no database".into()))?;
    Ok((
        vec![format!("--host={}", o.get_host()), format!("--port={}", o.get_port()), format!("--user={}", o.get_username()), db.to_string()],
        password,
    ))
}

/// Replaces the database at `url` with the backup in `file`.
pub async fn restore(url: &DatabaseUrl, file: &Path) -> Result<(), Error> {
    if !file.is_file() {
        return Err(Error::Config(format!("{} is not a backup file", file.display())));
    }
    match url {
        DatabaseUrl::Sqlite(crate::backend::url::SqliteTarget::File(db)) => {
            let head = std::fs::read(file).map(|b| b.get(..16).map(<[u8]>::to_vec)).ok().flatten().unwrap_or_default();
            if head != b"SQLite format 3\0" {
                return Err(Error::Config(format!("{} is not a SQLite database file", file.display())));
            }
            // Copy next to the database, then swap it in, so a failure leaves the old one.
            let tmp = db.with_extension("restoring");
            std::fs::copy(file, &tmp).map_err(|e| Error::Io { path: tmp.clone(), message: e.to_string() })?;
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            std::fs::rename(&tmp, db).map_err(|e| Error::Io { path: db.clone(), message: e.to_string() })
        }
        DatabaseUrl::Sqlite(_) => Err(Error::Config("an in-memory SQLite database cannot be restored".into())),
        DatabaseUrl::Postgres(u) => {
            let pg_restore = tool(&["pg_restore"], "the PostgreSQL client (`apt install postgresql-client`)")?;
            let (plain, password) = split_password(u)?;
            let mut c = Command::new(pg_restore);
            c.args(["--clean", "--if-exists", "--no-owner", "--single-transaction"]).arg(format!("--dbname={plain}")).arg(file);
            if let Some(p) = password {
                c.env("PGPASSWORD", p);
            }
            run(c, "pg_restore", None, None)
        }
        DatabaseUrl::Mysql(u) => {
            let client = tool(&["mariadb", "mysql"], "the MariaDB or MySQL client (`apt install mariadb-client`)")?;
            let (opts, password) = mysql_parts(u)?;
            let mut c = Command::new(client);
            c.args(opts);
            if let Some(p) = password {
                c.env("MYSQL_PWD", p);
            }
            run(c, "the MySQL restore", Some(file), None)
        }
        DatabaseUrl::Mongo(u) => crate::backend::mongo::import(u, file).await,
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
