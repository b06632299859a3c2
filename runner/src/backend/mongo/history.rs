//! MongoDB: the history collection.

use super::*;

impl crate::backend::History for MongoBackend {
    fn read_history(&mut self) -> crate::backend::BoxFuture<'_, Result<Vec<AppliedMigration>>> {
        Box::pin(async move {
            let coll = self.history();
            let mut cursor = coll.find(doc! {}).sort(doc! { "_id": 1 }).await.map_err(|e| self.db_err("cannot read the history collection", e))?;
            let mut out = Vec::new();
            while let Some(d) = cursor.next().await {
                let d = d.map_err(|e| self.db_err("cannot read the history collection", e))?;
                let shape = |what: &str| Error::Database {
                    context: format!("the history collection {} has an unexpected shape", self.table),
                    source: DbError { message: format!("a record lacks `{what}`: {d}"), code: None },
                };
                let version = match d.get("_id") {
                    Some(Bson::Int64(v)) => *v,
                    Some(Bson::Int32(v)) => i64::from(*v),
                    _ => return Err(shape("_id (the version)")),
                };
                let text = |k: &str| d.get_str(k).map(str::to_string).map_err(|_| shape(k));
                out.push(AppliedMigration {
                    version,
                    name: text("name")?,
                    kind: text("kind")?,
                    checksum: text("checksum")?,
                    status: RowStatus::parse(&text("status")?),
                    applied_at: d
                        .get_datetime("applied_at")
                        .ok()
                        .and_then(|t| t.try_to_rfc3339_string().ok())
                        .unwrap_or_default(),
                    execution_ms: d.get_i64("execution_ms").or_else(|_| d.get_i32("execution_ms").map(i64::from)).unwrap_or(0),
                });
            }
            Ok(out)
        })
    }

    fn ensure_history(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // `_id` is the version: unique by construction; the collection appears on first insert.
            Ok(())
        })
    }

    fn mark_applied(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let r = self
                .history()
                .update_one(doc! { "_id": version }, doc! { "$set": { "status": "applied" } })
                .await
                .map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.matched_count == 1)
        })
    }

    fn remove(&mut self, version: i64) -> crate::backend::BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let r = self.history().delete_one(doc! { "_id": version }).await.map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.deleted_count == 1)
        })
    }

    fn set_checksum<'a>(&'a mut self, version: i64, name: &'a str, checksum: &'a str) -> crate::backend::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let r = self
                .history()
                .update_one(doc! { "_id": version }, doc! { "$set": { "checksum": checksum, "name": name } })
                .await
                .map_err(|e| self.db_err("cannot update the history", e))?;
            Ok(r.matched_count == 1)
        })
    }
}
