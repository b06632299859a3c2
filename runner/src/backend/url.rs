//! Database URLs: parsing, resolving relative SQLite paths, and redacting secrets for output.

use std::path::{Path, PathBuf};

use crate::migrate::error::Error;

/// A parsed database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// SQLite, with the target resolved.
    Sqlite(SqliteTarget),
    /// PostgreSQL (`postgres://`, `postgresql://`); options such as `sslmode` pass through.
    Postgres(String),
    /// MySQL or MariaDB (`mysql://`, `mariadb://`); options such as `ssl-mode` pass through.
    Mysql(String),
    /// MongoDB (`mongodb://`, `mongodb+srv://`); the path names the database, options such as
    /// `tls=true` or `replicaSet` pass through to the driver.
    Mongo(String),
}

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteTarget {
    /// A file.
    File(PathBuf),
    /// `sqlite::memory:` — gone when the run ends; useful for library tests.
    Memory,
}

impl DatabaseUrl {
    /// Parses `url`. Relative SQLite paths are resolved against `base` (the project directory),
    /// so a command behaves the same from any working directory.
    pub fn parse(url: &str, base: &Path) -> Result<Self, Error> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::Connect("the database URL is empty".into()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if !query.is_empty() {
                return Err(Error::Connect(format!(
                    "unsupported SQLite URL options `?{query}`: db-migrate opens SQLite databases itself; use `sqlite:PATH`"
                )));
            }
            if path == ":memory:" {
                return Ok(DatabaseUrl::Sqlite(SqliteTarget::Memory));
            }
            if path.is_empty() {
                return Err(Error::Connect("the SQLite URL has no path: use `sqlite:PATH`, e.g. `sqlite:db/app.sqlite3`".into()));
            }
            let p = Path::new(path);
            let p = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
            return Ok(DatabaseUrl::Sqlite(SqliteTarget::File(p)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        if url.starts_with("mysql://") {
            return Ok(DatabaseUrl::Mysql(url.to_string()));
        }
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Ok(DatabaseUrl::Mysql(format!("mysql://{rest}")));
        }
        if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
            return Ok(DatabaseUrl::Mongo(url.to_string()));
        }
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        let shown = redact(url);
        Err(Error::Connect(if scheme.is_empty() || scheme.contains('/') {
            format!("`{shown}` is not a database URL: expected e.g. `sqlite:db/app.sqlite3`")
        } else {
            format!("unsupported database URL scheme `{scheme}:` in `{shown}`; supported: `sqlite:`, `postgres://`, `postgresql://`, `mysql://`, `mariadb://`, `mongodb://`, `mongodb+srv://`")
        }))
    }
}

/// PostgreSQL connect options for `url`, as sqlx reads them — except that a server on this
/// machine (a loopback address, `localhost`, a Unix socket) is reached without TLS when the URL
/// does not say `sslmode` (nor does `PGSSLMODE`). sqlx's default (`prefer`, as libpq's) negotiates TLS on loopback too,
/// where it protects nothing (the traffic never leaves the machine, and `prefer` checks no
/// certificate anyway) and cost most of a connection here: 90 of the 180 ms of introspecting
/// 500 tables. Any `sslmode` in the URL is honoured as written.
#[cfg(feature = "postgres")]
pub fn pg_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, sqlx::Error> {
    use std::str::FromStr;
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let silent = !has_param(url, &["sslmode"]) && std::env::var_os("PGSSLMODE").is_none();
    if silent && (is_local_host(opts.get_host()) || opts.get_socket().is_some()) {
        return Ok(opts.ssl_mode(sqlx::postgres::PgSslMode::Disable));
    }
    Ok(opts)
}

/// MySQL/MariaDB connect options for `url`: without `ssl-mode` in the URL, a server on this
/// machine is reached without TLS, for the reason `pg_options` gives.
#[cfg(feature = "mysql")]
pub fn mysql_options(url: &str) -> Result<sqlx::mysql::MySqlConnectOptions, sqlx::Error> {
    use std::str::FromStr;
    let opts = sqlx::mysql::MySqlConnectOptions::from_str(url)?;
    if !has_param(url, &["ssl-mode", "sslmode", "ssl-ca"]) && host_of(url).is_some_and(is_local_host) {
        return Ok(opts.ssl_mode(sqlx::mysql::MySqlSslMode::Disabled));
    }
    Ok(opts)
}

/// Whether the URL's query names one of `names`.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn has_param(url: &str, names: &[&str]) -> bool {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    query.split('&').filter_map(|kv| kv.split('=').next()).any(|k| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
}

/// The host part of a `scheme://user:pass@host:port/db?…` URL.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next();
    }
    host_port.split(':').next()
}

/// A host name that is this machine: `localhost`, 127.0.0.0/8, `::1`.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn is_local_host(host: &str) -> bool {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Hides the password (and `password=`-style query values) of a URL, for any output.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..].find(['/', '?', '#']).map(|i| auth_start + i).unwrap_or(out.len());
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = auth_start + colon + 1;
                out.replace_range(start..auth_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if ["password", "pass", "pwd", "sslpassword", "token", "secret"].contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", parts.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "postgres")]
    fn tls_is_left_out_only_for_this_machine_and_only_when_the_url_is_silent() {
        use sqlx::postgres::PgSslMode;
        let pg = |u: &str| format!("{:?}", pg_options(u).unwrap());
        let mode = |u: &str| pg(u).contains(&format!("{:?}", PgSslMode::Disable));
        assert!(mode("postgres://postgres@127.0.0.1:5432/app"));
        assert!(mode("postgres://u:p@localhost/app"));
        assert!(mode("postgres://u@[::1]:5432/app"));
        assert!(!mode("postgres://u@db.example.com/app"));
        assert!(!mode("postgres://u@10.0.0.5/app"));
        assert!(!mode("postgres://u@127.0.0.1/app?sslmode=require"));
        assert!(!mode("postgres://u@127.0.0.1/app?sslmode=prefer"));
        assert_eq!(host_of("mysql://root:p@ss@127.0.0.1:3306/db"), Some("127.0.0.1"));
        assert_eq!(host_of("mariadb://[::1]:3306/db"), Some("::1"));
        assert!(has_param("mysql://h/db?x=1&ssl-mode=REQUIRED", &["ssl-mode"]));
        assert!(!has_param("mysql://h/db?x=1", &["ssl-mode"]));
    }

    #[test]
    fn sqlite_urls() {
        let base = Path::new("/proj");
        assert_eq!(DatabaseUrl::parse("sqlite:db/a.db", base).unwrap(), DatabaseUrl::Sqlite(SqliteTarget::File("/proj/db/a.db".into())));
        assert_eq!(DatabaseUrl::parse("sqlite://a.db", base).unwrap(), DatabaseUrl::Sqlite(SqliteTarget::File("/proj/a.db".into())));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/a.db", base).unwrap(), DatabaseUrl::Sqlite(SqliteTarget::File("/tmp/a.db".into())));
        assert_eq!(DatabaseUrl::parse("sqlite::memory:", base).unwrap(), DatabaseUrl::Sqlite(SqliteTarget::Memory));
        assert!(DatabaseUrl::parse("sqlite:", base).is_err());
        assert!(DatabaseUrl::parse("sqlite:a.db?mode=ro", base).is_err());
    }

    #[test]
    fn server_urls() {
        let base = Path::new("/");
        assert_eq!(DatabaseUrl::parse("postgres://u:p@h/db", base).unwrap(), DatabaseUrl::Postgres("postgres://u:p@h/db".into()));
        assert_eq!(DatabaseUrl::parse("mariadb://root@h/db", base).unwrap(), DatabaseUrl::Mysql("mysql://root@h/db".into()));
        assert_eq!(DatabaseUrl::parse("mongodb://h:27017/app", base).unwrap(), DatabaseUrl::Mongo("mongodb://h:27017/app".into()));
        assert_eq!(redact("mongodb+srv://u:pw@cluster.example/app?retryWrites=true"), "mongodb+srv://u:***@cluster.example/app?retryWrites=true");
    }

    #[test]
    fn bad_urls_name_the_problem_without_secrets() {
        let e = DatabaseUrl::parse("oracle://u:hunter2@h/db", Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("unsupported database URL scheme `oracle:`"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = DatabaseUrl::parse("nonsense", Path::new("/")).unwrap_err().to_string();
        assert!(e.contains("not a database URL"), "{e}");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("mysql://h/db?user=u&password=x&ssl=true"), "mysql://h/db?user=u&password=***&ssl=true");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite:db/a.db"), "sqlite:db/a.db");
    }
}
