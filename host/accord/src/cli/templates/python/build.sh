#!/usr/bin/env bash
# Builds policy.py into policy.wasm, a WebAssembly component of the
# {{world}} world of wit/policy.wit, with componentize-py; first writes
# the contract's typed bindings (stubs for an editor, mypy or pyright)
# into bindings/. componentize-py comes from .venv/ when there is one
# (see README.md), else from PATH.
set -euo pipefail
cd "$(dirname "$0")"
tool=componentize-py
if [ -x .venv/bin/componentize-py ]; then tool=.venv/bin/componentize-py; fi
rm -rf bindings
"$tool" -q -d wit -w {{world}} bindings bindings
"$tool" -q -d wit -w {{world}} componentize -p . policy -o policy.wasm
echo "built policy.wasm"
