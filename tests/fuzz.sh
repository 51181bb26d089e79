#!/usr/bin/env bash
# The fuzz targets (fuzz/fuzz_targets: the manifest parser and planner, the
# path resolver, check's inspection of any bytes), all three at once for a
# bounded time (FUZZ_SECONDS, default 15), with libFuzzer through cargo-fuzz
# (installed once into ~/.cargo/bin). The corpus grows under ~/.cache/wasmunit-fuzz,
# so every run starts where the last one stopped. A crash fails the run and
# leaves its input under fuzz/artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-15}
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
targets=(manifest resolver check)
cargo fuzz build --dev --sanitizer none >&2
# The targets run at once (each on its own corpus), so a run costs the
# longest one's time: three for 15 s on two cores give each about the
# 10 s of CPU one after another would.
logs=$(mktemp -d)
pids=()
for target in "${targets[@]}"; do
  mkdir -p "$corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  cargo fuzz run --dev --sanitizer none "$target" "$corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 >"$logs/$target" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
  target=${targets[$i]}
  set +e
  wait "${pids[$i]}"
  status=$?
  set -e
  echo "fuzz: $target" >&2
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|SUMMARY)|panicked' "$logs/$target" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$logs/$target" >&2
    echo "fuzz: $target FAILED (exit $status); the input is under fuzz/artifacts/$target" >&2
    failed=$status
  fi
done
rm -rf "$logs"
[ "$failed" -eq 0 ] || exit "$failed"
echo "fuzz: 3 targets passed"
