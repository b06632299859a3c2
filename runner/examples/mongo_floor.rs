//! The native floor of `bench/mongo.py`: the same documents as the `seed_docs` benchmark guest,
//! inserted with the same driver's `insert_many` in the same batches, from plain Rust.
//!
//! Usage: mongo_floor URL DOCS BATCH  (URL names the database; DOCS = 0 drops `bench_docs`, so
//! the benchmark can empty it outside the timed run)

use mongodb::bson::{Document, doc};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, total, batch] = args.as_slice() else {
        eprintln!("usage: mongo_floor URL DOCS BATCH");
        std::process::exit(2);
    };
    let total: u64 = total.parse().expect("DOCS is a number");
    let batch: u64 = batch.parse::<u64>().expect("BATCH is a number").max(1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = mongodb::Client::with_uri_str(url).await.expect("connect");
        let db = client.default_database().expect("the URL names a database");
        let coll = db.collection::<Document>("bench_docs");
        if total == 0 {
            coll.drop().await.expect("drop");
            client.shutdown().await;
            return;
        }
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut docs = Vec::with_capacity(batch as usize);
        for id in 1..=total {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let score: f64 = format!("{}.{:02}", state % 100, (state >> 8) % 100).parse().unwrap();
            docs.push(doc! { "_id": id as i32, "name": format!("user-{:012x}", state & 0xffff_ffff_ffff), "score": score });
            if docs.len() as u64 == batch {
                coll.insert_many(std::mem::take(&mut docs)).await.expect("insert");
            }
        }
        if !docs.is_empty() {
            coll.insert_many(docs).await.expect("insert");
        }
        client.shutdown().await;
    });
}
