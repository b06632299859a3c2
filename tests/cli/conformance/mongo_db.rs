//! MongoDB: a database of its own on the MongoDB-wire server (`mongo::TestDb`), read with the
//! real driver.

use mongodb::bson::{Bson, Document};

use super::target::{Dialect, HistoryRow, Target};
use crate::mongo::TestDb;

pub struct MongoDb(TestDb);

fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(i)) => *i as i64,
        Some(Bson::Int64(i)) => *i,
        other => panic!("`{key}` is not an integer: {other:?} in {d:?}"),
    }
}

impl Target for MongoDb {
    const DIALECT: Dialect = Dialect::Mongo;

    fn new() -> Self {
        MongoDb(TestDb::new())
    }

    /// A MongoDB database exists once something is written to it: a new name is a missing one.
    fn missing() -> Self {
        MongoDb(TestDb::new())
    }

    fn url(&self) -> String {
        self.0.url()
    }

    fn exists(&self) -> bool {
        let names = self.0.rt.block_on(async { self.0.client.list_database_names().await }).unwrap();
        names.contains(&self.0.name)
    }

    fn objects(&self) -> Vec<String> {
        self.0.collections()
    }

    fn keys(&self, object: &str) -> Vec<i64> {
        let mut k: Vec<i64> = self.0.docs(object).iter().map(|d| int(d, "_id")).collect();
        k.sort();
        k
    }

    fn drop_object(&self, object: &str) {
        self.0.rt.block_on(async { self.0.coll(object).drop().await }).unwrap();
    }

    fn history(&self) -> Vec<HistoryRow> {
        self.0
            .docs("db_migrate_history")
            .iter()
            .map(|d| HistoryRow {
                version: int(d, "_id"),
                name: d.get_str("name").unwrap().into(),
                kind: d.get_str("kind").unwrap().into(),
                status: d.get_str("status").unwrap().into(),
                checksum: d.get_str("checksum").unwrap().into(),
            })
            .collect()
    }

    fn snapshot(&self) -> String {
        self.0.snapshot()
    }

    fn holder(&self, pid: u32) -> String {
        // The lock document's owner: "db-migrate on HOST, pid PID".
        format!("pid {pid}")
    }
}
