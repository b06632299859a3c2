//! Benchmark guest: the component twin of the benchmark's SQL migration — create `t_VERSION`
//! and insert 3 rows through `execute`.
use db_migrate_sdk::{Migration, Result, context, execute};

struct CreateTable;

impl Migration for CreateTable {
    fn up() -> Result<()> {
        let v = context::version();
        execute(&format!("CREATE TABLE t_{v} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMP)"), &[])?;
        execute(
            &format!("INSERT INTO t_{v} (name, created_at) VALUES ('a', CURRENT_TIMESTAMP), ('b', CURRENT_TIMESTAMP), ('c', CURRENT_TIMESTAMP)"),
            &[],
        )?;
        Ok(())
    }

    fn down() -> Result<()> {
        execute(&format!("DROP TABLE t_{}", context::version()), &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(CreateTable);
