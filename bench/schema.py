#!/usr/bin/env python3
"""Schema intelligence benchmark.

1. Introspection of a 500-table schema on PostgreSQL (each table: 6 columns with defaults, a
   primary key, a unique constraint, a check, a foreign key and an index): `schema dump --timing`
   reports the time from connecting to the finished model, and the part spent reading the catalog
   once connected. Target: <= 150 ms.
2. `db-migrate test` of 200 migrations on SQLite (up, down, up again with four introspections
   each, on a shadow database) against applying them once with `up`. Target: <= 3x.

Prints the figures next to the targets. Needs the PostgreSQL server of tests/run.sh
(127.0.0.1:5432, user postgres) and psql.

Usage: python3 bench/schema.py [--binary target/release/db-migrate] [--tables 500] [--migrations 200] [--repeat 5]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def psql(db, sql=None, file=None):
    cmd = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-d", db]
    cmd += ["-f", str(file)] if file else ["-c", sql]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def timed(cmd, cwd):
    start = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if p.returncode not in (0,):
        sys.exit(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stdout}\n{p.stderr}")
    return took, p


def introspection(binary, tables, repeat, work):
    name = f"dbm_bench_schema_{os.getpid()}"
    ddl = ["CREATE TABLE t0 (id serial PRIMARY KEY);"]
    for i in range(1, tables):
        ddl.append(f"CREATE TABLE t{i} (id serial PRIMARY KEY, name text NOT NULL DEFAULT '', email varchar(100) UNIQUE, "
                   f"n int CHECK (n > 0), created timestamptz DEFAULT now(), parent int REFERENCES t{i - 1} (id) ON DELETE CASCADE);")
        ddl.append(f"CREATE INDEX t{i}_name ON t{i} (name, created DESC);")
    (work / "schema.sql").write_text("\n".join(ddl) + "\n")
    psql("postgres", f"DROP DATABASE IF EXISTS {name}")
    psql("postgres", f"CREATE DATABASE {name}")
    try:
        psql(name, file=work / "schema.sql")
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
        ms = []
        for _ in range(repeat):
            _, p = timed([binary, "--database-url", url, "schema", "dump", "--timing"], work)
            m = re.search(r"introspected (\d+) table\(s\) in ([\d.]+) ms \(([\d.]+) ms reading", p.stderr)
            if not m or int(m.group(1)) != tables:
                sys.exit(f"unexpected output: {p.stderr}")
            ms.append((float(m.group(2)), float(m.group(3))))
        total = [t for t, _ in ms]
        read = [r for _, r in ms]
        return min(total), statistics.median(total), min(read), statistics.median(read)
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def replay(binary, count, repeat, work):
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    for i in range(1, count + 1):
        v = 20240000000000 + i
        up = (f"CREATE TABLE t_{i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', n INTEGER CHECK (n > 0));\n"
              f"CREATE INDEX t_{i}_name ON t_{i} (name);\nINSERT INTO t_{i} (name, n) VALUES ('a', 1), ('b', 2);\n")
        (proj / "migrations" / f"{v}_t_{i}.sql").write_text(f"-- migrate:up\n{up}\n-- migrate:down\nDROP TABLE t_{i};\n")
    ups, tests = [], []
    for _ in range(repeat):
        shutil.rmtree(proj / "db", ignore_errors=True)
        took, _ = timed([binary, "-q", "up"], proj)
        ups.append(took)
        took, p = timed([binary, "test", "--json"], proj)
        if '"findings": []' not in p.stdout:
            sys.exit(f"test found problems:\n{p.stdout}")
        tests.append(took)
    return min(ups), min(tests)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--tables", type=int, default=500)
    ap.add_argument("--migrations", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the best (and median) are reported")
    args = ap.parse_args()
    binary = Path(args.binary).resolve()
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate"], cwd=ROOT, check=True)
    work = ROOT / "bench/out/schema"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"binary: {binary}")

    best, median, read_best, read_median = introspection(binary, args.tables, args.repeat, work)
    ok = "ok" if best <= 150 else "MISSED"
    print(f"introspect {args.tables} tables (PostgreSQL): best {best:.1f} ms, median {median:.1f} ms   target <= 150 ms  [{ok}]")
    print(f"  of which reading the catalog once connected: best {read_best:.1f} ms, median {read_median:.1f} ms")

    up, test = replay(binary, args.migrations, min(args.repeat, 3), work)
    ratio = test / up
    ok = "ok" if ratio <= 3 else "MISSED"
    print(f"test {args.migrations} migrations (SQLite): {test * 1e3:.0f} ms vs up once {up * 1e3:.0f} ms = {ratio:.2f}x   target <= 3x  [{ok}]")


if __name__ == "__main__":
    main()
