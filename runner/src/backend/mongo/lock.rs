//! MongoDB: the run-wide migration lock (a lock document with an expiry).

use super::*;

impl crate::backend::Lock for MongoBackend {
    /// MongoDB has no session lock: both modes take the lock document (owner and expiry,
    /// renewed before each next migration; a dead runner's lock expires).
    fn lock(&mut self, timeout: Duration, _mode: crate::backend::LockMode) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let coll = self.lock_collection();
            let owner = crate::backend::lock_owner();
            let ttl = crate::backend::TABLE_LOCK_TTL.as_millis() as i64;
            let started = Instant::now();
            loop {
                let now = bson::DateTime::now();
                let _ = coll.delete_one(doc! { "_id": LOCK_ID, "expires_at": { "$lt": now } }).await;
                let d = doc! {
                    "_id": LOCK_ID,
                    "owner": &owner,
                    "acquired_at": now,
                    "expires_at": bson::DateTime::from_millis(now.timestamp_millis() + ttl),
                };
                match coll.insert_one(d).await {
                    Ok(_) => {
                        self.lock_owner = Some(owner);
                        return Ok(());
                    }
                    Err(e) if error_parts(&e).0 == Some(DUPLICATE_KEY) => {}
                    Err(e) => return Err(self.db_err("cannot take the migration lock", e)),
                }
                if started.elapsed() >= timeout {
                    let holder = coll.find_one(doc! { "_id": LOCK_ID }).await.ok().flatten().map(|h| {
                        let t = |k: &str| h.get_datetime(k).ok().and_then(|t| t.try_to_rfc3339_string().ok()).unwrap_or_default();
                        format!("{}, since {}, expires {}", h.get_str("owner").unwrap_or("unknown"), t("acquired_at"), t("expires_at"))
                    });
                    return Err(Error::Locked(format!(
                        "another db-migrate run holds the migration lock of {} ({}); waited {:?} (--lock-timeout). \
                         If that run died, the lock expires by itself, or delete the document from {}_lock",
                        self.table,
                        holder.unwrap_or_else(|| "holder unknown".into()),
                        timeout,
                        self.table
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    fn heartbeat(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(owner) = self.lock_owner.clone() {
                let expires = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + crate::backend::TABLE_LOCK_TTL.as_millis() as i64);
                let r = self.lock_collection().update_one(doc! { "_id": LOCK_ID, "owner": owner }, doc! { "$set": { "expires_at": expires } }).await;
                let r = r.map_err(|e| self.db_err("cannot renew the migration lock", e))?;
                if r.matched_count != 1 {
                    return Err(crate::backend::lock_row_lost(&self.table, &format!("{}_lock", self.table)));
                }
            }
            Ok(())
        })
    }

    fn unlock(&mut self) -> crate::backend::BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if let Some(mut s) = self.session.take() {
                // A transaction left open by a failure: the server drops it with the session anyway.
                let _ = s.abort_transaction().await;
            }
            if let Some(owner) = self.lock_owner.take() {
                let held = crate::backend::held_row(format!("{}_lock", self.table));
                let r = self.lock_collection().delete_one(doc! { "_id": LOCK_ID, "owner": owner }).await;
                let r = r.map_err(|e| Error::Unlock { lock: held.clone(), source: db_error(&e) })?;
                if r.deleted_count != 1 {
                    return Err(Error::Unlock { lock: held, source: crate::backend::row_not_ours() });
                }
            }
            Ok(())
        })
    }
}
