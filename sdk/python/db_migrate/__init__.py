"""Write db-migrate migrations and seeds in Python.

A migration is a class with ``up`` (and usually ``down``), exported as the component's world:

    from db_migrate import Migration, execute, query, export

    class AddSlugs(Migration):
        description = "posts get a slug"

        def up(self):
            execute("ALTER TABLE posts ADD COLUMN slug TEXT")
            for row in query("SELECT id, title FROM posts"):
                execute("UPDATE posts SET slug = ? WHERE id = ?", [slugify(row["title"]), row["id"]])

        def down(self):
            execute("ALTER TABLE posts DROP COLUMN slug")

    WitWorld = export(AddSlugs)

`db-migrate build` turns the folder into a component with componentize-py. Inside the sandbox
the code reaches the database only through these functions, in the migration's transaction;
an exception rolls everything back and its message is shown to the user.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
from typing import Any, Dict, Iterator, List, Optional, Sequence

from componentize_py_types import Err as _Err

# Which interfaces exist depends on the world the component is built for: `sql` for SQL
# migrations and seeds, `documents` for MongoDB migrations. Import what is there.
try:
    from wit_world.imports import sql as _sql
except ImportError:  # world `document-migration`
    _sql = None
try:
    from wit_world.imports import documents as _docs
except ImportError:  # worlds `migration` and `seed`
    _docs = None
from wit_world.imports import context as _ctx
from wit_world.imports import log as _log
from wit_world.imports import types as _t

__all__ = [
    "Migration", "Seed", "export", "execute", "query", "execute_batch", "BulkInsert", "cursor", "columns", "dialect",
    "documents", "log", "progress", "context", "DbMigrateError", "Denied", "InvalidInput", "DatabaseError",
]


# ---------------------------------------------------------------------------------------------
# Errors

class DbMigrateError(Exception):
    """Base class of the errors the host returns."""


class Denied(DbMigrateError):
    """The host refused: a grant or a limit does not allow this."""


class InvalidInput(DbMigrateError):
    """The request is malformed (e.g. two statements in one call)."""


class DatabaseError(DbMigrateError):
    """The database failed. ``kind`` is one of ``unique_violation``, ``foreign_key_violation``,
    ``not_null_violation``, ``check_violation``, ``syntax``, ``other``; ``code`` is SQLSTATE (or the
    driver's code) when known."""

    def __init__(self, kind: str, message: str, code: Optional[str]):
        super().__init__(message if code is None else f"{message} (code {code})")
        self.kind = kind
        self.message = message
        self.code = code

    @property
    def is_unique_violation(self) -> bool:
        return self.kind == "unique_violation"


def _raise(e: _Err) -> None:
    v = e.value
    if isinstance(v, _t.Error_Denied):
        raise Denied(v.value) from None
    if isinstance(v, _t.Error_InvalidInput):
        raise InvalidInput(v.value) from None
    if isinstance(v, _t.Error_Database):
        d = v.value
        raise DatabaseError(d.kind.name.lower(), d.message, d.code) from None
    raise DbMigrateError(str(v)) from None


def _call(f, *args):
    try:
        return f(*args)
    except _Err as e:
        _raise(e)


# ---------------------------------------------------------------------------------------------
# Values

def _value(v: Any) -> Any:
    if v is None:
        return _t.Value_Null()
    if isinstance(v, bool):
        return _t.Value_Boolean(v)
    if isinstance(v, int):
        return _t.Value_Int(v)
    if isinstance(v, float):
        return _t.Value_Float(v)
    if isinstance(v, str):
        return _t.Value_Text(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _t.Value_Blob(bytes(v))
    if isinstance(v, (_dt.datetime, _dt.date)):
        return _t.Value_Timestamp(v.isoformat())
    if isinstance(v, (dict, list)):
        return _t.Value_Json(_json.dumps(v))
    raise TypeError(f"cannot send a {type(v).__name__} to the database (use None, bool, int, float, str, bytes, datetime, dict or list)")


def _native(v: Any) -> Any:
    if isinstance(v, _t.Value_Null):
        return None
    if isinstance(v, _t.Value_Json):
        return _json.loads(v.value)
    return v.value


def _params(params: Optional[Sequence[Any]]) -> List[Any]:
    return [_value(p) for p in (params or [])]


# ---------------------------------------------------------------------------------------------
# SQL

def dialect() -> str:
    """The connection's SQL: ``sqlite``, ``postgres`` or ``mysql``."""
    return _call(_sql.dialect).name.lower()


def execute(statement: str, params: Optional[Sequence[Any]] = None) -> int:
    """Runs one statement; returns the rows it changed. Placeholders: ``?`` (SQLite, MySQL) or
    ``$1`` (PostgreSQL)."""
    return _call(_sql.execute, statement, _params(params))


def query(statement: str, params: Optional[Sequence[Any]] = None) -> List[Dict[str, Any]]:
    """Runs one statement; its rows as dicts by column name. Use :func:`cursor` for large results."""
    rs = _call(_sql.query, statement, _params(params))
    return [dict(zip(rs.columns, (_native(v) for v in row))) for row in rs.rows]


def execute_batch(statement: str, rows: Sequence[Sequence[Any]]) -> int:
    """Runs one statement per row of parameters in as few round trips as the database allows
    (multi-row INSERTs, COPY on PostgreSQL); returns the rows changed."""
    return _call(_sql.execute_batch, statement, [_params(r) for r in rows])


class BulkInsert:
    """Rows streamed into one table through one plain ``INSERT INTO t (a, b) VALUES (?, ?)``,
    without waiting for the database at each batch (one ``COPY`` on PostgreSQL, which the server
    works through while the component makes the next rows). A row the database rejects is
    reported late (by ``finish``, or by any other call) and it ends the run (its transaction is
    rolled back): use :func:`execute_batch` to handle a rejected batch yourself. While a bulk
    insert is open, any other call first waits until its rows are taken::

        with BulkInsert("INSERT INTO notes (id, body) VALUES (?, ?)") as bulk:
            for chunk in chunks:
                bulk.write(chunk)
            written = bulk.finish()
    """

    def __init__(self, statement: str):
        self._bulk = _call(_sql.open_bulk_insert, statement)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Hands rows (one value per placeholder, in order) to the database."""
        _call(self._bulk.write, [_params(r) for r in rows])

    def finish(self) -> int:
        """Waits until the database has taken every row written; returns how many were written."""
        return _call(self._bulk.finish)

    def __enter__(self) -> "BulkInsert":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bulk.__exit__(*exc)


def cursor(statement: str, params: Optional[Sequence[Any]] = None, page_size: int = 1000) -> Iterator[Dict[str, Any]]:
    """Iterates over a query's rows page by page, so a backfill never holds a whole table."""
    c = _call(_sql.open_cursor, statement, _params(params))
    with c:
        cols = c.columns()
        while True:
            page = _call(c.next_page, page_size)
            if page is None:
                return
            for row in page:
                yield dict(zip(cols, (_native(v) for v in row)))


def columns(table: str) -> List[Dict[str, Any]]:
    """The columns of a table: ``name``, ``data_type``, ``nullable``."""
    return [{"name": c.name, "data_type": c.data_type, "nullable": c.nullable} for c in _call(_sql.columns, table)]


# ---------------------------------------------------------------------------------------------
# MongoDB

class _Documents:
    """The migration's MongoDB database (world ``document-migration``). Documents are dicts;
    Extended JSON (``{"$date": …}``, ``{"$oid": …}``) passes through."""

    def insert_many(self, collection: str, docs: Sequence[Dict[str, Any]]) -> int:
        return _call(_docs.insert_many, collection, [_json.dumps(d) for d in docs])

    def find(self, collection: str, filter: Optional[Dict[str, Any]] = None, *, projection=None, sort=None, skip=None, limit=None) -> List[Dict[str, Any]]:
        o = _docs.FindOptions(projection and _json.dumps(projection), sort and _json.dumps(sort), skip, limit)
        return [_json.loads(d) for d in _call(_docs.find, collection, _json.dumps(filter or {}), o)]

    def update_many(self, collection: str, filter: Dict[str, Any], update: Any) -> int:
        return _call(_docs.update_many, collection, _json.dumps(filter), _json.dumps(update)).modified

    def delete_many(self, collection: str, filter: Dict[str, Any]) -> int:
        return _call(_docs.delete_many, collection, _json.dumps(filter))

    def count(self, collection: str, filter: Optional[Dict[str, Any]] = None) -> int:
        return _call(_docs.count, collection, _json.dumps(filter or {}))

    def create_index(self, collection: str, keys: Dict[str, Any], **options: Any) -> str:
        return _call(_docs.create_index, collection, _json.dumps(keys), _json.dumps(options) if options else None)

    def drop_index(self, collection: str, name: str) -> None:
        _call(_docs.drop_index, collection, name)

    def create_collection(self, name: str, **options: Any) -> None:
        _call(_docs.create_collection, name, _json.dumps(options) if options else None)

    def drop_collection(self, name: str) -> None:
        _call(_docs.drop_collection, name)

    def run_command(self, command: Dict[str, Any]) -> Dict[str, Any]:
        return _json.loads(_call(_docs.run_command, _json.dumps(command)))


documents = _Documents()


# ---------------------------------------------------------------------------------------------
# Log, progress, context

class log:  # noqa: N801 - a namespace, used as `log.info(...)`
    """Messages shown by db-migrate next to the migration's name."""

    @staticmethod
    def trace(message: str) -> None:
        _log.log(_log.Level.TRACE, str(message))

    @staticmethod
    def debug(message: str) -> None:
        _log.log(_log.Level.DEBUG, str(message))

    @staticmethod
    def info(message: str) -> None:
        _log.log(_log.Level.INFO, str(message))

    @staticmethod
    def warn(message: str) -> None:
        _log.log(_log.Level.WARN, str(message))

    @staticmethod
    def error(message: str) -> None:
        _log.log(_log.Level.ERROR, str(message))


def progress(done: int, total: Optional[int] = None) -> None:
    """Reports progress; db-migrate draws a bar on a terminal."""
    _log.progress(done, total)


class context:  # noqa: N801 - a namespace
    """What the migration may know about its run."""

    @staticmethod
    def environment() -> str:
        return _ctx.environment()

    @staticmethod
    def name() -> str:
        return _ctx.name()

    @staticmethod
    def version() -> int:
        return _ctx.version()

    @staticmethod
    def args() -> Dict[str, str]:
        return dict(_ctx.args())

    @staticmethod
    def arg(key: str, default: Optional[str] = None) -> Optional[str]:
        return dict(_ctx.args()).get(key, default)

    @staticmethod
    def random_seed() -> int:
        """A seed for deterministic pseudo-random data (``random.Random(context.random_seed())``)."""
        return _ctx.random_seed()


# ---------------------------------------------------------------------------------------------
# Migrations and seeds

class Migration:
    """Subclass it, set ``description`` (and ``reversible`` / ``transactional`` if not true), and
    implement ``up`` and ``down``."""

    description: str = ""
    reversible: bool = True
    transactional: bool = True

    def up(self) -> None:
        raise NotImplementedError("up")

    def down(self) -> None:
        raise DbMigrateError("this migration has no down step")


class Seed:
    """Subclass it and implement ``run``; build it for the ``seed`` world."""

    def run(self) -> None:
        raise NotImplementedError("run")


def _guarded(f) -> None:
    try:
        f()
    except _Err:
        raise
    except Exception as e:  # the message reaches the user; the transaction rolls back
        raise _Err(f"{type(e).__name__}: {e}") from None


def export(cls: type) -> type:
    """The class componentize-py exports as the world: ``WitWorld = export(MyMigration)``."""
    if issubclass(cls, Seed):
        class SeedWorld:
            def run(self) -> None:
                _guarded(cls().run)

        return SeedWorld

    import wit_world

    class MigrationWorld:
        def metadata(self):
            return wit_world.Metadata(cls.description, cls.reversible, cls.transactional)

        def up(self) -> None:
            _guarded(cls().up)

        def down(self) -> None:
            _guarded(cls().down)

    return MigrationWorld
