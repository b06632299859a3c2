//! MongoDB: collections (`listCollections`: validator and options) and their indexes
//! (`listIndexes`), read with commands that change nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use mongodb::Client;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ClientOptions;

use super::OwnTables;
use crate::migrate::error::{DbError, Error, Result};
use crate::schema::model::*;

fn json(b: &Bson) -> String {
    b.clone().into_relaxed_extjson().to_string()
}

fn err(what: &str, e: mongodb::error::Error) -> Error {
    Error::Database { context: format!("cannot read the schema ({what})"), source: DbError { message: e.to_string(), code: None } }
}

fn first_batch(reply: &Document) -> Vec<Document> {
    reply
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get_array("firstBatch").ok())
        .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
        .unwrap_or_default()
}

/// Reads the collections of the URL's database.
pub async fn introspect(url: &str, own: &OwnTables) -> Result<Schema> {
    let redacted = crate::backend::url::redact(url);
    let mut opts = ClientOptions::parse(url).await.map_err(|e| Error::Connect(format!("bad MongoDB URL `{redacted}`: {e}")))?;
    let Some(name) = opts.default_database.clone() else {
        return Err(Error::Connect(format!("the MongoDB URL `{redacted}` names no database: put it in the path, e.g. `mongodb://localhost:27017/app`")));
    };
    opts.server_selection_timeout.get_or_insert(Duration::from_secs(5));
    let client = Client::with_options(opts).map_err(|e| Error::Connect(format!("bad MongoDB URL `{redacted}`: {e}")))?;
    let db = client.database(&name);
    let mut schema = Schema::new(SchemaDialect::Mongo);
    let reply = db.run_command(doc! { "listCollections": 1, "cursor": { "batchSize": 100_000 } }).await.map_err(|e| err("listCollections", e))?;
    for c in first_batch(&reply) {
        let Ok(name) = c.get_str("name") else { continue };
        if own.contains(name) || name.starts_with("system.") || c.get_str("type").is_ok_and(|t| t != "collection") {
            continue;
        }
        let mut coll = Collection { name: name.to_string(), indexes: Vec::new(), validator: None, options: BTreeMap::new() };
        if let Ok(options) = c.get_document("options") {
            for (k, v) in options {
                if k == "validator" {
                    coll.validator = Some(json(v));
                } else {
                    coll.options.insert(k.clone(), json(v));
                }
            }
        }
        let reply = db.run_command(doc! { "listIndexes": name, "cursor": { "batchSize": 100_000 } }).await.map_err(|e| err("listIndexes", e))?;
        for ix in first_batch(&reply) {
            let iname = ix.get_str("name").unwrap_or_default().to_string();
            if iname == "_id_" {
                continue;
            }
            let keys = ix.get_document("key").map(|k| k.iter().map(|(f, v)| (f.clone(), json(v))).collect()).unwrap_or_default();
            let options = ix.iter().filter(|(k, _)| !matches!(k.as_str(), "v" | "key" | "name" | "ns")).map(|(k, v)| (k.clone(), json(v))).collect();
            coll.indexes.push(MongoIndex { name: iname, keys, options });
        }
        schema.collections.insert(coll.name.clone(), coll);
    }
    Ok(schema)
}
