"""Loads the built alembic-runtime.wasm in wasmtime (the `wasmtime` PyPI package, component
model API) with a small stand-in for db-migrate's host, and runs the sample revisions up and
down, then a few edge cases, against a real database. Dev tool only; the real host is
runner/src/sandbox/.

    python run_component.py alembic-runtime.wasm [--db FILE | --pg CONNINFO | --mysql SOCKET]

The stand-in host grants WASI nothing: no preopened directory, no environment variables, no
arguments (stderr is inherited so a crash is visible). `sql` runs each statement on the
database (the engines of harness.py: sqlite3, psycopg with `$1` placeholders, PyMySQL), each
migration in one transaction; every statement is printed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import harness

from wasmtime import Config, Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, ResourceHost, ResourceType, Variant

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["a1", "b2", "c3", "d4", "e5", "f6"]
PKG = "db-migrate:runtime"
CURSOR_TYPE = 1  # the host-side type id of `sql.cursor`
VER = "@0.1.0"


def Obj(**kw):
    """A record value for wasmtime-py (its `Record` class; fields are attributes)."""
    r = Record()
    r.__dict__.update(kw)
    return r


class Host:
    """`sql` over one of harness.py's engines; values are wasmtime-py's `Variant`s."""

    def __init__(self, engine, dialect):
        self.engine, self.dialect = engine, dialect
        self.args = []
        self.log = []

    def py(self, v):
        if v.tag == "null":
            return None
        if v.tag == "timestamp" and self.dialect != "sqlite":
            return datetime.datetime.fromisoformat(v.payload)  # the host binds a timestamp
        if v.tag == "json" and self.dialect == "postgres":
            from psycopg.types.json import Jsonb
            return Jsonb(json.loads(v.payload))
        return v.payload

    @staticmethod
    def wit(v):
        if v is None:
            return Variant("null")
        if isinstance(v, bool):
            return Variant("boolean", v)
        if isinstance(v, int):
            return Variant("int", v)
        if isinstance(v, float):
            return Variant("float", v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return Variant("blob", bytes(v))
        if isinstance(v, datetime.datetime):
            return Variant("timestamp", v.isoformat())
        if isinstance(v, (dict, list)):
            return Variant("json", json.dumps(v))
        return Variant("text", str(v))

    def _call(self, f):
        try:
            return f()
        except harness.DbError as e:
            if e.kind == "invalid-input":
                return Variant("invalid-input", e.message)
            return Variant("database", Obj(kind=e.kind.replace("_", "-"), message=e.message, code=e.code))

    def execute(self, store, statement, params):
        ps = [self.py(p) for p in params]
        self.log.append(("execute", statement, ps))
        return self._call(lambda: self.engine.execute(statement, ps))

    def query(self, store, statement, params):
        ps = [self.py(p) for p in params]
        self.log.append(("query", statement, ps))

        def q():
            cols, rows = self.engine.query(statement, ps)
            return Obj(columns=list(cols), rows=[[self.wit(v) for v in r] for r in rows])
        return self._call(q)

    def execute_batch(self, store, statement, rows):
        rs = [[self.py(p) for p in r] for r in rows]
        self.log.append(("execute_batch", statement, rs))
        return self._call(lambda: self.engine.execute_batch(statement, rs))

    # -- the cursor resource: rep -> [columns, remaining rows]
    cursors: dict = {}
    next_rep = 1

    def open_cursor(self, store, statement, params):
        ps = [self.py(p) for p in params]
        self.log.append(("open_cursor", statement, ps))

        def o():
            cols, rows = self.engine.query(statement, ps)
            rep = Host.next_rep
            Host.next_rep += 1
            self.cursors[rep] = [list(cols), list(rows)]
            return ResourceHost.own(rep, CURSOR_TYPE)
        return self._call(o)

    def cursor_columns(self, store, this):
        return self.cursors[this.to_host(store).rep][0]

    def cursor_next_page(self, store, this, max_rows):
        c = self.cursors[this.to_host(store).rep]
        if not c[1]:
            return None
        page, c[1] = c[1][:max_rows], c[1][max_rows:]
        self.log.append(("next_page", f"{len(page)} rows", None))
        return [[self.wit(v) for v in r] for r in page]

    def drop_cursor(self, store, rep):
        self.cursors.pop(rep, None)


# (file, source, should `up` succeed, text its error must contain)
EDGE = [
    ("x1_values.py", '''"""values and reads through op.get_bind()"""
import csv, fractions, statistics, decimal, datetime, os
from alembic import op, context
import sqlalchemy as sa

def upgrade():
    assert not context.is_offline_mode()
    assert dict(os.environ) == {}, dict(os.environ)
    conn = op.get_bind()
    assert conn.execute(sa.text("SELECT :a + 1"), {"a": 41}).scalar() == 42
    op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", sa.DateTime),
                    sa.Column("b", sa.LargeBinary), sa.Column("f", sa.Float), sa.Column("ok", sa.Boolean))
    t = sa.table("t", sa.column("id"), sa.column("at", sa.DateTime), sa.column("b", sa.LargeBinary),
                 sa.column("f", sa.Float), sa.column("ok", sa.Boolean))
    conn.execute(t.insert().values(at=datetime.datetime(2024, 1, 31, 12), b=b"\\x00\\x01", f=1.5, ok=True))
    row = conn.execute(sa.select(t)).one()
    assert row.at == datetime.datetime(2024, 1, 31, 12) and row.b == b"\\x00\\x01" and row.f == 1.5 and row.ok is True, row
    print(statistics.mean([1, 2, 3]), fractions.Fraction(1, 3), sa.__version__)
    op.drop_table("t")

def downgrade():
    pass
''', True, None),
    ("x2_unique.py", '''from alembic import op
import sqlalchemy as sa

def upgrade():
    # temporary: MySQL commits DDL at once, so a real table would outlive the rollback
    op.execute("CREATE TEMPORARY TABLE u (id INTEGER PRIMARY KEY)")
    op.execute("INSERT INTO u (id) VALUES (1)")
    op.execute("INSERT INTO u (id) VALUES (1)")
''', False, "IntegrityError"),
    ("x7_paged_backfill.py", '''"""a backfill over 2,500 rows, read page by page"""
from alembic import op
import sqlalchemy as sa

def upgrade():
    t = op.create_table("big", sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer),
                        sa.Column("twice", sa.Integer))
    op.bulk_insert(t, [{"id": i, "n": i} for i in range(1, 2501)])
    conn = op.get_bind()
    seen = 0
    for id_, n in conn.execute(sa.select(t.c.id, t.c.n).order_by(t.c.id)):
        conn.execute(t.update().where(t.c.id == id_).values(twice=2 * n))
        seen += 1
    assert seen == 2500, seen
    # (cast: MySQL's SUM is DECIMAL, which db-migrate's sql interface does not carry)
    assert conn.execute(sa.select(sa.cast(sa.func.sum(t.c.twice), sa.BigInteger))).scalar() == 2500 * 2501, "sum"
    assert conn.execute(sa.select(t.c.id).where(t.c.id > 2498)).fetchall() == [(2499,), (2500,)]
    op.drop_table("big")

def downgrade():
    pass
''', True, None),
    ("x3_import.py", "import requests\ndef upgrade():\n    pass\n", False, "ModuleNotFoundError"),
    ("x4_syntax.py", "def upgrade(:\n", False, "does not parse"),
    ("x5_file.py", "def upgrade():\n    open('/etc/passwd').read()\n", False, "Error"),
    ("x6_no_upgrade.py", "x = 1\n", False, "has no upgrade()"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wasm")
    ap.add_argument("--db", default="component.db", help="SQLite file (the default database)")
    ap.add_argument("--pg", help="run on this PostgreSQL instead (psycopg conninfo)")
    ap.add_argument("--mysql", help="run on the MariaDB/MySQL at this socket instead (database alembic_try)")
    ap.add_argument("--memory-mib", type=int, default=256, help="linear memory cap per store (db-migrate's default: 256)")
    ap.add_argument("--versions", default=os.path.join(HERE, "sample", "versions"))
    a = ap.parse_args()

    cfg = Config()
    cfg.cache = True
    engine = Engine(cfg)
    t0 = time.time()
    component = Component.from_file(engine, a.wasm)
    print(f"compiled {os.path.getsize(a.wasm)} bytes in {time.time() - t0:.1f}s")

    if a.pg:
        host = Host(harness.PostgresEngine(a.pg), "postgres")
    elif a.mysql:
        host = Host(harness.MysqlEngine(a.mysql, "alembic_try"), "mysql")
    else:
        if os.path.exists(a.db):
            os.remove(a.db)
        host = Host(harness.SqliteEngine(a.db), "sqlite")
    print(f"database: {host.dialect}")
    linker = Linker(engine)
    linker.add_wasip2()
    # wasmtime-py lets one linker instance be open at a time: close each when defined.
    with linker.root() as root:
        with root.add_instance(f"{PKG}/sql{VER}") as sql:
            sql.add_func("dialect", lambda store: host.dialect)
            sql.add_func("execute", host.execute)
            sql.add_func("query", host.query)
            sql.add_func("execute-batch", host.execute_batch)
            sql.add_resource("cursor", ResourceType.host(CURSOR_TYPE), host.drop_cursor)
            sql.add_func("open-cursor", host.open_cursor)
            sql.add_func("[method]cursor.columns", host.cursor_columns)
            sql.add_func("[method]cursor.next-page", host.cursor_next_page)
            sql.add_func("columns", lambda store, table: (_ for _ in ()).throw(RuntimeError("columns: not used")))
        with root.add_instance(f"{PKG}/log{VER}") as log:
            log.add_func("log", lambda store, level, message: host.log.append(("log", f"[{level}] {message}", None)))
            log.add_func("progress", lambda store, done, total: None)
        with root.add_instance(f"{PKG}/context{VER}") as ctx:
            ctx.add_func("environment", lambda store: "development")
            ctx.add_func("version", lambda store: 0)
            ctx.add_func("name", lambda store: "alembic")
            ctx.add_func("args", lambda store: list(host.args))
            ctx.add_func("random-seed", lambda store: 42)

    files = {f.split("_", 1)[0]: f for f in os.listdir(a.versions) if f.endswith(".py")}

    def call(rev, export, name=None, source=None, expect_ok=True):
        if name is None:
            name = files[rev]
            source = open(os.path.join(a.versions, name)).read()
        host.args = [("db-migrate:alembic-file", name), ("db-migrate:alembic-source", source)]
        host.log = []
        store = Store(engine)
        wasi = WasiConfig()  # nothing granted
        wasi.inherit_stderr()
        store.set_wasi(wasi)
        store.set_limits(memory_size=a.memory_mib * 1024 * 1024)
        t = time.time()
        inst = linker.instantiate(store, component)
        ti = time.time() - t
        fn = inst.get_func(store, export)
        if export != "metadata":
            host.engine.tx("BEGIN")
        t = time.time()
        out = fn(store)
        tc = time.time() - t
        if export != "metadata":
            host.engine.tx("ROLLBACK" if out is not None else "COMMIT")
        if export == "metadata":
            out = vars(out) if hasattr(out, "__dict__") else out
        print(f"  {export} {name} -> {out!r}   (instantiate {ti * 1000:.0f} ms, call {tc * 1000:.0f} ms)")
        shown = host.log if len(host.log) <= 60 else host.log[:8] + [("...", f"{len(host.log) - 16} more", None)] + host.log[-8:]
        for kind, s, ps in shown:
            p = repr(ps) if ps else ""
            print(f"    {kind:13} {' '.join(s.split())}" + (f"   params={p[:200]}" if ps else ""))
        if export != "metadata" and (out is None) != expect_ok:
            sys.exit(f"{export} {name}: unexpected result {out!r}")
        return out

    for rev in ORDER:
        call(rev, "metadata")
    for rev in ORDER:
        call(rev, "up")
    print("  -- schema after up:")
    for line in host.engine.schema():
        print("   ", line)
    for tname in ("users", "posts"):
        print(f"  -- {tname}:", [tuple(r) for r in host.engine.query(f"SELECT * FROM {tname} ORDER BY id", [])[1]])
    for rev in reversed(ORDER):
        call(rev, "down")
    left = host.engine.tables()
    print("  -- after down --all, left:", left)

    print("== edge cases")
    for name, source, ok, must in EDGE:
        call(None, "metadata", name, source)
        out = call(None, "up", name, source, expect_ok=ok)
        if must and must not in str(out):
            sys.exit(f"{name}: expected {must!r} in {out!r}")
    left += host.engine.tables()
    host.engine.db.close()
    print("component: 1 passed, 0 failed" if not left else "component: 0 passed, 1 failed")


if __name__ == "__main__":
    main()
