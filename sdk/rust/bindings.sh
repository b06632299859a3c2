#!/usr/bin/env bash
# Generates the Rust guests' WIT bindings from wit/runtime.wit with the wit-bindgen CLI:
#   sdk/rust/src/bindings_migration.rs   the SDK's migration world (`guest`)
#   sdk/rust/src/bindings_seed.rs        the SDK's seed world (`seed-guest`, feature `seed`)
#   tests/fixtures/guests/components/seed_world/src/bindings.rs   a test guest on the raw `seed` world
#   tests/fixtures/guests/components/unlinkable/src/bindings.rs   a test guest on its own world (its wit/)
#
# Why checked in rather than `wit_bindgen::generate!`: the macro compiles wit-bindgen's generator
# (syn, wit-parser, wit-component, wasm-encoder, ...) into every guest's first build, in every
# project and every fresh CI cache: 24 s (37 s of CPU) on a 2-core machine. With the bindings as
# source, a guest's cold build compiles the SDK and wit-bindgen's small runtime: 1.5 s.
#
# Run it after changing wit/runtime.wit. `--check` writes nothing and fails when a checked-in
# file differs from what the WIT generates (the test suite runs it).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version="0.61.0" # the same as the SDK's wit-bindgen dependency: the generated code calls its runtime
check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
command -v wit-bindgen >/dev/null || { echo "wit-bindgen not found: cargo install --locked wit-bindgen-cli --version $version" >&2; exit 1; }
have="$(wit-bindgen --version | awk '{print $2}')"
[ "$have" = "$version" ] || { echo "wit-bindgen $have found, $version needed: cargo install --locked wit-bindgen-cli --version $version" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
stale=0

# gen DEST WIT_DIR WORLD [wit-bindgen options...]: generates WORLD of WIT_DIR into DEST.
gen() {
    local dest="$1" wit="$2" world="$3"
    shift 3
    local out="$tmp/out-${dest//\//_}"
    mkdir -p "$out"
    if ! wit-bindgen rust "$wit" --world "$world" --format --out-dir "$out" "$@" >"$tmp/log" 2>&1; then
        cat "$tmp/log" >&2
        exit 1
    fi
    local made
    made="$(ls "$out"/*.rs)"
    if [ "$check" = 1 ]; then
        if ! cmp -s "$made" "$root/$dest"; then
            echo "$dest is not what wit/runtime.wit generates: run sdk/rust/bindings.sh" >&2
            stale=1
        fi
    else
        cp "$made" "$root/$dest"
    fi
}

# The SDK's worlds: a package of its own that includes the runtime's world and adds `documents`,
# so one crate serves SQL and MongoDB guests (a component imports only what it calls).
sdk_world() {
    local dir="$tmp/$1"
    mkdir -p "$dir/deps/runtime"
    cp "$root/wit/runtime.wit" "$dir/deps/runtime/"
    printf 'package %s;\n\nworld %s {\n    include db-migrate:runtime/%s@0.1.0;\n    import db-migrate:runtime/documents@0.1.0;\n}\n' "$2" "$3" "$4" >"$dir/sdk.wit"
    echo "$dir"
}

gen sdk/rust/src/bindings_migration.rs "$(sdk_world migration db-migrate:sdk guest migration)" db-migrate:sdk/guest \
    --generate-all --pub-export-macro --export-macro-name __export_migration_world --default-bindings-module db_migrate_sdk::__bindings
gen sdk/rust/src/bindings_seed.rs "$(sdk_world seed db-migrate:sdk-seed seed-guest seed)" db-migrate:sdk-seed/seed-guest \
    --generate-all --pub-export-macro --export-macro-name __export_seed_world --default-bindings-module db_migrate_sdk::__bindings
gen tests/fixtures/guests/components/seed_world/src/bindings.rs "$root/wit" seed
gen tests/fixtures/guests/components/unlinkable/src/bindings.rs "$root/tests/fixtures/guests/components/unlinkable/wit" migration

exit "$stale"
