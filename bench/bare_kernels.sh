#!/usr/bin/env bash
# Bare-metal kernels (one C file, each kernel built alone) on QEMU and on Nimbus's JIT: CPU seconds
# (user + system) of whole runs, the machines taking turns (docs/jit.md, "Measured"). Sourced by
# bench/int_kernels/run.sh and bench/fp_kernels/run.sh, which set:
#   source_file  the kernels' C file (links with the differential test programs' crt.S, link.ld)
#   names        the kernels, in the file's table order (-DONLY=index)
#   reps         repetitions of each (-DREPS): runs of a second or two, so start-up is small
#   cflags       the C flags beyond the bare-metal ones
# and pass their arguments: NIMBUS_BINARY... [-- ROUNDS]. Each binary runs `BINARY run --bios none
# --kernel K.elf --jit on`, in turn with QEMU (`qemu-system-riscv64 -M virt -bios none`). Every run
# prints each repetition's name, host microseconds and result bits; the results must be QEMU's.
# Prints the lowest CPU seconds per kernel and machine over the rounds (default 2) and QEMU's ÷ each.
set -euo pipefail
programs="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/differential/programs"
binaries=()
rounds=2
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then rounds="$2"; break; fi
  binaries+=("$(realpath "$1")"); shift
done
[ ${#binaries[@]} -gt 0 ] || { echo "usage: run.sh NIMBUS_BINARY... [-- ROUNDS]" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for k in "${!names[@]}"; do
  # shellcheck disable=SC2086 # cflags: several flags
  "${NIMBUS_CROSS:-riscv64-linux-gnu-}gcc" -DONLY="$k" -DREPS="${reps[$k]}" $cflags -march=rv64gc -mabi=lp64d \
    -mcmodel=medany -nostdlib -nostartfiles -static -no-pie -fno-pic -ffreestanding \
    -Wl,--no-relax -Wl,--build-id=none -Wl,--no-warn-rwx-segments -I "$programs" -T "$programs/link.ld" \
    -o "$work/k$k.elf" "$programs/crt.S" "$source_file"
done
cpu() { # KEY COMMAND...: prints user + system seconds of the command; its results (each line's
  # name and bits, not its time) must be QEMU's
  local key="$1"
  shift
  /usr/bin/time -f "%U %S" -o "$work/time" "$@" </dev/null 2>/dev/null | tr -d '\r' | awk 'NF == 3 { print $1, $3 }' > "$work/out.$key" || true
  local what="${names[${key%% *}]} on ${key#* }"
  [ -s "$work/out.$key" ] || { echo "run.sh: $what printed no result" >&2; exit 1; }
  if [ -f "$work/ref.${key%% *}" ]; then
    cmp -s "$work/ref.${key%% *}" "$work/out.$key" || { echo "run.sh: $what: the results differ from QEMU's" >&2; exit 1; }
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
      t="$(cpu "$k nimbus$b" timeout 300 "${binaries[$b]}" run --bios none --kernel "$work/k$k.elf" --mem 128M --jit on)"
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
