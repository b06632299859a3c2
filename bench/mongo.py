#!/usr/bin/env python3
"""MongoDB benchmark: a component seeding documents vs the same driver from native Rust.

The `seed_docs` benchmark guest inserts 100,000 generated documents into `bench_docs` with the
`documents` interface's insert-many, 1,000 per call, as a component migration run by `db-migrate
up` (warm compiled cache). The floor is `runner/examples/mongo_floor.rs`: the same documents,
the same batches, the same driver (`mongodb` crate) calling `insert_many` directly. Both are
whole processes, timed end to end, interleaved, each round on an empty collection (emptied
outside the timed run); the ratio of the medians is printed next to the target (<= 1.3x).

Usage: python3 bench/mongo.py [--binary target/release/db-migrate] [--url mongodb://127.0.0.1:27017]
                              [--docs 100000] [--batch 1000] [--repeat 5] [--floor PATH]
"""
import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import ROOT, run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--url", default="mongodb://127.0.0.1:27017")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--floor", help="a prebuilt mongo_floor binary (default: cargo builds it)")
    args = ap.parse_args()
    binary = Path(args.binary)
    profile = "release" if "release" in binary.parts else "debug"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "db-migrate-cli"], cwd=ROOT, check=True)
    if args.floor:
        floor_bin = Path(args.floor)
    else:
        # `--workspace`: the features `cargo test --workspace` resolves, so after a test build the
        # example is already built (with `-p db-migrate` alone, cargo rebuilds the library with
        # other features: 1.5 min of the CI run).
        cargo = ["cargo", "build", "-q", "--workspace", "--example", "mongo_floor"] + (["--release"] if profile == "release" else [])
        subprocess.run(cargo, cwd=ROOT, check=True)
        floor_bin = ROOT / "target" / profile / "examples" / "mongo_floor"

    work = ROOT / "bench/out/mongo"
    shutil.rmtree(work, ignore_errors=True)
    guests = work / "guests"
    subprocess.run([str(binary), "--dir", str(ROOT / "bench/guests"), "-q", "build", "--out", str(guests)], check=True)
    proj = work / "project"
    (proj / "migrations").mkdir(parents=True)
    shutil.copy(guests / "seed_docs.wasm", proj / "migrations" / "1_seed_docs.wasm")
    url = f"{args.url.rstrip('/')}/db_migrate_bench_mongo"
    base = [str(binary), "--dir", str(proj), "--database-url", url, "-q"]
    seed = ["--arg", f"docs={args.docs}", "--arg", f"batch={args.batch}"]

    def component():
        run(base + ["down", "--all"])
        return run(base + ["up", *seed])[0]

    def native():
        run([str(floor_bin), url, "0", "1"])
        return run([str(floor_bin), url, str(args.docs), str(args.batch)])[0]

    # Warm the compiled cache and the server's files.
    run(base + ["up", "--arg", "docs=10"])
    native()
    times = {"native": [], "component": []}
    for i in range(args.repeat):
        order = [("native", native), ("component", component)]
        for name, f in order if i % 2 == 0 else reversed(order):
            times[name].append(f())
    run(base + ["down", "--all"])

    n = statistics.median(times["native"])
    c = statistics.median(times["component"])
    ratio = c / n
    print(f"MongoDB benchmark: {args.docs:,} documents, insert-many in batches of {args.batch:,}, median of {args.repeat} interleaved rounds")
    print(f"  native Rust insert_many  {n * 1e3:9.1f} ms  {args.docs / n:10,.0f} docs/s")
    print(f"  component (db-migrate)   {c * 1e3:9.1f} ms  {args.docs / c:10,.0f} docs/s")
    print(f"  ratio {ratio:.2f}x (target <= 1.30x) {'ok' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
