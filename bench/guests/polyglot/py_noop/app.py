"""Benchmark guest: one statement, so what is measured is the per-migration overhead."""
from db_migrate import Migration, execute, export


class Noop(Migration):
    def up(self):
        execute("CREATE TABLE bench_lang (id INTEGER)")

    def down(self):
        execute("DROP TABLE bench_lang")


WitWorld = export(Noop)
