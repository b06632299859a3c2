//! The host side of the `documents` interface (MongoDB): every call is checked against the
//! component's collection grants (`sandbox::doc_grants`) before it reaches the backend's
//! [`Documents`] capability.

use wasmtime::component::Resource;

use super::{DocCursorHandle, HostState, documents, to_wit_error, types};
use crate::backend::documents::Documents;
use crate::migrate::events::Event;

impl HostState {
    /// The MongoDB backend and the grants check for one `documents` call. A component that
    /// imports `documents` is refused before it runs against a SQL database, so the first
    /// error is a last line only.
    fn documents(&mut self, needs: crate::sandbox::doc_grants::Needs, what: &str) -> wasmtime::Result<Result<&mut (impl Documents + use<'_>), types::Error>> {
        if let Err(e) = self.refuse_in_metadata() {
            return Ok(Err(e));
        }
        let grants = &self.grants;
        let reserved = &self.reserved;
        let Some(mongo) = self.db.documents() else {
            return Err(wasmtime::Error::msg("the `documents` interface needs a MongoDB database"));
        };
        // db-migrate's collections (the history, its lock, the seed history, anything named
        // like them) as for SQL, and MongoDB's own.
        let own = |c: &str| mongo.is_reserved(c) || reserved.prefixes(&c.to_ascii_lowercase());
        if let Err(reason) = crate::sandbox::doc_grants::check(grants, self.collections.as_ref(), &needs, own) {
            if let Some(o) = &self.observer {
                o(&Event::Audit { migration: &self.migration, statement: what, reason: &reason });
            }
            return Ok(Err(types::Error::Denied(reason)));
        }
        let mongo = self.db.documents().expect("checked above");
        Ok(Ok(mongo))
    }

    fn find_options(o: documents::FindOptions) -> Result<crate::backend::documents::FindOptions, types::Error> {
        let parse = |t: Option<String>, what: &str| -> Result<_, types::Error> {
            t.map(|t| crate::backend::documents::parse_document(&t, what).map_err(types::Error::InvalidInput)).transpose()
        };
        Ok(crate::backend::documents::FindOptions {
            projection: parse(o.projection, "the projection")?,
            sort: parse(o.sort, "the sort")?,
            skip: o.skip,
            limit: o.limit,
        })
    }
}

use crate::sandbox::grants::Class;

macro_rules! db_or_deny {
    ($self:ident, $needs:expr, $what:expr) => {
        match $self.documents($needs, $what)? {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        }
    };
}

macro_rules! guest_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

impl documents::Host for HostState {
    async fn insert_many(&mut self, collection: String, docs: Vec<String>) -> wasmtime::Result<Result<u64, types::Error>> {
        let params = docs.len();
        guest_try!(self.call_limits.check_count(params).map_err(to_wit_error));
        let what = format!("insert-many into {collection}");
        let db = db_or_deny!(self, vec![(Class::Write, collection.clone())], &what);
        let r = db.insert_many(&collection, docs).await;
        self.writes += 1;
        if let Ok(n) = &r {
            // A seed reports the documents it wrote per collection, as SQL seeds do per table.
            *self.rows.entry(collection).or_default() += n;
        }
        self.check_deadline()?;
        Ok(r.map_err(to_wit_error))
    }

    async fn find(&mut self, collection: String, filter: String, options: documents::FindOptions) -> wasmtime::Result<Result<Vec<String>, types::Error>> {
        let o = guest_try!(Self::find_options(options));
        let max = self.call_limits.max_rows;
        let db = db_or_deny!(self, vec![(Class::Read, collection.clone())], &format!("find in {collection}"));
        let r = db.find(&collection, &filter, &o, max).await;
        self.check_deadline()?;
        Ok(r.map_err(to_wit_error))
    }

    async fn open_cursor(&mut self, collection: String, filter: String, options: documents::FindOptions) -> wasmtime::Result<Result<Resource<DocCursorHandle>, types::Error>> {
        let o = guest_try!(Self::find_options(options));
        let db = db_or_deny!(self, vec![(Class::Read, collection.clone())], &format!("open-cursor on {collection}"));
        match db.open_cursor(&collection, &filter, &o).await {
            Ok(id) => Ok(Ok(self.table.push(DocCursorHandle { id })?)),
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }

    async fn update_many(&mut self, collection: String, filter: String, update: String) -> wasmtime::Result<Result<documents::UpdateResult, types::Error>> {
        let db = db_or_deny!(self, vec![(Class::Write, collection.clone())], &format!("update-many in {collection}"));
        let r = db.update_many(&collection, &filter, &update).await;
        self.writes += 1;
        if let Ok((_, modified)) = &r {
            *self.rows.entry(collection).or_default() += modified;
        }
        self.check_deadline()?;
        Ok(r.map(|(matched, modified)| documents::UpdateResult { matched, modified }).map_err(to_wit_error))
    }

    async fn delete_many(&mut self, collection: String, filter: String) -> wasmtime::Result<Result<u64, types::Error>> {
        let db = db_or_deny!(self, vec![(Class::Write, collection.clone())], &format!("delete-many in {collection}"));
        let r = db.delete_many(&collection, &filter).await;
        self.writes += 1;
        if let Ok(n) = &r {
            *self.rows.entry(collection).or_default() += n;
        }
        self.check_deadline()?;
        Ok(r.map_err(to_wit_error))
    }

    async fn count(&mut self, collection: String, filter: String) -> wasmtime::Result<Result<u64, types::Error>> {
        let db = db_or_deny!(self, vec![(Class::Read, collection.clone())], &format!("count in {collection}"));
        let r = db.count(&collection, &filter).await;
        self.check_deadline()?;
        Ok(r.map_err(to_wit_error))
    }

    async fn create_collection(&mut self, name: String, options: Option<String>) -> wasmtime::Result<Result<(), types::Error>> {
        let mut cmd = mongodb::bson::doc! { "create": &name };
        if let Some(o) = options {
            let o = guest_try!(crate::backend::documents::parse_document(&o, "the options").map_err(types::Error::InvalidInput));
            cmd.extend(o.into_iter().filter(|(k, _)| k != "create"));
        }
        self.command(cmd, vec![(Class::Ddl, name.clone())], format!("create-collection {name}")).await.map(|r| r.map(drop))
    }

    async fn drop_collection(&mut self, name: String) -> wasmtime::Result<Result<(), types::Error>> {
        let r = self.command(mongodb::bson::doc! { "drop": &name }, vec![(Class::Ddl, name.clone())], format!("drop-collection {name}")).await?;
        // Dropping what is not there is not an error (NamespaceNotFound, code 26).
        Ok(match r {
            Err(types::Error::Database(d)) if d.code.as_deref() == Some("26") => Ok(()),
            other => other.map(drop),
        })
    }

    async fn create_index(&mut self, collection: String, keys: String, options: Option<String>) -> wasmtime::Result<Result<String, types::Error>> {
        let keys = guest_try!(crate::backend::documents::parse_document(&keys, "the index keys").map_err(types::Error::InvalidInput));
        let mut index = mongodb::bson::doc! { "key": keys.clone() };
        if let Some(o) = options {
            let o = guest_try!(crate::backend::documents::parse_document(&o, "the index options").map_err(types::Error::InvalidInput));
            index.extend(o.into_iter().filter(|(k, _)| k != "key"));
        }
        if !index.contains_key("name") {
            index.insert("name", crate::backend::documents::default_index_name(&keys));
        }
        let name = index.get_str("name").unwrap_or_default().to_string();
        let cmd = mongodb::bson::doc! { "createIndexes": &collection, "indexes": [index] };
        let r = self.command(cmd, vec![(Class::Ddl, collection.clone())], format!("create-index on {collection}")).await?;
        Ok(r.map(|_| name))
    }

    async fn drop_index(&mut self, collection: String, name: String) -> wasmtime::Result<Result<(), types::Error>> {
        let cmd = mongodb::bson::doc! { "dropIndexes": &collection, "index": &name };
        self.command(cmd, vec![(Class::Ddl, collection.clone())], format!("drop-index {name} on {collection}")).await.map(|r| r.map(drop))
    }

    async fn run_command(&mut self, command: String) -> wasmtime::Result<Result<String, types::Error>> {
        let cmd = guest_try!(crate::backend::documents::parse_document(&command, "the command").map_err(types::Error::InvalidInput));
        let db_name = match self.db.documents() {
            Some(m) => m.database_name().to_string(),
            None => return Err(wasmtime::Error::msg("the `documents` interface needs a MongoDB database")),
        };
        let needs = match crate::sandbox::doc_grants::command_needs(&cmd, &db_name) {
            Ok(n) => n,
            Err(reason) => {
                let what = format!("run-command {}", cmd.keys().next().map(String::as_str).unwrap_or("?"));
                self.emit(Event::Audit { migration: &self.migration, statement: &what, reason: &reason });
                return Ok(Err(types::Error::Denied(reason)));
            }
        };
        let what = format!("run-command {}", cmd.keys().next().map(String::as_str).unwrap_or("?"));
        let r = self.command(cmd, needs, what).await?;
        Ok(r.map(crate::backend::documents::document_text))
    }
}

impl HostState {
    async fn command(&mut self, cmd: mongodb::bson::Document, needs: crate::sandbox::doc_grants::Needs, what: String) -> wasmtime::Result<Result<mongodb::bson::Document, types::Error>> {
        let writes = needs.iter().any(|(c, _)| *c != Class::Read);
        let db = db_or_deny!(self, needs, &what);
        let r = db.run_command(cmd).await;
        if writes {
            self.writes += 1;
        }
        self.check_deadline()?;
        Ok(r.map_err(to_wit_error))
    }
}

impl documents::HostDocumentCursor for HostState {
    async fn next_page(&mut self, cursor: Resource<DocCursorHandle>, max: u32) -> wasmtime::Result<Result<Option<Vec<String>>, types::Error>> {
        let id = self.table.get(&cursor)?.id;
        let max = (max as usize).clamp(1, self.call_limits.max_rows);
        let Some(db) = self.db.documents() else {
            return Err(wasmtime::Error::msg("the `documents` interface needs a MongoDB database"));
        };
        let r = db.cursor_next(id, max).await;
        self.check_deadline()?;
        Ok(r.map_err(to_wit_error))
    }

    async fn drop(&mut self, cursor: Resource<DocCursorHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(cursor)?;
        if let Some(db) = self.db.documents() {
            db.close_cursor(handle.id);
        }
        Ok(())
    }
}
