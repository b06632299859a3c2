"""Python: notes written in a batch, read back through a cursor."""
from db_migrate import Migration, context, cursor, dialect, execute, execute_batch, export, log, query


class PythonNotes(Migration):
    description = "notes, from Python"

    def up(self):
        mark = "$1, $2, $3" if dialect() == "postgres" else "?, ?, ?"
        rows = [[i, f"note {i} from Python", "python"] for i in range(1, 51)]
        execute_batch(f"INSERT INTO notes (id, body, tag) VALUES ({mark})", rows)
        execute("INSERT INTO tags (name) VALUES ('python')")
        seen = sum(1 for _ in cursor("SELECT id FROM notes WHERE tag = 'python'", page_size=16))
        first = query("SELECT body FROM notes ORDER BY id LIMIT 1")[0]["body"]
        log.info(f"python wrote {seen} notes; first: {first}")
        if context.arg("fail") == "python":
            raise RuntimeError("Python failed on purpose")

    def down(self):
        execute("DELETE FROM notes WHERE tag = 'python'")
        execute("DELETE FROM tags WHERE name = 'python'")


WitWorld = export(PythonNotes)
