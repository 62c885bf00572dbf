#!/usr/bin/env bash
# Builds a static riscv64 busybox from Debian's busybox source package.
# Usage: build-busybox.sh OUTDIR   (OUTDIR receives busybox, config and build.log)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

out="${1:?usage: build-busybox.sh OUTDIR}"
mkdir -p "$out"
command -v "${NIMBUS_CROSS}gcc" >/dev/null || guest_die "${NIMBUS_CROSS}gcc missing (scripts/install-deps.sh)"
[ -f /usr/riscv64-linux-gnu/lib/libc.a ] || guest_die "static riscv64 libc missing: install libc6-dev-riscv64-cross"

# Debian's source, kept across builds (guests/lib.sh fetches it).
srcroot="$NIMBUS_CACHE/src/busybox-${NIMBUS_BUSYBOX_VERSION#*:}"
if [ ! -f "$srcroot/tree/Makefile" ]; then
  guest_log "busybox: fetching Debian source package busybox=$NIMBUS_BUSYBOX_VERSION"
  rm -rf "$srcroot.tmp" && : > "$out/apt.log"
  guest_fetch_debian_source "busybox=$NIMBUS_BUSYBOX_VERSION" "$srcroot.tmp" "$out/apt.log"
  mv "$srcroot.tmp" "$srcroot"
fi

obj="$NIMBUS_CACHE/work/busybox-${NIMBUS_BUSYBOX_VERSION#*:}"
rm -rf "$obj" && mkdir -p "$obj"
bmake=(make -C "$srcroot/tree" O="$obj" ARCH=riscv CROSS_COMPILE="$NIMBUS_CROSS" -j"${NIMBUS_JOBS:-2}")
guest_log "busybox: configuring (defconfig + busybox.config)"
"${bmake[@]}" defconfig > "$out/build.log" 2>&1
# Apply our fragment: each CONFIG_X=value / "# CONFIG_X is not set" line replaces the default.
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) name="${line%%=*}" ;;
    "# CONFIG_"*" is not set") name="${line#\# }"; name="${name%% *}" ;;
    *) continue ;;
  esac
  sed -i -e "/^$name=/d" -e "/^# $name is not set/d" "$obj/.config"
  echo "$line" >> "$obj/.config"
done < "$NIMBUS_GUESTS_DIR/busybox/busybox.config"
(yes '' || true) | "${bmake[@]}" oldconfig >> "$out/build.log" 2>&1
grep -qx 'CONFIG_STATIC=y' "$obj/.config" || guest_die "busybox config lost CONFIG_STATIC"

guest_log "busybox: compiling (log: $out/build.log)"
start=$SECONDS
if ! "${bmake[@]}" busybox >> "$out/build.log" 2>&1; then
  tail -30 "$out/build.log" >&2
  guest_die "busybox build failed (log: $out/build.log)"
fi
# A static executable has no program interpreter.
if "${NIMBUS_CROSS}readelf" -l "$obj/busybox" | grep -q INTERP; then guest_die "busybox is not static"; fi
cp "$obj/busybox" "$out/busybox"
cp "$obj/.config" "$out/config"
guest_log "busybox: done in $((SECONDS - start))s, $(stat -c %s "$out/busybox") bytes"
