#!/usr/bin/env bash
# The whole test suite: installs what the tests need (the sqlite3 CLI for the benchmark floor, the
# wasm32-wasip2 Rust target, componentize-py, componentize-js, clang/wasi-libc and wit-bindgen for
# guests, a MongoDB-wire server from PyPI, galera-4 and rsync for a 3-node Galera cluster), then
# runs unit and end-to-end tests (guests are built from source by `db-migrate build`), the
# quickstart example, and smoke runs of the benchmark scripts (their figures are not asserted).
# CI (.ci/run) calls exactly this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# Each step is announced with the time since the start, so a slow CI run shows where it went.
step() { echo "==> $* [$((SECONDS / 60))m$((SECONDS % 60))s]"; }

need_apt=()
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
# Peak-RSS checks of the hostile suite.
[ -x /usr/bin/time ] || need_apt+=(time)
# C guests: clang for wasm32-wasi with wasi-libc, lld, and the compiler runtime for wasm32.
command -v clang >/dev/null || need_apt+=(clang)
command -v wasm-ld >/dev/null || need_apt+=(lld)
[ -f /usr/include/wasm32-wasi/stdlib.h ] || need_apt+=(wasi-libc)
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need_apt+=(libclang-rt-14-dev-wasm32)
# The Galera tests' 3-node cluster (tests/galera.sh): the Galera provider, and rsync for state transfer.
[ -f /usr/lib/galera/libgalera_smm.so ] || need_apt+=(galera-4)
command -v rsync >/dev/null || need_apt+=(rsync)
if [ ${#need_apt[@]} -gt 0 ]; then
    step "installing ${need_apt[*]}"
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    step "installing the wasm32-wasip2 Rust target (test guests compile to it)"
    rustup target add wasm32-wasip2
fi

# The database servers the tests use. This machine kind starts them before a session; start them
# again if they stopped (the same commands the machine uses), and fail loudly if they cannot run.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    step "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    step "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable at 127.0.0.1:5432: the server tests need it" >&2; exit 1; }
mariadb-admin -h 127.0.0.1 -u root ping || { echo "MariaDB is not reachable at 127.0.0.1:3306: the server tests need it" >&2; exit 1; }

# MongoDB: no server is packaged for this machine kind, so a MongoDB-wire server from PyPI
# (SecantusDB, on WiredTiger) runs from a venv under target/, keeping its data there too.
mongo_up() { (exec 3<>/dev/tcp/127.0.0.1/27017) 2>/dev/null; }
if ! mongo_up; then
    venv="$root/target/mongo-venv"
    if [ ! -x "$venv/bin/secantusd-py" ]; then
        step "installing the MongoDB-wire test server (secantusdb from PyPI)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "secantusdb==0.7.0b3"
    fi
    step "starting the MongoDB-wire test server on 127.0.0.1:27017"
    mkdir -p "$root/target/mongo-data"
    nohup "$venv/bin/secantusd-py" --host 127.0.0.1 --port 27017 --storage-path "$root/target/mongo-data" \
        --log-level WARNING >"$root/target/mongo.log" 2>&1 &
    for _ in $(seq 1 60); do mongo_up && break; sleep 0.5; done
fi
mongo_up || { echo "the MongoDB-wire server is not reachable at 127.0.0.1:27017 (log: target/mongo.log): the MongoDB tests need it" >&2; exit 1; }

# MariaDB Galera: a 3-node cluster on loopback under target/galera (ports 4406-4408), for
# tests/cli/galera.rs. Idempotent: a running cluster is kept, a dead node restarted.
step "starting the 3-node Galera test cluster"
# A cluster this run starts is stopped when the run ends, however it ends: left running, it holds
# ports 4406-4408 and the next checkout's run (CI's clean clone) cannot start its own. A cluster
# that was already running (a developer's, from this checkout) is left as it was.
galera_before="$(bash tests/galera.sh status 2>/dev/null || true)"
if [[ "$galera_before" != *"node1"* || "$galera_before" == *" down"* ]]; then
    trap 'bash tests/galera.sh stop >/dev/null 2>&1 || true' EXIT
fi
DBM_GALERA_URLS="$(bash tests/galera.sh start | paste -sd, -)" || { echo "the Galera test cluster did not start (tests/galera.sh start): the Galera tests need it" >&2; exit 1; }
export DBM_GALERA_URLS

# Guests in Python, JavaScript and C: componentize-py (PyPI) and componentize-js (npm), kept in
# target/guest-tools, and wit-bindgen (crates.io), all put on PATH for `db-migrate build`.
tools="$root/target/guest-tools"
if [ ! -x "$tools/venv/bin/componentize-py" ]; then
    step "installing componentize-py (Python guests)"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "componentize-py==0.25.1"
fi
if [ ! -x "$tools/node/node_modules/.bin/componentize-js" ]; then
    step "installing componentize-js (JavaScript guests)"
    mkdir -p "$tools/node"
    (cd "$tools/node" && npm install --silent --no-audit --no-fund "@bytecodealliance/componentize-js@0.23.0" >/dev/null)
fi
# Other migration tools, run for real by the `import --adopt` tests: dbmate, knex with
# better-sqlite3, sequelize-cli with pg, migrate-mongo (npm), alembic (PyPI).
adopt_bins=(dbmate knex sequelize-cli migrate-mongo)
need_adopt=0
for b in "${adopt_bins[@]}"; do [ -x "$tools/adopt-node/node_modules/.bin/$b" ] || need_adopt=1; done
if [ "$need_adopt" = 1 ]; then
    step "installing dbmate, knex, sequelize-cli and migrate-mongo (import tests)"
    mkdir -p "$tools/adopt-node"
    (cd "$tools/adopt-node" && npm install --silent --no-audit --no-fund dbmate@2 knex@3 better-sqlite3@12 \
        sequelize-cli@6 sequelize@6 pg@8 migrate-mongo@11 >/dev/null)
fi
# The knex runtime's npm packages: tests/cli/knex.rs builds the runtime with `db-migrate build`
# (DB_MIGRATE_KNEX_NODE_MODULES points it here; componentize-js comes from $tools/node).
# mysql2 is for the real knex the MariaDB comparison runs (its knex CLI is this install's).
if [ ! -d "$tools/knex-runtime/node_modules/knex" ] || [ ! -d "$tools/knex-runtime/node_modules/esbuild" ] \
    || [ ! -d "$tools/knex-runtime/node_modules/mysql2" ] || [ ! -d "$tools/knex-runtime/node_modules/sucrase" ]; then
    step "installing the knex runtime's npm packages (knex, esbuild, events, path-browserify, sucrase; mysql2 for tests)"
    mkdir -p "$tools/knex-runtime"
    (cd "$tools/knex-runtime" && npm install --silent --no-audit --no-fund knex@3.3.0 esbuild@0.25.12 events@3.3.0 \
        path-browserify@1.0.1 sucrase@3.35.1 mysql2@3 >/dev/null)
fi
if [ ! -x "$tools/venv/bin/alembic" ]; then
    step "installing alembic (import tests)"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "alembic==1.20.1"
fi
# The real alembic's drivers for the PostgreSQL and MariaDB comparisons (tests/cli/alembic.rs).
if ! "$tools/venv/bin/python" -c 'import psycopg, pymysql' 2>/dev/null; then
    step "installing psycopg and PyMySQL (the real alembic on PostgreSQL and MariaDB)"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "psycopg[binary]==3.3.9" "PyMySQL==1.2.4"
fi
# The Alembic runtime's pinned packages, pure Python: tests/cli/alembic.rs builds the runtime with
# `db-migrate build` (DB_MIGRATE_ALEMBIC_SITE_PACKAGES points it here; componentize-py comes from
# the venv). SQLAlchemy from its sdist without its C extensions, which componentize-py cannot load.
if [ ! -f "$tools/alembic-site/.pins-1" ]; then
    step "installing the Alembic runtime's packages (alembic, SQLAlchemy, Mako, MarkupSafe, typing-extensions)"
    rm -rf "$tools/alembic-site"
    DISABLE_SQLALCHEMY_CEXT=1 "$tools/venv/bin/pip" install -q --disable-pip-version-check --target "$tools/alembic-site" \
        --no-binary SQLAlchemy alembic==1.20.1 SQLAlchemy==2.1.9 Mako==1.4.3 MarkupSafe==3.0.4 typing-extensions==4.16.0
    find "$tools/alembic-site" \( -name '*.so' -o -name '*.pyd' \) -delete
    touch "$tools/alembic-site/.pins-1"
fi
if ! command -v wit-bindgen >/dev/null || [ "$(wit-bindgen --version | awk '{print $2}')" != "0.61.0" ]; then
    step "installing wit-bindgen (C guests' bindings)"
    cargo install --quiet --locked wit-bindgen-cli --version 0.61.0
fi
export PATH="$tools/venv/bin:$tools/node/node_modules/.bin:$tools/adopt-node/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step "cargo test: building"
cargo test --workspace --locked --no-run
step "cargo test: running"
cargo test --workspace --locked

step "the library with one database, with and without the sandbox (cargo features)"
for features in postgres mysql mongodb mysql,components; do
    cargo check --quiet --locked -p db-migrate --no-default-features --features "$features"
done
# SQLite alone, without the sandbox: the library's unit tests, among them those of a build that
# refuses components (run::migrator::without_components).
cargo test --quiet --locked -p db-migrate --no-default-features --features sqlite --lib
# An application embedding the library for PostgreSQL alone compiles neither wasmtime, nor
# MongoDB's driver, nor another database's sqlx driver.
pg_only="$(cargo tree --locked -p db-migrate --no-default-features --features postgres -e normal --prefix none)"
if grep -qE '^(wasmtime|cranelift|mongodb|sqlx-sqlite|sqlx-mysql|libsqlite3-sys) ' <<<"$pg_only"; then
    echo "the PostgreSQL-only library still depends on: $(grep -oE '^(wasmtime|cranelift|mongodb|sqlx-sqlite|sqlx-mysql|libsqlite3-sys)[^ ]* ' <<<"$pg_only" | sort -u | tr '\n' ' ')" >&2
    exit 1
fi

step "Rust SDK doc examples"
CARGO_TARGET_DIR="$root/target/sdk-host" cargo test --doc --manifest-path sdk/rust/Cargo.toml

step "quickstart example"
# With the binary the tests ran: `cargo build -p db-migrate-cli` alone resolves the workspace's
# features differently from `cargo test --workspace` and would build it again.
DB_MIGRATE_BIN="$root/target/debug/db-migrate" bash examples/quickstart/run.sh >/dev/null

step "benchmark script smoke run (debug build, 50 migrations)"
python3 bench/core.py --binary target/debug/db-migrate --count 50 --repeat 1
step "bench/components.py"
python3 bench/components.py --binary target/debug/db-migrate --count 10 --repeat 1
step "bench/mongo.py"
python3 bench/mongo.py --binary target/debug/db-migrate --docs 2000 --repeat 1
step "bench/seeds.py"
python3 bench/seeds.py --binary target/debug/db-migrate --rows 20000 --repeat 1
step "bench/polyglot.py"
python3 bench/polyglot.py --binary target/debug/db-migrate --repeat 2
step "bench/knex.py"
python3 bench/knex.py --binary target/debug/db-migrate --count 10 --repeat 1
step "bench/alembic.py"
python3 bench/alembic.py --binary target/debug/db-migrate --count 10 --repeat 1
step "all passed"
