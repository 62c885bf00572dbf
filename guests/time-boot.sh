#!/usr/bin/env bash
# Measures wall time from start to the guest's "NIMBUS-TEST:" marker (fw_dynamic + Linux +
# initramfs, test mode without disk) on QEMU and, if given, on Nimbus, RUNS times each; the
# machine is stopped as soon as the marker appears (power-off time is not included).
# Usage: guests/time-boot.sh [PATH/TO/nimbus]    Env: RUNS (3), SMP (1)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nimbus="${1:-}"
"$here/build.sh" kernel initramfs > /dev/null || exit 1
source "$here/paths.sh"
append="console=ttyS0 nimbus.mode=test nimbus.disk=none"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# time_to_marker COMMAND...: runs it with the console in $log, prints seconds to the marker.
time_to_marker() {
  : > "$log"
  local start pid line
  start=$(date +%s.%N)
  "$@" < /dev/null > "$log" 2>/dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    line="$(grep -a -m1 '^NIMBUS-TEST:' "$log" | tr -d '\r')"
    if [ -n "$line" ]; then
      echo "$(echo "$(date +%s.%N) - $start" | bc) s  $line"
      kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      return
    fi
    sleep 0.05
  done
  # The machine may power off between two polls.
  line="$(grep -a -m1 '^NIMBUS-TEST:' "$log" | tr -d '\r')"
  if [ -n "$line" ]; then
    echo "$(echo "$(date +%s.%N) - $start" | bc) s  $line (machine already off)"
  else
    echo "no marker (machine exited: $(tail -c 200 "$log" | tr -d '\r' | tail -n 1))"
  fi
}
for run in $(seq 1 "${RUNS:-3}"); do
  echo "qemu   smp=${SMP:-1} run $run: $(time_to_marker timeout 300 qemu-system-riscv64 -M virt -nographic \
    -monitor none -serial stdio -m 256M -smp "${SMP:-1}" -bios "$NIMBUS_OPENSBI_DYNAMIC" \
    -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD" -append "$append")"
  if [ -n "$nimbus" ]; then
    echo "nimbus smp=${SMP:-1} run $run: $(time_to_marker "$nimbus" run --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
      --initrd "$NIMBUS_GUEST_INITRD" --append "$append" --mem 256M --smp "${SMP:-1}" --timeout 300)"
  fi
done
