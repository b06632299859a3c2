#!/usr/bin/env python3
"""Knex benchmark: 100 knex migrations, db-migrate's knex runtime against the real knex CLI.

Each migration creates a table with knex's schema builder and inserts 3 rows. On SQLite it times,
best of N rounds, wall clock of the whole command:
  - `knex migrate:latest` (better-sqlite3), the floor,
  - `db-migrate up` with a cold compiled cache (the knex runtime compiled first),
  - `db-migrate up` with a warm cache (the runtime deserialized),
and prints the ratios. No targets: the knex runtime is a JavaScript engine in WebAssembly.

Needs the knex runtime (`DB_MIGRATE_KNEX_RUNTIME`, or `--runtime`; `db-migrate build` in a knex
project makes one) and `knex` with better-sqlite3 on PATH (tests/run.sh installs both).

Usage: python3 bench/knex.py [--binary target/release/db-migrate] [--runtime FILE] [--count 100] [--repeat 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd, cwd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--runtime", default=os.environ.get("DB_MIGRATE_KNEX_RUNTIME", str(ROOT / "target/test-knex/knex-runtime.wasm")))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    args.binary = str(Path(args.binary).resolve())
    knex = shutil.which("knex")
    if not knex:
        sys.exit("knex is not on PATH (tests/run.sh installs it with better-sqlite3)")
    if not Path(args.runtime).is_file():
        sys.exit(f"no knex runtime at {args.runtime}: run `db-migrate build` in a knex project or pass --runtime")

    work = ROOT / "bench/out/knex"
    shutil.rmtree(work, ignore_errors=True)
    (work / "migrations").mkdir(parents=True)
    for i in range(args.count):
        (work / "migrations" / f"{20240101000000 + i}_table_{i}.js").write_text(
            f"exports.up = async function (knex) {{\n"
            f"  await knex.schema.createTable('t{i}', (t) => {{ t.increments('id'); t.string('name').notNullable(); t.integer('n'); }});\n"
            f"  await knex('t{i}').insert([{{ name: 'a', n: 1 }}, {{ name: 'b', n: 2 }}, {{ name: 'c', n: 3 }}]);\n"
            f"}};\n"
            f"exports.down = (knex) => knex.schema.dropTable('t{i}');\n"
        )
    (work / "knexfile.js").write_text(
        "module.exports = { client: 'better-sqlite3', connection: { filename: process.env.KNEX_DB },"
        " useNullAsDefault: true, migrations: { directory: './migrations' } };\n"
    )
    (work / "db-migrate.toml").write_text('[migrations]\nformat = "knex"\n')
    os.symlink(Path(knex).resolve().parent.parent.parent, work / "node_modules")

    env = dict(os.environ, DB_MIGRATE_KNEX_RUNTIME=str(Path(args.runtime).resolve()))
    floor, cold, warm = [], [], []
    for r in range(args.repeat):
        db = work / f"knex{r}.sqlite3"
        floor.append(timed([knex, "migrate:latest", "--knexfile", "knexfile.js"], work, dict(env, KNEX_DB=str(db))))
        cache = work / f"cache{r}"
        env_c = dict(env, DB_MIGRATE_CACHE_DIR=str(cache))
        cold.append(timed([args.binary, "-q", "--database-url", f"sqlite:{work / f'cold{r}.sqlite3'}", "up"], work, env_c))
        warm.append(timed([args.binary, "-q", "--database-url", f"sqlite:{work / f'warm{r}.sqlite3'}", "up"], work, env_c))
    f, c, w = min(floor), min(cold), min(warm)
    print(f"Knex benchmark: {args.count} migrations on SQLite, best of {args.repeat}")
    print(f"  knex migrate:latest        {f * 1e3:9.1f} ms")
    print(f"  db-migrate up, cold cache  {c * 1e3:9.1f} ms   {c / f:5.2f}x")
    print(f"  db-migrate up, warm cache  {w * 1e3:9.1f} ms   {w / f:5.2f}x   ({(w / args.count) * 1e3:.1f} ms per migration)")


if __name__ == "__main__":
    main()
