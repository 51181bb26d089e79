#!/usr/bin/env bash
# The whole test suite on a fresh machine: install the real tools, then run
# every test tier (unit, golden, systemd-analyze, real wasmtime CLI, real
# systemd manager).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-tools.sh
# The build of README's first command (cargo's own ./target, dev profile)
# is this one's too, unless CARGO_TARGET_DIR says otherwise (CI keeps a
# shared one under ~/.cargo).
cargo test -- --test-threads=2
# The fuzz targets, all three at once for a bounded time (FUZZ_SECONDS,
# default 15).
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash tests/fuzz.sh
