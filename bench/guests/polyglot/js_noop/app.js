// Benchmark guest: one statement, so what is measured is the per-migration overhead.
import { Migration, execute, exportMigration } from "./db-migrate.js";

class Noop extends Migration {
  up() {
    execute("CREATE TABLE bench_lang (id INTEGER)");
  }
  down() {
    execute("DROP TABLE bench_lang");
  }
}

export const { metadata, up, down } = exportMigration(Noop);
