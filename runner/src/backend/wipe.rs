//! Starting over: dropping every object of the database (`reset`) or the database itself
//! (`drop`). Each database does it its own way; this module picks the right one.

use super::{AnyBackend, DatabaseUrl, mongo, mysql, postgres, sqlite};
use crate::migrate::error::Result;

/// Drops every object of the connected database or schema, db-migrate's history included.
/// `keep` names one table (collection) to leave: the lock table of a table-mode lock this run
/// holds. Returns `kind name` of what was dropped.
pub async fn drop_objects(b: &mut AnyBackend, keep: Option<&str>) -> Result<Vec<String>> {
    match b {
        AnyBackend::Sqlite(s) => s.drop_objects().await,
        AnyBackend::Postgres(p) => p.drop_objects(keep).await,
        AnyBackend::Mysql(m) => m.drop_objects(keep).await,
        AnyBackend::Mongo(m) => m.drop_objects(keep).await,
    }
}

/// Drops the database `url` names: deletes a SQLite file (with `-wal`, `-shm`, `-journal`),
/// `DROP DATABASE` from a maintenance connection on PostgreSQL and MySQL/MariaDB,
/// `dropDatabase` on MongoDB. Returns whether the database existed.
pub async fn drop_database(url: &DatabaseUrl, history_table: &str) -> Result<bool> {
    match url {
        DatabaseUrl::Sqlite(target) => sqlite::drop_database(target),
        DatabaseUrl::Postgres(u) => postgres::drop_database(u).await,
        DatabaseUrl::Mysql(u) => mysql::drop_database(u).await,
        DatabaseUrl::Mongo(u) => {
            let b = mongo::MongoBackend::connect(u, history_table, super::OpenMode::ReadOnly).await?.ok_or_else(|| crate::migrate::error::Error::Connect("MongoDB did not answer".into()))?;
            b.drop_database().await
        }
    }
}
