#!/usr/bin/env bash
# Floating-point kernels built as gcc builds C by default (fused multiply-adds: fp_kernels.c) on
# QEMU and on Nimbus's JIT, CPU seconds (user + system) of whole runs, the machines taking turns
# (docs/jit.md, "Measured"). Usage:
#   bench/fp_kernels/run.sh NIMBUS_BINARY... [-- ROUNDS]
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
names=(matmul nbody saxpy stencil horner convert clamp)
# Repetitions for runs of about 1-2 s on QEMU, so the machines' start-up is a few per cent.
reps=(8 8 30 24 40 40 12)
for k in "${!names[@]}"; do
  "${NIMBUS_CROSS:-riscv64-linux-gnu-}gcc" -DONLY="$k" -DREPS="${reps[$k]}" -O2 -fno-math-errno -march=rv64gc -mabi=lp64d \
    -mcmodel=medany -nostdlib -nostartfiles -static -no-pie -fno-pic -ffreestanding \
    -Wl,--no-relax -Wl,--build-id=none -Wl,--no-warn-rwx-segments -I "$programs" -T "$programs/link.ld" \
    -o "$work/k$k.elf" "$programs/crt.S" "$here/fp_kernels.c"
done
cpu() { # KEY COMMAND...: prints user + system seconds of the command; its results (each line's
  # name and bits, not its time) must be QEMU's
  local key="$1"
  shift
  /usr/bin/time -f "%U %S" -o "$work/time" "$@" </dev/null 2>/dev/null | tr -d '\r' | awk 'NF == 3 { print $1, $3 }' > "$work/out.$key" || true
  [ -s "$work/out.$key" ] || { echo "run.sh: $key printed no result" >&2; exit 1; }
  if [ -f "$work/ref.${key%% *}" ]; then
    cmp -s "$work/ref.${key%% *}" "$work/out.$key" || { echo "run.sh: $key's results differ from QEMU's" >&2; exit 1; }
  else
    cp "$work/out.$key" "$work/ref.${key%% *}"
  fi
  awk '{ print $1 + $2 }' "$work/time"
}
declare -A best
for _ in $(seq "$rounds"); do
  for k in "${!names[@]}"; do
    t="$(cpu "$k qemu" timeout 300 qemu-system-riscv64 -M virt -bios none -kernel "$work/k$k.elf" -nographic -m 128M -smp 1 \
      -monitor none -serial stdio)"
    key="$k qemu"; [ -z "${best[$key]:-}" ] || t="$(echo "$t ${best[$key]}" | awk '{ print ($1 < $2) ? $1 : $2 }')"
    best[$key]="$t"
    for b in "${!binaries[@]}"; do
      t="$(cpu "$k $b" timeout 300 "${binaries[$b]}" run --bios none --kernel "$work/k$k.elf" --mem 128M --jit on)"
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
echo "(CPU seconds, lowest of $rounds rounds; ratio = QEMU's seconds / Nimbus's: above 1 is faster than QEMU;"
echo " every kernel's results the same on every machine)"
