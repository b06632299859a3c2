#!/usr/bin/env python3
"""Seed benchmark: the faker pack writing 1,000,000 rows (3 columns) against native floors.

In one run, on SQLite (a file database in WAL mode, one transaction) and on PostgreSQL, it times
`db-migrate seed` running the first-party faker pack (users with id, name, email; 5,000 rows per
`write` of one bulk insert, which the host runs as one prepared INSERT stepped per row on SQLite
and as one streaming COPY on PostgreSQL, the server taking a batch while the guest makes the
next), and the native floors of `runner/examples/seed_floor.rs`: the same kind of rows written
from plain Rust, on SQLite through sqlx (500-row INSERTs) and on SQLite's C API (one prepared
INSERT stepped per row: what the host itself does, so the seed's distance to it is the sandbox's
cost), on PostgreSQL with one COPY for all rows (the target's floor) and with one COPY per
5,000-row batch, each waited for before the next batch is made (what synchronous
`execute-batch` calls amount to, without the sandbox: the shape seeds had before bulk inserts).
On SQLite it also times SQLite alone (the library the host links) making the rows inside one
`INSERT … SELECT` (no client, no binding, no statement per row): a program handing SQLite its
rows does all of that work and more, so this is the ceiling on this machine and storage.
Each round starts from an empty table. It prints rows/s
of the seed's own work (generation in the sandbox included, component loading excluded), of the
whole `db-migrate seed` process, and of the floors, next to the targets: SQLite >= 2.0 M rows/s,
PostgreSQL >= 0.9x the native COPY floor.

Usage: python3 bench/seeds.py [--binary target/release/db-migrate] [--rows 1000000] [--repeat 3]
                              [--floor PATH] [--pg postgres://postgres@127.0.0.1:5432]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT  # noqa: E402

SCHEMA = "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--floor", help="a prebuilt seed_floor binary (default: cargo builds it)")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = ap.parse_args()
    binary = Path(args.binary)
    profile = "release" if "release" in binary.parts else "debug"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)
    if args.floor:
        floor = Path(args.floor)
    else:
        # `--workspace`: the features a `cargo test --workspace` build resolved (see bench/mongo.py).
        cargo = ["cargo", "build", "-q", "--workspace", "--example", "seed_floor"] + (["--release"] if profile == "release" else [])
        subprocess.run(cargo, cwd=ROOT, check=True)
        floor = ROOT / "target" / profile / "examples" / "seed_floor"

    work = ROOT / "bench/out/seeds"
    shutil.rmtree(work, ignore_errors=True)
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    (proj / "migrations" / "1_users.sql").write_text(f"-- migrate:up\n{SCHEMA}\n")
    subprocess.run([str(binary), "--dir", str(ROOT), "-q", "build", str(ROOT / "plugins/faker"), "--out", str(proj / "plugins")], check=True)
    (proj / "db-migrate.toml").write_text(
        '[[seeds.pack]]\nname = "faker"\ncomponent = "plugins/faker.wasm"\ntables = ["users"]\n'
        f'args = {{ users = {args.rows}, user_columns = "id,name,email", batch = 5000 }}\n')

    def seed(url):
        base = [str(binary), "--dir", str(proj), "--database-url", url]
        sh(base + ["-q", "up"])
        start = time.perf_counter()
        out = sh(base + ["--json", "seed"]).stdout
        wall = time.perf_counter() - start
        report = json.loads(out)["seeds"][0]
        assert report["total_rows"] == args.rows, report
        return report["duration_ms"] / 1e3, wall

    db = work / "bench.sqlite3"

    def fresh_sqlite(schema):
        for f in work.glob("bench.sqlite3*"):
            f.unlink()
        sh(["sqlite3", str(db), "PRAGMA journal_mode=WAL;" + (SCHEMA if schema else "")])

    pg_db = "db_migrate_bench_seeds"

    def fresh_pg(schema):
        admin = ["psql", "-q", "-v", "ON_ERROR_STOP=1", f"{args.pg}/postgres", "-c"]
        sh(admin + [f"DROP DATABASE IF EXISTS {pg_db}"])
        sh(admin + [f"CREATE DATABASE {pg_db}"])
        if schema:
            sh(["psql", "-q", "-v", "ON_ERROR_STOP=1", f"{args.pg}/{pg_db}", "-c", SCHEMA])

    # Warm the compiled cache.
    fresh_sqlite(False)
    sh([str(binary), "--dir", str(proj), "--database-url", f"sqlite:{db}", "-q", "up"])
    sh([str(binary), "--dir", str(proj), "--database-url", f"sqlite:{db}", "-q", "seed", "--arg", "users=10"])

    results = {}
    for name, fresh, url, floor_target in [
        ("SQLite", fresh_sqlite, f"sqlite:{db}", str(db)),
        ("PostgreSQL", fresh_pg, f"{args.pg}/{pg_db}", f"{args.pg}/{pg_db}"),
    ]:
        own, walls, floors, c_floors, ceilings = [], [], [], [], []
        for i in range(args.repeat):
            # "c": SQLite's C API; on PostgreSQL, COPY in synchronous 5,000-row batches.
            order = ["seed", "floor", "c"] if i % 2 == 0 else ["c", "floor", "seed"]
            if name == "SQLite":
                order.insert(i % 4, "ceiling")
            for what in order:
                if what == "seed":
                    fresh(False)
                    o, w = seed(url)
                    own.append(o)
                    walls.append(w)
                elif what == "ceiling":
                    # SQLite alone: the rows made by SQL inside the one INSERT (see the
                    # `sqlite-sql` floor): nothing that hands SQLite rows from outside can go
                    # faster on this machine and storage.
                    fresh(True)
                    ceilings.append(float(sh([str(floor), "sqlite-sql", floor_target, str(args.rows)]).stdout.strip()))
                else:
                    fresh(True)
                    kind = {"c": "sqlite-c" if name == "SQLite" else "postgres-batches",
                            "floor": "sqlite" if name == "SQLite" else "postgres"}[what]
                    secs = float(sh([str(floor), kind, floor_target, str(args.rows)]).stdout.strip())
                    (c_floors if what == "c" else floors).append(secs)
        results[name] = (statistics.median(own), statistics.median(walls), statistics.median(floors), statistics.median(c_floors),
                         statistics.median(ceilings) if ceilings else None)
    fresh_pg(False)

    print(f"seed benchmark: faker pack, {args.rows:,} rows x 3 columns, median of {args.repeat} interleaved rounds")
    for name, (own, wall, fl, c_fl, ceiling) in results.items():
        r, floor_r = args.rows / own, args.rows / fl
        if name == "SQLite":
            ok, target = r >= 2.0e6, "target >= 2.0 M rows/s"
        else:
            ok, target = r >= 0.9 * floor_r, f"{r / floor_r:.2f}x the floor, target >= 0.90x"
        print(f"  {name:<10} seed {r / 1e6:5.2f} M rows/s ({own:6.2f} s; whole process {args.rows / wall / 1e6:5.2f} M rows/s)"
              f"  native floor {floor_r / 1e6:5.2f} M rows/s  ({target}) {'ok' if ok else 'MISSED'}")
        c_r = args.rows / c_fl
        what = "C-API floor (prepared INSERT per row, as the host)" if name == "SQLite" else "COPY per 5,000-row batch, each awaited"
        print(f"  {'':<10} {what} {c_r / 1e6:5.2f} M rows/s: the seed at {r / c_r:.2f}x it")
        if ceiling:
            ceil_r = args.rows / ceiling
            print(f"  {'':<10} SQLite alone (INSERT ... SELECT, rows made in SQL) {ceil_r / 1e6:5.2f} M rows/s: this machine's ceiling"
                  f" (the seed at {r / ceil_r:.2f}x it){'; the 2.0 M rows/s target is above it' if ceil_r < 2.0e6 else ''}")

if __name__ == "__main__":
    main()
