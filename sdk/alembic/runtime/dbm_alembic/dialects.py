"""SQLAlchemy dialects over the db-migrate driver: one subclass per database the host speaks.

They render SQL exactly as SQLAlchemy's own sqlite / postgresql / mysql dialects do (Alembic picks
its DDL implementation by `dialect.name`, which stays `sqlite` / `postgresql` / `mysql`); what
changes is the driver and the connect-time probing. SQLAlchemy normally asks the server for its
version, isolation level, default schema, `sql_mode`, charset... on the first connection. Those
reads are not migration work and a grant-limited migration may not be allowed them, so each
answer is fixed here instead (the server version can be given by the host, see `engine()`).
"""
from __future__ import annotations

from sqlalchemy import create_engine
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


class SqliteDialect(_Sandboxed, SQLiteDialect):
    supports_statement_cache = True  # SQLAlchemy reads it from each final class
    _fixed_schema = "main"


class PostgresDialect(_Sandboxed, PGDialect):
    supports_statement_cache = True  # SQLAlchemy reads it from each final class
    _fixed_schema = "public"
    _fixed_isolation = "READ COMMITTED"
    default_paramstyle = "numeric_dollar"

    def _set_backslash_escapes(self, connection):
        # `standard_conforming_strings` is on in every supported PostgreSQL (default since 9.1).
        self._backslash_escapes = False


class MysqlDialect(_Sandboxed, MySQLDialect):
    supports_statement_cache = True  # SQLAlchemy reads it from each final class
    _fixed_schema = None
    _fixed_isolation = "REPEATABLE READ"

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
