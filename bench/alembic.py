#!/usr/bin/env python3
"""Alembic benchmark: 100 Alembic revisions, db-migrate's Alembic runtime against the real alembic.

Each revision creates a table with `op.create_table` and inserts 3 rows with `op.bulk_insert`,
in one chain. On SQLite it times, best of N rounds, wall clock of the whole command:
  - `alembic upgrade head` (SQLAlchemy on pysqlite), the floor,
  - `db-migrate up` with a cold compiled cache (the Alembic runtime compiled first),
  - `db-migrate up` with a warm cache (the runtime deserialized),
and prints the ratios. No targets: the runtime is CPython in WebAssembly with SQLAlchemy loaded.

Needs the Alembic runtime (`DB_MIGRATE_ALEMBIC_RUNTIME`, or `--runtime`; `db-migrate build` in an
Alembic project makes one) and `alembic` on PATH (tests/run.sh installs both).

Usage: python3 bench/alembic.py [--binary target/release/db-migrate] [--runtime FILE] [--count 100] [--repeat 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ENV_PY = """import os
from alembic import context
from sqlalchemy import create_engine
with create_engine(os.environ["ALEMBIC_URL"]).connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""


def timed(cmd, cwd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def revision(i):
    parent = repr(f"r{i - 1:04d}") if i > 0 else "None"
    day = 1 + i // 24
    return (
        f'"""table {i}\n\nRevision ID: r{i:04d}\nRevises: {"" if i == 0 else f"r{i - 1:04d}"}\n'
        f'Create Date: 2024-{1 + (day - 1) // 28:02d}-{1 + (day - 1) % 28:02d} {i % 24:02d}:00:00\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        f"revision = 'r{i:04d}'\ndown_revision = {parent}\n\n\n"
        "def upgrade():\n"
        f"    t = op.create_table('t{i}', sa.Column('id', sa.Integer, primary_key=True), "
        "sa.Column('name', sa.String(50), nullable=False), sa.Column('n', sa.Integer))\n"
        "    op.bulk_insert(t, [{'id': 1, 'name': 'a', 'n': 1}, {'id': 2, 'name': 'b', 'n': 2}, {'id': 3, 'name': 'c', 'n': 3}])\n\n\n"
        f"def downgrade():\n    op.drop_table('t{i}')\n"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--runtime", default=os.environ.get("DB_MIGRATE_ALEMBIC_RUNTIME", str(ROOT / "target/test-alembic/alembic-runtime.wasm")))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    args.binary = str(Path(args.binary).resolve())
    alembic = shutil.which("alembic")
    if not alembic:
        sys.exit("alembic is not on PATH (tests/run.sh installs it into the guest-tools venv)")
    if not Path(args.runtime).is_file():
        sys.exit(f"no Alembic runtime at {args.runtime}: run `db-migrate build` in an Alembic project or pass --runtime")

    work = ROOT / "bench/out/alembic"
    shutil.rmtree(work, ignore_errors=True)
    (work / "alembic/versions").mkdir(parents=True)
    for i in range(args.count):
        (work / "alembic/versions" / f"r{i:04d}_table_{i}.py").write_text(revision(i))
    (work / "alembic/env.py").write_text(ENV_PY)
    (work / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")

    env = dict(os.environ, DB_MIGRATE_ALEMBIC_RUNTIME=str(Path(args.runtime).resolve()))
    floor, cold, warm = [], [], []
    for r in range(args.repeat):
        db = work / f"alembic{r}.sqlite3"
        floor.append(timed([alembic, "upgrade", "head"], work, dict(env, ALEMBIC_URL=f"sqlite:///{db}")))
        cache = work / f"cache{r}"
        env_c = dict(env, DB_MIGRATE_CACHE_DIR=str(cache))
        cold.append(timed([args.binary, "-q", "--database-url", f"sqlite:{work / f'cold{r}.sqlite3'}", "up"], work, env_c))
        warm.append(timed([args.binary, "-q", "--database-url", f"sqlite:{work / f'warm{r}.sqlite3'}", "up"], work, env_c))
    f, c, w = min(floor), min(cold), min(warm)
    print(f"Alembic benchmark: {args.count} revisions on SQLite, best of {args.repeat}")
    print(f"  alembic upgrade head       {f * 1e3:9.1f} ms")
    print(f"  db-migrate up, cold cache  {c * 1e3:9.1f} ms   {c / f:5.2f}x")
    print(f"  db-migrate up, warm cache  {w * 1e3:9.1f} ms   {w / f:5.2f}x   ({(w / args.count) * 1e3:.1f} ms per revision)")


if __name__ == "__main__":
    main()
