#!/usr/bin/env python3
"""Fleet benchmark: one project's migrations over many tenants.

  1. 1,000 SQLite tenant files x 20 migrations: `fleet up` sequential (--parallel 1) against
     --parallel 4 (target: >= 1.8x on 2 cores), on fresh copies each round.
  2. The cost per already-up-to-date tenant: `fleet up --recheck` over the migrated 1,000 (every
     target's history read once, no lock), divided by 1,000 (target: <= 5 ms).
  3. 200 PostgreSQL schemas x 20 migrations, 4 worker processes sharing a claim table in a
     control database (each `--parallel 2`), against one worker alone.

Runs on tmpfs (/dev/shm) when it exists, where the runner's cost is not hidden by fsync.
PostgreSQL at 127.0.0.1:5432 (user postgres, trust) for part 3 (skipped with --no-postgres).

Usage: python3 bench/fleet.py [--binary target/release/db-migrate] [--tenants 1000] [--migrations 20]
                              [--schemas 200] [--repeat 1] [--no-postgres]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project(work, migrations, toml):
    (work / "migrations").mkdir(parents=True)
    (work / "migrations" / "1_log.sql").write_text(
        "-- migrate:up\nCREATE TABLE applied_log (v INTEGER NOT NULL);\nINSERT INTO applied_log (v) VALUES (1);\n"
        "-- migrate:down\nDROP TABLE applied_log;\n")
    for v in range(2, migrations + 1):
        (work / "migrations" / f"{v}_t{v}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t{v} (id INTEGER PRIMARY KEY, name TEXT);\n"
            f"CREATE INDEX t{v}_name ON t{v} (name);\nINSERT INTO applied_log (v) VALUES ({v});\n"
            f"-- migrate:down\nDROP TABLE t{v};\n")
    (work / "db-migrate.toml").write_text(toml)


def fleet(binary, work, *args):
    start = time.perf_counter()
    r = subprocess.run([str(binary), "--dir", str(work), "fleet", *args, "--json"], capture_output=True, text=True)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"fleet {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return took, json.loads(r.stdout)


def fresh_tenants(work, n):
    t = work / "tenants"
    shutil.rmtree(t, ignore_errors=True)
    shutil.rmtree(work / ".db-migrate" / "fleets", ignore_errors=True)
    t.mkdir()
    for i in range(n):
        (t / f"t{i:04d}.sqlite3").write_bytes(b"")


def psql(sql, db="postgres"):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qtAc", sql],
                   check=True, stdout=subprocess.DEVNULL, env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--migrations", type=int, default=20)
    ap.add_argument("--schemas", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best is reported")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    binary = Path(args.binary).resolve()
    if not binary.exists():
        sys.exit(f"{binary} does not exist: cargo build --release -p db-migrate-cli (or pass --binary)")
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else ROOT / "bench/out"
    work = base / f"dbm-fleet-{os.getpid()}"
    n, m = args.tenants, args.migrations
    print(f"binary: {binary}\nwork: {work}")
    try:
        project(work, m, '[fleets.t]\nsqlite_glob = "tenants/*.sqlite3"\n')
        seq, par = [], []
        for _ in range(args.repeat):
            fresh_tenants(work, n)
            took, v = fleet(binary, work, "up", "t", "--parallel", "1")
            assert v["counts"]["migrated"] == n, v["counts"]
            seq.append(took)
            fresh_tenants(work, n)
            took, v = fleet(binary, work, "up", "t", "--parallel", "4")
            assert v["counts"]["migrated"] == n, v["counts"]
            par.append(took)
        s, p = min(seq), min(par)
        print(f"\n1. {n} SQLite tenants x {m} migrations ({n * m} migrations)")
        print(f"   sequential (--parallel 1): {s:7.2f} s  ({s / n * 1e3:.2f} ms per tenant)")
        print(f"   --parallel 4:              {p:7.2f} s  ({p / n * 1e3:.2f} ms per tenant)")
        print(f"   speed-up: {s / p:.2f}x (target >= 1.8x on 2 cores)")

        checks = []
        for _ in range(max(args.repeat, 3)):
            took, v = fleet(binary, work, "up", "t", "--recheck", "--parallel", "4")
            assert v["counts"]["current"] == n, v["counts"]
            checks.append(took)
        seq_checks = []
        for _ in range(max(args.repeat, 3)):
            took, v = fleet(binary, work, "up", "t", "--recheck", "--parallel", "1")
            seq_checks.append(took)
        took, v = fleet(binary, work, "up", "t")
        assert v["counts"]["done_earlier"] == n, v["counts"]
        print(f"\n2. already up to date ({n} tenants, whole command incl. start-up)")
        print(f"   --recheck --parallel 4: {min(checks):.3f} s = {min(checks) / n * 1e3:.2f} ms per tenant (target <= 5 ms)")
        print(f"   --recheck --parallel 1: {min(seq_checks):.3f} s = {min(seq_checks) / n * 1e3:.2f} ms per tenant")
        print(f"   resumed from the state (no connection): {took:.3f} s = {took / n * 1e3:.3f} ms per tenant")

        if not args.no_postgres:
            s_n = args.schemas
            db = f"dbm_bench_fleet_{os.getpid()}"
            ctl = f"dbm_bench_fleet_ctl_{os.getpid()}"
            url = f"postgres://postgres@127.0.0.1:5432/{db}"
            ctl_url = f"postgres://postgres@127.0.0.1:5432/{ctl}"
            pg = work / "pg"
            project(pg, m, f'[fleets.s]\npostgres_schemas = "tenant\\\\_%"\ndatabase_url = "{url}"\n')

            def reset():
                psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                psql(f"DROP DATABASE IF EXISTS {ctl} WITH (FORCE)")
                psql(f"CREATE DATABASE {db}")
                psql(f"CREATE DATABASE {ctl}")
                psql("".join(f"CREATE SCHEMA tenant_{i:04d};" for i in range(s_n)), db)
                shutil.rmtree(pg / ".db-migrate" / "fleets", ignore_errors=True)

            try:
                one, four = [], []
                for _ in range(args.repeat):
                    reset()
                    took, v = fleet(binary, pg, "up", "s", "--parallel", "2", "--control-url", ctl_url)
                    assert v["counts"]["migrated"] == s_n, v["counts"]
                    one.append(took)
                    reset()
                    start = time.perf_counter()
                    procs = [subprocess.Popen([str(binary), "--dir", str(pg), "fleet", "up", "s", "--parallel", "2",
                                               "--control-url", ctl_url, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                             for _ in range(4)]
                    did = 0
                    for pr in procs:
                        out, err = pr.communicate()
                        if pr.returncode != 0:
                            sys.exit(f"a worker failed:\n{out[-2000:]}\n{err[-2000:]}")
                        did += json.loads(out)["counts"]["migrated"]
                    four.append(time.perf_counter() - start)
                    assert did == s_n, f"{did} targets migrated by the workers, expected {s_n}"
                print(f"\n3. {s_n} PostgreSQL schemas x {m} migrations, claim table in a control database")
                print(f"   1 worker  (--parallel 2): {min(one):7.2f} s")
                print(f"   4 workers (--parallel 2): {min(four):7.2f} s  ({min(one) / min(four):.2f}x)")
            finally:
                psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                psql(f"DROP DATABASE IF EXISTS {ctl} WITH (FORCE)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
