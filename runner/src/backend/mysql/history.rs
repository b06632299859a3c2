//! MySQL/MariaDB: the history table.

use super::*;

impl crate::backend::History for MySqlBackend {
    fn read_history(&mut self) -> crate::backend::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            if !self.history_exists().await? {
                return Ok(Vec::new());
            }
            let q = format!(
                "SELECT version, name, kind, checksum, status, DATE_FORMAT(applied_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS applied_at, execution_ms \
                 FROM {} ORDER BY version",
                self.t()
            );
            let rows = self
                .read_retrying("reading the history", |c| {
                    let q = q.clone();
                    Box::pin(async move { sqlx::query(AssertSqlSafe(q)).fetch_all(c).await })
                })
                .await
                .map_err(|e| self.db_err("cannot read the history table", e))?;
            rows.iter()
                .map(|r| {
                    Ok(AppliedMigration {
                        version: r.try_get("version")?,
                        name: r.try_get("name")?,
                        kind: r.try_get("kind")?,
                        checksum: r.try_get("checksum")?,
                        status: RowStatus::parse(&r.try_get::<String, _>("status")?),
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
            let q = format!(
                "CREATE TABLE IF NOT EXISTS {} (version BIGINT PRIMARY KEY, name VARCHAR(255) NOT NULL, kind VARCHAR(32) NOT NULL, \
                 checksum CHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
                 execution_ms BIGINT NOT NULL DEFAULT 0)",
                self.t()
            );
            // Galera hook: `CREATE TABLE IF NOT EXISTS` is replicated in total order even when the
            // table exists, and aborts reads of the table on every node; look first.
            if self.galera.is_some() && self.history_exists().await? {
                return Ok(());
            }
            let r = match self.galera {
                // Galera hook: DDL under total order isolation may be asked to retry; this one is idempotent.
                Some(_) => {
                    crate::backend::galera::retry(&mut self.conn, "creating the history table", |c| {
                        let q = q.clone();
                        Box::pin(async move { c.execute(AssertSqlSafe(q)).await.map(drop) })
                    })
                    .await
                }
                None => self.conn.execute(AssertSqlSafe(q)).await.map(drop),
            };
            r.map_err(|e| self.db_err("cannot create the history table", e))
        })
    }

    fn mark_applied(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET status = 'applied' WHERE version = ?", self.t());
            let n = self.exec(q, version).await.map_err(|e| self.db_err("cannot update the history", e))?;
            self.commit_edit().await?;
            Ok(n == 1)
        })
    }

    fn remove(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = format!("DELETE FROM {} WHERE version = ?", self.t());
            let n = self.exec(q, version).await.map_err(|e| self.db_err("cannot update the history", e))?;
            self.commit_edit().await?;
            Ok(n == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> crate::backend::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET checksum = ?, name = ? WHERE version = ?", self.t());
            let r = sqlx::query(AssertSqlSafe(q)).bind(checksum).bind(name).bind(version).execute(&mut self.conn).await;
            let r = r.map_err(|e| self.db_err("cannot update the history", e))?;
            self.commit_edit().await?;
            // MySQL counts changed rows: an identical checksum is still a match.
            Ok(r.rows_affected() == 1 || self.history_has(version).await?)
        })
    }
}

impl MySqlBackend {
    /// Commits an edit of the history made outside a migration (`repair`, a squashed
    /// migration recorded or reverted): once a run has begun a migration, autocommit stays off
    /// for the rest of it (see `begin`), and the release of the lock rolls back what is open, so
    /// an edit left uncommitted would be reported done and then lost.
    pub(super) async fn commit_edit(&mut self) -> Result<()> {
        if self.manual_commit {
            self.conn.execute("COMMIT").await.map_err(|e| self.db_err("cannot commit the history's update", e))?;
        }
        Ok(())
    }

    pub(super) async fn begin_row(&mut self, m: &Migration, direction: Direction) -> Result<()> {
        match direction {
            Direction::Up => {
                let q = format!(
                    "INSERT INTO {} (version, name, kind, checksum, status, applied_at) VALUES (?, ?, ?, ?, 'dirty', UTC_TIMESTAMP(6))",
                    self.t()
                );
                let r = sqlx::query(AssertSqlSafe(q))
                    .bind(m.version)
                    .bind(&m.name)
                    .bind(m.kind().as_str())
                    .bind(&m.checksum)
                    .execute(&mut self.conn)
                    .await;
                match r {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23000") => Err(Self::conflict(m)),
                    Err(e) => Err(self.db_err("cannot record the migration in the history", e)),
                }
            }
            Direction::Down => {
                let q = format!("UPDATE {} SET status = 'dirty' WHERE version = ? AND status = 'applied'", self.t());
                match self.exec(q, m.version).await {
                    Ok(1) => Ok(()),
                    Ok(_) => Err(Self::conflict(m)),
                    Err(e) => Err(self.db_err("cannot update the history", e)),
                }
            }
        }
    }

    /// A digest of the whole history (absent table: `None`).
    pub(super) async fn history_fingerprint(&mut self) -> Option<String> {
        let q = format!(
            "SELECT MD5(COALESCE(GROUP_CONCAT(CONCAT(version, '/', status, '/', checksum) ORDER BY version SEPARATOR ','), '')) FROM {}",
            self.t()
        );
        sqlx::query_scalar(AssertSqlSafe(q)).fetch_one(&mut self.conn).await.ok()
    }
}
