#!/usr/bin/env bash
# Builds the paravirtualized guest kernel (Image-pv): the Nimbus kernel with nimbus-pv.patch
# (the PV interface of `--virt trap`, docs/trap-mode.md). It is the first kernel plus a few
# files, so it reuses that kernel's object tree: a copy of it, pointed at a patched copy of the
# source, recompiles only the patched files and relinks. Without that tree (another config was
# built since) it builds from scratch in its own tree.
# Usage: build-kernel-pv.sh BASE_KERNEL_DIR OUTDIR   (OUTDIR receives Image, config, build.log)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

base="${1:?usage: build-kernel-pv.sh BASE_KERNEL_DIR OUTDIR}"
out="${2:?usage: build-kernel-pv.sh BASE_KERNEL_DIR OUTDIR}"
version="$(guest_pkg_version linux-source-6.1)"
src="$NIMBUS_CACHE/src/linux-$version"
obj="$NIMBUS_CACHE/work/linux-$version"
{ [ -f "$src/Makefile" ] && [ -f "$base/config" ]; } || guest_die "build the kernel first (guests/build.sh kernel)"
patchfile="$NIMBUS_GUESTS_DIR/linux/nimbus-pv.patch"
src_pv="$src-pv"
obj_pv="$obj-pv"
mkdir -p "$out"
start=$SECONDS

# The patched source: hard links to the shared source, with the patched files unshared first.
guest_log "kernel-pv: patching a copy of the source"
rm -rf "$src_pv" && cp -al "$src" "$src_pv"
while read -r f; do
  if [ -e "$src_pv/$f" ]; then cp --remove-destination "$src/$f" "$src_pv/$f"; fi
done < <(sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$patchfile")
patch -d "$src_pv" -p1 --quiet < "$patchfile"

kmake=(make -C "$src_pv" O="$obj_pv" ARCH=riscv CROSS_COMPILE="$NIMBUS_CROSS" -j"${NIMBUS_JOBS:-2}")
rm -rf "$obj_pv"
if [ -f "$obj/.config" ] && cmp -s "$obj/.config" "$base/config" && [ -f "$obj/vmlinux" ]; then
  # Kbuild records the source path in every command and dependency list: rewrite it, so only
  # files whose contents changed are rebuilt.
  guest_log "kernel-pv: reusing the object tree of $base"
  cp -a "$obj" "$obj_pv"
  grep -rlF --include='.*.cmd' --include='*.cmd' --include=Makefile "$src/" "$obj_pv" \
    | xargs -r sed -i "s#$src/#$src_pv/#g"
  ln -sfn "$src_pv" "$obj_pv/source"
else
  guest_log "kernel-pv: no matching object tree of the first kernel; building from scratch"
  mkdir -p "$obj_pv"
  cp "$base/config" "$obj_pv/.config"
  "${kmake[@]}" olddefconfig > "$out/build.log" 2>&1
fi
cmp -s "$obj_pv/.config" "$base/config" || guest_die "kernel-pv: config differs from the first kernel's"

guest_log "kernel-pv: compiling Image (log: $out/build.log)"
if ! "${kmake[@]}" Image >> "$out/build.log" 2>&1; then
  tail -30 "$out/build.log" >&2
  guest_die "kernel-pv build failed (log: $out/build.log)"
fi
cp "$obj_pv/arch/riscv/boot/Image" "$out/Image"
cp "$obj_pv/.config" "$out/config"
guest_log "kernel-pv: done in $((SECONDS - start))s ($(grep -c '^  \(CC\|AS\)' "$out/build.log" || true) files compiled), Image $(stat -c %s "$out/Image") bytes"
