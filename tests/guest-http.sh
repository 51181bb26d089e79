#!/usr/bin/env bash
# Builds the wasi:http guest (tests/guests/http-hello) with npm's
# componentize-js, as a JavaScript user does, and prints the component's
# path. The toolchain (componentize-js 0.23.0, jco 1.35.0, pinned by the
# lock file) is installed once with `npm ci`; the component is cached by a
# hash of its sources: componentize-js does not build byte-identical
# components, so the tests never assert its hash.
set -euo pipefail
src="$(cd "$(dirname "$0")/guests/http-hello" && pwd)"
cache="$HOME/.cache/wasmunit-guests/http-hello"
key=$(cd "$src" && cat package.json package-lock.json hello.js wit/world.wit | sha256sum | cut -c1-16)
out="$cache/hello-$key.wasm"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi
command -v npm >/dev/null || { echo "guest-http: npm is missing (bash tests/install-tools.sh)" >&2; exit 1; }
mkdir -p "$cache"
toolchain="$cache/toolchain-$(cd "$src" && cat package-lock.json | sha256sum | cut -c1-16)"
if [ ! -x "$toolchain/node_modules/.bin/componentize-js" ]; then
  echo "guest-http: npm ci (componentize-js, jco; about 20 s, once)" >&2
  rm -rf "$toolchain" && mkdir -p "$toolchain"
  cp "$src/package.json" "$src/package-lock.json" "$toolchain/"
  (cd "$toolchain" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wit/deps"
cp "$src/wit/world.wit" "$work/wit/"
# WASI 0.2.10's interfaces: componentize-js 0.23.0's engine exports
# wasi:http/incoming-handler@0.2.10 (a 0.2.12 world fails to encode), and
# jco 1.35.0's own 0.2.10 folder is partial (no `imports` worlds). Its
# 0.2.12 interfaces under the 0.2.10 name: the patch releases between
# them added nothing this world uses.
builtin="$toolchain/node_modules/@bytecodealliance/jco/lib/wit/builtin"
for dir in "$builtin"/0.2.12/wasi-*; do
  pkg=$(basename "$dir")
  mkdir -p "$work/wit/deps/$pkg"
  sed 's/@0\.2\.12/@0.2.10/g' "$dir/package.wit" >"$work/wit/deps/$pkg/package.wit"
done
cp "$src/hello.js" "$work/"
echo "guest-http: componentize-js hello.js (about 15 s)" >&2
(cd "$work" && "$toolchain/node_modules/.bin/componentize-js" hello.js --wit wit --world-name hello -o hello.wasm >&2)
mv "$work/hello.wasm" "$out"
echo "$out"
