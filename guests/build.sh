#!/usr/bin/env bash
# Builds the Nimbus guest artefacts, each cached by a hash of its inputs under
# ${NIMBUS_CACHE:-$HOME/.cache/nimbus}/guests/<component>-<hash>/. A second run is instant.
#
# Usage: guests/build.sh [COMPONENT...]    components: kernel kernel-pv busybox bench initramfs uboot
#        (default: all). Prints the artefact paths at the end; tests find the same paths with
#        `source guests/paths.sh`.
# Env:   NIMBUS_CACHE (cache root), NIMBUS_JOBS (parallel jobs, default 2)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

# Tests and other checkouts may call this script in parallel: one build of a component at a time
# (every kernel config shares one object tree), and the others wait and then find the cache
# complete. A build of one component never waits for another's (an initramfs for a kernel).
declare -A NIMBUS_LOCKS_HELD=()
lock_component() { # name
  local fd
  [ -z "${NIMBUS_LOCKS_HELD[$1]:-}" ] || return 0
  NIMBUS_LOCKS_HELD[$1]=1
  mkdir -p "$NIMBUS_GUEST_CACHE"
  exec {fd}> "$NIMBUS_GUEST_CACHE/.build-$1.lock"
  if ! flock -n "$fd"; then
    guest_log "$1: another guests/build.sh is building it; waiting"
    flock "$fd"
  fi
}

# Builds one component unless its cache directory is complete. Work happens in <dir>.tmp and
# is renamed at the end, so an interrupted build never looks complete.
build_component() {
  local name="$1"; shift
  local dir
  dir="$(guest_dir "$name")"
  [ -f "$dir/.complete" ] && return 0
  lock_component "$name"
  [ -f "$dir/.complete" ] && return 0
  guest_log "$name: building into $dir"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  nice -n 10 "$@" "$dir.tmp"
  touch "$dir.tmp/.complete"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

build_kernel() { build_component kernel "$here/linux/build-kernel.sh"; }
# The PV kernel copies the first kernel's object tree, so it holds that kernel's lock too.
build_kernel-pv() {
  build_kernel
  local dir
  dir="$(guest_dir kernel-pv)"
  [ -f "$dir/.complete" ] && return 0
  lock_component kernel
  build_component kernel-pv "$here/linux/build-kernel-pv.sh" "$(guest_dir kernel)"
}
build_busybox() { build_component busybox "$here/busybox/build-busybox.sh"; }
build_bench() { build_component bench "$here/bench/build-bench.sh"; }
build_initramfs() {
  build_busybox
  build_bench
  # gen_init_cpio comes from the kernel source the kernel step unpacks.
  build_kernel
  local dir
  dir="$(guest_dir initramfs)"
  [ -f "$dir/.complete" ] && return 0
  lock_component initramfs
  [ -f "$dir/.complete" ] && return 0
  guest_log "initramfs: building into $dir"
  rm -rf "$dir.tmp"
  "$here/initramfs/build-initramfs.sh" "$dir.tmp" "$(guest_dir busybox)/busybox" "$(guest_dir bench)/nimbus-bench"
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}
build_uboot() {
  build_kernel
  build_initramfs
  local dir
  dir="$(guest_dir uboot)"
  [ -f "$dir/.complete" ] && return 0
  lock_component uboot
  [ -f "$dir/.complete" ] && return 0
  guest_log "uboot: building into $dir"
  rm -rf "$dir.tmp"
  "$here/uboot/build-uboot-disk.sh" "$dir.tmp" "$(guest_dir kernel)/Image" "$(guest_dir initramfs)/initramfs.cpio.gz"
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kernel kernel-pv busybox bench initramfs uboot)

for c in "${components[@]}"; do
  case "$c" in
    kernel|kernel-pv|busybox|bench|initramfs|uboot) "build_$c" ;;
    *) echo "guests/build.sh: unknown component '$c' (kernel kernel-pv busybox bench initramfs uboot)" >&2; exit 2 ;;
  esac
done

source "$here/paths.sh"
nimbus_guest_paths
