#!/usr/bin/env bash
# Isolation under misbehaving neighbours (issue 3, item 6): the CPU benchmark in a Linux VM alone,
# then next to each hostile VM (a panicked kernel, an SBI trap storm, a spin with interrupts off,
# a garbage kernel), in one VMM with two host harts (one per VM). Prints the benchmark's time in each
# case and its change against running alone; the bar is under 10 %.
#
# Usage: scripts/measure-isolation.sh [--mode emulate|trap|hw] [--rounds N] [--repeat N] [--nimbus PATH]
# Run it on a quiet host: other load on the machine moves the figures more than any neighbour.
set -euo pipefail

mode=emulate rounds=3 repeat=3
nimbus="$(cd "$(dirname "$0")/.." && pwd)/build/release/src/cli/nimbus"
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --nimbus) nimbus="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "measure-isolation: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$nimbus" ] || { echo "measure-isolation: no nimbus at $nimbus (build it, or pass --nimbus)" >&2; exit 2; }
# shellcheck source=/dev/null
source "$(dirname "$0")/../guests/paths.sh"
[ -f "${NIMBUS_GUEST_KERNEL:-}" ] && [ -f "${NIMBUS_GUEST_INITRD:-}" ] ||
  { echo "measure-isolation: guest images missing: run bash guests/build.sh" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
words() { perl -e 'print pack("V*", map { hex } @ARGV)' "$@"; }
words 7ff00893 00000073 ffdff06f > "$work/storm.bin"   # addi a7, zero, 0x7ff; ecall; j .-4
words 10017073 0000006f > "$work/spin.bin"             # csrci sstatus, 2; j .
LC_ALL=C awk 'BEGIN { srand(7); for (i = 0; i < 65536; i++) printf "%c", int(rand() * 256) }' > "$work/garbage.bin"

vm() { # name memory kernel [initrd] [append]
  {
    printf 'name = "%s"\nmode = "%s"\nmemory = "%s"\nkernel = "%s"\n' "$1" "$mode" "$2" "$3"
    if [ -n "${4:-}" ]; then printf 'initrd = "%s"\n' "$4"; fi
    if [ -n "${5:-}" ]; then printf 'append = "%s"\n' "$5"; fi
  } > "$work/$1.toml"
}
vm bench 256M "$NIMBUS_GUEST_KERNEL" "$NIMBUS_GUEST_INITRD" "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds"
vm panic 64M "$NIMBUS_GUEST_KERNEL" "" "console=ttyS0 init=/nonexistent"
vm storm 16M "$work/storm.bin"
vm spin 16M "$work/spin.bin"
vm garbage 16M "$work/garbage.bin"

# The benchmark's own elapsed time (host time: the VM clock follows the host) next to `neighbour`.
# Hostile neighbours never stop, so the VMM is stopped (SIGTERM) once the benchmark has reported.
run_with() {
  # Two host harts in every case (the VMM is configured alike; alone, the second one idles).
  local neighbour="$1" args=(--vm "$work/bench.toml") harts=2 vmm t=""
  if [ "$neighbour" != alone ]; then args+=(--vm "$work/$neighbour.toml"); fi
  rm -rf "$work/state"
  "$nimbus" run "${args[@]}" --host-harts "$harts" --state-dir "$work/state" --timeout 600 < /dev/null > /dev/null 2>&1 &
  vmm=$!
  while kill -0 "$vmm" 2>/dev/null; do
    t=$(sed -n 's/.*NIMBUS-BENCH: .*elapsed=\([0-9.]*\)s.*/\1/p' "$work/state/bench.log" 2>/dev/null | head -1)
    [ -n "$t" ] && break
    sleep 0.2
  done
  kill "$vmm" 2>/dev/null || true
  wait "$vmm" 2>/dev/null || true
  [ -n "$t" ] || t=$(sed -n 's/.*NIMBUS-BENCH: .*elapsed=\([0-9.]*\)s.*/\1/p' "$work/state/bench.log" 2>/dev/null | head -1)
  echo "$t"
}

declare -A best
cases=(alone panic storm spin garbage)
for r in $(seq 1 "$repeat"); do   # in turns, so load that comes and goes hits every case alike
  for c in "${cases[@]}"; do
    t=$(run_with "$c")
    [ -n "$t" ] || { echo "measure-isolation: the benchmark VM printed no result next to $c" >&2; exit 1; }
    if [ -z "${best[$c]:-}" ] || awk -v a="$t" -v b="${best[$c]}" 'BEGIN { exit !(a < b) }'; then best[$c]=$t; fi
    echo "  run $r: next to $c: ${t}s" >&2
  done
done

echo "isolation: CPU benchmark (nimbus.bench=$rounds) in a $mode VM, fastest of $repeat runs"
printf '  %-10s %10s %10s\n' neighbour seconds change
worst=0
for c in "${cases[@]}"; do
  change=$(awk -v t="${best[$c]}" -v a="${best[alone]}" 'BEGIN { printf "%+.1f", (t / a - 1) * 100 }')
  printf '  %-10s %10s %9s%%\n' "$c" "${best[$c]}" "$change"
  worst=$(awk -v w="$worst" -v c="$change" 'BEGIN { c = c < 0 ? -c : c; print (c > w ? c : w) }')
done
echo "  largest change: ${worst}% (bar: under 10%)"
