// JavaScript: a counts table summarising the notes per tag.
import { BulkInsert, Migration, context, dialect, execute, log, query, exportMigration } from "./db-migrate.js";

class JsCounts extends Migration {
  static description = "note counts, from JavaScript";

  up() {
    execute("CREATE TABLE note_counts (tag VARCHAR(50) PRIMARY KEY, n INTEGER NOT NULL)");
    execute("INSERT INTO note_counts (tag, n) SELECT tag, COUNT(*) FROM notes GROUP BY tag");
    // One row through a bulk insert (the way to stream many: one COPY on PostgreSQL).
    const tags = new BulkInsert(`INSERT INTO tags (name) VALUES (${dialect() === "postgres" ? "$1" : "?"})`);
    tags.write([["js"]]);
    tags.finish();
    const rows = query("SELECT tag, n FROM note_counts ORDER BY tag");
    log.info(`js counted ${rows.map((r) => `${r.tag}=${r.n}`).join(", ")}`);
    if (context.arg("fail") === "js") {
      throw new TypeError("JavaScript failed on purpose");
    }
  }

  down() {
    execute("DROP TABLE note_counts");
    execute("DELETE FROM tags WHERE name = 'js'");
  }
}

export const { metadata, up, down } = exportMigration(JsCounts);
