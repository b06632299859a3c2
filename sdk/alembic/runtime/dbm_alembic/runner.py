"""Loading an Alembic revision file and running it under Alembic's real `op`.

The file is data the host hands over (its name and text). Its `upgrade()` / `downgrade()` run
with `alembic.op` and `alembic.context` bound as `alembic upgrade` binds them, but from an
environment built here instead of the project's `env.py` (which usually imports the whole app,
its models and settings): a `Config` with no file, no script directory, and a connection over
the backend. The revision graph (which file runs when) is the host's business, not this one's.
"""
from __future__ import annotations

import ast
import types

from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext

from . import dialects


class RevisionError(Exception):
    """The file cannot be run: it does not parse, or has no upgrade()/downgrade()."""


def _trivial(fn: ast.FunctionDef) -> bool:
    """A body of only `pass`, `...` and a docstring: what autogenerate leaves for no-op steps."""
    for st in fn.body:
        if isinstance(st, ast.Pass):
            continue
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            continue
        return False
    return True


def facts(name: str, source: str):
    """(description, reversible, transactional), read from the source without running it."""
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as e:
        raise RevisionError(f"{name} does not parse: {e}") from None
    doc = ast.get_docstring(tree) or ""
    # `alembic revision -m "add users"` writes the message as the docstring's first line.
    description = doc.strip().splitlines()[0].strip() if doc.strip() else name
    fns = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    down = fns.get("downgrade")
    reversible = down is not None and not _trivial(down)
    # `op.get_context().autocommit_block()` means the file needs statements outside a
    # transaction (e.g. CREATE INDEX CONCURRENTLY): let the host run it non-transactionally.
    transactional = not any(isinstance(n, ast.Attribute) and n.attr == "autocommit_block" for n in ast.walk(tree))
    return description, reversible, transactional


def load(name: str, source: str) -> types.ModuleType:
    """Executes the revision file as a module named after it (not left in sys.modules)."""
    modname = "dbm_revision_" + "".join(c if c.isalnum() else "_" for c in name.rsplit(".", 1)[0])
    module = types.ModuleType(modname)
    module.__file__ = name
    try:
        code = compile(source, name, "exec")
    except SyntaxError as e:
        raise RevisionError(f"{name} does not parse: {e}") from None
    exec(code, module.__dict__)
    return module


def run(backend, name: str, source: str, direction: str, server_version=None) -> None:
    """Runs `upgrade()` (direction "up") or `downgrade()` ("down") of the file over the backend."""
    module = load(name, source)
    fn_name = "upgrade" if direction == "up" else "downgrade"
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise RevisionError(f"{name} has no {fn_name}()")
    eng = dialects.engine(backend, server_version)
    # A Config without a file: nothing is read from disk; `context.config`,
    # `context.get_x_argument()` and `context.is_offline_mode()` still answer.
    env = EnvironmentContext(Config(), None)
    with eng.connect() as conn:
        env.configure(connection=conn, target_metadata=None)
        ctx = env.get_context()
        # `alembic.context` (env proxy) and `alembic.op` (Operations proxy) point at this run
        # while the file's function runs, as `alembic upgrade` arranges through env.py.
        # Inside Alembic's own notion of the migration's transaction, as env.py's
        # `context.begin_transaction()` sets it up: `autocommit_block()` commits that one first
        # (the driver's commit does nothing; the host owns the transaction) and would otherwise
        # find statements run before it in a transaction it does not know and stop.
        per_migration = not ctx.impl.transactional_ddl
        with env, Operations.context(ctx), ctx.begin_transaction(_per_migration=per_migration):
            fn()
        # No commit: the host commits the migration with its history row.
    eng.dispose()
