#!/usr/bin/env python3
"""Peers benchmark: db-migrate side by side with dbmate and sqlx-cli, and the sqlite3 CLI floor.

The same 1,000 SQLite migrations as bench/core.py (CREATE TABLE t_N + an INSERT of 3 rows; down
drops the table) in each tool's format: db-migrate's `VERSION_name.sql` with `-- migrate:up` and
`-- migrate:down` sections, which dbmate reads as they are, and `VERSION_name.up.sql` /
`.down.sql` pairs for sqlx-cli. Each round times, for every tool on a fresh database: `up` of all
1,000, `status` with 1,000 applied, and `down` of all 1,000; the floor is the sqlite3 CLI running
the same SQL, one transaction per migration with its history row (status: reading the history).
Rounds interleave the tools (the order rotates), on tmpfs (/dev/shm, where the runners' own cost
shows) and on disk (bench/out/, where fsync dominates); medians are printed with ratios to the
floor and the issue's targets.

dbmate has no "down all": `dbmate rollback` reverts one migration per call, so its down is the
median time of a sample of calls times 1,000, printed as extrapolated.

Peers are installed into a scratch folder (--tools) when missing: dbmate 2 from npm, and
sqlx-cli with `cargo install sqlx-cli --no-default-features --features sqlite,postgres,rustls`
(a long release build; `--no-sqlx` leaves it out, as does a failed build, which is reported).

Usage: python3 bench/peers.py [--binary target/release/db-migrate] [--count 1000] [--rounds 3]
                              [--tools bench/out/peers-tools] [--no-sqlx] [--only tmpfs|disk]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT, migration_sql, scratch  # noqa: E402

HISTORY_DDL = ("CREATE TABLE IF NOT EXISTS db_migrate_history (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, "
               "kind TEXT NOT NULL, checksum TEXT NOT NULL, status TEXT NOT NULL, applied_at TEXT NOT NULL, "
               "execution_ms INTEGER NOT NULL DEFAULT 0);")


def timed(cmd, stdin_path=None, env=None):
    """Runs cmd with output discarded; returns seconds. posix_spawn keeps the harness's own cost
    out of short measurements such as `status`."""
    err_path = ROOT / "bench/out/peers-stderr.txt"
    err_path.parent.mkdir(parents=True, exist_ok=True)
    fa = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, str(err_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    if stdin_path:
        fa.append((os.POSIX_SPAWN_OPEN, 0, str(stdin_path), os.O_RDONLY, 0))
    exe = shutil.which(cmd[0]) or cmd[0]
    start = time.perf_counter()
    pid = os.posix_spawn(exe, [str(c) for c in cmd], env or os.environ, file_actions=fa)
    _, status, _ = os.wait4(pid, 0)
    took = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(map(str, cmd))}\n{err_path.read_text()}")
    return took


def install_dbmate(tools):
    exe = tools / "npm/node_modules/.bin/dbmate"
    if not exe.exists():
        print("installing dbmate 2 from npm into", tools / "npm", flush=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", str(tools / "npm"), "dbmate@2"], check=True)
    return exe


def install_sqlx(tools):
    exe = tools / "cargo/bin/sqlx"
    if not exe.exists():
        print("installing sqlx-cli (cargo install, a long release build) into", tools / "cargo", flush=True)
        r = subprocess.run(["cargo", "install", "--locked", "sqlx-cli", "--no-default-features", "--features", "sqlite,postgres,rustls",
                            "--root", str(tools / "cargo")])
        if r.returncode != 0 or not exe.exists():
            print("sqlx-cli did not build: it is left out of this run", flush=True)
            return None
    return exe


def version_of(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


class Setup:
    """The migration folders and floor scripts of one storage."""

    def __init__(self, work, count):
        self.work = work
        self.count = count
        self.dm_dir = work / "migrations"  # db-migrate reads migrations/ under --dir; dbmate the same folder
        self.sqlx_dir = work / "sqlx-format"
        self.dm_dir.mkdir()
        self.sqlx_dir.mkdir()
        floor_up, floor_down = [HISTORY_DDL], []
        for i in range(1, count + 1):
            version = 20240000000000 + i
            up, down = migration_sql(i)
            (self.dm_dir / f"{version}_create_t_{i}.sql").write_text(f"-- migrate:up\n{up}\n-- migrate:down\n{down}")
            (self.sqlx_dir / f"{version}_create_t_{i}.up.sql").write_text(up)
            (self.sqlx_dir / f"{version}_create_t_{i}.down.sql").write_text(down)
            floor_up.append(f"BEGIN IMMEDIATE;\n{up}INSERT INTO db_migrate_history VALUES ({version}, 'create_t_{i}', 'sql', "
                            f"'{'0' * 64}', 'applied', '2026-01-01T00:00:00.000Z', 0);\nCOMMIT;")
            floor_down.append(f"BEGIN IMMEDIATE;\nDELETE FROM db_migrate_history WHERE version = {version};\n{down}COMMIT;")
        floor_down.reverse()
        self.floor_up = work / "floor_up.sql"
        self.floor_down = work / "floor_down.sql"
        self.floor_status = work / "floor_status.sql"
        self.floor_up.write_text("\n".join(floor_up) + "\n")
        self.floor_down.write_text("\n".join(floor_down) + "\n")
        self.floor_status.write_text("SELECT version, name, checksum, status, applied_at FROM db_migrate_history ORDER BY version;\n")

    def fresh(self, name):
        db = self.work / f"{name}.sqlite3"
        for f in self.work.glob(f"{name}.sqlite3*"):
            f.unlink()
        return db


def floor_round(s):
    db = s.fresh("floor")
    up = timed(["sqlite3", db], s.floor_up)
    status = timed(["sqlite3", db], s.floor_status)
    down = timed(["sqlite3", db], s.floor_down)
    return up, status, down


def dbmigrate_round(s, binary):
    db = s.fresh("dbmigrate")
    base = [binary, "--dir", s.work, "--database-url", f"sqlite:{db}", "-q"]
    up = timed(base + ["up"])
    status = timed(base + ["status"])
    down = timed(base + ["down", "--all"])
    return up, status, down


def dbmate_round(s, exe, sample):
    db = s.fresh("dbmate")
    base = [exe, "--url", f"sqlite:{db}", "--migrations-dir", s.dm_dir, "--no-dump-schema"]
    up = timed(base + ["up"])
    status = timed(base + ["status"])
    calls = [timed(base + ["rollback"]) for _ in range(sample)]
    return up, status, statistics.median(calls) * s.count


def sqlx_round(s, exe):
    db = s.fresh("sqlx")
    url = f"sqlite:{db}?mode=rwc"
    up = timed([exe, "migrate", "run", "--source", s.sqlx_dir, "--database-url", url])
    status = timed([exe, "migrate", "info", "--source", s.sqlx_dir, "--database-url", url])
    down = timed([exe, "migrate", "revert", "--target-version", "0", "--source", s.sqlx_dir, "--database-url", url])
    return up, status, down


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", default=str(ROOT / "bench/out/peers-tools"), help="where peers are installed (kept between runs)")
    ap.add_argument("--no-sqlx", action="store_true", help="leave sqlx-cli out (its install is a long build)")
    ap.add_argument("--dbmate-down-sample", type=int, default=20, help="dbmate rollback calls timed per round")
    ap.add_argument("--only", choices=["tmpfs", "disk"])
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)
    if not shutil.which("sqlite3"):
        sys.exit("the sqlite3 CLI is needed for the floor: apt-get install sqlite3")
    tools = Path(args.tools).resolve()
    dbmate = install_dbmate(tools)
    sqlx = None if args.no_sqlx else install_sqlx(tools)

    runners = [("floor (sqlite3 CLI)", lambda s: floor_round(s)),
               ("db-migrate", lambda s: dbmigrate_round(s, binary)),
               ("dbmate", lambda s: dbmate_round(s, dbmate, args.dbmate_down_sample))]
    if sqlx:
        runners.append(("sqlx-cli", lambda s: sqlx_round(s, sqlx)))

    print(f"peers benchmark: {args.count} SQLite migrations, median of {args.rounds} interleaved rounds")
    print(f"  db-migrate {version_of([binary, '--version'])}; dbmate {version_of([dbmate, '--version'])}; "
          f"sqlx-cli {version_of([sqlx, '--version']) if sqlx else 'left out'}; sqlite3 {version_of(['sqlite3', '--version']).split(' ')[0]}")
    storages = [("tmpfs", True), ("disk", False)]
    for label, tmpfs in storages:
        if args.only and args.only != label:
            continue
        work = scratch("peers", tmpfs)
        s = Setup(work, args.count)
        times = {name: ([], [], []) for name, _ in runners}
        for r in range(args.rounds):
            shift = r % len(runners)
            for name, fn in runners[shift:] + runners[:shift]:
                for acc, t in zip(times[name], fn(s)):
                    acc.append(t)
        med = {name: tuple(statistics.median(v) for v in ts) for name, ts in times.items()}
        floor = med["floor (sqlite3 CLI)"]
        print(f"\n  {label} ({work})")
        print(f"    {'':22} {'up':>10} {'ratio':>7}   {'status':>9} {'ratio':>7}   {'down':>10} {'ratio':>7}")
        for name, (up, st, down) in med.items():
            note = "  (down: rollback per call, x1000 extrapolated)" if name == "dbmate" else ""
            print(f"    {name:22} {up * 1e3:8.1f}ms {up / floor[0]:6.2f}x   {st * 1e3:7.1f}ms {st / floor[1]:6.2f}x   "
                  f"{down * 1e3:8.1f}ms {down / floor[2]:6.2f}x{note}")
        dm = med["db-migrate"]
        target = 1.3 if tmpfs else 1.1
        peers_up = [v[0] for n, v in med.items() if n not in ("db-migrate", "floor (sqlite3 CLI)")]
        ok = lambda c: "ok" if c else "MISSED"  # noqa: E731
        print(f"    targets: up <= {target:.1f}x floor: {dm[0] / floor[0]:.2f}x {ok(dm[0] / floor[0] <= target)}; "
              f"status <= 8 ms: {dm[1] * 1e3:.1f} ms {ok(dm[1] <= 0.008)}"
              + (f"; up faster than every peer: {ok(all(dm[0] < p for p in peers_up))}" if tmpfs else ""))
        if tmpfs:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
