//! Benchmark guest for MongoDB: inserts `docs` generated documents (default 100,000) into
//! `bench_docs` with `insert-many`, `batch` per call (default 1,000). The values come from a
//! seeded xorshift, the same generator and document shape as the native floor
//! (`runner/examples/mongo_floor.rs`), so both write the same data.
use db_migrate_sdk::{Migration, Result, context, documents};

struct SeedDocs;

fn arg(key: &str, default: u64) -> u64 {
    context::arg(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

impl Migration for SeedDocs {
    const TRANSACTIONAL: bool = false;

    fn up() -> Result<()> {
        let total = arg("docs", 100_000);
        let batch = arg("batch", 1_000).max(1);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut docs = Vec::with_capacity(batch as usize);
        for id in 1..=total {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            docs.push(format!(
                r#"{{"_id": {id}, "name": "user-{:012x}", "score": {}.{:02}}}"#,
                state & 0xffff_ffff_ffff,
                state % 100,
                (state >> 8) % 100
            ));
            if docs.len() as u64 == batch {
                documents::insert_many("bench_docs", &docs)?;
                docs.clear();
            }
        }
        if !docs.is_empty() {
            documents::insert_many("bench_docs", &docs)?;
        }
        Ok(())
    }

    fn down() -> Result<()> {
        documents::drop_collection("bench_docs")
    }
}

db_migrate_sdk::export_migration!(SeedDocs);
