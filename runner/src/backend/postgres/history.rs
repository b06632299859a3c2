//! PostgreSQL: the history table.

use super::*;

/// SQL of the history protocol, built once around the validated table name.
pub(super) struct HistorySql {
    pub(super) table: String,
    pub(super) create: String,
    pub(super) select: String,
    pub(super) insert: String,
    pub(super) insert_done: String,
    pub(super) finish: String,
    pub(super) delete: String,
    pub(super) mark_dirty: String,
    pub(super) mark_applied: String,
}

impl HistorySql {
    pub(super) fn new(table: &str) -> Self {
        let t = quote_ident(table);
        HistorySql {
            table: table.to_string(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (version BIGINT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, \
                 checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
                 execution_ms BIGINT NOT NULL DEFAULT 0)"
            ),
            select: format!(
                "SELECT version, name, kind, checksum, status, \
                 to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS applied_at, execution_ms \
                 FROM {t} ORDER BY version"
            ),
            insert: format!("INSERT INTO {t} (version, name, kind, checksum, status) VALUES ($1, $2, $3, $4, $5)"),
            insert_done: format!("INSERT INTO {t} (version, name, kind, checksum, status, execution_ms) VALUES "),
            finish: format!("UPDATE {t} SET status = 'applied', execution_ms = $1 WHERE version = $2"),
            delete: format!("DELETE FROM {t} WHERE version = $1"),
            mark_dirty: format!("UPDATE {t} SET status = 'dirty' WHERE version = $1 AND status = 'applied'"),
            mark_applied: format!("UPDATE {t} SET status = 'applied' WHERE version = $1"),
        }
    }
}

impl crate::backend::History for PgBackend {
    fn read_history(&mut self) -> crate::backend::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            if !self.history_exists().await? {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(AssertSqlSafe(self.sql.select.clone()))
                .fetch_all(&mut *self.conn)
                .await
                .map_err(|e| self.db_err("cannot read the history table", e))?;
            rows.iter()
                .map(|r| {
                    Ok(AppliedMigration {
                        version: r.try_get("version")?,
                        name: r.try_get("name")?,
                        kind: r.try_get("kind")?,
                        checksum: r.try_get("checksum")?,
                        status: RowStatus::parse(r.try_get::<&str, _>("status")?),
                        applied_at: r.try_get("applied_at")?,
                        execution_ms: r.try_get("execution_ms")?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
                .map_err(|e| self.db_err("the history table has an unexpected shape", e))
        })
    }

    fn ensure_history(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.conn
                .execute(AssertSqlSafe(self.sql.create.clone()))
                .await
                .map_err(|e| self.db_err("cannot create the history table", e))?;
            Ok(())
        })
    }

    fn mark_applied(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self.exec(self.sql.mark_applied.clone(), version).await.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn remove(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let n = self.exec(self.sql.delete.clone(), version).await.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> crate::backend::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET checksum = $1, name = $2 WHERE version = $3", quote_ident(&self.sql.table));
            let r = sqlx::query(AssertSqlSafe(q)).bind(checksum).bind(name).bind(version).execute(&mut *self.conn).await;
            let r = r.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.rows_affected() == 1)
        })
    }
}

impl PgBackend {
    /// `begin`, without the history fingerprint.
    pub(super) async fn begin_unchecked(&mut self, m: &Migration, direction: Direction, transactional: bool) -> Result<()> {
        if transactional {
            // The run holds the advisory lock, so no other runner can record this migration
            // meanwhile: the history row is written at the end, in the same transaction, and
            // `BEGIN` waits until the first statement (of the script or of a guest) needs it.
            self.pending_begin = true;
            self.in_tx = true;
            return Ok(());
        }
        match direction {
            Direction::Up => self.insert_row(m, RowStatus::Dirty).await,
            Direction::Down => match self.exec(self.sql.mark_dirty.clone(), m.version).await {
                Ok(1) => Ok(()),
                Ok(_) => Err(Self::conflict(m)),
                Err(e) => Err(self.db_err("cannot update the history", e)),
            },
        }
    }

    /// A digest of the whole history (absent table: `None`).
    pub(super) async fn history_fingerprint(&mut self) -> Option<String> {
        let q = format!(
            "SELECT md5(coalesce(string_agg(version::text || '/' || status || '/' || checksum, ',' ORDER BY version), '')) FROM {}",
            quote_ident(&self.sql.table)
        );
        sqlx::query_scalar(AssertSqlSafe(q)).fetch_one(&mut *self.conn).await.ok()
    }
}
