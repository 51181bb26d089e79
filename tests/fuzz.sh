#!/usr/bin/env bash
# The fuzz targets (fuzz/fuzz_targets: the manifest parser and planner, the
# path resolver, check's inspection of any bytes), each for a bounded time
# (FUZZ_SECONDS, default 10), with libFuzzer through cargo-fuzz (installed
# once into ~/.cargo/bin). The corpus grows under ~/.cache/wasmunit-fuzz,
# so every run starts where the last one stopped. A crash fails the run and
# leaves its input under fuzz/artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-10}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo install cargo-fuzz (once)" >&2
  cargo install --quiet --locked cargo-fuzz
fi
# The fuzz crate is its own workspace: build it with the versions the main
# crate is locked to.
cp Cargo.lock fuzz/Cargo.lock
export CARGO_TARGET_DIR="$HOME/.cargo/wasmunit-fuzz-target"
# A dev build (minutes instead of a quarter hour for wasmtime in release
# with one codegen unit). This toolchain is stable: no sanitizer (-Z flags), and cargo-fuzz's own
# unstable flags allowed.
export RUSTC_BOOTSTRAP=1
corpus="$HOME/.cache/wasmunit-fuzz"
for target in manifest resolver check; do
  mkdir -p "$corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  log=$(mktemp)
  set +e
  cargo fuzz run --dev --sanitizer none "$target" "$corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|SUMMARY)|panicked' "$log" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $target FAILED (exit $status); the input is under fuzz/artifacts/$target" >&2
    exit "$status"
  fi
  rm -f "$log"
done
echo "fuzz: 3 targets passed"
