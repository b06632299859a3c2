//! Introspection: reads a live database's schema into the [`Schema`] model, one module per
//! database. It opens its own read-only connection and never creates or changes anything.

#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use crate::backend::DatabaseUrl;
use crate::migrate::error::{DbError, Error, Result};
use crate::schema::model::Schema;

/// Which tables are db-migrate's own and so never part of a schema.
#[derive(Debug, Clone)]
pub struct OwnTables {
    /// The history table (its `_lock` table goes with it).
    pub history: String,
    /// The seed history table.
    pub seeds: String,
}

impl OwnTables {
    /// The default names (`db_migrate_history`, `db_migrate_seeds`).
    pub fn default_names() -> Self {
        OwnTables { history: crate::migrate::history::DEFAULT_TABLE.to_string(), seeds: "db_migrate_seeds".to_string() }
    }

    /// Whether `name` is one of db-migrate's tables.
    pub fn contains(&self, name: &str) -> bool {
        let bare = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
        let seeds = self.seeds.rsplit('.').next().unwrap_or(&self.seeds).to_ascii_lowercase();
        crate::backend::is_own_table(name, &self.history) || bare == seeds
    }
}

/// Reads the schema of the database at `url`. A SQLite file that does not exist reads as an
/// empty schema (and is not created).
pub async fn introspect(url: &DatabaseUrl, own: &OwnTables) -> Result<Schema> {
    let _ = own;
    let mut schema = match url {
        #[cfg(feature = "sqlite")]
        DatabaseUrl::Sqlite(target) => sqlite::introspect(target, own).await?,
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(u) => postgres::introspect(u, own).await?,
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(u) => mysql::introspect(u, own).await?,
        #[cfg(feature = "mongodb")]
        DatabaseUrl::Mongo(u) => mongo::introspect(u, own).await?,
        #[allow(unreachable_patterns)]
        other => return Err(crate::backend::not_built(other)),
    };
    schema.normalize();
    Ok(schema)
}

/// [`introspect`], also saying how long reading the catalog took once connected (the rest is
/// connecting: a TLS handshake, a login).
pub async fn introspect_timed(url: &DatabaseUrl, own: &OwnTables) -> Result<(Schema, std::time::Duration)> {
    let started = std::time::Instant::now();
    let (mut schema, read) = match url {
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(u) => postgres::introspect_timed(u, own).await?,
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(u) => mysql::introspect_timed(u, own).await?,
        other => {
            let s = introspect(other, own).await?;
            (s, started.elapsed())
        }
    };
    schema.normalize();
    Ok((schema, read))
}

/// Introspection of one database again and again (`test` reads the shadow four times per
/// migration): SQLite tables that did not change are not read again.
#[derive(Debug)]
pub struct Introspector {
    own: OwnTables,
    #[cfg(feature = "sqlite")]
    sqlite: sqlite::Cache,
}

impl Introspector {
    /// An introspector leaving out `own`.
    pub fn new(own: OwnTables) -> Self {
        Introspector {
            own,
            #[cfg(feature = "sqlite")]
            sqlite: sqlite::Cache::default(),
        }
    }

    /// Reads the schema through a SQLite connection the caller holds.
    #[cfg(feature = "sqlite")]
    pub async fn read_sqlite(&mut self, conn: &mut sqlx::SqliteConnection) -> Result<Schema> {
        let mut schema = sqlite::read(conn, &self.own, &mut self.sqlite).await?;
        schema.normalize();
        Ok(schema)
    }

    /// Reads the schema through a PostgreSQL connection the caller holds.
    #[cfg(feature = "postgres")]
    pub async fn read_postgres(&mut self, conn: &mut sqlx::PgConnection) -> Result<Schema> {
        let mut schema = postgres::read(conn, &self.own).await?;
        schema.normalize();
        Ok(schema)
    }

    /// Reads the schema at `url`, as [`introspect`] does.
    pub async fn read(&mut self, url: &DatabaseUrl) -> Result<Schema> {
        #[cfg(feature = "sqlite")]
        if let DatabaseUrl::Sqlite(target) = url {
            let mut schema = sqlite::introspect_cached(target, &self.own, &mut self.sqlite).await?;
            schema.normalize();
            return Ok(schema);
        }
        introspect(url, &self.own).await
    }
}

/// A database error while reading the catalog.
#[allow(dead_code)]
pub(crate) fn catalog_error(what: &str, e: sqlx::Error) -> Error {
    Error::Database { context: format!("cannot read the schema ({what})"), source: DbError::from(e) }
}
