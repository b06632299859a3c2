"""db-migrate's Alembic runtime: the component that runs every Alembic revision file.

Built with componentize-py for world `migration` of wit/runtime.wit, bundling the real
`alembic`, `SQLAlchemy` (pure Python), `Mako` and `typing-extensions` (see ../build.sh).
The host hands the revision to run through `context.args`: its file name under
`db-migrate:alembic-file` and its text under `db-migrate:alembic-source`. `up`/`down` execute
the text as a module and call its `upgrade()`/`downgrade()` with Alembic's `op` bound to a
SQLAlchemy connection whose driver sends every statement through WIT `sql`, on the migration's
own transaction. The revision graph (order, branches, merges) is the host's: it picks the file.

Optional: `db-migrate:alembic-server-version` (e.g. `16.4`, `11.4.2-MariaDB`) tells SQLAlchemy
which server it renders for; without it PostgreSQL 16, MySQL 8.0 and SQLite 3.45 are assumed.
"""
from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import json as _json
import logging
import sys
import uuid as _uuid
import warnings

from componentize_py_types import Err

import wit_world
from wit_world.imports import context as _ctx
from wit_world.imports import log as _log
from wit_world.imports import sql as _sql
from wit_world.imports import types as _t

from dbm_alembic import driver as _driver
from dbm_alembic import runner as _runner

FILE_ARG = "db-migrate:alembic-file"
SOURCE_ARG = "db-migrate:alembic-source"
VERSION_ARG = "db-migrate:alembic-server-version"


# ---------------------------------------------------------------------------------------------
# Values across the WIT boundary

def _to_value(v, dialect="sqlite"):
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
    if isinstance(v, _dt.datetime):
        # (SQLite never gets here: SQLAlchemy's SQLite types turn datetimes into text first.)
        if dialect == "mysql":
            # MySQL parses this text as DATETIME/TIMESTAMP, as MySQL drivers send it.
            return _t.Value_Text(v.strftime("%Y-%m-%d %H:%M:%S.%f"))
        # PostgreSQL: the host binds RFC 3339 text as timestamptz and needs the offset; a naive
        # datetime (SQLAlchemy's DateTime default) is taken as UTC.
        return _t.Value_Timestamp(v.isoformat() if v.tzinfo else v.isoformat() + "Z")
    if isinstance(v, _dt.date):
        return _t.Value_Text(v.isoformat())  # (no WIT date: text; see README, host gaps)
    if isinstance(v, (_decimal.Decimal, _uuid.UUID, _dt.time)):
        # No exact WIT value for these: their text, which the databases cast on assignment.
        return _t.Value_Text(str(v))
    if isinstance(v, (dict, list)):
        return _t.Value_Json(_json.dumps(v))
    raise TypeError(f"cannot send a {type(v).__name__} to the database")


def _from_value(v, parse_timestamps):
    if isinstance(v, _t.Value_Null):
        return None
    if isinstance(v, _t.Value_Timestamp) and parse_timestamps:
        # PostgreSQL/MySQL drivers hand SQLAlchemy datetime objects; SQLite's dialect parses text.
        try:
            return _dt.datetime.fromisoformat(v.value)
        except ValueError:
            return v.value
    # JSON stays text: SQLAlchemy's JSON type decodes it, as it does a driver's string.
    return v.value


def _raise(e: Err):
    """Turns a host error into the DB-API exception SQLAlchemy expects from a driver."""
    x = e.value
    if isinstance(x, _t.Error_Denied):
        raise _driver.Denied(f"denied by db-migrate: {x.value}") from None
    if isinstance(x, _t.Error_InvalidInput):
        raise _driver.ProgrammingError(f"invalid input: {x.value}") from None
    if isinstance(x, _t.Error_Database):
        d = x.value
        kind = d.kind.name.lower()
        cls = {
            "unique_violation": _driver.IntegrityError,
            "foreign_key_violation": _driver.IntegrityError,
            "not_null_violation": _driver.IntegrityError,
            "check_violation": _driver.IntegrityError,
            "syntax": _driver.ProgrammingError,
        }.get(kind, _driver.OperationalError)
        raise cls(d.message, d.code, kind) from None
    raise _driver.DatabaseError(str(x)) from None


class WitBackend:
    """The driver's backend: WIT `sql`, with Python values on this side."""

    def __init__(self):
        self.dialect = _sql.dialect().name.lower()  # "sqlite" | "postgres" | "mysql"
        self._parse_ts = self.dialect != "sqlite"

    def execute(self, statement, params):
        try:
            return _sql.execute(statement, [_to_value(p, self.dialect) for p in params])
        except Err as e:
            _raise(e)

    def query(self, statement, params):
        try:
            rs = _sql.query(statement, [_to_value(p, self.dialect) for p in params])
        except Err as e:
            _raise(e)
        return rs.columns, [[_from_value(v, self._parse_ts) for v in row] for row in rs.rows]

    def execute_batch(self, statement, rows):
        try:
            return _sql.execute_batch(statement, [[_to_value(p, self.dialect) for p in r] for r in rows])
        except Err as e:
            _raise(e)

    def open_cursor(self, statement, params):
        """A host cursor: (columns, next_page(n) -> rows or None at the end, close())."""
        try:
            cur = _sql.open_cursor(statement, [_to_value(p, self.dialect) for p in params])
        except Err as e:
            _raise(e)

        def next_page(n):
            try:
                page = cur.next_page(n)
            except Err as e:
                _raise(e)
            if page is None:
                return None
            return [[_from_value(v, self._parse_ts) for v in row] for row in page]

        def close():
            cur.__exit__(None, None, None)  # drops the resource: the host frees the cursor

        return cur.columns(), next_page, close


# ---------------------------------------------------------------------------------------------
# Output: there is no stdout/stderr in the sandbox worth relying on; send it to the host's log.

class _LogStream:
    """A text stream whose complete lines become `log` messages (a migration's print())."""

    def __init__(self, level):
        self.level = level
        self.buf = ""

    def write(self, s):
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if line.strip():
                _log.log(self.level, line)
        return len(s)

    def flush(self):
        pass


class _LogHandler(logging.Handler):
    def emit(self, record):
        lvl = _log.Level.WARN if record.levelno >= logging.WARNING else _log.Level.INFO
        if record.levelno >= logging.ERROR:
            lvl = _log.Level.ERROR
        _log.log(lvl, self.format(record))


def _route_output():
    # Installed per call, not at import: at build time there is no host to log to.
    sys.stdout = _LogStream(_log.Level.INFO)
    sys.stderr = _LogStream(_log.Level.WARN)
    root = logging.getLogger()
    if not any(isinstance(h, _LogHandler) for h in root.handlers):
        root.addHandler(_LogHandler())
    root.setLevel(logging.WARNING)  # Alembic's "Context impl ..." INFO lines are noise here
    warnings.showwarning = lambda m, c, f, l, file=None, line=None: _log.log(_log.Level.WARN, f"{c.__name__}: {m}")


# ---------------------------------------------------------------------------------------------
# The revision to run

def _arg(key):
    for k, v in _ctx.args():
        if k == key:
            return v
    return None


def _revision():
    name, source = _arg(FILE_ARG), _arg(SOURCE_ARG)
    if name is None or source is None:
        raise _runner.RevisionError(
            f"the Alembic runtime needs the `{FILE_ARG}` and `{SOURCE_ARG}` arguments (db-migrate sets them)"
        )
    return name, source


def _message(e: BaseException) -> str:
    """`Type: message`, the database's own error for a failed statement (not SQLAlchemy's
    wrapper text with its documentation link), and where in the revision file it happened."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(e, DBAPIError) and e.orig is not None:
        text = f"{type(e.orig).__name__}: {e.orig}\n[SQL: {' '.join(str(e.statement).split())}]"
    else:
        text = f"{type(e).__name__}: {e}"
    name = _arg(FILE_ARG)
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno  # the innermost frame in the revision file
        tb = tb.tb_next
    return f"{text}\n(at {name}:{line})" if line else text


def _guarded(fn):
    """Any exception becomes the `result` error the host shows; the transaction rolls back."""
    try:
        fn()
    except Err:
        raise
    except Exception as e:
        raise Err(_message(e)) from None


def _run(direction):
    _route_output()
    name, source = _revision()
    _runner.run(WitBackend(), name, source, direction, _arg(VERSION_ARG))


class WitWorld(wit_world.WitWorld):
    def metadata(self) -> wit_world.Metadata:
        # `metadata` cannot return an error: a file that cannot be read is described as such
        # (and irreversible); `up` then fails with the same message.
        try:
            name, source = _revision()
            description, reversible, transactional = _runner.facts(name, source)
        except Exception as e:
            return wit_world.Metadata(f"{type(e).__name__}: {e}", False, True)
        return wit_world.Metadata(description, reversible, transactional)

    def up(self) -> None:
        _guarded(lambda: _run("up"))

    def down(self) -> None:
        _guarded(lambda: _run("down"))


# Build time (componentize-py imports this module and snapshots it): import everything the
# runtime will ever need now, while the package files are readable, by running a sample
# revision on each dialect against a recorder. Nothing in it calls the host.
from dbm_alembic import warm as _warm  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _warm.warm()
