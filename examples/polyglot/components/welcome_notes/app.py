"""A Python seed: deterministic welcome notes (`db-migrate seed`)."""
import random

from db_migrate import Seed, context, dialect, execute_batch, export, progress

WORDS = ["hello", "welcome", "migrations", "in", "any", "language", "sandboxed", "and", "audited"]


class WelcomeNotes(Seed):
    def run(self):
        rng = random.Random(context.random_seed())
        count = int(context.arg("notes", "20"))
        mark = "$1, $2, $3" if dialect() == "postgres" else "?, ?, ?"
        rows = [[1000 + i, " ".join(rng.choice(WORDS) for _ in range(5)), "seed"] for i in range(count)]
        execute_batch(f"INSERT INTO notes (id, body, tag) VALUES ({mark})", rows)
        progress(count, count)


WitWorld = export(WelcomeNotes)
