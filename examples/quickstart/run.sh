#!/usr/bin/env bash
# Builds db-migrate (unless DB_MIGRATE_BIN names one) and runs this example end to end on a fresh
# SQLite database: SQL migrations, a Rust component migration (a batched backfill through a
# cursor), status, down, up, validate.
# Run it from anywhere; it installs the wasm32-wasip2 Rust target if it is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "==> installing the wasm32-wasip2 Rust target (guests compile to it)"
    rustup target add wasm32-wasip2
fi
# DB_MIGRATE_BIN runs a db-migrate already built (the test suite passes the one its tests ran).
bin="${DB_MIGRATE_BIN:-}"
if [ -z "$bin" ]; then
    echo "==> building db-migrate"
    cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p db-migrate-cli
    bin="$root/target/debug/db-migrate"
fi
dbm() { echo "\$ db-migrate $*"; "$bin" --dir "$here" "$@"; echo; }

rm -rf "$here/db"
dbm build
dbm status
dbm up
dbm status
dbm down --steps 2
dbm up --dry-run
dbm up --arg batch_size=250
dbm validate
dbm status --check
echo "quickstart: ok"
