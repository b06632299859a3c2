#!/usr/bin/env python3
"""Sandbox-enforcement benchmark: what grants and limits cost on a 1,000,000-row seed.

A component writes 1,000,000 generated rows into one table through `execute_batch` (1,000 rows per
call), on SQLite, with a warm compiled cache. In one run, best of N rounds, it times:
  - grants off (the migration default: any class, any table) vs grants on (`allow = ["read",
    "write"]`, `tables = ["bench_rows"]`, every statement parsed and checked) — target <= 10%;
  - no deadline (`timeout_secs = 0`: no epoch checks compiled in) vs the default epoch deadline
    vs epoch + fuel metering — target <= 7%;
and, to show the per-statement cost honestly, 20,000 rows written one `execute` each, grants off
vs on.

Usage: python3 bench/sandbox.py [--binary target/release/db-migrate] [--rows 1000000] [--repeat 3]
"""
import argparse
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
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate"], cwd=ROOT, check=True)

    work = ROOT / "bench/out/sandbox"
    shutil.rmtree(work, ignore_errors=True)
    guests = work / "guests"
    subprocess.run([str(binary), "--dir", str(ROOT / "bench/guests"), "-q", "build", "--out", str(guests)], check=True)
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    (proj / "migrations" / "1_bench_rows.sql").write_text(
        "-- migrate:up\nCREATE TABLE bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);\n")
    shutil.copy(guests / "seed_rows.wasm", proj / "migrations" / "2_seed_rows.wasm")
    db = proj / "bench.sqlite3"
    base = [str(binary), "--dir", str(proj), "--database-url", f"sqlite:{db}", "-q"]

    def timed(config, *extra):
        (proj / "db-migrate.toml").write_text(config)
        for f in proj.glob("bench.sqlite3*"):
            f.unlink()
        run(base + ["up", "--to", "1"])
        return run(base + ["up", *extra])[0]

    # Warm the compiled cache for each engine configuration (deadline on/off, fuel).
    for config in CONFIGS.values():
        timed(config, "--arg", "rows=10")

    best = {name: float("inf") for name in CONFIGS}
    single = {"grants off": float("inf"), "grants on": float("inf")}
    for _ in range(args.repeat):
        for name, config in CONFIGS.items():
            best[name] = min(best[name], timed(config, "--arg", f"rows={args.rows}"))
        for name in single:
            config = GRANTS_ON if name == "grants on" else ""
            single[name] = min(single[name], timed(config, "--arg", f"rows={args.single_rows}", "--arg", "mode=single"))

    def pct(a, b):
        return (a / b - 1) * 100

    def verdict(ok):
        return "ok" if ok else "MISSED"

    g = pct(best["grants on"], best["grants off"])
    e = pct(best["epoch"], best["no deadline"])
    f = pct(best["epoch + fuel"], best["no deadline"])
    s = pct(single["grants on"], single["grants off"])
    print(f"sandbox benchmark: {args.rows:,}-row seed through execute_batch, best of {args.repeat} rounds, storage {work}")
    for name in CONFIGS:
        print(f"  {name:<14} {best[name] * 1e3:9.1f} ms")
    print(f"  grants overhead            {g:+6.1f}%  (target <= 10%) {verdict(g <= 10)}")
    print(f"  epoch deadline overhead    {e:+6.1f}%  (target <= 7%) {verdict(e <= 7)}")
    print(f"  epoch + fuel overhead      {f:+6.1f}%  (target <= 7%) {verdict(f <= 7)}")
    print(f"  {args.single_rows:,} single-row executes: grants off {single['grants off'] * 1e3:.1f} ms, "
          f"on {single['grants on'] * 1e3:.1f} ms ({s:+.1f}%; every statement parsed)")


if __name__ == "__main__":
    main()
