#!/usr/bin/env python3
"""Component-migration benchmark: 100 component migrations against the same 100 as SQL.

Each component creates a table and inserts 3 rows through `execute`; each SQL migration does the
same in SQL. Every component file is made distinct (a unique custom section is appended), so each
has its own cache entry, as in a real project. In one run it times, best of N rounds:
  - `up` of the 100 SQL migrations (the floor),
  - `up` of the 100 components with a warm compiled cache (target: <= 1.2x the floor),
  - `up` with a cold cache (every component compiled; reported, no target),
and derives the per-migration cost of deserialize + instantiate + call beyond the SQL work
(target for these Rust components: <= 0.5 ms).

On disk (the default here) fsync takes most of both runs; `--tmpfs` runs on /dev/shm, where the
runner's own cost shows.

Usage: python3 bench/components.py [--binary target/release/db-migrate] [--count 100] [--repeat 3] [--tmpfs]
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT, run  # noqa: E402


def leb128(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(wasm, tag):
    """Appends a custom section (id 0) named `db-migrate-bench` holding `tag`: same behaviour, new bytes."""
    name = b"db-migrate-bench"
    payload = leb128(len(name)) + name + tag
    return wasm + b"\x00" + leb128(len(payload)) + payload


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmpfs", action="store_true", help="run on /dev/shm instead of bench/out/")
    args = ap.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)

    work = Path("/dev/shm/db-migrate-bench-components") if args.tmpfs else ROOT / "bench/out/components"
    shutil.rmtree(work, ignore_errors=True)
    guests_out = work / "guests"
    subprocess.run([str(binary), "--dir", str(ROOT / "bench/guests"), "-q", "build", "--out", str(guests_out)], check=True)
    guest = (guests_out / "create_table.wasm").read_bytes()

    sql_proj, comp_proj = work / "sql", work / "components"
    for p in (sql_proj, comp_proj):
        (p / "migrations").mkdir(parents=True)
    for i in range(1, args.count + 1):
        v = 20240000000000 + i
        (sql_proj / "migrations" / f"{v}_create_t.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t_{v} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMP);\n"
            f"INSERT INTO t_{v} (name, created_at) VALUES ('a', CURRENT_TIMESTAMP), ('b', CURRENT_TIMESTAMP), ('c', CURRENT_TIMESTAMP);\n"
            f"-- migrate:down\nDROP TABLE t_{v};\n")
        (comp_proj / "migrations" / f"{v}_create_t.wasm").write_bytes(with_custom_section(guest, str(i).encode()))

    def dm(proj, *a):
        return [str(binary), "--dir", str(proj), "--database-url", f"sqlite:{proj / 'bench.sqlite3'}", "-q", *a]

    def fresh(proj, cache=False):
        for f in proj.glob("bench.sqlite3*"):
            f.unlink()
        if cache:
            shutil.rmtree(proj / ".db-migrate", ignore_errors=True)

    sql_t, warm_t, cold_t = [], [], []
    for _ in range(args.repeat):
        fresh(sql_proj)
        sql_t.append(run(dm(sql_proj, "up"))[0])
        fresh(comp_proj, cache=True)
        cold_t.append(run(dm(comp_proj, "up"))[0])
        fresh(comp_proj)
        warm_t.append(run(dm(comp_proj, "up"))[0])

    sql, warm, cold = min(sql_t), min(warm_t), min(cold_t)
    ratio = warm / sql
    per_ms = (warm - sql) / args.count * 1e3

    def verdict(ok):
        return "ok" if ok else "MISSED"

    print(f"component benchmark: {args.count} migrations, best of {args.repeat} rounds, storage {work}")
    print(f"  SQL up (floor)              {sql * 1e3:9.1f} ms")
    print(f"  components up, warm cache   {warm * 1e3:9.1f} ms   ratio {ratio:5.2f}x  (target <= 1.20x) {verdict(ratio <= 1.2)}")
    print(f"  components up, cold cache   {cold * 1e3:9.1f} ms   ({cold / args.count * 1e3:.1f} ms per component, compiling included)")
    print(f"  per migration beyond SQL    {per_ms:9.3f} ms   deserialize + instantiate + call (target <= 0.5 ms) {verdict(per_ms <= 0.5)}")


if __name__ == "__main__":
    main()
