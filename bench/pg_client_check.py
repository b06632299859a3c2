#!/usr/bin/env python3
"""The cost of PostgreSQL's dead-client check.

db-migrate sets `client_connection_check_interval = 5000` (PostgreSQL >= 14) on its sessions, so
that a runner killed with SIGKILL mid-statement has its backend ended within a second or so
(freeing its advisory lock) within about five seconds instead of running on for minutes. The setting only makes the
server poll the client's socket while a statement runs, so its whole cost is on the server:
this script measures it with the server's own client, psql, running bench/servers.py's 1,000
migrations (CREATE TABLE + INSERT + history row, one transaction each) with and without the
setting, and a long statement (`pg_sleep`-free: a 3 s CPU-bound query) with and without it.
Interleaved rounds, medians. Target: overhead within noise (<= 2%).

Usage: [INTERVAL_MS=5000] python3 bench/pg_client_check.py [--count 1000] [--repeat 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT  # noqa: E402
from servers import SERVERS, migration_sql  # noqa: E402

PG = SERVERS["PostgreSQL"]
import os as _os
CHECK = f"SET client_connection_check_interval = {_os.environ.get('INTERVAL_MS', '5000')};\n"
LONG = "SELECT count(*) FROM generate_series(1, 20000000) g WHERE g % 7 = 3;\n"


def run(db, path):
    start = time.perf_counter()
    subprocess.run(PG["floor"](db, path), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = ROOT / "bench/out/pg_client_check"
    work.mkdir(parents=True, exist_ok=True)
    body = [PG["history"]]
    for i in range(1, args.count + 1):
        up, _ = migration_sql(i)
        body.append(f"BEGIN;\n{up}INSERT INTO db_migrate_history (version, name, kind, checksum, status) "
                    f"VALUES ({i}, 't_{i}', 'sql', '{'0' * 64}', 'applied');\nCOMMIT;")
    files = {}
    for name, text in (("ddl", "\n".join(body) + "\n"), ("long", LONG)):
        for checked in (False, True):
            f = work / f"{name}_{'check' if checked else 'plain'}.sql"
            f.write_text((CHECK if checked else "") + text)
            files[(name, checked)] = f
    times = {k: [] for k in files}
    db = f"dbm_check_{os.getpid()}"
    for r in range(args.repeat):
        for checked in ((False, True) if r % 2 == 0 else (True, False)):
            for name in ("ddl", "long"):
                subprocess.run(PG["admin"](PG["drop"].format(db=db)), check=True, capture_output=True)
                subprocess.run(PG["admin"](f"CREATE DATABASE {db}"), check=True, capture_output=True)
                times[(name, checked)].append(run(db, files[(name, checked)]))
    subprocess.run(PG["admin"](PG["drop"].format(db=db)), check=True, capture_output=True)
    print(f"PostgreSQL dead-client check (client_connection_check_interval = {CHECK.split()[-1].rstrip(';')} ms), medians of {args.repeat} interleaved rounds")
    for name, label in (("ddl", f"{args.count} migrations"), ("long", "one 20M-row scan")):
        plain, checked = statistics.median(times[(name, False)]), statistics.median(times[(name, True)])
        over = (checked / plain - 1) * 100
        print(f"  {label:18} without {plain * 1000:8.1f} ms   with {checked * 1000:8.1f} ms   overhead {over:+.1f}%   "
              f"(target <= 2%: {'ok' if over <= 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
