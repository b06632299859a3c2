//! MongoDB: backups of a whole database (export) and their restore (import).

use super::*;

/// Writes every collection of the URL's database — its index specifications and its documents in
/// canonical Extended JSON (types survive the round trip) — to one JSON file.
pub async fn export(url: &str, out: &std::path::Path) -> Result<()> {
    let b = MongoBackend::connect(url, crate::migrate::history::DEFAULT_TABLE, OpenMode::ReadOnly).await?.ok_or_else(|| Error::Connect("MongoDB did not answer".into()))?;
    let err = |what: &str, e: mongodb::error::Error| Error::Database { context: format!("the MongoDB backup could not {what}"), source: db_error(&e) };
    // Each collection's options (validator, validation level and action, capped size, a view's
    // pipeline…): a restore that lost them would not give back the same database.
    let listed = b.db.run_command(doc! { "listCollections": 1, "nameOnly": false }).await.map_err(|e| err("list the collections", e))?;
    let mut found: Vec<(String, Option<Document>)> = listed
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get_array("firstBatch").ok())
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_document())
        .filter_map(|c| Some((c.get_str("name").ok()?.to_string(), c.get_document("options").ok().filter(|o| !o.is_empty()).cloned())))
        .filter(|(n, _)| !n.starts_with("system."))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut collections = Vec::new();
    for (name, options) in found {
        if let Some(o) = options.as_ref().filter(|o| o.contains_key("viewOn")) {
            // A view: its definition is all there is (it has no indexes or documents of its own).
            collections.push(serde_json::json!({ "name": name, "options": Bson::Document(o.clone()).into_canonical_extjson(), "indexes": [], "documents": [] }));
            continue;
        }
        let reply = b.db.run_command(doc! { "listIndexes": &name }).await.map_err(|e| err("list the indexes", e))?;
        let indexes: Vec<serde_json::Value> = reply
            .get_document("cursor")
            .ok()
            .and_then(|c| c.get_array("firstBatch").ok())
            .map(|a| a.iter().cloned().map(Bson::into_canonical_extjson).collect())
            .unwrap_or_default();
        let mut cursor = b.db.collection::<Document>(&name).find(doc! {}).await.map_err(|e| err("read a collection", e))?;
        let mut documents = Vec::new();
        while let Some(d) = cursor.next().await {
            documents.push(Bson::Document(d.map_err(|e| err("read a collection", e))?).into_canonical_extjson());
        }
        let mut entry = serde_json::json!({ "name": name, "indexes": indexes, "documents": documents });
        if let Some(o) = options {
            entry["options"] = Bson::Document(o).into_canonical_extjson();
        }
        collections.push(entry);
    }
    let file = serde_json::json!({ "format": "db-migrate MongoDB backup 1", "database": b.db.name(), "collections": collections });
    b.client.clone().shutdown().await;
    std::fs::write(out, serde_json::to_vec(&file).expect("JSON")).map_err(|e| Error::Io { path: out.to_path_buf(), message: e.to_string() })
}

/// Replaces the URL's database with a backup [`export`] wrote: every collection is dropped, then
/// the backup's collections, indexes and documents are created again.
pub async fn import(url: &str, file: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::Io { path: file.to_path_buf(), message: e.to_string() })?;
    let backup: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config(format!("{} is not a MongoDB backup: {e}", file.display())))?;
    if backup.get("format").and_then(|f| f.as_str()) != Some("db-migrate MongoDB backup 1") {
        return Err(Error::Config(format!("{} is not a db-migrate MongoDB backup", file.display())));
    }
    let b = MongoBackend::connect(url, crate::migrate::history::DEFAULT_TABLE, OpenMode::ReadWrite).await?.ok_or_else(|| Error::Connect("MongoDB did not answer".into()))?;
    let err = |what: &str, e: mongodb::error::Error| Error::Database { context: format!("the MongoDB restore could not {what}"), source: db_error(&e) };
    for name in b.db.list_collection_names().await.map_err(|e| err("list the collections", e))? {
        if !name.starts_with("system.") {
            b.db.collection::<Document>(&name).drop().await.map_err(|e| err("drop a collection", e))?;
        }
    }
    for c in backup.get("collections").and_then(|c| c.as_array()).into_iter().flatten() {
        let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
        match c.get("options").filter(|o| o.as_object().is_some_and(|o| !o.is_empty())) {
            Some(options) => {
                let mut create = doc! { "create": &name };
                create.extend(json_to_document(options.clone(), "a collection's options").map_err(Error::Config)?);
                let reply = b.db.run_command(create).await.map_err(|e| err("create a collection", e))?;
                if let Some(e) = reply_error(&reply) {
                    return Err(Error::Database { context: "the MongoDB restore could not create a collection".into(), source: e });
                }
            }
            None => b.db.create_collection(&name).await.map_err(|e| err("create a collection", e))?,
        }
        // A view holds no documents or indexes of its own.
        if c.get("options").and_then(|o| o.get("viewOn")).is_some() {
            continue;
        }
        let mut specs = Vec::new();
        for i in c.get("indexes").and_then(|i| i.as_array()).into_iter().flatten() {
            let mut spec = json_to_document(i.clone(), "an index").map_err(Error::Config)?;
            if spec.get_str("name") == Ok("_id_") {
                continue;
            }
            spec.remove("v");
            spec.remove("ns");
            specs.push(spec);
        }
        if !specs.is_empty() {
            let reply = b.db.run_command(doc! { "createIndexes": &name, "indexes": specs }).await.map_err(|e| err("create the indexes", e))?;
            if let Some(e) = reply_error(&reply) {
                return Err(Error::Database { context: "the MongoDB restore could not create the indexes".into(), source: e });
            }
        }
        let docs = c.get("documents").and_then(|d| d.as_array()).cloned().unwrap_or_default();
        for chunk in docs.chunks(1000) {
            let batch = chunk.iter().map(|d| json_to_document(d.clone(), "a document")).collect::<std::result::Result<Vec<_>, _>>().map_err(Error::Config)?;
            b.db.collection::<Document>(&name).insert_many(batch).await.map_err(|e| err("insert documents", e))?;
        }
    }
    b.client.clone().shutdown().await;
    Ok(())
}
