//! Connections an application lends to a run: the library embedded in a program that already
//! holds a connection (or a pool) runs its migrations there instead of connecting again.

use std::future::Future;

#[cfg(feature = "postgres")]
use sqlx::postgres::PgConnection;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqliteConnection;

use super::AnyBackend;
#[cfg(feature = "postgres")]
use super::postgres::PgBackend;
#[cfg(feature = "sqlite")]
use super::sqlite::SqliteBackend;

/// A database connection [`crate::Migrator::up_on`] can run on: `sqlx::SqliteConnection` or
/// `sqlx::PgConnection`. The run takes it, and gives it back when it ends, whatever happened.
pub trait ExistingConnection: Sized + Send + sealed::Sealed {
    /// A backend over the connection, keeping history in `history_table`.
    #[doc(hidden)]
    fn lend(self, history_table: &str) -> AnyBackend;
    /// The connection again, from the backend [`ExistingConnection::lend`] made (`Err` if the
    /// backend is another database's, which the runner never passes).
    #[doc(hidden)]
    fn give_back(backend: AnyBackend) -> impl Future<Output = Result<Self, AnyBackend>> + Send;
}

mod sealed {
    pub trait Sealed {}
    #[cfg(feature = "sqlite")]
    impl Sealed for sqlx::sqlite::SqliteConnection {}
    #[cfg(feature = "postgres")]
    impl Sealed for sqlx::postgres::PgConnection {}
}

#[cfg(feature = "sqlite")]
impl ExistingConnection for SqliteConnection {
    fn lend(self, history_table: &str) -> AnyBackend {
        AnyBackend::Sqlite(SqliteBackend::from_connection(self, history_table))
    }

    async fn give_back(backend: AnyBackend) -> Result<Self, AnyBackend> {
        match backend {
            AnyBackend::Sqlite(b) => Ok(b.into_connection().await),
            #[allow(unreachable_patterns)]
            other => Err(other),
        }
    }
}

#[cfg(feature = "postgres")]
impl ExistingConnection for PgConnection {
    fn lend(self, history_table: &str) -> AnyBackend {
        AnyBackend::Postgres(PgBackend::from_connection(self, history_table))
    }

    async fn give_back(backend: AnyBackend) -> Result<Self, AnyBackend> {
        match backend {
            AnyBackend::Postgres(b) => Ok(b.into_connection().await),
            #[allow(unreachable_patterns)]
            other => Err(other),
        }
    }
}
