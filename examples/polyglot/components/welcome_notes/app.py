"""A Python seed: deterministic welcome notes (`db-migrate seed`)."""
import random

from db_migrate import BulkInsert, Seed, context, dialect, export, progress

WORDS = ["hello", "welcome", "migrations", "in", "any", "language", "sandboxed", "and", "audited"]


class WelcomeNotes(Seed):
    def run(self):
        rng = random.Random(context.random_seed())
        count = int(context.arg("notes", "20"))
        mark = "$1, $2, $3" if dialect() == "postgres" else "?, ?, ?"
        rows = [[1000 + i, " ".join(rng.choice(WORDS) for _ in range(5)), "seed"] for i in range(count)]
        # A bulk insert streams the rows (one COPY on PostgreSQL); 10 rows per write here.
        with BulkInsert(f"INSERT INTO notes (id, body, tag) VALUES ({mark})") as bulk:
            for start in range(0, count, 10):
                bulk.write(rows[start:start + 10])
            written = bulk.finish()
        progress(written, count)


WitWorld = export(WelcomeNotes)
