//! Benchmark guest: writes `rows` generated rows (default 1,000,000) into `bench_rows`, in
//! batches through `execute_batch_owned` (`mode=batch`, default) or one `execute` per row
//! (`mode=single`). The values come from a seeded xorshift, so every run writes the same data.
use db_migrate_sdk::{Migration, Result, Value, context, execute, execute_batch_owned};

struct SeedRows;

impl Migration for SeedRows {
    fn up() -> Result<()> {
        let rows: u64 = context::arg("rows").and_then(|r| r.parse().ok()).unwrap_or(1_000_000);
        let single = context::arg("mode").as_deref() == Some("single");
        let mut state = context::random_seed() | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let insert = "INSERT INTO bench_rows (id, name, score) VALUES (?, ?, ?)";
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(1000);
        for id in 1..=rows {
            let r = next();
            let row = vec![Value::Int(id as i64), Value::Text(format!("user-{:012x}", r & 0xffff_ffff_ffff)), Value::Float((r % 10_000) as f64 / 100.0)];
            if single {
                execute(insert, &row)?;
            } else {
                batch.push(row);
                if batch.len() == 1000 {
                    // By value, as the faker pack writes: the strings go out without a copy.
                    execute_batch_owned(insert, std::mem::replace(&mut batch, Vec::with_capacity(1000)))?;
                }
            }
        }
        if !batch.is_empty() {
            execute_batch_owned(insert, batch)?;
        }
        Ok(())
    }

    fn down() -> Result<()> {
        execute("DELETE FROM bench_rows", &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(SeedRows);
