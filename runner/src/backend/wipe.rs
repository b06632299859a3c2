//! Starting over: dropping every object of the database (`reset`) or the database itself
//! (`drop`). Each database does it its own way; this module picks the right one.

use super::{AnyBackend, DatabaseUrl};
use crate::migrate::error::Result;

/// Drops every object of the connected database or schema, db-migrate's history included.
/// `keep` names one table (collection) to leave: the lock table of a table-mode lock this run
/// holds. Returns `kind name` of what was dropped.
pub async fn drop_objects(b: &mut AnyBackend, keep: Option<&str>) -> Result<Vec<String>> {
    match b {
        #[cfg(feature = "sqlite")]
        AnyBackend::Sqlite(s) => {
            let _ = keep;
            s.drop_objects().await
        }
        #[cfg(feature = "postgres")]
        AnyBackend::Postgres(p) => p.drop_objects(keep).await,
        #[cfg(feature = "mysql")]
        AnyBackend::Mysql(m) => m.drop_objects(keep).await,
        #[cfg(feature = "mongodb")]
        AnyBackend::Mongo(m) => m.drop_objects(keep).await,
    }
}

/// Drops the database `url` names: deletes a SQLite file (with `-wal`, `-shm`, `-journal`),
/// `DROP DATABASE` from a maintenance connection on PostgreSQL and MySQL/MariaDB,
/// `dropDatabase` on MongoDB. Returns whether the database existed.
pub async fn drop_database(url: &DatabaseUrl, history_table: &str) -> Result<bool> {
    let _ = history_table;
    match url {
        #[cfg(feature = "sqlite")]
        DatabaseUrl::Sqlite(target) => super::sqlite::drop_database(target),
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(u) => super::postgres::drop_database(u).await,
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(u) => super::mysql::drop_database(u).await,
        #[cfg(feature = "mongodb")]
        DatabaseUrl::Mongo(u) => {
            let b = super::mongo::MongoBackend::connect(u, history_table, super::OpenMode::ReadOnly).await?.ok_or_else(|| crate::migrate::error::Error::Connect("MongoDB did not answer".into()))?;
            b.drop_database().await
        }
        #[allow(unreachable_patterns)]
        other => Err(super::not_built(other)),
    }
}
