//! Rust: a tags table, filled from the notes' `tag` column.
use db_migrate_sdk::{Migration, Result, context, execute};

struct Tags;

impl Migration for Tags {
    const DESCRIPTION: &'static str = "tags, from Rust";

    fn up() -> Result<()> {
        execute("CREATE TABLE tags (name VARCHAR(50) PRIMARY KEY)", &[])?;
        execute("INSERT INTO tags (name) VALUES ('rust')", &[])?;
        if context::arg("fail").as_deref() == Some("rust") {
            return Err("Rust failed on purpose".into());
        }
        Ok(())
    }

    fn down() -> Result<()> {
        execute("DROP TABLE tags", &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(Tags);
