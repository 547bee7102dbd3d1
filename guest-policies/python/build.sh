#!/usr/bin/env bash
# Builds the three Python default policies into components:
#   ./build.sh [OUT_DIR]      (default: build/)
# writes OUT_DIR/{match,routing,preflight}.wasm. Needs componentize-py
# (pip install -r requirements.txt) on PATH. `--bindings` also writes each
# slot's typed bindings (stubs for an editor or mypy) into <slot>/bindings/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wit="$here/../../wit"
bindings=0
if [ "${1:-}" = "--bindings" ]; then bindings=1; shift; fi
out="$(mkdir -p "${1:-$here/build}" && cd "${1:-$here/build}" && pwd)"
for slot in match routing preflight; do
  if [ "$bindings" = 1 ]; then
    rm -rf "$here/$slot/bindings"
    componentize-py -q -d "$wit" -w "$slot-policy" bindings "$here/$slot/bindings"
  fi
  # Each slot's folder is its own Python path: the app module `policy`
  # and the generated `wit_world` of that slot's world.
  (cd "$here/$slot" && componentize-py -q -d "$wit" -w "$slot-policy" \
    componentize -p . policy -o "$out/$slot.wasm")
done
