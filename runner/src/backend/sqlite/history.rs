//! SQLite: the history table.

use super::*;

/// The history protocol's SQL, built once per connection around the validated table name.
pub(super) struct HistorySql {
    pub(super) table: String,
    pub(super) create: Arc<str>,
    pub(super) select: Arc<str>,
    pub(super) insert: Arc<str>,
    pub(super) finish: Arc<str>,
    pub(super) delete: Arc<str>,
    pub(super) mark_dirty: Arc<str>,
    pub(super) mark_applied: Arc<str>,
}

impl HistorySql {
    pub(super) fn new(table: &str) -> Self {
        let t = quote_ident(table);
        HistorySql {
            table: table.to_string(),
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, \
                 checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TEXT NOT NULL, \
                 execution_ms INTEGER NOT NULL DEFAULT 0)"
            )
            .into(),
            // Read on SQLite's C API, row by row, columns by type (see `sqlite_script::history_rows`).
            select: format!("SELECT version, name, kind, checksum, status, applied_at, execution_ms FROM {t} ORDER BY version").into(),
            insert: format!(
                "INSERT INTO {t} (version, name, kind, checksum, status, applied_at, execution_ms) VALUES (?, ?, ?, ?, ?, ?, 0)"
            )
            .into(),
            finish: format!("UPDATE {t} SET status = 'applied', execution_ms = ? WHERE version = ?").into(),
            delete: format!("DELETE FROM {t} WHERE version = ?").into(),
            mark_dirty: format!("UPDATE {t} SET status = 'dirty' WHERE version = ? AND status = 'applied'").into(),
            mark_applied: format!("UPDATE {t} SET status = 'applied' WHERE version = ?").into(),
        }
    }
}

impl crate::backend::History for SqliteBackend {
    fn read_history(&mut self) -> crate::backend::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            // Reading straight away saves a round trip on every command; an absent table is the
            // rare case and is told apart by asking only then.
            let read = async |b: &mut Self| {
                let handle = b.conn.handle().await?;
                crate::backend::sqlite_script::history_rows(handle, &b.sql.select)
            };
            let rows = match read(self).await {
                Ok(rows) => rows,
                Err(e) => {
                    if !self.history_exists().await? {
                        return Ok(Vec::new());
                    }
                    // Another runner may have created the table between the two queries: read again.
                    match read(self).await {
                        Ok(rows) => rows,
                        Err(_) => return Err(self.history_err("cannot read the history table", e)),
                    }
                }
            };
            rows.map_err(|message| Error::Database {
                context: format!("the history table ({}) has an unexpected shape", self.sql.table),
                source: DbError { message, code: None },
            })
        })
    }

    fn ensure_history(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let create: &str = &self.sql.create;
            self.conn.exec(&[(create, &[])]).await.map_err(|e| self.history_err("cannot create the history table", e))?;
            Ok(())
        })
    }

    fn mark_applied(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = Arc::clone(&self.sql.mark_applied);
            let n = self.on_version(&q, version).await.map_err(|e| self.history_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn remove(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let q = Arc::clone(&self.sql.delete);
            let n = self.on_version(&q, version).await.map_err(|e| self.history_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> crate::backend::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let q = format!("UPDATE {} SET checksum = ?, name = ? WHERE version = ?", quote_ident(&self.sql.table));
            let n = self
                .conn
                .exec(&[(&q, &[Bind::Text(checksum), Bind::Text(name), Bind::Int(version)])])
                .await
                .map_err(|e| self.history_err("cannot update the history", e))?;
            Ok(n == 1)
        })
    }
}
