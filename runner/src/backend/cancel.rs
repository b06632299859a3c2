//! Cancelling the statement a server is running for this process, from the signal thread.
//!
//! PostgreSQL and MySQL stop a statement when asked from a second session
//! (`pg_cancel_backend`, `KILL QUERY`); the statement then fails in the runner's own session and
//! the migration rolls back through its ordinary failure path. The signal thread has no async
//! runtime of its own to lend, so each cancel runs on a short-lived thread with its own.

#[cfg(feature = "mysql")]
use sqlx::mysql::MySqlConnectOptions;
#[cfg(feature = "postgres")]
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Runs `f` to completion on a fresh thread and runtime, waiting at most a few seconds.
fn run_detached<F>(f: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("db-migrate-cancel".into()).spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(async {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), f()).await;
            });
        }
        let _ = tx.send(());
    });
    if spawned.is_ok() {
        let _ = rx.recv_timeout(std::time::Duration::from_secs(6));
    }
}

/// Cancels what PostgreSQL backend `pid` runs.
#[cfg(feature = "postgres")]
pub struct Pg {
    /// How to log in (the runner's own credentials: a role may cancel its own sessions).
    pub opts: PgConnectOptions,
    /// The backend running the migration.
    pub pid: i32,
}

#[cfg(feature = "postgres")]
impl crate::interrupt::Cancel for Pg {
    fn cancel(&self) {
        let (opts, pid) = (self.opts.clone(), self.pid);
        run_detached(move || async move {
            if let Ok(mut c) = opts.application_name("db-migrate cancel").connect().await {
                let _ = sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(&mut c).await;
                let _ = c.close().await;
            }
        });
    }
}

/// Cancels what MySQL/MariaDB connection `id` runs.
#[cfg(feature = "mysql")]
pub struct MySql {
    /// How to log in (the runner's own account may kill its own queries).
    pub opts: MySqlConnectOptions,
    /// The connection running the migration.
    pub id: u64,
}

#[cfg(feature = "mysql")]
impl crate::interrupt::Cancel for MySql {
    fn cancel(&self) {
        let (opts, id) = (self.opts.clone(), self.id);
        run_detached(move || async move {
            if let Ok(mut c) = opts.connect().await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("KILL QUERY {id}"))).execute(&mut c).await;
                let _ = c.close().await;
            }
        });
    }
}
