#!/usr/bin/env python3
"""Writes cli/symbol-order.txt: the functions a SQL-only `up`, `status` and `down` run, so the
linker can place them side by side.

Why: the release binary's code is ~36 MB (Cranelift, wasmtime, four database drivers), and a
SQL-only command touches a few thousand functions scattered through all of it. The kernel maps
file pages around each touched page (fault-around, 64 KiB), so ~10 MB of code became resident
per command and each scattered touch was a page fault at start-up. Laid out together (lld's
`--symbol-ordering-file`, which cli/build.rs passes for release builds), the same functions fill
a few hundred KiB.

How: runs the release binary under valgrind's callgrind (which lists every function that ran,
by its symbol name) on a 200-migration project — `up`, `status`, `down --all`, `--help` — then
on three component migrations (bench/guests' Rust guest) with a warm compiled cache, and keeps
the names the binary defines, in the order callgrind first saw them (SQL first). Functions renamed by
later edits are simply not found by the linker (it is told not to warn): the file goes stale
gracefully, and rerunning this script after large changes refreshes it.

Usage: python3 bench/symbol_order.py [--binary target/release/db-migrate]
Needs valgrind and nm (binutils).
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target/release/db-migrate"))
    ap.add_argument("--out", default=str(ROOT / "cli/symbol-order.txt"))
    args = ap.parse_args()
    binary = Path(args.binary).resolve()
    for tool in ("valgrind", "nm"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install {'valgrind' if tool == 'valgrind' else 'binutils'}")
    defined = set()
    for line in subprocess.run(["nm", "--defined-only", str(binary)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[1] in "tTwW":
            defined.add(parts[2])
    if not defined:
        sys.exit(f"{binary} has no symbol table (stripped?)")

    order, seen = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp) / "project"
        (proj / "migrations").mkdir(parents=True)
        for i in range(1, 201):
            (proj / "migrations" / f"{20240000000000 + i}_t_{i}.sql").write_text(
                f"-- migrate:up\nCREATE TABLE t_{i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
                f"INSERT INTO t_{i} (name) VALUES ('a'), ('b');\n-- migrate:down\nDROP TABLE t_{i};\n")
        base = [str(binary), "--dir", str(proj), "--database-url", f"sqlite:{proj / 'db.sqlite3'}"]
        runs = [base + ["-q", "up"], base + ["-q", "status"], base + ["status"], base + ["--json", "status"],
                base + ["-q", "down", "--all"], [str(binary), "--help"], [str(binary), "--version"]]
        # Components: compiled once outside the trace (under valgrind the CPU's features differ,
        # so the cache is warmed under valgrind too), then `up` and `down` traced warm.
        guests = Path(tmp) / "guests"
        subprocess.run([str(binary), "--dir", str(ROOT / "bench/guests"), "-q", "build", "--out", str(guests)], check=True)
        comp = Path(tmp) / "components"
        (comp / "migrations").mkdir(parents=True)
        wasm = (guests / "create_table.wasm").read_bytes()
        for i in range(1, 4):
            # A custom section makes each file distinct (its own cache entry), as in a real project.
            tag = str(i).encode()
            payload = bytes([len(b"db-migrate-order")]) + b"db-migrate-order" + tag
            (comp / "migrations" / f"{i}_t.wasm").write_bytes(wasm + b"\x00" + bytes([len(payload)]) + payload)
        cbase = [str(binary), "--dir", str(comp), "--database-url", f"sqlite:{comp / 'db.sqlite3'}", "-q"]
        warm = ["valgrind", "--tool=none", *cbase]
        subprocess.run(warm + ["up"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        subprocess.run(warm + ["down", "--all"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        runs += [cbase + ["up"], cbase + ["down", "--all"]]
        for n, cmd in enumerate(runs):
            out = Path(tmp) / f"cg.{n}"
            subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", *cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            # Names are given once, as `fn=(id) name` (or cfn=/jfn=); later mentions are `(id)` only.
            for m in re.finditer(r"^c?fn=\(\d+\) (.+)$", out.read_text(errors="replace"), re.M):
                name = m.group(1).strip()
                if name in defined and name not in seen:
                    seen.add(name)
                    order.append(name)
    Path(args.out).write_text("\n".join(order) + "\n")
    print(f"{len(order)} functions written to {args.out}")


if __name__ == "__main__":
    main()
