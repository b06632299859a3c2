//! PostgreSQL: the run-wide migration lock (a session advisory lock, or a lock row behind transaction poolers).

use super::*;

impl PgBackend {
    /// Takes a lock row in `<history>_lock` (no session state needed), expiring stale ones.
    async fn lock_table(&mut self, timeout: Duration) -> Result<()> {
        let t = quote_ident(&format!("{}_lock", self.sql.table));
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, acquired_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)"
        );
        // Concurrent `CREATE TABLE IF NOT EXISTS` races in PostgreSQL's catalog; a
        // transaction-scoped advisory lock (fine behind transaction poolers) serialises it.
        let key = crate::backend::lock_key(&format!("create {}", self.sql.table));
        let created = async {
            self.conn.execute("BEGIN").await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *self.conn).await?;
            self.conn.execute(AssertSqlSafe(create)).await?;
            self.conn.execute("COMMIT").await
        }
        .await;
        if let Err(e) = created {
            self.rollback().await;
            return Err(self.db_err("cannot create the lock table", e));
        }
        let owner = crate::backend::lock_owner();
        let sql = crate::backend::sqlx_shared::LockRowSql {
            expire: format!("DELETE FROM {t} WHERE id = 1 AND expires_at < now()"),
            insert: format!(
                "INSERT INTO {t} (id, owner, acquired_at, expires_at) VALUES (1, $1, now(), now() + make_interval(secs => $2)) ON CONFLICT (id) DO NOTHING"
            ),
            holder: format!("SELECT format('%s, since %s, expires %s', owner, acquired_at, expires_at) FROM {t} WHERE id = 1"),
        };
        let ttl = crate::backend::TABLE_LOCK_TTL.as_secs() as f64;
        crate::backend::sqlx_shared::take_lock_row::<Postgres, _>(&mut *self.conn, &sql, &owner, ttl, timeout, &self.sql.table, &t, |r| r.rows_affected()).await?;
        self.table_lock = Some(owner);
        Ok(())
    }

    /// Takes the run's advisory lock, waiting up to `timeout`; says who holds it on time-out.
    async fn lock_advisory(&mut self, timeout: Duration) -> Result<()> {
        let key_src: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut *self.conn)
            .await
            .map_err(|e| self.db_err("cannot take the migration lock", e))?;
        let key = crate::backend::lock_key(&format!("{key_src}/{}", self.sql.table));
        let started = Instant::now();
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut *self.conn)
                .await
                .map_err(|e| self.db_err("cannot take the migration lock", e))?;
            if got {
                self.lock_key = Some(key);
                return Ok(());
            }
            if started.elapsed() >= timeout {
                let holder: Option<String> = sqlx::query_scalar(
                    "SELECT format('pid %s, application %L, client %s, connected since %s', a.pid, a.application_name, \
                     coalesce(a.client_addr::text, 'local'), a.backend_start) \
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1 LIMIT 1",
                )
                .bind(key)
                .fetch_optional(&mut *self.conn)
                .await
                .ok()
                .flatten();
                return Err(Error::Locked(format!(
                    "another db-migrate run holds the migration lock of {} ({}); waited {:?} (--lock-timeout)",
                    self.sql.table,
                    holder.unwrap_or_else(|| "holder unknown".into()),
                    timeout
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Releases the advisory or table lock (the advisory one also goes with the connection).
    /// A lock row that is no longer this run's, or an advisory lock the session did not hold,
    /// is an error too: the run was not protected by it to the end.
    pub async fn unlock(&mut self) -> Result<()> {
        if let Some(owner) = self.table_lock.take() {
            let table = format!("{}_lock", self.sql.table);
            let q = format!("DELETE FROM {} WHERE id = 1 AND owner = $1", quote_ident(&table));
            let held = crate::backend::held_row(table);
            let n = sqlx::query(AssertSqlSafe(q))
                .bind(owner)
                .execute(&mut *self.conn)
                .await
                .map_err(|e| Error::Unlock { lock: held.clone(), source: DbError::from(e) })?
                .rows_affected();
            if n != 1 {
                return Err(Error::Unlock { lock: held, source: crate::backend::row_not_ours() });
            }
        }
        if let Some(key) = self.lock_key.take() {
            let released: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .fetch_one(&mut *self.conn)
                .await
                .map_err(|e| Error::Unlock { lock: crate::backend::HeldLock::Session, source: DbError::from(e) })?;
            if !released {
                return Err(Error::Unlock {
                    lock: crate::backend::HeldLock::Session,
                    source: DbError {
                        message: "the server says this session did not hold it (is a transaction-mode pooler such as PgBouncer between db-migrate and the server? see --lock-mode table)".into(),
                        code: None,
                    },
                });
            }
        }
        Ok(())
    }
}

impl crate::backend::Lock for PgBackend {
    fn lock(&mut self, timeout: Duration, mode: crate::backend::LockMode) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match mode {
                crate::backend::LockMode::Session => self.lock_advisory(timeout).await,
                crate::backend::LockMode::Table => self.lock_table(timeout).await,
            }
        })
    }

    fn heartbeat(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(owner) = &self.table_lock {
                let table = format!("{}_lock", self.sql.table);
                let q = format!("UPDATE {} SET expires_at = now() + make_interval(secs => $1) WHERE id = 1 AND owner = $2", quote_ident(&table));
                let r = sqlx::query(AssertSqlSafe(q)).bind(crate::backend::TABLE_LOCK_TTL.as_secs() as f64).bind(owner.clone()).execute(&mut *self.conn).await;
                let n = r.map_err(|e| self.db_err("cannot renew the migration lock", e))?.rows_affected();
                if n != 1 {
                    return Err(crate::backend::lock_row_lost(&self.sql.table, &table));
                }
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            PgBackend::unlock(self).await
        })
    }
}
