#!/bin/bash
# CPU seconds (user + system) the guest CPU benchmark costs on Nimbus (JIT on and off) and on
# QEMU: each machine runs boot + `nimbus.bench=ROUNDS`, then boot alone (`nimbus.mode=test`), and
# the difference is the benchmark's. Unlike `nimbus bench`'s guest seconds, CPU time does not
# count the time a loaded host keeps the process waiting (docs/jit.md, "Measured").
#
#   bench/cpu_seconds_vs_qemu.sh NIMBUS [ROUNDS [MODES]]      (guest images from guests/build.sh)
#
# MODES (e.g. "bare emulate trap hw"; default "bare"): where Nimbus runs the guest, the bare
# machine (on OpenSBI) or one VM under the VMM in that --virt mode (the VMM is its firmware); every
# mode with the JIT on and off, QEMU once, all in one run so the ratios share the host's load.
set -euo pipefail
nimbus=${1:?usage: $0 NIMBUS [ROUNDS [MODES]]}
rounds=${2:-5}
modes=${3:-bare}
source "$(dirname "$0")/../guests/paths.sh"
bios=$NIMBUS_OPENSBI_DYNAMIC
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cpu_seconds() { # command... (the kernel command line last)
  /usr/bin/time -f "%U %S" -o "$out/time" "$@" > "$out/console" 2>&1 < /dev/null || true
  grep -q "NIMBUS-BENCH\|NIMBUS-TEST" "$out/console" || { echo "no result marker from: $*" >&2; tail -5 "$out/console" >&2; exit 1; }
  tail -1 "$out/time" | awk '{printf "%.2f", $1 + $2}'
}
measure() { # name, command prefix...
  local name=$1; shift
  local all boot
  all=$(cpu_seconds "$@" "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds")
  boot=$(cpu_seconds "$@" "console=ttyS0 nimbus.mode=test")
  printf '%-20s benchmark %6.2f s   boot %5.2f s\n' "$name" "$(echo "$all - $boot" | bc)" "$boot"
}
measure "QEMU" qemu-system-riscv64 -M virt -nographic -m 256M -smp 1 -bios "$bios" \
  -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD" -append
for mode in $modes; do
  for jit in on off; do
    if [ "$mode" = bare ]; then
      measure "Nimbus --jit $jit" "$nimbus" run --jit "$jit" --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
        --bios "$bios" --mem 256M --append
    else
      measure "$mode --jit $jit" "$nimbus" run --virt "$mode" --jit "$jit" --kernel "$NIMBUS_GUEST_KERNEL" \
        --initrd "$NIMBUS_GUEST_INITRD" --mem 256M --state-dir "$out/state" --console-stdout --append
    fi
  done
done
