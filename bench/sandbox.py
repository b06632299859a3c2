#!/usr/bin/env python3
"""Sandbox-enforcement benchmark: what grants and limits cost on a 1,000,000-row seed.

A component writes 1,000,000 generated rows into one table through `execute_batch_owned` (1,000
rows per call, handed over by value as the faker pack does; built with LTO, as the seed template
and the first-party packs are), on SQLite, with a warm compiled cache. In one run, best of N rounds, it times:
  - grants off (the migration default: any class, any table) vs grants on (`allow = ["read",
    "write"]`, `tables = ["bench_rows"]`, every statement parsed and checked) — target <= 10%;
  - no deadline (`timeout_secs = 0`: no epoch checks compiled in) vs the default epoch deadline
    vs epoch + fuel metering — target <= 5% for the epoch deadline (the performance issue's),
    <= 7% for epoch + fuel (opt-in);
and, to show the per-call cost honestly, 20,000 rows written one `execute` each, grants off vs on.
The database lives in /dev/shm when there is one, so disk noise does not drown CPU overheads of a
few percent; each overhead is the median of the per-round ratios (configurations interleaved).

Usage: python3 bench/sandbox.py [--binary target/release/db-migrate] [--rows 1000000] [--repeat 7]
"""
import argparse
import statistics
import tempfile
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT, run  # noqa: E402

GRANTS_ON = '[components.seed_rows]\nallow = ["read", "write"]\ntables = ["bench_rows"]\n'
CONFIGS = {
    "grants off": "",
    "grants on": GRANTS_ON,
    "no deadline": "[limits]\ntimeout_secs = 0\n",
    "epoch": "",
    "epoch + fuel": "[limits]\nfuel = 1000000000000000\n",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--single-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)

    work = ROOT / "bench/out/sandbox"
    shutil.rmtree(work, ignore_errors=True)
    guests = work / "guests"
    subprocess.run([str(binary), "--dir", str(ROOT / "bench/guests"), "-q", "build", "--out", str(guests)], check=True)
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    (proj / "migrations" / "1_bench_rows.sql").write_text(
        "-- migrate:up\nCREATE TABLE bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);\n")
    shutil.copy(guests / "seed_rows.wasm", proj / "migrations" / "2_seed_rows.wasm")
    shm = Path("/dev/shm")
    db_dir = Path(tempfile.mkdtemp(prefix="db-migrate-bench-", dir=shm if shm.is_dir() else None))
    db = db_dir / "bench.sqlite3"
    base = [str(binary), "--dir", str(proj), "--database-url", f"sqlite:{db}", "-q"]

    def timed(config, *extra):
        (proj / "db-migrate.toml").write_text(config)
        for f in db_dir.glob("bench.sqlite3*"):
            f.unlink()
        run(base + ["up", "--to", "1"])
        return run(base + ["up", *extra])[0]

    # Warm the compiled cache for each engine configuration (deadline on/off, fuel).
    for config in CONFIGS.values():
        timed(config, "--arg", "rows=10")

    rounds = {name: [] for name in CONFIGS}
    single = {"grants off": [], "grants on": []}
    for _ in range(args.repeat):
        for name, config in CONFIGS.items():
            rounds[name].append(timed(config, "--arg", f"rows={args.rows}"))
        for name in single:
            config = GRANTS_ON if name == "grants on" else ""
            single[name].append(timed(config, "--arg", f"rows={args.single_rows}", "--arg", "mode=single"))
    shutil.rmtree(db_dir, ignore_errors=True)

    def overhead(a, b, data=rounds):
        return statistics.median(x / y - 1 for x, y in zip(data[a], data[b])) * 100

    def verdict(ok):
        return "ok" if ok else "MISSED"

    g = overhead("grants on", "grants off")
    e = overhead("epoch", "no deadline")
    f = overhead("epoch + fuel", "no deadline")
    s = overhead("grants on", "grants off", single)
    print(f"sandbox benchmark: {args.rows:,}-row seed through execute_batch_owned, {args.repeat} interleaved rounds, database in {db_dir.parent}")
    for name in CONFIGS:
        print(f"  {name:<14} best {min(rounds[name]) * 1e3:9.1f} ms   median {statistics.median(rounds[name]) * 1e3:9.1f} ms")
    print(f"  grants overhead            {g:+6.1f}%  (target <= 10%) {verdict(g <= 10)}")
    print(f"  epoch deadline overhead    {e:+6.1f}%  (target <= 5%) {verdict(e <= 5)}")
    print(f"  epoch + fuel overhead      {f:+6.1f}%  (target <= 7%) {verdict(f <= 7)}")
    print(f"  {args.single_rows:,} single-row executes, grants on vs off: {s:+.1f}% "
          f"(median {statistics.median(single['grants off']) * 1e3:.1f} vs {statistics.median(single['grants on']) * 1e3:.1f} ms; "
          "each distinct statement is parsed once per run)")


if __name__ == "__main__":
    main()
