#!/usr/bin/env bash
# Builds db-migrate and runs this example end to end on a fresh SQLite database:
# status, up, status, down two steps, up again, validate. Run it from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

echo "==> building db-migrate"
cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p db-migrate
dbm() { echo "\$ db-migrate $*"; "$root/target/debug/db-migrate" --dir "$here" "$@"; echo; }

rm -rf "$here/db"
dbm status
dbm up
dbm status
dbm down --steps 2
dbm up --dry-run
dbm up
dbm validate
dbm status --check
echo "quickstart: ok"
