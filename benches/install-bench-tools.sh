#!/usr/bin/env bash
# Tools only the benchmarks compare against: wasm-tools from crates.io.
set -euo pipefail
ROOT="$HOME/.cargo/wasmunit-tools/wasm-tools"
if ! "$ROOT/bin/wasm-tools" --version >/dev/null 2>&1; then
  CARGO_TARGET_DIR="$HOME/.cargo/wasmunit-tools/build-wasm-tools" cargo install wasm-tools --version 1.263.0 --locked --root "$ROOT"
  rm -rf "$HOME/.cargo/wasmunit-tools/build-wasm-tools"
fi
"$ROOT/bin/wasm-tools" --version
bash "$(dirname "$0")/../tests/fetch-modules.sh"
