//! Benchmark guest: one statement, so what is measured is the per-migration overhead.
use db_migrate_sdk::{Migration, Result, execute};

struct Noop;

impl Migration for Noop {
    fn up() -> Result<()> {
        execute("CREATE TABLE bench_lang (id INTEGER)", &[])?;
        Ok(())
    }
    fn down() -> Result<()> {
        execute("DROP TABLE bench_lang", &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(Noop);
