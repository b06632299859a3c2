"""Native harness for the Alembic runtime (not shipped in the component).

Imports ../runtime/app.py under CPython with the WIT imports faked: `types` and the `Err` class
are componentize-py's own generated bindings (`componentize-py bindings`), while `sql`,
`context` and `log` are replaced by Python modules defined here. Two fakes of `sql`:

- SQLite: Python's sqlite3 on a real file, each migration in one transaction (BEGIN ... COMMIT),
  as the host runs it together with its history row;
- a recorder for PostgreSQL and MySQL, which runs nothing and answers each query with the rows
  the same query returned on SQLite (so a data-reading migration takes the same path);
- optionally a real PostgreSQL (psycopg, `$1` placeholders as the host takes them) and a real
  MariaDB/MySQL (PyMySQL). These fakes carry more result types than today's host does.

Every statement sent through `sql` is printed, with its parameters; `open_cursor` lines are
plain reads the runtime pages through a host cursor.

    python harness.py --deps DIR [--bindings DIR] [--versions DIR] [--db FILE]
                      [--pg CONNINFO] [--mysql SOCKET]

DIR of --deps is the `pip install --target` folder ../build.sh fills.
"""
from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(HERE, "..", "runtime")
WIT = os.path.join(HERE, "..", "..", "..", "wit")

# Revisions in the order the host would run them (down_revision chain; no branches here).
ORDER = ["a1", "b2", "c3", "d4", "e5", "f6"]


def find_componentize_py():
    for c in (os.environ.get("COMPONENTIZE_PY"),
              os.path.join(HERE, "..", "..", "..", "target", "guest-tools", "venv", "bin", "componentize-py"),
              "componentize-py"):
        if c and (os.path.sep not in c or os.path.exists(c)):
            return c
    return "componentize-py"


def normalize(sql):
    s = re.sub(r"\$\d+|\?", "?", sql)
    s = re.sub(r'[`"]', "", s)
    return " ".join(s.lower().split())


class FakeHost:
    """State shared by the fake interfaces: the dialect, the args, the statement log, and the
    database engine statements go to (None: record only)."""

    def __init__(self):
        self.dialect = "sqlite"
        self.args = []
        self.log = []  # (kind, sql, params) of the current call
        self.answers = {}  # normalize(sql) -> (columns, rows) seen on SQLite, for the recorder
        self.engine = None


# --- Databases behind the fake `sql`. Each takes and returns plain Python values and raises
# `DbError(kind, message, code)`; the fake turns those into WIT values and errors.

class DbError(Exception):
    def __init__(self, kind, message, code=None):
        super().__init__(message)
        self.kind, self.message, self.code = kind, message, code


class SqliteEngine:
    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA foreign_keys = ON")

    def _run(self, f):
        try:
            return f()
        except sqlite3.Error as e:
            msg = str(e)
            if isinstance(e, sqlite3.ProgrammingError):  # e.g. two statements in one call
                raise DbError("invalid-input", msg)
            kind = "other"
            for word, k in (("UNIQUE", "unique_violation"), ("FOREIGN", "foreign_key_violation"),
                            ("NOT NULL", "not_null_violation"), ("CHECK", "check_violation"), ("syntax", "syntax")):
                if word in msg:
                    kind = k
                    break
            raise DbError(kind, msg, getattr(e, "sqlite_errorname", None))

    def execute(self, sql, ps):
        return self._run(lambda: max(self.db.execute(sql, ps).rowcount, 0))

    def query(self, sql, ps):
        def q():
            cur = self.db.execute(sql, ps)
            return [d[0] for d in cur.description or []], cur.fetchall()
        return self._run(q)

    def execute_batch(self, sql, rows):
        return self._run(lambda: max(self.db.executemany(sql, rows).rowcount, 0))

    def tx(self, word):
        self.db.execute(word)

    def tables(self):
        return [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]

    def schema(self):
        return [" ".join(r[0].split()) for r in self.db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")]


class PostgresEngine:
    """A real PostgreSQL through psycopg's RawCursor, which takes `$1` placeholders as the host does."""

    KINDS = {"23505": "unique_violation", "23503": "foreign_key_violation", "23502": "not_null_violation",
             "23514": "check_violation", "42601": "syntax"}

    def __init__(self, conninfo):
        import psycopg

        self.psycopg = psycopg
        self.db = psycopg.connect(conninfo, autocommit=True, cursor_factory=psycopg.RawCursor)
        for t in ("posts", "users", "alembic_version", "big", "t"):  # leftovers of an earlier failed run
            self.db.execute(f"DROP TABLE IF EXISTS {t} CASCADE")

    def _run(self, f):
        try:
            return f()
        except self.psycopg.Error as e:
            raise DbError(self.KINDS.get(e.sqlstate, "other"), str(e).strip(), e.sqlstate)

    def execute(self, sql, ps):
        return self._run(lambda: max(self.db.execute(sql, ps).rowcount, 0))

    def query(self, sql, ps):
        def q():
            cur = self.db.execute(sql, ps)
            return [d.name for d in cur.description or []], cur.fetchall()
        return self._run(q)

    def execute_batch(self, sql, rows):
        def b():
            cur = self.db.cursor()
            cur.executemany(sql, rows)
            return max(cur.rowcount, 0)
        return self._run(b)

    def tx(self, word):
        self.db.execute(word)

    def tables(self):
        return [r[0] for r in self.db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")]

    def schema(self):
        return [f"{t}.{c} {d}{'' if n == 'YES' else ' NOT NULL'}{'' if dv is None else ' DEFAULT ' + dv}"
                for t, c, d, n, dv in self.db.execute(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
                    " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")]


class MysqlEngine:
    """A real MariaDB/MySQL through PyMySQL; `?` placeholders become PyMySQL's `%s`."""

    KINDS = {1062: "unique_violation", 1451: "foreign_key_violation", 1452: "foreign_key_violation",
             1048: "not_null_violation", 3819: "check_violation", 4025: "check_violation", 1064: "syntax"}

    def __init__(self, socket, database):
        import pymysql

        self.pymysql = pymysql
        self.database = database
        self.db = pymysql.connect(unix_socket=socket, user="root", database=database, autocommit=True)
        with self.db.cursor() as c:
            c.execute("SET FOREIGN_KEY_CHECKS = 0")
            for t in ("posts", "users", "alembic_version", "big", "t"):  # leftovers of an earlier failed run
                c.execute(f"DROP TABLE IF EXISTS {t}")
            c.execute("SET FOREIGN_KEY_CHECKS = 1")

    @staticmethod
    def convert(sql):
        """`?` outside quotes -> `%s`, and `%` -> `%%` (PyMySQL formats with %)."""
        out, quote = [], None
        for ch in sql:
            if quote:
                out.append("%%" if ch == "%" else ch)
                if ch == quote:
                    quote = None
            elif ch in "'\"`":
                quote = ch
                out.append(ch)
            elif ch == "?":
                out.append("%s")
            else:
                out.append("%%" if ch == "%" else ch)
        return "".join(out)

    def _run(self, f):
        try:
            with self.db.cursor() as c:
                return f(c)
        except self.pymysql.MySQLError as e:
            code = e.args[0] if e.args else None
            raise DbError(self.KINDS.get(code, "other"), str(e.args[1] if len(e.args) > 1 else e), str(code))

    def execute(self, sql, ps):
        return self._run(lambda c: max(c.execute(self.convert(sql), ps), 0))

    def query(self, sql, ps):
        def q(c):
            c.execute(self.convert(sql), ps)
            return [d[0] for d in c.description or []], [list(r) for r in c.fetchall()]
        return self._run(q)

    def execute_batch(self, sql, rows):
        return self._run(lambda c: max(c.executemany(self.convert(sql), rows), 0))

    def tx(self, word):
        with self.db.cursor() as c:
            c.execute("START TRANSACTION" if word == "BEGIN" else word)

    def tables(self):
        with self.db.cursor() as c:
            c.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (self.database,))
            return [r[0] for r in c.fetchall()]

    def schema(self):
        with self.db.cursor() as c:
            c.execute("SELECT table_name, column_name, column_type, is_nullable, column_default FROM information_schema.columns"
                      " WHERE table_schema = %s ORDER BY table_name, ordinal_position", (self.database,))
            return [f"{t}.{col} {d}{'' if n == 'YES' else ' NOT NULL'}{'' if dv is None else ' DEFAULT ' + str(dv)}"
                    for t, col, d, n, dv in c.fetchall()]


def install_fakes(host: FakeHost):
    """Puts fake `wit_world.imports.{sql,context,log}` in sys.modules (types stay generated)."""
    import datetime
    import decimal
    import json
    from enum import Enum

    import wit_world.imports.types as t
    from componentize_py_types import Err

    sql = types.ModuleType("wit_world.imports.sql")

    class SqlDialect(Enum):
        SQLITE = 0
        POSTGRES = 1
        MYSQL = 2

    sql.SqlDialect = SqlDialect

    def py(v):
        """A WIT parameter as the host would bind it."""
        assert type(v).__name__.startswith("Value_"), f"not a WIT value: {v!r}"
        if isinstance(v, t.Value_Null):
            return None
        if isinstance(v, t.Value_Timestamp) and host.dialect != "sqlite":
            return datetime.datetime.fromisoformat(v.value)  # bound as a timestamp
        if isinstance(v, t.Value_Json) and host.dialect == "postgres":
            from psycopg.types.json import Jsonb
            return Jsonb(json.loads(v.value))
        return v.value

    def wit(v):
        """A result value as the host would return it."""
        if v is None:
            return t.Value_Null()
        if isinstance(v, bool):
            return t.Value_Boolean(v)
        if isinstance(v, int):
            return t.Value_Int(v)
        if isinstance(v, float):
            return t.Value_Float(v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return t.Value_Blob(bytes(v))
        if isinstance(v, datetime.datetime):
            return t.Value_Timestamp(v.isoformat())
        if isinstance(v, (dict, list)):
            return t.Value_Json(json.dumps(v))
        if isinstance(v, (decimal.Decimal, datetime.date)):
            return t.Value_Text(str(v))
        return t.Value_Text(str(v))

    def call(f):
        try:
            return f()
        except DbError as e:
            if e.kind == "invalid-input":
                raise Err(t.Error_InvalidInput(e.message))
            raise Err(t.Error_Database(t.DatabaseError(t.DatabaseErrorKind[e.kind.upper()], e.message, e.code)))

    def dialect():
        return SqlDialect[host.dialect.upper()]

    def execute(statement, ps):
        vals = [py(p) for p in ps]
        host.log.append(("execute", statement, vals))
        return 0 if host.engine is None else call(lambda: host.engine.execute(statement, vals))

    def query(statement, ps):
        vals = [py(p) for p in ps]
        host.log.append(("query", statement, vals))
        if host.engine is None:
            cols, rows = host.answers.get(normalize(statement), ([], []))
        else:
            cols, rows = call(lambda: host.engine.query(statement, vals))
            host.answers[normalize(statement)] = (cols, rows)
        return t.RowSet(list(cols), [[wit(v) for v in r] for r in rows])

    def execute_batch(statement, rows):
        vals = [[py(p) for p in r] for r in rows]
        host.log.append(("execute_batch", statement, vals))
        return len(rows) if host.engine is None else call(lambda: host.engine.execute_batch(statement, vals))

    class Cursor:
        """`sql.cursor`: the whole result read at open (the rows of that moment), paged out."""

        def __init__(self, cols, rows):
            self._cols, self._rows = list(cols), list(rows)

        def columns(self):
            return self._cols

        def next_page(self, max_rows):
            if not self._rows:
                return None
            page, self._rows = self._rows[:max_rows], self._rows[max_rows:]
            return [[wit(v) for v in r] for r in page]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            host.log.append(("cursor_drop", "", None))
            return None

    def open_cursor(statement, ps):
        vals = [py(p) for p in ps]
        host.log.append(("open_cursor", statement, vals))
        if host.engine is None:
            cols, rows = host.answers.get(normalize(statement), ([], []))
        else:
            cols, rows = call(lambda: host.engine.query(statement, vals))
            host.answers[normalize(statement)] = (cols, rows)
        return Cursor(cols, rows)

    sql.Cursor = Cursor
    sql.dialect, sql.execute, sql.query, sql.execute_batch = dialect, execute, query, execute_batch
    sql.open_cursor = open_cursor

    context = types.ModuleType("wit_world.imports.context")
    context.args = lambda: list(host.args)
    context.environment = lambda: "development"
    context.version = lambda: 0
    context.name = lambda: "alembic"
    context.random_seed = lambda: 42

    log = types.ModuleType("wit_world.imports.log")

    class Level(Enum):
        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    log.Level = Level
    log.log = lambda level, message: host.log.append(("log", f"[{level.name}] {message}", None))
    log.progress = lambda done, total: None

    import wit_world.imports as imports
    for name, mod in (("sql", sql), ("context", context), ("log", log)):
        sys.modules[f"wit_world.imports.{name}"] = mod
        setattr(imports, name, mod)


def show(title, entries):
    print(f"    -- {title}")
    for kind, sql, ps in entries:
        if kind == "cursor_drop":
            continue  # (noise: every read ends with one)
        one = " ".join(sql.split())
        print(f"    {kind:13} {one}" + (f"   params={ps}" if ps else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deps", required=True)
    ap.add_argument("--bindings")
    ap.add_argument("--versions", default=os.path.join(HERE, "sample", "versions"))
    ap.add_argument("--db", default=None, help="SQLite file (default: a new temporary one)")
    ap.add_argument("--pg", help="also run on this PostgreSQL (psycopg conninfo); needs psycopg")
    ap.add_argument("--mysql", help="also run on the MariaDB/MySQL at this socket, database alembic_try; needs PyMySQL")
    a = ap.parse_args()

    bindings = a.bindings
    if not bindings:
        bindings = tempfile.mkdtemp(prefix="alembic-bindings-")
        subprocess.run([find_componentize_py(), "-d", WIT, "-w", "migration", "bindings", bindings], check=True)
    sys.path[:0] = [bindings, RUNTIME, a.deps]

    host = FakeHost()
    install_fakes(host)
    stdout = sys.stdout
    import app  # runs the build-time warm-up too, as componentize-py would
    sys.stdout = stdout

    files = {f.split("_", 1)[0]: f for f in os.listdir(a.versions) if f.endswith(".py")}
    sources = {r: (files[r], open(os.path.join(a.versions, files[r])).read()) for r in ORDER}
    world = app.WitWorld()

    def call(rev, direction):
        name, source = sources[rev]
        host.args = [("user", "x"), (app.FILE_ARG, name), (app.SOURCE_ARG, source)]
        host.log = []
        if host.engine is not None:
            host.engine.tx("BEGIN")  # the host's transaction around the migration
        try:
            getattr(world, direction)()
        except Exception as e:
            if host.engine is not None:
                host.engine.tx("ROLLBACK")
            sys.stdout = stdout
            show(f"{direction} {name} FAILED: {e!r}", host.log)
            raise
        if host.engine is not None:
            host.engine.tx("COMMIT")
        sys.stdout = stdout
        show(f"{direction} {name}", host.log)

    def run_all(dialect, engine, label):
        host.dialect, host.engine = dialect, engine
        print(f"== {label}")
        for rev in ORDER:
            call(rev, "up")
        if engine is not None:
            print("  -- schema after up:")
            for line in engine.schema():
                print("   ", line)
            for tname in ("users", "posts"):
                _, rows = engine.query(f"SELECT * FROM {tname} ORDER BY id", [])
                print(f"  -- {tname}:", [tuple(r) for r in rows])
        for rev in reversed(ORDER):
            call(rev, "down")
        if engine is not None:
            left = engine.tables()
            print("  -- tables after down --all:", left)
            assert left == [], left
            engine.db.close()

    db = a.db or os.path.join(tempfile.mkdtemp(prefix="alembic-harness-"), "sample.db")
    if os.path.exists(db):
        os.remove(db)
    host.args = []
    for rev in ORDER:
        host.args = [(app.FILE_ARG, sources[rev][0]), (app.SOURCE_ARG, sources[rev][1])]
        m = world.metadata()
        print(f"  {sources[rev][0]}: metadata description={m.description!r} reversible={m.reversible} transactional={m.transactional}")
    run_all("sqlite", SqliteEngine(db), f"sqlite ({db})")
    for dialect in ("postgres", "mysql"):
        run_all(dialect, None, f"{dialect} (recorded; queries answered with the SQLite run's rows)")
    if a.pg:
        run_all("postgres", PostgresEngine(a.pg), "postgres (real server)")
    if a.mysql:
        run_all("mysql", MysqlEngine(a.mysql, "alembic_try"), "mysql (real server)")
    print("harness: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
