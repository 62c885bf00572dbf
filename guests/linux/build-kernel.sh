#!/usr/bin/env bash
# Builds the Nimbus guest kernel (arch/riscv/boot/Image) from Debian's linux-source-6.1.
# Usage: build-kernel.sh OUTDIR   (OUTDIR receives Image, config and build.log)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

out="${1:?usage: build-kernel.sh OUTDIR}"
version="$(guest_pkg_version linux-source-6.1)"
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || guest_die "$tarball missing: install linux-source-6.1 (scripts/install-deps.sh)"

# The unpacked source is shared by every config; the object tree is reused between config
# changes so iterating on nimbus.config recompiles only what changed.
src="$NIMBUS_CACHE/src/linux-$version"
if [ ! -f "$src/Makefile" ]; then
  guest_log "kernel: unpacking $tarball"
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  tar -xf "$tarball" -C "$src.tmp" --strip-components=1
  mv "$src.tmp" "$src"
fi
obj="$NIMBUS_CACHE/work/linux-$version"
mkdir -p "$obj" "$out"
kmake=(make -C "$src" O="$obj" ARCH=riscv CROSS_COMPILE="$NIMBUS_CROSS" -j"${NIMBUS_JOBS:-2}")

fragment="$NIMBUS_GUESTS_DIR/linux/nimbus.config"
guest_log "kernel: configuring (allnoconfig + nimbus.config)"
"${kmake[@]}" KCONFIG_ALLCONFIG="$fragment" allnoconfig > "$out/build.log" 2>&1
"${kmake[@]}" olddefconfig >> "$out/build.log" 2>&1

# Every line of the fragment must have survived Kconfig's dependency resolution; a silently
# dropped option would produce a kernel that cannot see a device.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=n) name="${line%%=*}"
      if grep -q "^$name=" "$obj/.config"; then guest_log "kernel: $name is set but the fragment disables it"; missing=1; fi ;;
    CONFIG_*=*)
      if ! grep -qx "$line" "$obj/.config"; then guest_log "kernel: option not in final config: $line"; missing=1; fi ;;
  esac
done < "$fragment"
[ "$missing" -eq 0 ] || guest_die "kernel config fragment not fully applied (see above)"

guest_log "kernel: compiling Image (log: $out/build.log)"
start=$SECONDS
"${kmake[@]}" Image >> "$out/build.log" 2>&1 &
make_pid=$!
while kill -0 "$make_pid" 2>/dev/null; do
  sleep 20
  kill -0 "$make_pid" 2>/dev/null || break
  guest_log "kernel: $((SECONDS - start))s, $(grep -c '^  CC' "$out/build.log" || true) files compiled"
done
if ! wait "$make_pid"; then
  tail -30 "$out/build.log" >&2
  guest_die "kernel build failed (log: $out/build.log)"
fi
cp "$obj/arch/riscv/boot/Image" "$out/Image"
cp "$obj/.config" "$out/config"
guest_log "kernel: done in $((SECONDS - start))s, Image $(stat -c %s "$out/Image") bytes"
