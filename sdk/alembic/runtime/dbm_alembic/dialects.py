"""SQLAlchemy dialects over the db-migrate driver: one subclass per database the host speaks.

They render SQL exactly as SQLAlchemy's own sqlite / postgresql / mysql dialects do (Alembic picks
its DDL implementation by `dialect.name`, which stays `sqlite` / `postgresql` / `mysql`); what
changes is the driver and the connect-time probing. SQLAlchemy normally asks the server for its
version, isolation level, default schema, `sql_mode`, charset... on the first connection. Those
reads are not migration work and a grant-limited migration may not be allowed them, so each
answer is fixed here instead (the server version can be given by the host, see `engine()`).
"""
from __future__ import annotations

import datetime
import decimal
import re
import uuid

from sqlalchemy import create_engine
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.pool import StaticPool

from . import driver as _driver

# The placeholder style the host accepts for each dialect (wit/runtime.wit, `sql.execute`):
# `?` on SQLite and MySQL, `$1` on PostgreSQL (SQLAlchemy's "numeric_dollar", as for asyncpg).
PARAMSTYLE = {"sqlite": "qmark", "postgres": "numeric_dollar", "mysql": "qmark"}
DEFAULT_VERSION = {"sqlite": "3.45.0", "postgres": "16.0", "mysql": "8.0.36"}


class _Sandboxed:
    """What all three share: no probing queries, a fixed isolation level, no-op level changes."""

    driver = "dbmigrate"
    _fixed_isolation = "SERIALIZABLE"
    _version = None  # set per engine

    @classmethod
    def import_dbapi(cls):
        # `engine()` always passes `module=`; a bare URL has no backend to talk to.
        raise ImportError("the db-migrate driver needs a backend: use dbm_alembic.dialects.engine()")

    def _get_server_version_info(self, connection):
        return tuple(int(p) for p in self._version.split("-")[0].split(".") if p.isdigit())

    def _get_default_schema_name(self, connection):
        return self._fixed_schema

    def get_isolation_level(self, dbapi_connection):
        return self._fixed_isolation

    def get_isolation_level_values(self, dbapi_connection):
        # AUTOCOMMIT as the drivers offer it: what `autocommit_block()` asks for.
        return ["AUTOCOMMIT", "SERIALIZABLE", "READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ"]

    def set_isolation_level(self, dbapi_connection, level):
        # Alembic's `autocommit_block()` asks for AUTOCOMMIT; the host decides transactions
        # (such a migration is reported non-transactional by `metadata`), so nothing is sent.
        pass

    def _check_max_identifier_length(self, connection):
        return None

    def do_ping(self, dbapi_connection):
        return True

    def is_disconnect(self, e, connection, cursor):
        # The host owns the connection; a failed statement never means it is gone.
        return False


# Result values the WIT `sql` interface has no case for (exact numbers, dates, times of day,
# UUIDs) arrive as the text the server prints, where psycopg and PyMySQL give `Decimal`, `date`,
# `time`/`timedelta` and `UUID`. A query whose columns SQLAlchemy knows the types of (Core
# `table()`/`Table`, the ORM) reads them as those drivers do: each type below parses the text
# first, then hands the value to the dialect's own processing. (A raw `text()` query has no
# types: its values stay text.)


def _chain(parse, base):
    def process(value):
        if isinstance(value, str):
            try:
                value = parse(value)
            except (ValueError, ArithmeticError):
                return value
        return base(value) if base is not None else value

    return process


_INTERVAL = re.compile(r"^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


def _timedelta(text):
    m = _INTERVAL.match(text)
    if not m:
        raise ValueError(text)
    sign, h, mi, sec, frac = m.groups()
    d = datetime.timedelta(hours=int(h), minutes=int(mi), seconds=int(sec), microseconds=int((frac or "0").ljust(6, "0")))
    return -d if sign else d


def _typed(base_type, parse, cast):
    """A subclass of `base_type` (the dialect's own) parsing the text the host gives first.
    With `cast`, a bound value's SQL carries its type (`$1::NUMERIC(10, 2)`): PostgreSQL takes a
    text parameter as `text`, which it does not assign to a `numeric` or `date` column."""

    class Typed(base_type):
        render_bind_cast = cast

        def result_processor(self, dialect, coltype):
            return _chain(parse, super().result_processor(dialect, coltype))

    Typed.__name__ = "Text" + base_type.__name__
    return Typed


def _text_types(base_colspecs, time_parse, native_uuid, cast):
    """The dialect's colspecs with the text-parsing types over them. (MySQL keeps a `Uuid` as
    text either way: SQLAlchemy's own processing parses it.)"""
    specs = dict(base_colspecs)

    def over(generic, parse):
        specs[generic] = _typed(specs.get(generic, generic), parse, cast)

    over(sqltypes.Numeric, decimal.Decimal)
    over(sqltypes.Float, float)
    over(sqltypes.Date, datetime.date.fromisoformat)
    over(sqltypes.Time, time_parse)
    if native_uuid:
        over(sqltypes.Uuid, uuid.UUID)
    return specs


class SqliteDialect(_Sandboxed, SQLiteDialect):
    supports_statement_cache = True  # SQLAlchemy reads it from each final class
    _fixed_schema = "main"


class PostgresDialect(_Sandboxed, PGDialect):
    supports_statement_cache = True  # SQLAlchemy reads it from each final class
    _fixed_schema = "public"
    _fixed_isolation = "READ COMMITTED"
    default_paramstyle = "numeric_dollar"
    colspecs = _text_types(PGDialect.colspecs, datetime.time.fromisoformat, native_uuid=True, cast=True)
    # Exact numbers are `Decimal` both ways, as with psycopg (the parsing above on the way out,
    # their text bound on the way in): never rounded through a float.
    supports_native_decimal = True

    def _set_backslash_escapes(self, connection):
        # `standard_conforming_strings` is on in every supported PostgreSQL (default since 9.1).
        self._backslash_escapes = False


class MysqlDialect(_Sandboxed, MySQLDialect):
    supports_statement_cache = True  # SQLAlchemy reads it from each final class
    _fixed_schema = None
    _fixed_isolation = "REPEATABLE READ"
    # PyMySQL gives a TIME as a `timedelta` (MySQL's TIME is an interval); SQLAlchemy's TIME
    # turns that into a `time`.
    colspecs = _text_types(MySQLDialect.colspecs, _timedelta, native_uuid=False, cast=False)
    supports_native_decimal = True  # as with PyMySQL (see PostgresDialect)

    def _get_server_version_info(self, connection):
        # Also tells SQLAlchemy MySQL from MariaDB ("11.4.2-MariaDB").
        return self._parse_server_version(self._version)

    def _extract_error_code(self, exception):
        # The base class leaves this to each driver; ours carries the host's code (MySQL errno).
        code = getattr(exception, "code", None)
        return int(code) if code is not None and str(code).isdigit() else None

    def _detect_charset(self, connection):
        return "utf8mb4"

    def _detect_sql_mode(self, connection):
        # No ANSI_QUOTES (backticks quote names), backslash escapes on: the servers' defaults.
        self._sql_mode = "STRICT_TRANS_TABLES"

    def _detect_casing(self, connection):
        self._casing = 0
        return 0

    def _get_default_schema_name(self, connection):
        return None


_CLASSES = {"sqlite": SqliteDialect, "postgres": PostgresDialect, "mysql": MysqlDialect}
_URLS = {"sqlite": "sqlite+dbmigrate://", "postgres": "postgresql+dbmigrate://", "mysql": "mysql+dbmigrate://"}

registry.register("sqlite.dbmigrate", __name__, "SqliteDialect")
registry.register("postgresql.dbmigrate", __name__, "PostgresDialect")
registry.register("mysql.dbmigrate", __name__, "MysqlDialect")


def engine(backend, server_version=None):
    """A SQLAlchemy engine whose only connection is the backend's."""
    d = backend.dialect
    cls = _CLASSES[d]
    # One run at a time in a component: the version is simply set on the class for this run.
    cls._version = server_version or DEFAULT_VERSION[d]
    return create_engine(
        _URLS[d],
        module=_driver.Driver(backend, PARAMSTYLE[d]),
        poolclass=StaticPool,  # one connection, reused; never a pool of new ones
    )
