#!/usr/bin/env bash
# vCPU scaling (issue 11): the same parallel guest workload, two nimbus-bench processes at once,
# on 1 hart and then on 2 harts (each on its own host thread), back to back in one sitting.
# Each process prints its own elapsed time (the guest's clock is the host's); the throughput
# ratio is elapsed(1 hart) / elapsed(2 harts) of the slower process. A benchmark, not a test:
# on a shared host the figure is noisy, so run it when the host is otherwise quiet.
# Usage: smp-scaling.sh NIMBUS_BIN [ROUNDS [extra nimbus run options, e.g. --jit on]]
# SMP_SCALING_PAIRS=N (default 1) repeats the 1-hart/2-hart pair N times, alternating, and prints
# every pair's ratio and their median (one pair on a busy host can be far off either way).
# SMP_SCALING_VIRT=emulate (or trap, hw) runs the guest as a VM under the VMM in that mode (the
# VMM is its firmware; each vCPU on its own host thread where the mode allows: docs/smp.md)
# instead of on the bare machine with OpenSBI.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../paths.sh"
nimbus="${1:?usage: smp-scaling.sh NIMBUS_BIN [ROUNDS [nimbus run options...]]}"
rounds="${2:-3}"
shift $(( $# >= 2 ? 2 : 1 ))
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One boot with --smp $1: waits for the shell, runs the two processes, powers off. Prints the
# slower process's elapsed seconds.
run_once() {
  local smp="$1"; shift
  local log="$work/smp$smp.log" fifo="$work/smp$smp.in"
  rm -f "$fifo"
  mkfifo "$fifo"
  : > "$log"
  (
    exec 3> "$fifo"
    for _ in $(seq 1 600); do
      grep -aq 'NIMBUS-GUEST: busybox shell' "$log" 2>/dev/null && break
      sleep 1
    done
    sleep 1
    printf '/bin/nimbus-bench %s & /bin/nimbus-bench %s & wait; poweroff -f\n' "$rounds" "$rounds" >&3
    sleep 3600
  ) &
  local feeder=$!
  local platform=(--bios opensbi)
  [ -n "${SMP_SCALING_VIRT:-}" ] && platform=(--virt "$SMP_SCALING_VIRT")
  "$nimbus" run "${platform[@]}" --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
    --append "console=ttyS0" --mem 256M --smp "$smp" --timeout 1800 "$@" < "$fifo" 2> "$log.stderr" |
    stdbuf -oL tr -d '\r' > "$log" || true
  kill "$feeder" 2>/dev/null || true
  local times
  times=$(grep -ao 'NIMBUS-BENCH: .*elapsed=[0-9.]*s' "$log" | sed 's/.*elapsed=\([0-9.]*\)s/\1/')
  if [ "$(echo "$times" | grep -c .)" -ne 2 ]; then
    echo "smp-scaling: --smp $smp did not print two NIMBUS-BENCH lines; console log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  echo "$times" | sort -n | tail -1
}

pairs="${SMP_SCALING_PAIRS:-1}"
ratios=()
for pair in $(seq 1 "$pairs"); do
  one=$(run_once 1 "$@")
  two=$(run_once 2 "$@")
  ratio=$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", a / b }')
  ratios+=("$ratio")
  echo "smp-scaling: pair $pair: 2 x nimbus-bench $rounds: 1 hart ${one}s, 2 harts ${two}s (slower process): 2-hart throughput = ${ratio}x 1-hart"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { print (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }')
echo "smp-scaling: median of $pairs pair(s): 2-hart throughput = ${median}x 1-hart (${SMP_SCALING_VIRT:+--virt $SMP_SCALING_VIRT, }options: ${*:-none})"
