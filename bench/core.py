#!/usr/bin/env python3
"""Core-runner benchmark: 1,000 SQL migrations on SQLite against the sqlite3 CLI floor.

Generates 1,000 migrations (CREATE TABLE t_N + an INSERT of 3 rows; down drops the table) and, in
one run on the same storage, times `db-migrate up`, `status` (1,000 applied) and `down --all`
against the floor: the sqlite3 CLI running the same SQL, one transaction per migration including
a history insert/delete. Prints ratios and peak RSS next to the targets.

The storage is tmpfs (/dev/shm) by default: on disk, fsync dominates both sides and hides the
runner's own cost; `--disk` runs under bench/out/ instead (the targets differ: 1.3x on tmpfs,
1.1x on disk).

Usage: python3 bench/core.py [--binary target/release/db-migrate] [--count 1000] [--repeat 3]
                             [--tmpfs | --disk]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def migration_sql(n):
    up = (f"CREATE TABLE t_{n} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMP);\n"
          f"INSERT INTO t_{n} (name, created_at) VALUES ('a', CURRENT_TIMESTAMP), ('b', CURRENT_TIMESTAMP), ('c', CURRENT_TIMESTAMP);\n")
    down = f"DROP TABLE t_{n};\n"
    return up, down


def scratch(name, tmpfs):
    """An empty work folder: on tmpfs (/dev/shm) or under bench/out/ on disk."""
    if tmpfs:
        if not Path("/dev/shm").is_dir():
            sys.exit("/dev/shm is not there: run with --disk")
        work = Path("/dev/shm") / f"db-migrate-bench-{name}"
    else:
        work = ROOT / "bench/out" / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def run(cmd, stdin_path=None):
    """Runs cmd, returns (seconds, ru_maxrss in KiB). posix_spawn keeps the harness's own cost
    (a few hundred µs) out of short measurements such as `status` — but it starts the child
    as a vfork of this Python process, whose own resident size (~15 MB) the kernel then counts
    as the child's peak: use `peak_rss` for memory."""
    fa = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    err_path = ROOT / "bench/out/stderr.txt"
    err_path.parent.mkdir(parents=True, exist_ok=True)
    fa.append((os.POSIX_SPAWN_OPEN, 2, str(err_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    if stdin_path:
        fa.append((os.POSIX_SPAWN_OPEN, 0, str(stdin_path), os.O_RDONLY, 0))
    exe = shutil.which(cmd[0]) or cmd[0]
    start = time.perf_counter()
    pid = os.posix_spawn(exe, [str(c) for c in cmd], os.environ, file_actions=fa)
    _, status, usage = os.wait4(pid, 0)
    took = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(map(str, cmd))}\n{err_path.read_text()}")
    return took, usage.ru_maxrss


def peak_rss(cmd):
    """Peak resident memory of cmd in KiB, measured by GNU time (a small C parent that forks: the
    peak is the command's own, not a Python parent's), or None when /usr/bin/time is missing."""
    if not Path("/usr/bin/time").exists():
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *map(str, cmd)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(out.read().strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best of each is reported")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--tmpfs", dest="tmpfs", action="store_true", default=True, help="run on /dev/shm (default)")
    where.add_argument("--disk", dest="tmpfs", action="store_false", help="run under bench/out/ on disk")
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)
    if not shutil.which("sqlite3"):
        sys.exit("the sqlite3 CLI is needed for the floor: apt-get install sqlite3")

    work = scratch("core", args.tmpfs)
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    floor_up, floor_down = [], []
    floor_up.append("CREATE TABLE IF NOT EXISTS db_migrate_history (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, "
                    "kind TEXT NOT NULL, checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TEXT NOT NULL, "
                    "execution_ms INTEGER NOT NULL DEFAULT 0);")
    for i in range(1, args.count + 1):
        version = 20240000000000 + i
        up, down = migration_sql(i)
        (proj / "migrations" / f"{version}_create_t_{i}.sql").write_text(f"-- migrate:up\n{up}\n-- migrate:down\n{down}")
        floor_up.append(f"BEGIN IMMEDIATE;\n{up}INSERT INTO db_migrate_history VALUES ({version}, 'create_t_{i}', 'sql', "
                        f"'{'0' * 64}', 'applied', '2026-01-01T00:00:00.000Z', 0);\nCOMMIT;")
        floor_down.append(f"BEGIN IMMEDIATE;\nDELETE FROM db_migrate_history WHERE version = {version};\n{down}COMMIT;")
    floor_down.reverse()
    (work / "floor_up.sql").write_text("\n".join(floor_up) + "\n")
    (work / "floor_down.sql").write_text("\n".join(floor_down) + "\n")

    db = proj / "bench.sqlite3"
    floor_db = work / "floor.sqlite3"
    dm = [str(binary), "--dir", str(proj), "--database-url", f"sqlite:{db}", "-q"]
    results = {k: [] for k in ["floor_up", "floor_down", "up", "down", "status"]}
    for _ in range(args.repeat):
        for f in (db, floor_db):
            if f.exists():
                f.unlink()
        results["floor_up"].append(run(["sqlite3", str(floor_db)], work / "floor_up.sql")[0])
        results["up"].append(run(dm + ["up"])[0])
        for _ in range(5):
            results["status"].append(run(dm + ["status"])[0])
        results["floor_down"].append(run(["sqlite3", str(floor_db)], work / "floor_down.sql")[0])
        results["down"].append(run(dm + ["down", "--all"])[0])
    # Peak memory in runs of their own (see `peak_rss`): up on an empty database, status with
    # everything applied, down --all.
    if db.exists():
        db.unlink()
    rss = {k: peak_rss(dm + args_) for k, args_ in (("up", ["up"]), ("status", ["status"]), ("down", ["down", "--all"]))}

    best = {k: min(v) for k, v in results.items()}
    up_ratio = best["up"] / best["floor_up"]
    down_ratio = best["down"] / best["floor_down"]
    status_ms = statistics.median(results["status"]) * 1e3
    peak_mb = max(rss.values()) / 1024 if None not in rss.values() else None

    def verdict(ok):
        return "ok" if ok else "MISSED"

    ratio_target = 1.3 if args.tmpfs else 1.1
    storage = "tmpfs" if args.tmpfs else "disk"
    print(f"core benchmark: {args.count} migrations, best of {args.repeat} rounds, {storage} ({work})")
    print(f"  floor up   (sqlite3 CLI)  {best['floor_up'] * 1e3:9.1f} ms")
    print(f"  db-migrate up             {best['up'] * 1e3:9.1f} ms   ratio {up_ratio:5.2f}x  (target <= {ratio_target:.2f}x) {verdict(up_ratio <= ratio_target)}")
    print(f"  floor down (sqlite3 CLI)  {best['floor_down'] * 1e3:9.1f} ms")
    print(f"  db-migrate down --all     {best['down'] * 1e3:9.1f} ms   ratio {down_ratio:5.2f}x  (target <= {ratio_target:.2f}x) {verdict(down_ratio <= ratio_target)}")
    print(f"  db-migrate status         {status_ms:9.1f} ms   median of {len(results['status'])} (target <= 8 ms) {verdict(status_ms <= 8)}")
    if peak_mb is None:
        print("  peak RSS                  not measured: GNU time (/usr/bin/time) is missing (apt-get install time)")
    else:
        print(f"  peak RSS                  {peak_mb:9.1f} MB   up {rss['up'] / 1024:.1f}, status {rss['status'] / 1024:.1f}, "
              f"down {rss['down'] / 1024:.1f} (target <= 15 MB) {verdict(peak_mb <= 15)}")
    if args.tmpfs:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
