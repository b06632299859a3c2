//! MongoDB: what a component's `documents` calls run.

use super::*;

/// The backend side of the WIT `documents` interface. Arguments arrive parsed; grants were
/// checked by the sandbox.
impl MongoBackend {
    /// Inserts documents in order; how many were inserted.
    pub async fn insert_many(&mut self, collection: &str, docs: Vec<String>) -> std::result::Result<u64, GuestSqlError> {
        if docs.is_empty() {
            return Ok(0);
        }
        let docs = docs.iter().enumerate().map(|(i, d)| guest_doc(d, &format!("document {i}"))).collect::<std::result::Result<Vec<_>, _>>()?;
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.insert_many(docs)).map(|r| r.inserted_ids.len() as u64).map_err(guest_error)
    }

    async fn open(&mut self, collection: &str, filter: &str, o: &FindOptions) -> std::result::Result<DocCursor, GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        let coll = self.db.collection::<Document>(collection);
        let mut find = coll.find(filter);
        if let Some(p) = &o.projection {
            find = find.projection(p.clone());
        }
        if let Some(s) = &o.sort {
            find = find.sort(s.clone());
        }
        if let Some(n) = o.skip {
            find = find.skip(n);
        }
        if let Some(n) = o.limit {
            find = find.limit(n.min(i64::MAX as u64) as i64);
        }
        if let Some(d) = self.deadline {
            find = find.max_time(d.saturating_duration_since(std::time::Instant::now()).max(std::time::Duration::from_millis(1)));
        }
        match self.session.as_mut() {
            Some(s) => find.session(&mut *s).await.map(DocCursor::Session),
            None => find.await.map(DocCursor::Plain),
        }
        .map_err(guest_error)
    }

    async fn next_batch(&mut self, id: u64, max: usize) -> std::result::Result<Option<Vec<String>>, GuestSqlError> {
        let Some(cursor) = self.cursors.get_mut(&id) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max {
            let next = match cursor {
                DocCursor::Plain(c) => c.next().await,
                DocCursor::Session(c) => {
                    let s = self.session.as_mut().ok_or_else(|| GuestSqlError::InvalidInput("the cursor outlived its transaction".into()))?;
                    c.next(s).await
                }
            };
            match next {
                Some(Ok(d)) => {
                    let text = document_text(d);
                    bytes += text.len();
                    if bytes > self.max_bytes {
                        self.cursors.remove(&id);
                        return Err(crate::backend::guest::too_many_bytes(self.max_bytes));
                    }
                    out.push(text)
                }
                Some(Err(e)) => return Err(guest_error(e)),
                None => break,
            }
        }
        if out.is_empty() {
            self.cursors.remove(&id);
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// The matching documents, at most `max` (more is an error: use a cursor).
    pub async fn find(&mut self, collection: &str, filter: &str, o: &FindOptions, max: usize) -> std::result::Result<Vec<String>, GuestSqlError> {
        let c = self.open(collection, filter, o).await?;
        let id = self.store(c);
        let first = self.next_batch(id, max + 1).await;
        self.cursors.remove(&id);
        let docs = first?.unwrap_or_default();
        if docs.len() > max {
            return Err(GuestSqlError::Denied(format!(
                "the result holds more than {max} documents (the row limit); read it with open-cursor"
            )));
        }
        Ok(docs)
    }

    fn store(&mut self, c: DocCursor) -> u64 {
        self.next_cursor += 1;
        self.cursors.insert(self.next_cursor, c);
        self.next_cursor
    }

    /// Opens a cursor; its id.
    pub async fn open_cursor(&mut self, collection: &str, filter: &str, o: &FindOptions) -> std::result::Result<u64, GuestSqlError> {
        let c = self.open(collection, filter, o).await?;
        Ok(self.store(c))
    }

    /// The next page of a cursor; `None` when exhausted.
    pub async fn cursor_next(&mut self, id: u64, max: usize) -> std::result::Result<Option<Vec<String>>, GuestSqlError> {
        self.next_batch(id, max).await
    }

    /// Releases a cursor.
    pub fn close_cursor(&mut self, id: u64) {
        self.cursors.remove(&id);
    }

    /// Updates every matching document: (matched, modified).
    pub async fn update_many(&mut self, collection: &str, filter: &str, update: &str) -> std::result::Result<(u64, u64), GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        // An update is a document of operators or a pipeline (an array of stages).
        let json: serde_json::Value =
            serde_json::from_str(update).map_err(|e| GuestSqlError::InvalidInput(format!("the update is not JSON: {e}")))?;
        let update: mongodb::options::UpdateModifications = match json {
            serde_json::Value::Array(stages) => mongodb::options::UpdateModifications::Pipeline(
                stages
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| json_to_document(s, &format!("update stage {i}")))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(GuestSqlError::InvalidInput)?,
            ),
            other => mongodb::options::UpdateModifications::Document(json_to_document(other, "the update").map_err(GuestSqlError::InvalidInput)?),
        };
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.update_many(filter, update)).map(|r| (r.matched_count, r.modified_count)).map_err(guest_error)
    }

    /// Deletes every matching document; how many.
    pub async fn delete_many(&mut self, collection: &str, filter: &str) -> std::result::Result<u64, GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.delete_many(filter)).map(|r| r.deleted_count).map_err(guest_error)
    }

    /// Counts the matching documents.
    pub async fn count(&mut self, collection: &str, filter: &str) -> std::result::Result<u64, GuestSqlError> {
        let filter = guest_doc(filter, "the filter")?;
        let coll = self.db.collection::<Document>(collection);
        in_session!(self.session, coll.count_documents(filter)).map_err(guest_error)
    }

    /// Runs a command on the migration's database (the sandbox checked it); the reply.
    pub async fn run_command(&mut self, command: Document) -> std::result::Result<Document, GuestSqlError> {
        let reply = in_session!(self.session, self.db.run_command(command)).map_err(guest_error)?;
        match reply_error(&reply) {
            Some(e) => {
                let kind = if e.code.as_deref() == Some("11000") { DbErrorKind::UniqueViolation } else { DbErrorKind::Other };
                Err(GuestSqlError::Database { kind, message: e.message, code: e.code })
            }
            None => Ok(reply),
        }
    }
}
