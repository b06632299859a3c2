"""A DB-API 2.0 driver whose only way to the database is a backend object.

A backend has `dialect` ("sqlite" | "postgres" | "mysql") and calls taking plain Python
values: `execute(sql, params) -> int`, `query(sql, params) -> (columns, rows)`,
`execute_batch(sql, rows) -> int`, and optionally `open_cursor(sql, params) -> (columns,
next_page(n) -> rows | None, close())`. Errors it raises should be this module's exception
classes, so SQLAlchemy wraps them as it wraps any driver's.

The host owns the transaction (the migration commits together with its history row), so
commit/rollback are no-ops and there is exactly one connection, lent by the host.
"""
from __future__ import annotations

import re

apilevel = "2.0"
threadsafety = 1


# --- DB-API exception hierarchy (PEP 249): SQLAlchemy looks these names up on the module.
class Warning(Exception):  # noqa: A001 - the DB-API name
    pass


class Error(Exception):
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    def __init__(self, message, code=None, kind="other"):
        super().__init__(message)
        self.code = code  # SQLSTATE / SQLite extended code, when the host knows it
        self.kind = kind  # the WIT database-error-kind, lower-case


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


class Denied(DatabaseError):
    """db-migrate refused the statement (a grant or a limit)."""


Binary = bytes  # SQLAlchemy's LargeBinary binds through dbapi.Binary


# Statements whose result has rows: these go through `query`, everything else through
# `execute` (the host reports changed-row counts for those). Comments are skipped first.
_LEADING = re.compile(r"^(\s+|--[^\n]*(\n|$)|/\*.*?\*/)*", re.S)
_READER = re.compile(r"^(select|with|values|explain|show|describe|desc|table)\b", re.I)
_PAGED = re.compile(r"^(select|with|values|table)\b", re.I)
_RETURNING = re.compile(r"\breturning\b", re.I)

# Rows per `next-page` call when a read goes through a host cursor.
PAGE_SIZE = 1000


def _head(statement: str) -> str:
    return _LEADING.sub("", statement, count=1).lstrip("( \t\r\n")  # `(SELECT ...) UNION ...`


def paged(statement: str) -> bool:
    """Plain reads (no RETURNING: those write) go through a host cursor, page by page: a
    backfill over a big table never holds it whole, and the host's row cap on `query` does
    not apply. PRAGMA/SHOW/RETURNING stay on `query`."""
    s = _head(statement)
    return bool(_PAGED.match(s)) and not _RETURNING.search(s)


def returns_rows(statement: str) -> bool:
    s = _head(statement)
    if _READER.match(s):
        return True
    if re.match(r"^pragma\b", s, re.I):
        return "=" not in s  # `PRAGMA x = y` sets, `PRAGMA x` / `PRAGMA f(t)` reads
    return bool(_RETURNING.search(s))


class Cursor:
    arraysize = 1

    def __init__(self, conn: "Connection"):
        self.connection = conn
        self.description = None
        self.rowcount = -1
        self._rows: list = []
        self._pos = 0
        self._last_insert = False
        self._page = None  # next_page of an open host cursor
        self._close_cursor = None

    def _reset(self):
        self._drop_cursor()
        self._rows, self._pos, self.description = [], 0, None

    def _drop_cursor(self):
        if self._close_cursor is not None:
            self._close_cursor()
        self._page = self._close_cursor = None

    def _fill(self, want):
        """Pulls pages from the host cursor until `want` rows are buffered (None: all)."""
        while self._page is not None and (want is None or len(self._rows) - self._pos < want):
            page = self._page(PAGE_SIZE)
            if page is None:
                self._drop_cursor()
                break
            if self._pos:  # forget rows already handed out
                self._rows, self._pos = self._rows[self._pos:], 0
            self._rows.extend(tuple(r) for r in page)

    # -- executing
    def execute(self, operation, parameters=None):
        backend = self.connection.backend
        params = list(parameters or ())
        self._reset()
        if paged(operation) and hasattr(backend, "open_cursor"):
            cols, self._page, self._close_cursor = backend.open_cursor(operation, params)
            self.description = [(c, None, None, None, None, None, None) for c in cols]
            self.rowcount = -1  # unknown until read (PEP 249 allows -1)
            self._last_insert = False
        elif returns_rows(operation):
            cols, rows = backend.query(operation, params)
            # PEP 249 7-tuples; db-migrate's row-set has no type codes.
            self.description = [(c, None, None, None, None, None, None) for c in cols]
            self._rows = [tuple(r) for r in rows]
            self.rowcount = len(self._rows)
            self._last_insert = False
        else:
            self.rowcount = backend.execute(operation, params)
            self._last_insert = operation.lstrip().lower().startswith("insert")
        return self

    def executemany(self, operation, seq_of_parameters):
        rows = [list(p) for p in seq_of_parameters]
        self._reset()
        self.rowcount = self.connection.backend.execute_batch(operation, rows) if rows else 0
        self._last_insert = False
        return self

    @property
    def lastrowid(self):
        # Asked only when SQLAlchemy needs a generated key it could not get by RETURNING
        # (SQLite/MySQL single-row insert of an autoincrement id): one extra read, on demand.
        if not self._last_insert:
            return None
        d = self.connection.backend.dialect
        fn = {"sqlite": "last_insert_rowid()", "mysql": "LAST_INSERT_ID()"}.get(d)
        if fn is None:
            return None
        _, rows = self.connection.backend.query(f"SELECT {fn}", [])
        return rows[0][0] if rows else None

    # -- fetching (from the buffered row-set, or page by page from a host cursor)
    def fetchone(self):
        self._fill(1)
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def fetchmany(self, size=None):
        n = self.arraysize if size is None else size
        self._fill(n)
        out = self._rows[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def fetchall(self):
        self._fill(None)
        out = self._rows[self._pos:]
        self._rows, self._pos = [], 0
        return out

    def close(self):
        self._reset()

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass

    def __iter__(self):
        return iter(self.fetchall())


class Connection:
    def __init__(self, backend):
        self.backend = backend

    def cursor(self):
        return Cursor(self)

    # The migration's transaction is the host's: it commits with the history row or rolls back
    # as a whole when `up` fails. Nothing here may end it early.
    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        pass


class Driver:
    """The DB-API "module" SQLAlchemy is given (`create_engine(..., module=Driver(backend))`)."""

    apilevel = apilevel
    threadsafety = threadsafety
    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError
    Binary = Binary
    # SQLAlchemy's SQLite dialect checks the library version of its driver; the host's SQLite
    # is recent (bundled rusqlite), this is what features are rendered for.
    sqlite_version_info = (3, 45, 0)
    sqlite_version = "3.45.0"

    def __init__(self, backend, paramstyle):
        self.backend = backend
        self.paramstyle = paramstyle

    def connect(self, *args, **kwargs):
        return Connection(self.backend)
