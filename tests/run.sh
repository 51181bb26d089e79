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
# A test whose tool is missing fails, naming `bash tests/install-tools.sh`;
# with WASMUNIT_ALLOW_SKIP=1 it skips instead, and each skip is counted here
# (the harness swallows a passing test's output).
skips=$(mktemp)
trap 'rm -f "$skips"' EXIT
status=0
WASMUNIT_SKIP_LOG="$skips" cargo test -- --test-threads=2 || status=$?
skipped=$(wc -l <"$skips")
echo "run.sh: $skipped tests skipped" >&2
if [ "$skipped" -gt 0 ]; then
  sed 's/^/  SKIPPED /' "$skips" >&2
  # Only WASMUNIT_ALLOW_SKIP=1 lets a test skip; a skip without it is a bug.
  [ "${WASMUNIT_ALLOW_SKIP:-}" = 1 ] || status=1
fi
[ "$status" -eq 0 ] || exit "$status"
# The fuzz targets, all three at once for a bounded time (FUZZ_SECONDS,
# default 15).
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash tests/fuzz.sh
