#!/usr/bin/env bash
# Builds a real systemd-sysupdate and systemd-pull (systemd 262, from Debian
# forky's source package: no Debian suite packages either binary) and the 262
# sysupdate unit files, once, into $HOME/.cache/wasmunit-sysupdate/out/:
#   systemd-sysupdate, systemd-pull   stripped .standalone builds (libc only;
#                                     curl, OpenSSL, libfdisk are dlopen'ed)
#   units/                            systemd-sysupdate-update.service/.timer,
#                                     -reboot, @.service, .socket, ... with the
#                                     alias links meson would install
#   VERSION                           what was built, and how
# Both binaries carry the compiled paths of a /usr prefix: sysupdate runs
# /usr/lib/systemd/systemd-pull unless SYSTEMD_PULL_PATH says otherwise.
# Idempotent: when out/ is complete and VERSION matches it does nothing. The
# orig tarball stays cached beside out/; the build folder is removed.
# About a minute cold on 2 cores (64-76 s measured, apt included), 0.01 s warm.
set -euo pipefail

SYSTEMD_VERSION=262
SUITE=forky
CACHE="${WASMUNIT_SYSUPDATE_CACHE:-$HOME/.cache/wasmunit-sysupdate}"
OUT="$CACHE/out"
BUILD="$CACHE/build"
MESON_OPTIONS=(
  --prefix=/usr --sysconfdir=/etc --localstatedir=/var
  -Dmode=release -Dauto_features=disabled
  -Dimportd=enabled -Dsysupdate=enabled -Dsysupdated=disabled
  -Dlibcurl=enabled -Dopenssl=enabled -Dzlib=enabled -Dxz=enabled
  -Dfdisk=enabled -Dblkid=enabled
  -Dtests=false -Dman=disabled -Dhtml=disabled
)
# A change of version or options rebuilds.
EXPECTED_VERSION="systemd $SYSTEMD_VERSION (Debian $SUITE source)
meson ${MESON_OPTIONS[*]}"

t0=$(date +%s.%N)
step() { awk -v t0="$t0" -v t1="$(date +%s.%N)" -v m="$*" \
  'BEGIN { printf "sysupdate-build: %6.1fs %s\n", t1 - t0, m }' >&2; }

complete() {
  [ -x "$OUT/systemd-sysupdate" ] && [ -x "$OUT/systemd-pull" ] &&
    [ -f "$OUT/units/systemd-sysupdate-update.service" ] &&
    [ "$(cat "$OUT/VERSION" 2>/dev/null)" = "$EXPECTED_VERSION" ]
}
if complete; then
  step "up to date: $OUT"
  exit 0
fi

# 1. Build packages, only those missing.
packages=(meson ninja-build gperf pkg-config gcc libc6-dev libcap-dev libmount-dev
  python3-jinja2 python3-pyelftools libacl1-dev libcurl4-openssl-dev libssl-dev
  libfdisk-dev libblkid-dev zlib1g-dev liblzma-dev)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sysupdate-build: apt-get install ${missing[*]}" >&2
  mkdir -p "$CACHE"
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  } >"$CACHE/apt.log" 2>&1 || { cat "$CACHE/apt.log" >&2; exit 1; }
  rm -f "$CACHE/apt.log"
  step "build packages installed"
fi

# 2. The orig tarball of forky's systemd source package, through a private
# sources list: the machine's own apt lists and caches stay untouched.
tarball=$(ls "$CACHE/src/systemd_$SYSTEMD_VERSION".orig.tar.* 2>/dev/null | head -n1 || true)
if [ -z "$tarball" ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  apt_dir="$CACHE/apt"
  rm -rf "$apt_dir" "$CACHE/src.part"
  mkdir -p "$apt_dir/lists/partial" "$CACHE/src.part"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main" \
    >"$apt_dir/sources.list"
  apt_private=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$apt_dir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o APT::Sandbox::User=root)
  apt-get "${apt_private[@]}" -qq update
  (cd "$CACHE/src.part" && apt-get "${apt_private[@]}" -qq source --download-only systemd)
  tarball=$(ls "$CACHE/src.part/systemd_$SYSTEMD_VERSION".orig.tar.* 2>/dev/null | head -n1 || true)
  if [ -z "$tarball" ]; then
    echo "sysupdate-build: $SUITE's systemd source is not $SYSTEMD_VERSION:" \
      "$(ls "$CACHE/src.part")" >&2
    exit 1
  fi
  mkdir -p "$CACHE/src"
  mv "$tarball" "$CACHE/src/"
  tarball="$CACHE/src/$(basename "$tarball")"
  rm -rf "$CACHE/src.part" "$apt_dir"
  step "downloaded $(basename "$tarball") from $mirror"
fi

# 3. Configure and build only the two programs and the sysupdate units.
rm -rf "$BUILD"
mkdir -p "$BUILD"
tar -xf "$tarball" -C "$BUILD"
src=$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d -name 'systemd-*' | head -n1)
step "unpacked $(basename "$src")"
meson setup "$BUILD/b" "$src" "${MESON_OPTIONS[@]}" >"$BUILD/meson.log" 2>&1 ||
  { tail -n 30 "$BUILD/meson.log" >&2; exit 1; }
step "meson setup"

# The units meson installs when sysupdate is enabled (conditions exactly
# ENABLE_SYSUPDATE in units/meson.build): FILE [LINK...] per line.
units=$(python3 - "$src/units/meson.build" <<'EOF'
import ast, re, sys
for block in re.findall(r"\{[^{}]*\}", open(sys.argv[1]).read()):
    try:
        unit = ast.literal_eval(block)
    except (ValueError, SyntaxError):
        continue
    if isinstance(unit, dict) and unit.get("conditions") == ["ENABLE_SYSUPDATE"]:
        print(unit["file"], *unit.get("symlinks", []))
EOF
)
[ -n "$units" ] || { echo "sysupdate-build: no sysupdate units in units/meson.build" >&2; exit 1; }
rendered=()
while read -r file _; do
  case $file in *.in) rendered+=("units/${file%.in}") ;; esac
done <<<"$units"

ninja -C "$BUILD/b" systemd-sysupdate.standalone systemd-pull.standalone "${rendered[@]}" \
  >"$BUILD/ninja.log" 2>&1 || { tail -n 30 "$BUILD/ninja.log" >&2; exit 1; }
step "ninja: $(grep -c '^\[' "$BUILD/ninja.log") steps"

# 4. Install into out/ (through out.part, so out/ is complete or absent).
rm -rf "$OUT.part"
mkdir -p "$OUT.part/units"
install -m 0755 "$BUILD/b/systemd-sysupdate.standalone" "$OUT.part/systemd-sysupdate"
install -m 0755 "$BUILD/b/systemd-pull.standalone" "$OUT.part/systemd-pull"
strip "$OUT.part/systemd-sysupdate" "$OUT.part/systemd-pull"
while read -r file links; do
  name=${file%.in}
  if [ "$name" != "$file" ]; then
    install -m 0644 "$BUILD/b/units/$name" "$OUT.part/units/$name"
  else
    install -m 0644 "$src/units/$file" "$OUT.part/units/$name"
  fi
  for link in $links; do
    case $link in
      */) mkdir -p "$OUT.part/units/$link" && ln -s "../$name" "$OUT.part/units/$link$name" ;;
      *) ln -s "$name" "$OUT.part/units/$link" ;;
    esac
  done
done <<<"$units"
printf '%s\n' "$EXPECTED_VERSION" >"$OUT.part/VERSION"
"$OUT.part/systemd-sysupdate" --version | sed -n 1p >&2
rm -rf "$OUT"
mv "$OUT.part" "$OUT"
rm -rf "$BUILD"
step "installed into $OUT"
