#!/usr/bin/env bash
# Measures wall time from start to the guest's "NIMBUS-TEST:" marker (fw_dynamic + Linux +
# initramfs, test mode without disk) on QEMU and, if given, on Nimbus, RUNS times each.
# Usage: guests/time-boot.sh [PATH/TO/nimbus]    Env: RUNS (3), SMP (1)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nimbus="${1:-}"
"$here/build.sh" kernel initramfs > /dev/null || exit 1
source "$here/paths.sh"
append="console=ttyS0 nimbus.mode=test nimbus.disk=none"

# Prints seconds until the marker appeared (or "none"), reading the console on stdin.
until_marker() {
  local start="$1" line
  while IFS= read -r line; do
    case "$line" in
      NIMBUS-TEST:*) echo "$(echo "$(date +%s.%N) - $start" | bc) s  ${line%$'\r'}"; cat > /dev/null; return ;;
    esac
  done
  echo "none (no marker)"
}
for run in $(seq 1 "${RUNS:-3}"); do
  start=$(date +%s.%N)
  result=$(timeout 300 qemu-system-riscv64 -M virt -nographic -monitor none -serial stdio -m 256M \
    -smp "${SMP:-1}" -bios "$NIMBUS_OPENSBI_DYNAMIC" -kernel "$NIMBUS_GUEST_KERNEL" \
    -initrd "$NIMBUS_GUEST_INITRD" -append "$append" < /dev/null 2>/dev/null | until_marker "$start")
  echo "qemu   smp=${SMP:-1} run $run: $result"
  if [ -n "$nimbus" ]; then
    start=$(date +%s.%N)
    result=$(timeout 330 "$nimbus" run --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
      --append "$append" --mem 256M --smp "${SMP:-1}" --timeout 300 < /dev/null 2>/dev/null | until_marker "$start")
    echo "nimbus smp=${SMP:-1} run $run: $result"
  fi
done
