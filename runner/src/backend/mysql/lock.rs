//! MySQL/MariaDB: the run-wide migration lock (`GET_LOCK`, or a lock row; on Galera always the row).

use super::*;

impl crate::backend::Lock for MySqlBackend {
    fn lock(&mut self, timeout: Duration, mode: crate::backend::LockMode) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Galera hook: GET_LOCK is local to a node, so a Galera run always takes the lock row.
            if let Some(g) = self.galera.clone() {
                let (t, history) = (self.lock_table_name(), self.table.clone());
                self.table_lock = Some(crate::backend::galera::lock(&mut self.conn, &g, &t, &history, timeout).await?);
                return Ok(());
            }
            if mode == crate::backend::LockMode::Table {
                return self.lock_table(timeout).await;
            }
            let db: Option<String> = sqlx::query_scalar("SELECT DATABASE()").fetch_one(&mut self.conn).await.map_err(|e| self.db_err("cannot take the migration lock", e))?;
            // GET_LOCK names are at most 64 characters: a hash keeps long names unique.
            let name = format!("db-migrate:{:016x}", crate::backend::lock_key(&format!("{}/{}", db.unwrap_or_default(), self.table)));
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(&name)
                .bind(timeout.as_secs_f64())
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| self.db_err("cannot take the migration lock", e))?;
            if got == Some(1) {
                self.lock_name = Some(name);
                return Ok(());
            }
            let holder: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)").bind(&name).fetch_one(&mut self.conn).await.ok().flatten();
            Err(Error::Locked(format!(
                "another db-migrate run holds the migration lock of {} (connection id {}); waited {:?} (--lock-timeout)",
                self.table,
                holder.map(|h| h.to_string()).unwrap_or_else(|| "unknown".into()),
                timeout
            )))
        })
    }

    fn heartbeat(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Galera hook: renewals retry certification conflicts.
            if let (Some(_), Some(owner)) = (&self.galera, self.table_lock.clone()) {
                let t = self.lock_table_name();
                let held = crate::backend::galera::heartbeat(&mut self.conn, &t, &owner, self.manual_commit).await;
                let held = held.map_err(|e| self.db_err("cannot renew the migration lock", e))?;
                if let Some(g) = self.galera.as_mut() {
                    g.lost |= !held;
                }
                if !held {
                    return Err(crate::backend::galera::lost(&self.table, &t));
                }
                return Ok(());
            }
            if let Some(owner) = self.table_lock.clone() {
                let q = format!("UPDATE {} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND WHERE id = 1 AND owner = ?", self.lock_table_name());
                let r = sqlx::query(AssertSqlSafe(q)).bind(crate::backend::TABLE_LOCK_TTL.as_secs() as i64).bind(owner).execute(&mut self.conn).await;
                let n = r.map_err(|e| self.db_err("cannot renew the migration lock", e))?.rows_affected();
                if self.manual_commit {
                    self.conn.execute("COMMIT").await.map_err(|e| self.db_err("cannot renew the migration lock", e))?;
                }
                if n != 1 {
                    return Err(crate::backend::lock_row_lost(&self.table, &format!("{}_lock", self.table)));
                }
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Ends what autocommit-off left open (always: a script may have turned it off itself);
            // a failure here shows in the release below.
            self.manual_commit = false;
            let _ = self.conn.execute(sqlx::raw_sql("ROLLBACK; SET autocommit = 1")).await;
            let row = crate::backend::held_row(format!("{}_lock", self.table));
            // Galera hook: the release retries certification conflicts.
            if let Some(owner) = self.table_lock.take_if(|_| self.galera.is_some()) {
                let t = self.lock_table_name();
                let ours = crate::backend::galera::unlock(&mut self.conn, &t, &owner).await.map_err(|e| Error::Unlock { lock: row.clone(), source: DbError::from(e) })?;
                if !ours {
                    return Err(Error::Unlock { lock: row, source: crate::backend::row_not_ours() });
                }
            }
            if let Some(owner) = self.table_lock.take() {
                let q = format!("DELETE FROM {} WHERE id = 1 AND owner = ?", self.lock_table_name());
                let r = sqlx::query(AssertSqlSafe(q)).bind(owner).execute(&mut self.conn).await;
                let n = r.map_err(|e| Error::Unlock { lock: row.clone(), source: DbError::from(e) })?.rows_affected();
                if n != 1 {
                    return Err(Error::Unlock { lock: row, source: crate::backend::row_not_ours() });
                }
            }
            if let Some(name) = self.lock_name.take() {
                let released: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)")
                    .bind(name)
                    .fetch_one(&mut self.conn)
                    .await
                    .map_err(|e| Error::Unlock { lock: crate::backend::HeldLock::Session, source: DbError::from(e) })?;
                if released != Some(1) {
                    return Err(Error::Unlock {
                        lock: crate::backend::HeldLock::Session,
                        source: DbError { message: "the server says this session did not hold it".into(), code: None },
                    });
                }
            }
            Ok(())
        })
    }
}

impl MySqlBackend {
    pub(super) fn lock_table_name(&self) -> String {
        quote_ident(&format!("{}_lock", self.table))
    }

    /// Takes a lock row in `<history>_lock` (no session state needed), expiring stale ones.
    async fn lock_table(&mut self, timeout: Duration) -> Result<()> {
        let t = self.lock_table_name();
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, owner VARCHAR(255) NOT NULL, acquired_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NOT NULL)"
        );
        self.conn.execute(AssertSqlSafe(create)).await.map_err(|e| self.db_err("cannot create the lock table", e))?;
        let owner = crate::backend::lock_owner();
        let sql = crate::backend::sqlx_shared::LockRowSql {
            expire: format!("DELETE FROM {t} WHERE id = 1 AND expires_at < UTC_TIMESTAMP(6)"),
            insert: format!(
                "INSERT IGNORE INTO {t} (id, owner, acquired_at, expires_at) VALUES (1, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? SECOND)"
            ),
            holder: format!("SELECT CONCAT(owner, ', since ', acquired_at, ', expires ', expires_at) FROM {t} WHERE id = 1"),
        };
        let ttl = crate::backend::TABLE_LOCK_TTL.as_secs() as i64;
        crate::backend::sqlx_shared::take_lock_row::<MySql, _>(&mut self.conn, &sql, &owner, ttl, timeout, &self.table, &t, |r| r.rows_affected()).await?;
        self.table_lock = Some(owner);
        Ok(())
    }
}
