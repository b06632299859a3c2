#!/usr/bin/env python3
"""Server benchmark: 1,000 migrations on PostgreSQL and on MariaDB against their CLI floors.

The same 1,000 migrations as bench/core.py (CREATE TABLE t_N + an INSERT of 3 rows; down drops
it). In one run, on each server, it times `up` and `down --all` against the floor: the server's
own CLI (psql / mariadb) running the same SQL in one process, one transaction per migration with
its history insert/delete. Each run gets a fresh database. It prints wall-clock ratios and
db-migrate's client CPU (user + system) next to the targets: wall <= 1.0x psql on PostgreSQL and
<= 1.1x the mariadb CLI on MariaDB (the performance issue's), CPU <= 0.3 s; and, for each side, the
server's own counters over its run (PostgreSQL's WAL syncs and records, MariaDB's InnoDB fsyncs
and log writes): the work the server was given, which the disk's timing does not blur.

Usage: python3 bench/servers.py [--binary target/release/db-migrate] [--count 1000] [--repeat 4]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT  # noqa: E402

SERVERS = {
    "PostgreSQL": {
        "url": "postgres://postgres@127.0.0.1:5432/{db}",
        "admin": lambda sql: ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
        "floor": lambda db, f: ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", str(f)],
        "history": "CREATE TABLE IF NOT EXISTS db_migrate_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, "
                   "checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), execution_ms BIGINT NOT NULL DEFAULT 0);",
        "begin": "BEGIN;",
        "drop": "DROP DATABASE IF EXISTS {db} WITH (FORCE)",
        # Server-wide counters read around each run: the same work shows as the same numbers
        # whatever the disk's timing does (other sessions add a little).
        "counters": (["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtF", "\t", "-d", "postgres", "-c",
                      "SELECT 'WAL syncs', wal_sync FROM pg_stat_wal UNION ALL SELECT 'WAL records', wal_records FROM pg_stat_wal"]),
    },
    "MariaDB": {
        "url": "mariadb://root@127.0.0.1:3306/{db}",
        "admin": lambda sql: ["mariadb", "-h", "127.0.0.1", "-u", "root", "-e", sql],
        "floor": lambda db, f: ["sh", "-c", f"mariadb -h 127.0.0.1 -u root {db} < {f}"],
        "history": "CREATE TABLE IF NOT EXISTS db_migrate_history (version BIGINT PRIMARY KEY, name VARCHAR(255) NOT NULL, kind VARCHAR(32) NOT NULL, "
                   "checksum CHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
                   "execution_ms BIGINT NOT NULL DEFAULT 0);",
        "begin": "START TRANSACTION;",
        "drop": "DROP DATABASE IF EXISTS {db}",
        "counters": ["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-e",
                     "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_data_fsyncs', 'Innodb_log_writes')"],
    },
}


def migration_sql(n):
    """The core benchmark's migration, with explicit ids so it is the same SQL on every server."""
    up = (f"CREATE TABLE t_{n} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMP);\n"
          f"INSERT INTO t_{n} (id, name, created_at) VALUES (1, 'a', CURRENT_TIMESTAMP), (2, 'b', CURRENT_TIMESTAMP), (3, 'c', CURRENT_TIMESTAMP);\n")
    return up, f"DROP TABLE t_{n};\n"


def timed(cmd):
    """Wall seconds and the child's CPU seconds (user + system)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    err = p.stderr.read().decode()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(map(str, cmd))}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def counters(cmd):
    """The server's counters as {name: int}; none when the server does not have them (pg_stat_wal
    is PostgreSQL 14 to 17): the timings do not depend on them."""
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return {k: int(v) for k, v in (line.split("\t") for line in out.strip().splitlines())}
    except (subprocess.CalledProcessError, ValueError):
        return {}


def delta(before, after):
    return {k: after[k] - before[k] for k in before if k in after}


def settle(name, db):
    """Waits (up to 5 s) until no session of the run is left on PostgreSQL: a backend reports its
    last WAL statistics as it exits, which can be just after its client did."""
    if name != "PostgreSQL":
        return
    for _ in range(100):
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAt", "-d", "postgres", "-c",
                              f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"], capture_output=True, text=True).stdout
        if out.strip() == "0":
            return
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)

    work = ROOT / "bench/out/servers"
    shutil.rmtree(work, ignore_errors=True)
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    ups, downs = [], []
    for i in range(1, args.count + 1):
        v = 20240000000000 + i
        up, down = migration_sql(i)
        (proj / "migrations" / f"{v}_create_t_{i}.sql").write_text(f"-- migrate:up\n{up}\n-- migrate:down\n{down}")
        ups.append((v, i, up))
        downs.append((v, down))

    print(f"server benchmark: {args.count} migrations, best of {args.repeat} rounds with alternating order (wall), CPU of that round")
    for name, s in SERVERS.items():
        floor_up = [s["history"]]
        for v, i, up in ups:
            floor_up.append(f"{s['begin']}\n{up}INSERT INTO db_migrate_history (version, name, kind, checksum, status) "
                            f"VALUES ({v}, 'create_t_{i}', 'sql', '{'0' * 64}', 'applied');\nCOMMIT;")
        floor_down = [f"{s['begin']}\nDELETE FROM db_migrate_history WHERE version = {v};\n{down}COMMIT;" for v, down in reversed(downs)]
        fu, fd = work / f"{name}_up.sql", work / f"{name}_down.sql"
        fu.write_text("\n".join(floor_up) + "\n")
        fd.write_text("\n".join(floor_down) + "\n")

        best = {}
        for round_ in range(args.repeat):
            # Alternate who goes first: the server's state (catalog churn, checkpoints) after
            # thousands of DDL statements must not always penalise the same side.
            order = ("floor", "db-migrate") if round_ % 2 == 0 else ("db-migrate", "floor")
            for which in order:
                db = f"dbm_bench_{os.getpid()}"
                subprocess.run(s["admin"](s["drop"].format(db=db)), check=True, capture_output=True)
                subprocess.run(s["admin"](f"CREATE DATABASE {db}"), check=True, capture_output=True)
                dm = [str(binary), "--dir", str(proj), "--database-url", s["url"].format(db=db), "-q"]
                cmds = {"up": s["floor"](db, fu), "down": s["floor"](db, fd)} if which == "floor" else {"up": dm + ["up"], "down": dm + ["down", "--all"]}
                for op in ("up", "down"):
                    c0 = counters(s["counters"])
                    r = timed(cmds[op])
                    settle(name, db)
                    r = (*r, delta(c0, counters(s["counters"])))
                    key = (which, op)
                    if key not in best or r[0] < best[key][0]:
                        best[key] = r
                subprocess.run(s["admin"](s["drop"].format(db=db)), check=True, capture_output=True)

        def verdict(ok):
            return "ok" if ok else "MISSED"

        print(f"  {name}")
        for op in ("up", "down"):
            fw, _, fc = best[("floor", op)]
            w, cpu, c = best[("db-migrate", op)]
            ratio = w / fw
            target = 1.0 if name == "PostgreSQL" else 1.1
            label = "up" if op == "up" else "down --all"
            print(f"    {label:<10} floor {fw * 1e3:8.1f} ms  db-migrate {w * 1e3:8.1f} ms  ratio {ratio:5.2f}x (target <= {target:.2f}x) {verdict(ratio <= target)}"
                  f"  client CPU {cpu:5.2f} s (target <= 0.30 s) {verdict(cpu <= 0.3)}")
            if fc and c:
                print(f"    {'':<10} server work, floor / db-migrate: " + ", ".join(f"{k} {fc[k]:,} / {c.get(k, 0):,}" for k in fc))


if __name__ == "__main__":
    main()
