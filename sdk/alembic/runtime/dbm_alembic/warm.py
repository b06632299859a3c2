"""Build-time warm-up: exercise the runtime once per dialect against a `Recorder`.

componentize-py imports app.py while it builds the component and snapshots the interpreter.
SQLAlchemy and Alembic import many modules lazily (dialect implementations, compilers, type
adapters, Alembic's DDL impls, Mako-free parts of alembic.util...) on first use; running a small
revision here pulls them all in at build time, so nothing has to be imported (and no file read)
inside the sandbox, and the first real migration starts warm.
"""
from __future__ import annotations

import importlib
import pkgutil

from . import runner
from .recorder import Recorder

# Standard-library modules a revision file may reasonably import. A component can import only
# what was imported while it was built (componentize-py snapshots the interpreter; the module
# files are not in the sandbox), so these are imported now. Left out on purpose: anything that
# needs files, sockets or processes at use (zoneinfo's tz database, sqlite3, subprocess, ...).
STDLIB = """
    abc array ast base64 binascii bisect calendar collections collections.abc contextlib copy csv
    dataclasses datetime decimal difflib enum fractions functools hashlib heapq hmac html io
    ipaddress itertools json keyword logging math numbers operator os os.path pprint random re
    secrets shlex statistics string struct sys textwrap time types typing unicodedata urllib.parse
    uuid warnings weakref
""".split()

# Parts of SQLAlchemy/Alembic that cannot load here (their own drivers or tools are absent) or
# are never used by a revision (test suites, mypy plugin, file templates, command line, the
# per-driver dialect modules: only the db-migrate driver runs here, and databases db-migrate
# does not speak). Each module imported costs snapshot size (about 15 MB for all of them).
SKIP = (".testing", ".ext.mypy", ".ext.asyncio", "alembic.templates", "sqlalchemy.connectors",
        "alembic.command", "alembic.__main__", ".provision", "sqlalchemy.dialects.mssql",
        "sqlalchemy.dialects.oracle", ".psycopg", ".pg8000", ".asyncpg", ".pymysql", ".mysqldb",
        ".mysqlconnector", ".mariadbconnector", ".aiomysql", ".asyncmy", ".cymysql", ".pyodbc",
        ".pysqlite", ".aiosqlite", ".pysqlcipher")


def preload() -> None:
    """Imports every SQLAlchemy and Alembic submodule (except SKIP) and the STDLIB list."""
    for name in STDLIB:
        importlib.import_module(name)
    for pkg in ("sqlalchemy", "alembic"):
        root = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(root.__path__, pkg + ".", onerror=lambda n: None):
            if any(s in info.name for s in SKIP):
                continue
            try:
                importlib.import_module(info.name)
            except Exception:  # an optional driver or extra is missing: not needed in here
                pass

SAMPLE = '''"""warm-up"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, mysql, sqlite


def upgrade():
    t = op.create_table(
        "w_parent",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, server_default="x"),
        sa.Column("at", sa.DateTime, server_default=sa.func.now()),
        sa.Column("flag", sa.Boolean, default=False),
        sa.Column("n", sa.Numeric(10, 2)),
        sa.Column("doc", sa.JSON),
        sa.Column("raw", sa.LargeBinary),
        sa.Column("kind", sa.Enum("a", "b", name="w_kind")),
        sa.UniqueConstraint("name"),
        sa.CheckConstraint("id > 0", name="ck_w"),
    )
    op.create_table("w_child", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("p", sa.Integer, sa.ForeignKey("w_parent.id", ondelete="CASCADE")))
    op.create_index("ix_w", "w_child", ["p"], unique=False)
    sqlite = op.get_context().dialect.name == "sqlite"  # no ALTER of constraints there
    if not sqlite:
        op.create_foreign_key("fk_w", "w_child", "w_parent", ["p"], ["id"])
    op.add_column("w_child", sa.Column("note", sa.Text))
    if not sqlite:
        op.alter_column("w_child", "note", existing_type=sa.Text, nullable=True)
    op.bulk_insert(t, [{"id": 1, "name": "a", "flag": True}, {"id": 2, "name": "b", "flag": False}])
    op.execute("UPDATE w_parent SET name = 'c' WHERE id = 2")
    op.execute(t.update().where(t.c.id == 1).values(name="d"))
    conn = op.get_bind()
    for row in conn.execute(sa.select(t.c.id, t.c.name).where(t.c.id > 0)).mappings():
        conn.execute(sa.text("UPDATE w_parent SET name = :n WHERE id = :i"), {"n": row["name"], "i": row["id"]})
    conn.execute(t.insert().values(name="e"))
    conn.execute(t.delete().where(t.c.id == 3))
    # The ORM over the migration's connection, as data migrations often use it.
    from sqlalchemy import orm

    class Base(orm.DeclarativeBase):
        pass

    class Parent(Base):
        __tablename__ = "w_parent"
        id = orm.mapped_column(sa.Integer, primary_key=True)
        name = orm.mapped_column(sa.String(50))

    with orm.Session(bind=conn) as s:
        for p in s.scalars(sa.select(Parent).where(Parent.id > 0)):
            p.name = p.name + "!"
        s.add(Parent(id=9, name="f"))  # explicit key: the recorder returns no generated ids
        s.flush()
        s.query(Parent).filter_by(name="f").delete()
        s.commit()
    if not sqlite:
        op.create_unique_constraint("uq_w", "w_child", ["note"])
        op.drop_constraint("uq_w", "w_child", type_="unique")
    op.rename_table("w_child", "w_child2")
    op.drop_index("ix_w", table_name="w_child2")
    op.drop_column("w_child2", "note")
    op.drop_table("w_child2")
    op.drop_table("w_parent")


def downgrade():
    pass
'''


def warm() -> None:
    preload()
    for d in ("sqlite", "postgres", "mysql"):
        runner.facts("warm.py", SAMPLE)
        runner.run(Recorder(d), "warm.py", SAMPLE, "up")
    # Batch mode on SQLite reflects the table: answer the reflection with a small table so the
    # whole copy-and-rename path (and SQLite reflection) is imported too.
    answers = _sqlite_reflection()
    runner.run(Recorder("sqlite", answers), "warm_batch.py", BATCH, "up")


BATCH = '''from alembic import op
import sqlalchemy as sa


def upgrade():
    with op.batch_alter_table("w") as b:
        b.add_column(sa.Column("c", sa.String(10)))
        b.alter_column("b", type_=sa.String(20), nullable=False)
        b.drop_column("a")
'''


def _sqlite_reflection():
    from .recorder import normalize

    cols = ["cid", "name", "type", "notnull", "dflt_value", "pk", "hidden"]
    rows = [[0, "id", "INTEGER", 1, None, 1, 0], [1, "a", "VARCHAR(10)", 0, None, 0, 0], [2, "b", "TEXT", 0, None, 0, 0]]
    return {
        normalize('PRAGMA main.table_xinfo("w")'): (cols, rows),
        normalize("SELECT sql FROM  (SELECT * FROM sqlite_master UNION ALL   SELECT * FROM sqlite_temp_master) WHERE name = ? AND type in ('table', 'view')"): (["sql"], [["CREATE TABLE w (id INTEGER NOT NULL, a VARCHAR(10), b TEXT, PRIMARY KEY (id))"]]),
        normalize("SELECT sql FROM sqlite_master WHERE name = ? AND type in ('table', 'view')"): (["sql"], [["CREATE TABLE w (id INTEGER NOT NULL, a VARCHAR(10), b TEXT, PRIMARY KEY (id))"]]),
    }
