//! Backfill: split `full_name` into the new columns, a page at a time.
//!
//! Outside a transaction (`TRANSACTIONAL = false`), each page's UPDATE commits by itself: locks
//! are held for one page only, the application keeps running, and a failure halfway leaves the
//! done pages done (the migration is recorded dirty; rerunning it continues, since it only reads
//! rows still to do).
use db_migrate_sdk::{Cursor, Migration, Result, Value, context, execute, log};

struct BackfillNames;

impl Migration for BackfillNames {
    const DESCRIPTION: &'static str = "first_name and last_name from full_name, in committed batches";
    const TRANSACTIONAL: bool = false;

    fn up() -> Result<()> {
        let page: u32 = context::arg("batch").and_then(|b| b.parse().ok()).unwrap_or(500);
        let total: i64 = db_migrate_sdk::query("SELECT COUNT(*) AS n FROM users WHERE first_name IS NULL", &[])?
            .iter()
            .next()
            .map(|r| r.get("n"))
            .transpose()?
            .unwrap_or(0);
        let mut cursor = Cursor::open("SELECT id, full_name FROM users WHERE first_name IS NULL ORDER BY id", &[])?;
        let mut done = 0u64;
        while let Some(rows) = cursor.next_page(page)? {
            // One UPDATE per page: one short transaction each.
            let mut values = Vec::with_capacity(rows.len());
            let mut params: Vec<Value> = Vec::with_capacity(rows.len() * 3);
            for (i, row) in rows.iter().enumerate() {
                let id: i64 = row.get("id")?;
                let full: String = row.get("full_name")?;
                let (first, last) = full.split_once(' ').unwrap_or((full.as_str(), ""));
                values.push(format!("(${}::bigint, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3));
                params.extend([Value::Int(id), Value::from(first), Value::from(last)]);
            }
            let sql = format!(
                "UPDATE users AS u SET first_name = v.f, last_name = v.l FROM (VALUES {}) AS v(id, f, l) WHERE u.id = v.id",
                values.join(", ")
            );
            execute(&sql, &params)?;
            done += rows.len() as u64;
            log::progress(done, Some(total as u64));
        }
        log::info(format!("backfilled {done} users"));
        Ok(())
    }

    fn down() -> Result<()> {
        execute("UPDATE users SET first_name = NULL, last_name = NULL", &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(BackfillNames);
