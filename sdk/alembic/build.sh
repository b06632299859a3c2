#!/usr/bin/env bash
# Builds db-migrate's Alembic runtime component (alembic-runtime.wasm).
#
#   sdk/alembic/build.sh DEPS_DIR [OUT.wasm]
#
# 1. installs the pinned packages, pure Python, into DEPS_DIR (pip install --target);
# 2. runs componentize-py for world `migration` of wit/runtime.wit over runtime/app.py.
# Env: PYTHON (default python3, any CPython with pip: only .py files are kept),
#      COMPONENTIZE_PY (default componentize-py; 0.25.1 tested).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
deps="${1:?usage: build.sh DEPS_DIR [OUT.wasm]}"
out="${2:-alembic-runtime.wasm}"
wit="${WIT_DIR:-$here/../../wit}"
python="${PYTHON:-python3}"
cpy="${COMPONENTIZE_PY:-componentize-py}"

# Pinned: what the runtime was written and tested against. Alembic needs SQLAlchemy, Mako and
# typing-extensions; Mako needs MarkupSafe. SQLAlchemy 2.1 no longer pulls in greenlet.
pins=(
  "alembic==1.20.1"
  "SQLAlchemy==2.1.9"
  "Mako==1.4.3"
  "MarkupSafe==3.0.4"
  "typing-extensions==4.16.0"
)

mkdir -p "$deps"
# componentize-py cannot load native extension modules. SQLAlchemy is built from its sdist with
# its Cython extensions disabled (the pure-Python modules are what it falls back to anyway).
DISABLE_SQLALCHEMY_CEXT=1 "$python" -m pip install --quiet --upgrade --target "$deps" \
  --no-binary SQLAlchemy "${pins[@]}"
# MarkupSafe's wheel carries an optional C speedup; without it MarkupSafe imports its pure
# `_native` module. Console scripts and bytecode for the build machine's Python are not needed.
find "$deps" \( -name '*.so' -o -name '*.pyd' \) -delete
rm -rf "$deps/bin"
find "$deps" -name __pycache__ -type d -prune -exec rm -rf {} +

# app.py is imported (and its warm-up run) at build time; the snapshot is what runs later.
"$cpy" -d "$wit" -w migration componentize app -p "$here/runtime" -p "$deps" -o "$out"
ls -l "$out"
