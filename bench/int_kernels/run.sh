#!/usr/bin/env bash
# Integer kernels on QEMU and on Nimbus's JIT, CPU seconds (user + system) of whole runs, the
# machines taking turns (docs/jit.md, "Measured"). Usage:
#   bench/int_kernels/run.sh NIMBUS_BINARY... [-- ROUNDS]
# Each binary runs `BINARY run --bios none --kernel K.elf --jit on`; several binaries (an old and
# a new build) are run in turn with QEMU (`qemu-system-riscv64 -M virt -bios none`). Prints the
# lowest CPU seconds per kernel and machine over the rounds (default 2) and QEMU's ÷ each.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
programs="$here/../../tests/differential/programs"
binaries=()
rounds=2
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then rounds="$2"; break; fi
  binaries+=("$(realpath "$1")"); shift
done
[ ${#binaries[@]} -gt 0 ] || { echo "usage: run.sh NIMBUS_BINARY... [-- ROUNDS]" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
names=(crc sort sieve interp fib muldiv hash bits string)
# 40 repetitions: 2-3 s per run, so the machines' start-up (QEMU's is ~50 ms longer than
# Nimbus's) is a few per cent of a run, not a third of it as at 4 (0.1-0.3 s runs).
reps=(40 40 40 40 40 40 40 40 40)
for k in "${!names[@]}"; do
  "${NIMBUS_CROSS:-riscv64-linux-gnu-}gcc" -DONLY="$k" -DREPS="${reps[$k]}" -O2 -march=rv64gc -mabi=lp64d \
    -mcmodel=medany -nostdlib -nostartfiles -static -no-pie -fno-pic -ffreestanding -fno-builtin \
    -Wl,--no-relax -Wl,--build-id=none -Wl,--no-warn-rwx-segments -I "$programs" -T "$programs/link.ld" \
    -o "$work/k$k.elf" "$programs/crt.S" "$here/int_kernels.c"
done
cpu() { # prints user + system seconds of the command
  /usr/bin/time -f "%U %S" -o "$work/time" "$@" </dev/null >/dev/null 2>&1 || true
  awk '{ print $1 + $2 }' "$work/time"
}
declare -A best
for _ in $(seq "$rounds"); do
  for k in "${!names[@]}"; do
    t="$(cpu timeout 300 qemu-system-riscv64 -M virt -bios none -kernel "$work/k$k.elf" -nographic -m 128M -smp 1 \
      -monitor none -serial stdio)"
    key="$k qemu"; [ -z "${best[$key]:-}" ] || t="$(echo "$t ${best[$key]}" | awk '{ print ($1 < $2) ? $1 : $2 }')"
    best[$key]="$t"
    for b in "${!binaries[@]}"; do
      t="$(cpu timeout 300 "${binaries[$b]}" run --bios none --kernel "$work/k$k.elf" --mem 128M --jit on)"
      key="$k $b"; [ -z "${best[$key]:-}" ] || t="$(echo "$t ${best[$key]}" | awk '{ print ($1 < $2) ? $1 : $2 }')"
      best[$key]="$t"
    done
  done
done
printf '%-8s %8s' kernel qemu
for b in "${!binaries[@]}"; do printf ' %10s %8s' "nimbus$b" "ratio"; done
echo
for k in "${!names[@]}"; do
  printf '%-8s %8s' "${names[$k]}" "${best[$k qemu]}"
  for b in "${!binaries[@]}"; do
    printf ' %10s %8s' "${best[$k $b]}" "$(echo "${best[$k qemu]} ${best[$k $b]}" | awk '{ printf "%.2fx", $1 / $2 }')"
  done
  echo
done
echo "(CPU seconds, lowest of $rounds rounds; ratio = QEMU's seconds / Nimbus's: above 1 is faster than QEMU)"
