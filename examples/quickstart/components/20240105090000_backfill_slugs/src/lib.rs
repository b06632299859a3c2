//! A data backfill as a component migration: adds `posts.slug` and fills it in batches, reading
//! the table through a cursor so memory stays flat however large `posts` is.
use db_migrate_sdk::{Cursor, Migration, Result, Value, context, execute, execute_batch, log, query};

struct BackfillSlugs;

/// `Post number 7: Hello, World!` → `post-number-7-hello-world`.
fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

impl Migration for BackfillSlugs {
    const DESCRIPTION: &'static str = "add posts.slug and backfill it from the titles";

    fn up() -> Result<()> {
        execute("ALTER TABLE posts ADD COLUMN slug TEXT", &[])?;
        let total: i64 = query("SELECT count(*) AS n FROM posts", &[])?.iter().next().map(|r| r.get("n")).transpose()?.unwrap_or(0);
        let batch: u32 = context::arg("batch_size").and_then(|b| b.parse().ok()).unwrap_or(500);
        log::info(format!("backfilling {total} posts in batches of {batch}"));

        let mut cursor = Cursor::open("SELECT id, title FROM posts ORDER BY id", &[])?;
        let mut done = 0u64;
        while let Some(page) = cursor.next_page(batch)? {
            // One multi-row statement per page: a temporary table of (id, slug) pairs…
            execute("CREATE TEMP TABLE IF NOT EXISTS slug_batch (id INTEGER PRIMARY KEY, slug TEXT)", &[])?;
            let rows: Vec<Vec<Value>> = page
                .iter()
                .map(|r| Ok(vec![Value::Int(r.get("id")?), Value::Text(slugify(&r.get::<String>("title")?))]))
                .collect::<Result<_>>()?;
            execute_batch("INSERT INTO slug_batch (id, slug) VALUES (?, ?)", &rows)?;
            // …joined back in one UPDATE.
            execute("UPDATE posts SET slug = (SELECT slug FROM slug_batch WHERE slug_batch.id = posts.id) WHERE id IN (SELECT id FROM slug_batch)", &[])?;
            execute("DELETE FROM slug_batch", &[])?;
            done += page.len() as u64;
            log::progress(done, Some(total as u64));
        }
        execute("DROP TABLE IF EXISTS temp.slug_batch", &[])?;
        log::info(format!("backfilled {done} slugs"));
        Ok(())
    }

    fn down() -> Result<()> {
        execute("ALTER TABLE posts DROP COLUMN slug", &[])?;
        Ok(())
    }
}

db_migrate_sdk::export_migration!(BackfillSlugs);
