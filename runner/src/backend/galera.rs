//! MariaDB Galera Cluster: what changes when the MySQL/MariaDB server is one node of a
//! synchronous multi-primary cluster.
//!
//! - `GET_LOCK` is local to a node, so it locks nothing out on the other nodes. On Galera the run
//!   always takes the lock row of `<history>_lock` (the table lock mode), whatever `--lock-mode`
//!   says: two nodes inserting the row at once conflict at certification, and exactly one wins.
//! - Certification conflicts (and transactions aborted by a replicated write) surface as
//!   "Deadlock found" (error 1213, SQLSTATE 40001). Galera asks for a retry; the lock row and the
//!   history's own bookkeeping are retried here. A migration's statements are never re-run.
//! - Reads wait for the cluster (`wsrep_sync_wait = 1`): the history read after taking the lock
//!   sees every write the previous holder committed on any node.
//! - A lock row whose holder's node has left the cluster is stale (nothing from that node can
//!   commit any more) and is taken over at once instead of waiting for its expiry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Executor};

use crate::migrate::error::{DbError, Error, Result};

/// This connection's place in the cluster.
#[derive(Debug, Clone)]
pub struct Galera {
    /// The node's group-communication id (`wsrep_gcomm_uuid`), as listed in
    /// `mysql.wsrep_cluster_members`; a restarted node gets a new one.
    pub node: String,
    /// The connection's id on that node.
    pub connection: u64,
    /// The lock row was found gone or taken over when renewing it: the run must stop.
    pub lost: bool,
}

/// Certification conflicts retried so far by this process (printed with each retry).
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// How often the bookkeeping statements are tried before the conflict is reported.
const ATTEMPTS: u32 = 12;

/// Whether the server is a Galera node with replication on; if so, makes this session's reads
/// causal. Not Galera (MySQL, plain MariaDB: no `wsrep_on` variable, or `OFF`): `None`.
///
/// `SHOW VARIABLES` answers on a node that is not ready yet (where a `SELECT` fails with 1047),
/// and on MySQL answers with no row rather than an error: so any error here is an error, and a
/// node is never taken for a plain server. That matters: a plain server is locked with
/// `GET_LOCK`, which locks out nobody on the other nodes. Once the server says it is a node,
/// failing to learn its id is an error too (a lock row without it could be judged stale by
/// every other node). Reads Galera aborts (a deadlock, 1213) are retried.
pub async fn detect(conn: &mut MySqlConnection) -> std::result::Result<Option<Galera>, sqlx::Error> {
    let on: Option<(String, String)> = retry(conn, "asking whether the server is a Galera node", |c| {
        Box::pin(async move { sqlx::query_as("SHOW VARIABLES LIKE 'wsrep_on'").fetch_optional(c).await })
    })
    .await?;
    if !on.is_some_and(|(_, v)| v.eq_ignore_ascii_case("ON") || v == "1") {
        return Ok(None);
    }
    let status: Option<(String, String)> = retry(conn, "reading the Galera node's id", |c| {
        Box::pin(async move { sqlx::query_as("SHOW STATUS LIKE 'wsrep_gcomm_uuid'").fetch_optional(c).await })
    })
    .await?;
    let node = status.map(|s| s.1).filter(|n| !n.is_empty()).ok_or_else(|| {
        sqlx::Error::Protocol("the server is a Galera node (wsrep_on is ON) but reports no wsrep_gcomm_uuid".into())
    })?;
    let connection: u64 = retry(conn, "reading the connection id", |c| {
        Box::pin(async move { sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(c).await })
    })
    .await?;
    // Reads wait until this node applied everything the cluster committed before them.
    conn.execute("SET SESSION wsrep_sync_wait = 1").await?;
    Ok(Some(Galera { lost: false, node, connection }))
}

fn error_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(d) => d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|m| m.number()),
        _ => None,
    }
}

/// Whether the transaction failed certification or was aborted by a replicated write: Galera
/// reports both as a deadlock (1213, SQLSTATE 40001) and rolls the whole transaction back.
pub fn certification_failure(e: &sqlx::Error) -> bool {
    error_number(e) == Some(1213) || matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40001"))
}

/// Whether Galera asks for the statement to be retried: a certification failure, or a lock wait
/// that timed out behind a replicated write (1205).
pub fn retryable(e: &sqlx::Error) -> bool {
    certification_failure(e) || error_number(e) == Some(1205)
}

/// Counts and reports one retry of `what`, then waits a little (longer each time, with jitter so
/// that runners on different nodes do not collide again in step).
async fn back_off(what: &str, attempt: u32, e: &sqlx::Error) {
    let n = RETRIES.fetch_add(1, Ordering::Relaxed) + 1;
    // 1213 is a certification conflict or a statement aborted by a replicated write or DDL;
    // 1205, a lock wait that timed out behind one.
    let code = error_number(e).map(|c| format!(", error {c}")).unwrap_or_default();
    eprintln!(
        "db-migrate: Galera certification conflict or abort{code} while {what}; retrying (retry {n} of this run)"
    );
    let jitter = u64::from(std::process::id() % 17) + u64::from(attempt) * 7;
    tokio::time::sleep(Duration::from_millis(
        20 * u64::from(attempt.min(10)) + jitter,
    ))
    .await;
}

/// Runs `op` (one autocommitted statement, or a statement and its COMMIT) until Galera stops
/// asking for a retry. `op` must be safe to repeat: the bookkeeping of the lock and the history
/// only, never a migration's own statements.
pub async fn retry<T, F>(
    conn: &mut MySqlConnection,
    what: &str,
    mut op: F,
) -> std::result::Result<T, sqlx::Error>
where
    F: for<'c> FnMut(
        &'c mut MySqlConnection,
    )
        -> futures_util::future::BoxFuture<'c, std::result::Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match op(conn).await {
            Err(e) if retryable(&e) && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                let _ = conn.execute("ROLLBACK").await;
                back_off(what, attempt, &e).await;
            }
            r => return r,
        }
    }
}

fn db_err(context: String, e: sqlx::Error) -> Error {
    Error::Database {
        context,
        source: DbError::from(e),
    }
}

/// The owner string of a lock row taken through `g`: who, and where in the cluster.
fn owner(g: &Galera) -> String {
    format!(
        "{} [galera node {} connection {}]",
        super::lock_owner(),
        g.node,
        g.connection
    )
}

/// The node id and connection id recorded in a lock row's owner.
fn holder_of(owner: &str) -> Option<(&str, u64)> {
    let rest = owner.rsplit_once("[galera node ")?.1;
    let (node, rest) = rest.split_once(" connection ")?;
    // A row without a node id is never judged stale: no member list can say it left.
    if node.is_empty() {
        return None;
    }
    Some((node, rest.strip_suffix(']')?.parse().ok()?))
}

/// Takes the lock row of `table` (the quoted `<history>_lock`), waiting up to `timeout`.
/// Returns the owner string the row holds.
pub async fn lock(
    conn: &mut MySqlConnection,
    g: &Galera,
    table: &str,
    history: &str,
    timeout: Duration,
) -> Result<String> {
    let (schema, bare) = match table.split_once("`.`") {
        Some((s, t)) => (Some(s.trim_matches('`').to_string()), t.trim_matches('`').to_string()),
        None => (None, table.trim_matches('`').to_string()),
    };
    // A read can be aborted too (a replicated DDL waiting on the metadata lock it holds shows as
    // a deadlock): it is safe to repeat, so it is retried like the row's bookkeeping.
    let exists: i64 = retry(conn, "looking for the lock table", |c| super::mysql::tables_named(c, schema.clone(), bare.clone()))
    .await
    .map_err(|e| db_err(format!("cannot take the migration lock ({history}): cannot look for the lock table {table}"), e))?;
    if exists == 0 {
        // DDL runs under total order isolation: all nodes create it at the same point.
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, owner VARCHAR(255) NOT NULL, acquired_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NOT NULL)"
        );
        retry(conn, "creating the lock table", |c| {
            let q = create.clone();
            Box::pin(async move { c.execute(AssertSqlSafe(q)).await.map(drop) })
        })
        .await
        .map_err(|e| db_err(format!("cannot create the lock table ({history})"), e))?;
    }
    let me = owner(g);
    let ttl = super::TABLE_LOCK_TTL.as_secs() as i64;
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        let _ = conn
            .execute(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE id = 1 AND expires_at < UTC_TIMESTAMP(6)"
            )))
            .await;
        let ins = format!(
            "INSERT IGNORE INTO {table} (id, owner, acquired_at, expires_at) VALUES (1, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? SECOND)"
        );
        match sqlx::query(AssertSqlSafe(ins))
            .bind(&me)
            .bind(ttl)
            .execute(&mut *conn)
            .await
        {
            Ok(r) if r.rows_affected() == 1 => return Ok(me),
            Ok(_) => {
                if take_over_stale(conn, table).await {
                    continue;
                }
            }
            // Another node's runner inserted the row at the same moment and won certification:
            // this insert was rolled back, so the lock is not ours. Try again.
            Err(e) if retryable(&e) => {
                attempt += 1;
                let _ = conn.execute("ROLLBACK").await;
                back_off("taking the migration lock", attempt, &e).await;
                if started.elapsed() < timeout {
                    continue;
                }
            }
            Err(e) => return Err(db_err(format!("cannot take the table lock ({history})"), e)),
        }
        if started.elapsed() >= timeout {
            let holder: Option<String> =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT CONCAT(owner, ', since ', acquired_at, ', expires ', expires_at) FROM {table} WHERE id = 1")))
                    .fetch_optional(&mut *conn)
                    .await
                    .ok()
                    .flatten();
            return Err(Error::Locked(format!(
                "another db-migrate run holds the migration lock of {history} on this Galera cluster ({}); waited {timeout:?} (--lock-timeout). \
                 If that run died, the lock is taken over once its node leaves the cluster or the lock expires; or delete the row from {table}",
                holder.unwrap_or_else(|| "holder unknown".into()),
            )));
        }
        tokio::time::sleep(Duration::from_millis(
            150 + u64::from(std::process::id() % 100),
        ))
        .await;
    }
}

/// Deletes the lock row when its holder is certainly gone: its node is no longer a member of the
/// cluster (nothing from it can commit any more), or it is this node and the holder's connection
/// is closed. Returns whether it did.
async fn take_over_stale(conn: &mut MySqlConnection, table: &str) -> bool {
    let Ok(Some(owner)) = sqlx::query_scalar::<_, String>(AssertSqlSafe(format!(
        "SELECT owner FROM {table} WHERE id = 1"
    )))
    .fetch_optional(&mut *conn)
    .await
    else {
        return false;
    };
    let Some((node, connection)) = holder_of(&owner) else {
        return false;
    };
    // Only a node of the primary component may judge who is gone.
    let primary: Option<(String, String)> =
        sqlx::query_as("SHOW STATUS LIKE 'wsrep_cluster_status'")
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
    if primary.map(|p| p.1) != Some("Primary".into()) {
        return false;
    }
    let Ok(members) =
        sqlx::query_scalar::<_, String>("SELECT node_uuid FROM mysql.wsrep_cluster_members")
            .fetch_all(&mut *conn)
            .await
    else {
        return false;
    };
    let gone = if !members.iter().any(|m| m == node) {
        true
    } else {
        let mine: Option<(String, String)> = sqlx::query_as("SHOW STATUS LIKE 'wsrep_gcomm_uuid'")
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
        mine.is_some_and(|m| m.1 == node)
            && sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?",
            )
            .bind(connection)
            .fetch_one(&mut *conn)
            .await
            .is_ok_and(|n| n == 0)
    };
    if !gone {
        return false;
    }
    let del = format!("DELETE FROM {table} WHERE id = 1 AND owner = ?");
    let done = sqlx::query(AssertSqlSafe(del))
        .bind(&owner)
        .execute(&mut *conn)
        .await
        .is_ok_and(|r| r.rows_affected() == 1);
    if done {
        eprintln!(
            "db-migrate: took over the migration lock of {owner}: that runner's Galera node left the cluster or its connection is closed"
        );
    }
    done
}

/// Extends the lock row (and commits when autocommit is off), retrying conflicts.
/// Returns false when the row is no longer this run's (taken over after its node was judged
/// gone), and the database's error when the renewal failed: either way the run must stop
/// before its next migration.
pub async fn heartbeat(conn: &mut MySqlConnection, table: &str, owner: &str, manual_commit: bool) -> std::result::Result<bool, sqlx::Error> {
    let q = format!(
        "UPDATE {table} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND WHERE id = 1 AND owner = ?"
    );
    let ttl = super::TABLE_LOCK_TTL.as_secs() as i64;
    let renewed = retry(conn, "renewing the migration lock", |c| {
        let (q, owner) = (q.clone(), owner.to_string());
        Box::pin(async move {
            let n = sqlx::query(AssertSqlSafe(q))
                .bind(ttl)
                .bind(owner)
                .execute(&mut *c)
                .await?
                .rows_affected();
            if manual_commit {
                c.execute("COMMIT").await?;
            }
            Ok(n)
        })
    })
    .await;
    Ok(renewed? == 1)
}

/// The error of a run whose lock row was taken over.
pub fn lost(history: &str, table: &str) -> Error {
    Error::Locked(format!(
        "this run lost the migration lock of {history} on the Galera cluster: its row in {table} was taken over \
         (this node was judged gone from the cluster, or the lock expired); it stopped before the next migration. \
         Run `db-migrate status` and `up` again"
    ))
}

/// Deletes the lock row, retrying conflicts (a row left behind would block every other runner
/// until it expires). Returns whether the row was this run's.
pub async fn unlock(conn: &mut MySqlConnection, table: &str, owner: &str) -> std::result::Result<bool, sqlx::Error> {
    let q = format!("DELETE FROM {table} WHERE id = 1 AND owner = ?");
    let n = retry(conn, "releasing the migration lock", |c| {
        let (q, owner) = (q.clone(), owner.to_string());
        Box::pin(async move {
            sqlx::query(AssertSqlSafe(q))
                .bind(owner)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })
    })
    .await?;
    Ok(n == 1)
}

/// Whether this node is in the primary component and ready: only then does what it reads stand
/// for the cluster.
pub async fn primary(conn: &mut MySqlConnection) -> bool {
    let ready: Option<(String, String)> = sqlx::query_as("SHOW STATUS LIKE 'wsrep_ready'")
        .fetch_optional(&mut *conn)
        .await
        .ok()
        .flatten();
    let status: Option<(String, String)> =
        sqlx::query_as("SHOW STATUS LIKE 'wsrep_cluster_status'")
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
    ready.is_some_and(|r| r.1 == "ON") && status.is_some_and(|s| s.1 == "Primary")
}

/// The error for a migration whose final COMMIT Galera refused (a certification conflict with a
/// concurrent write on another node): its last transaction was rolled back, and `dirty` says
/// whether its history row survived (DDL earlier in it, or a script without a transaction,
/// committed the row).
pub fn commit_refused(version: i64, dirty: Option<bool>, e: sqlx::Error) -> Error {
    let kept = match dirty {
        Some(true) => format!(
            "what ran before its last transaction had committed (DDL, or every statement of a migration without a transaction), so it is recorded as dirty: check the schema, then run `db-migrate repair --mark-applied {version}` or `--mark-reverted {version}`"
        ),
        Some(false) => "nothing of it was kept; run it again".to_string(),
        None => format!(
            "what was kept is unknown: run `db-migrate status`; if {version} shows `dirty`, check the schema and repair it"
        ),
    };
    db_err(
        format!(
            "Galera refused to commit migration {version}: a write on another node conflicted with it (certification failure), so its last transaction was rolled back and not retried; {kept}"
        ),
        e,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_node_and_connection() {
        let g = Galera {
            lost: false,
            node: "0606501d-ee06-11f1-a95f-5e72df86bcf8".into(),
            connection: 42,
        };
        let o = owner(&g);
        assert_eq!(
            holder_of(&o),
            Some(("0606501d-ee06-11f1-a95f-5e72df86bcf8", 42))
        );
        assert!(o.len() < 255, "fits the owner column");
        assert_eq!(
            holder_of("db-migrate on host, pid 7"),
            None,
            "a lock row of a non-Galera run is never judged stale here"
        );
        assert_eq!(
            holder_of("db-migrate on host, pid 7 [galera node  connection 42]"),
            None,
            "a row without a node id is never judged stale"
        );
    }
}
