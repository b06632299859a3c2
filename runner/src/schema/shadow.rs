//! The shadow database: a disposable database of the same kind as the live one, where
//! migrations are replayed to learn the schema they produce. SQLite: a temporary file. A
//! server: a temporary database on the same server (`dbm_shadow_<pid>_<n>`), created and
//! dropped by db-migrate — [`Shadow::dispose`] on every path, and a last-resort drop when a
//! `Shadow` is dropped undisposed (a panic). Or one the user names (`shadow_database_url`,
//! `--shadow-url`): it is emptied before use and left empty after.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_imports))]
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use crate::backend::url::{SqliteTarget, redact};
use crate::backend::{DatabaseUrl, OpenMode};
use crate::migrate::error::{Error, Result};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A shadow database, alive until [`Shadow::dispose`].
#[derive(Debug)]
pub struct Shadow {
    url: String,
    kind: Kind,
    history_table: String,
    disposed: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A temporary SQLite file (with its -wal/-shm companions).
    SqliteFile(PathBuf),
    /// A temporary database db-migrate created on a server.
    Server { server: Server, name: String, live_url: String },
    /// A database the user named: emptied, never dropped.
    Given,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Postgres,
    Mysql,
    Mongo,
}

/// A fresh shadow name: `dbm_shadow_<pid>_<n>`.
fn fresh_name() -> String {
    format!("dbm_shadow_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// `url` with its path (the database name) replaced.
fn with_database(url: &str, name: &str) -> Result<String> {
    let mut u = url::Url::parse(url).map_err(|e| Error::Connect(format!("cannot derive a shadow database URL from `{}`: {e}", redact(url))))?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

impl Shadow {
    /// Creates a shadow database for `live`. `given` (a shadow URL from the configuration or
    /// the command line) is used instead of a temporary one; it must be of the same kind.
    pub async fn create(live: &DatabaseUrl, given: Option<&str>, base: &Path, history_table: &str) -> Result<Shadow> {
        if let Some(g) = given {
            let parsed = DatabaseUrl::parse(g, base)?;
            if std::mem::discriminant(&parsed) != std::mem::discriminant(live) {
                return Err(Error::Config(format!(
                    "the shadow database `{}` is not of the same kind as the database: give a shadow URL of the same kind (shadow_database_url / --shadow-url)",
                    redact(g)
                )));
            }
            if &parsed == live {
                return Err(Error::Config(
                    "the shadow database URL is the database's own URL: the shadow is emptied before use, so it must be another database".into(),
                ));
            }
            // Another spelling of the same database (`..` in a path, a symlink, `localhost` for
            // `127.0.0.1`, another port forwarding to the same server) is found by asking the
            // files and servers themselves, before anything is emptied.
            if same_database(live, &parsed).await? {
                return Err(Error::Config(format!(
                    "the shadow database `{}` is the database itself (another spelling of its URL): the shadow is emptied before use, \
                     so it must be another database (shadow_database_url / --shadow-url)",
                    redact(g)
                )));
            }
            // A SQLite path is kept resolved against the project, as it was checked.
            let url = match &parsed {
                DatabaseUrl::Sqlite(SqliteTarget::File(p)) => format!("sqlite:{}", p.display()),
                _ => g.to_string(),
            };
            let shadow = Shadow { url, kind: Kind::Given, history_table: history_table.to_string(), disposed: false };
            shadow.empty_given().await?;
            return Ok(shadow);
        }
        let name = fresh_name();
        let (kind, url) = match live {
            DatabaseUrl::Sqlite(_) => {
                // On tmpfs where there is one: the shadow is disposable, so its commits need no disk.
                let shm = Path::new("/dev/shm");
                let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
                let path = dir.join(format!("{name}.sqlite3"));
                (Kind::SqliteFile(path.clone()), format!("sqlite:{}", path.display()))
            }
            DatabaseUrl::Postgres(u) => (Kind::Server { server: Server::Postgres, name: name.clone(), live_url: u.clone() }, with_database(u, &name)?),
            DatabaseUrl::Mysql(u) => (Kind::Server { server: Server::Mysql, name: name.clone(), live_url: u.clone() }, with_database(u, &name)?),
            DatabaseUrl::Mongo(u) => (Kind::Server { server: Server::Mongo, name: name.clone(), live_url: u.clone() }, with_database(u, &name)?),
        };
        let shadow = Shadow { url, kind, history_table: history_table.to_string(), disposed: false };
        shadow.create_server_db().await?;
        Ok(shadow)
    }

    /// The shadow's URL (for a [`crate::Migrator`] or introspection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What to call it in messages: the temporary database's name, or the given URL (redacted).
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::SqliteFile(p) => p.display().to_string(),
            Kind::Server { name, .. } => name.clone(),
            Kind::Given => redact(&self.url),
        }
    }

    /// Empties the shadow for a fresh replay (drops and creates a temporary one again).
    pub async fn recreate(&mut self) -> Result<()> {
        match &self.kind {
            Kind::Given => self.empty_given().await,
            _ => {
                self.drop_it().await?;
                self.create_server_db().await
            }
        }
    }

    /// Drops the temporary database (or empties the given one). Errors are reported and
    /// returned, but the shadow counts as gone either way.
    pub async fn dispose(mut self) -> Result<()> {
        self.disposed = true;
        match &self.kind {
            Kind::Given => self.empty_given().await,
            _ => self.drop_it().await,
        }
    }

    async fn empty_given(&self) -> Result<()> {
        let url = DatabaseUrl::parse(&self.url, Path::new("."))?;
        if let DatabaseUrl::Sqlite(SqliteTarget::File(p)) = &url {
            remove_sqlite(p);
            return Ok(());
        }
        if let Some(mut b) = crate::backend::connect(&url, &self.history_table, OpenMode::ReadWrite).await? {
            let r = crate::backend::wipe::drop_objects(&mut b, None).await;
            // A shadow database emptied without a lock: how its connection ends matters to nothing.
            let _ = crate::backend::Backend::close(b).await;
            r?;
        }
        Ok(())
    }

    async fn create_server_db(&self) -> Result<()> {
        let Kind::Server { server, name, live_url } = &self.kind else { return Ok(()) };
        let _ = (name, live_url);
        #[allow(unreachable_patterns)]
        match server {
            #[cfg(feature = "postgres")]
            Server::Postgres => {
                let mut admin = pg_admin(live_url).await?;
                let r = admin.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await;
                let _ = admin.close().await;
                r.map_err(|e| server_error(&format!("cannot create the shadow database {name} (grant db-migrate's user CREATEDB, or set shadow_database_url)"), e))?;
            }
            #[cfg(feature = "mysql")]
            Server::Mysql => {
                let mut admin = mysql_admin(live_url).await?;
                // The same default character set and collation as the live database, so tables
                // created without one compare equal.
                let charset: Option<(String, String)> = sqlx::query_as(
                    "SELECT CAST(DEFAULT_CHARACTER_SET_NAME AS CHAR), CAST(DEFAULT_COLLATION_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                )
                .bind(live_db_name(live_url))
                .fetch_optional(&mut admin)
                .await
                .ok()
                .flatten();
                let spec = charset.map(|(c, co)| format!(" CHARACTER SET {c} COLLATE {co}")).unwrap_or_default();
                let r = admin.execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`{spec}"))).await;
                let _ = admin.close().await;
                r.map_err(|e| server_error(&format!("cannot create the shadow database {name} (grant db-migrate's user CREATE, or set shadow_database_url)"), e))?;
            }
            // MongoDB creates a database on its first write (and a server this build has no
            // driver for never got this far: connecting to it failed first).
            _ => {}
        }
        Ok(())
    }

    async fn drop_it(&self) -> Result<()> {
        match &self.kind {
            Kind::SqliteFile(p) => {
                remove_private_sqlite(p);
                Ok(())
            }
            Kind::Server { server, name, live_url } => drop_server_db(*server, name, live_url).await,
            Kind::Given => Ok(()),
        }
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        if self.disposed {
            return;
        }
        match self.kind.clone() {
            Kind::SqliteFile(p) => remove_private_sqlite(&p),
            Kind::Server { server, name, live_url } => {
                // Only reached on a panic: drop it from a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        let _ = rt.block_on(drop_server_db(server, &name, &live_url));
                    }
                })
                .join();
            }
            Kind::Given => {}
        }
    }
}

/// Whether two URLs of the same kind reach the same database. SQLite: the same file (device and
/// inode, or the same canonical path for a file not created yet). PostgreSQL: the same server
/// instance (start time) and database (oid and name). MySQL/MariaDB: the same database name on
/// the same server (host name, port and data directory) or Galera cluster. MongoDB: a marker
/// document written through the shadow URL is visible through the live one. A live database
/// that cannot be reached cannot be emptied through the shadow either: then they count as
/// different.
async fn same_database(live: &DatabaseUrl, shadow: &DatabaseUrl) -> Result<bool> {
    #[allow(unreachable_patterns)]
    match (live, shadow) {
        (DatabaseUrl::Sqlite(SqliteTarget::File(a)), DatabaseUrl::Sqlite(SqliteTarget::File(b))) => Ok(same_file(a, b)),
        #[cfg(feature = "postgres")]
        (DatabaseUrl::Postgres(a), DatabaseUrl::Postgres(b)) => {
            let Some(live_id) = pg_identity(a).await else { return Ok(false) };
            let shadow_id = pg_identity(b).await.ok_or_else(|| Error::Connect(format!("cannot connect to the shadow database `{}`", redact(b))))?;
            Ok(live_id == shadow_id)
        }
        #[cfg(feature = "mysql")]
        (DatabaseUrl::Mysql(a), DatabaseUrl::Mysql(b)) => {
            let Some(live_id) = mysql_identity(a).await else { return Ok(false) };
            let shadow_id = mysql_identity(b).await.ok_or_else(|| Error::Connect(format!("cannot connect to the shadow database `{}`", redact(b))))?;
            Ok(live_id == shadow_id)
        }
        #[cfg(feature = "mongodb")]
        (DatabaseUrl::Mongo(a), DatabaseUrl::Mongo(b)) => mongo_same(a, b).await,
        _ => Ok(false),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    // Not created yet: the same place once `..` and symlinks of the folders are resolved.
    let resolve = |p: &Path| -> Option<PathBuf> { Some(std::fs::canonicalize(p.parent()?).ok()?.join(p.file_name()?)) };
    match (resolve(a), resolve(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(feature = "postgres")]
async fn pg_identity(url: &str) -> Option<(String, String, String)> {
    let opts = crate::backend::url::pg_options(url).ok()?.application_name("db-migrate shadow check");
    let mut c = opts.connect().await.ok()?;
    let id = sqlx::query_as(
        "SELECT current_database()::text, (SELECT oid FROM pg_database WHERE datname = current_database())::text, pg_postmaster_start_time()::text",
    )
    .fetch_one(&mut c)
    .await
    .ok();
    let _ = c.close().await;
    id
}

#[cfg(feature = "mysql")]
async fn mysql_identity(url: &str) -> Option<(String, String)> {
    let opts = crate::backend::url::mysql_options(url).ok()?;
    let mut c = opts.connect().await.ok()?;
    // A Galera cluster is one database whichever node answers; elsewhere the server is its
    // host, port and data directory.
    let galera: Option<(String, String)> =
        sqlx::query_as("SELECT CAST(DATABASE() AS CHAR), CAST(@@wsrep_cluster_name AS CHAR) FROM DUAL WHERE @@wsrep_on = 1").fetch_optional(&mut c).await.ok().flatten();
    let id = match galera {
        Some(g) => Some(g),
        None => sqlx::query_as("SELECT CAST(DATABASE() AS CHAR), CAST(CONCAT(@@hostname, ':', @@port, ':', @@datadir) AS CHAR)").fetch_one(&mut c).await.ok(),
    };
    let _ = c.close().await;
    id
}

#[cfg(feature = "mongodb")]
async fn mongo_same(live: &str, shadow: &str) -> Result<bool> {
    use mongodb::bson::{Document, doc};
    let client = |url: &str| {
        let url = url.to_string();
        async move {
            let mut o = mongodb::options::ClientOptions::parse(&url).await.ok()?;
            o.server_selection_timeout = Some(std::time::Duration::from_secs(10));
            let name = o.default_database.clone()?;
            Some(mongodb::Client::with_options(o).ok()?.database(&name))
        }
    };
    let (Some(live), Some(shadow)) = (client(live).await, client(shadow).await) else { return Ok(false) };
    let marker = format!("dbm_shadow_probe_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let probe = shadow.collection::<Document>(&marker);
    probe
        .insert_one(doc! { "_id": 1 })
        .await
        .map_err(|e| Error::Database { context: "cannot write to the shadow database".into(), source: crate::migrate::error::DbError { message: e.to_string(), code: None } })?;
    let seen = live.collection::<Document>(&marker).count_documents(doc! {}).await.map(|n| n > 0).unwrap_or(false);
    let _ = probe.drop().await;
    Ok(seen)
}

fn remove_sqlite(p: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut f = p.as_os_str().to_owned();
        f.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(f));
    }
}

/// A temporary shadow file db-migrate named: its lock file goes too. (A given shadow's lock
/// file stays: another process may hold it, and deleting a held lock file splits the lock.)
fn remove_private_sqlite(p: &Path) {
    remove_sqlite(p);
    let mut lock = p.as_os_str().to_owned();
    lock.push(".db-migrate.lock");
    let _ = std::fs::remove_file(PathBuf::from(lock));
}

#[cfg(feature = "mysql")]
fn live_db_name(url: &str) -> String {
    url::Url::parse(url).map(|u| u.path().trim_start_matches('/').to_string()).unwrap_or_default()
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server_error(context: &str, e: sqlx::Error) -> Error {
    Error::Database { context: context.to_string(), source: crate::migrate::error::DbError::from(e) }
}

#[cfg(feature = "postgres")]
async fn pg_admin(live_url: &str) -> Result<sqlx::PgConnection> {
    let opts = crate::backend::url::pg_options(live_url)
        .map_err(|e| Error::Connect(format!("bad PostgreSQL URL `{}`: {e}", redact(live_url))))?
        .database("postgres")
        .application_name("db-migrate shadow");
    opts.connect().await.map_err(|e| Error::Connect(format!("cannot connect to PostgreSQL to manage the shadow database: {}", crate::migrate::error::DbError::from(e))))
}

#[cfg(feature = "mysql")]
async fn mysql_admin(live_url: &str) -> Result<sqlx::MySqlConnection> {
    let opts = crate::backend::url::mysql_options(live_url).map_err(|e| Error::Connect(format!("bad MySQL URL `{}`: {e}", redact(live_url))))?.database("");
    opts.connect().await.map_err(|e| Error::Connect(format!("cannot connect to MySQL/MariaDB to manage the shadow database: {}", crate::migrate::error::DbError::from(e))))
}

async fn drop_server_db(server: Server, name: &str, live_url: &str) -> Result<()> {
    let _ = (name, live_url);
    #[allow(unreachable_patterns)]
    match server {
        #[cfg(feature = "postgres")]
        Server::Postgres => {
            let mut admin = pg_admin(live_url).await?;
            let r = admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await;
            let _ = admin.close().await;
            r.map_err(|e| server_error(&format!("cannot drop the shadow database {name}; drop it by hand"), e))?;
        }
        #[cfg(feature = "mysql")]
        Server::Mysql => {
            let mut admin = mysql_admin(live_url).await?;
            let r = admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"))).await;
            let _ = admin.close().await;
            r.map_err(|e| server_error(&format!("cannot drop the shadow database {name}; drop it by hand"), e))?;
        }
        #[cfg(feature = "mongodb")]
        Server::Mongo => {
            let opts = mongodb::options::ClientOptions::parse(live_url).await.map_err(|e| Error::Connect(format!("bad MongoDB URL `{}`: {e}", redact(live_url))))?;
            let client = mongodb::Client::with_options(opts).map_err(|e| Error::Connect(e.to_string()))?;
            client
                .database(name)
                .drop()
                .await
                .map_err(|e| Error::Database { context: format!("cannot drop the shadow database {name}; drop it by hand"), source: crate::migrate::error::DbError { message: e.to_string(), code: None } })?;
        }
        // Never created: this build has no driver for it.
        #[allow(unreachable_patterns)]
        _ => {}
    }
    Ok(())
}
