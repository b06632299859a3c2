#!/usr/bin/env python3
"""Big data migrations: one SQL file of 10, 20 and 200 MB of INSERTs on SQLite.

The runner must be linear in the size of a file (reading, checksum, splitting, executing), so a
data migration runs at the database's speed. For each size, times `db-migrate up` against the
floor: the sqlite3 CLI running the same file in one transaction with a history row. Prints MB/s
and the ratio to the floor; with linear cost the ratio stays flat as the file grows.

Runs on tmpfs (/dev/shm) when it exists, where the runner's own cost is not hidden by fsync.

Usage: python3 bench/bigfile.py [--binary target/release/db-migrate] [--sizes 10,20,200] [--repeat 1]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_sql(path, mb):
    """INSERTs of ~100 bytes each, plus a CREATE TABLE, until the file holds `mb` MiB."""
    target = mb << 20
    with open(path, "w") as f:
        f.write("-- migrate:up\nCREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);\n")
        i, size = 0, 0
        while size < target:
            line = f"INSERT INTO big (id, name, note) VALUES ({i}, 'name {i}', 'a note; with -- no comment in it {i:08d}');\n"
            f.write(line)
            size += len(line)
            i += 1
        f.write("-- migrate:down\nDROP TABLE big;\n")
    return i


def timed(cmd, stdin=None):
    start = time.perf_counter()
    r = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"command failed: {' '.join(map(str, cmd))}\n{r.stderr.decode()}")
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--sizes", default="10,20,200", help="file sizes in MiB, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best is reported")
    args = ap.parse_args()
    binary = Path(args.binary).resolve()
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)
    if not shutil.which("sqlite3"):
        sys.exit("the sqlite3 CLI is needed for the floor: apt-get install sqlite3")
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else ROOT / "bench/out"
    work = base / f"dbm-bigfile-{os.getpid()}"
    print(f"binary {binary}; storage {base}")
    print(f"{'size':>8} {'statements':>11} {'db-migrate':>11} {'floor':>8} {'ratio':>6} {'MB/s':>7}")
    try:
        for mb in [int(s) for s in args.sizes.split(",")]:
            shutil.rmtree(work, ignore_errors=True)
            (work / "migrations").mkdir(parents=True)
            sql = work / "migrations/1_big.sql"
            n = write_sql(sql, mb)
            # The floor: the same statements in one transaction with a history row.
            floor_sql = work / "floor.sql"
            with open(floor_sql, "w") as f:
                f.write("CREATE TABLE h (version INTEGER PRIMARY KEY, status TEXT);\nBEGIN;\nINSERT INTO h VALUES (1, 'applied');\n")
                with open(sql) as src:
                    for line in src:
                        if line.startswith("-- migrate:down"):
                            break
                        if not line.startswith("-- migrate:"):
                            f.write(line)
                f.write("COMMIT;\n")
            best_dbm, best_floor = float("inf"), float("inf")
            for _ in range(args.repeat):
                for p in work.glob("*.sqlite3*"):
                    p.unlink()
                best_dbm = min(best_dbm, timed([binary, "--dir", work, "--database-url", f"sqlite:{work}/dbm.sqlite3", "up", "-q"]))
                with open(floor_sql) as stdin:
                    best_floor = min(best_floor, timed(["sqlite3", work / "floor.sqlite3"], stdin=stdin))
            print(f"{mb:>6}MB {n:>11,} {best_dbm:>10.2f}s {best_floor:>7.2f}s {best_dbm / best_floor:>5.2f}x {mb / best_dbm:>7.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
