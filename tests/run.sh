#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs unit and end-to-end tests, the
# quickstart example, and a smoke run of the benchmark script (its figures are not asserted).
# CI (.ci/run) calls exactly this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

need_apt=()
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "==> installing ${need_apt[*]}"
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "==> cargo test"
cargo test --workspace --locked

echo "==> quickstart example"
bash examples/quickstart/run.sh >/dev/null

echo "==> benchmark script smoke run (debug build, 50 migrations)"
python3 bench/core.py --binary target/debug/db-migrate --count 50 --repeat 1
