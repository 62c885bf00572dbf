#!/usr/bin/env bash
# Density (issue 3, item 8): N idle Linux VMs on one VMM. Boots them all to their shells, then
# measures over a quiet window the host CPU the VMM uses and the host memory each VM costs.
#
# Usage: scripts/measure-density.sh [--vms N] [--mem SIZE] [--mode emulate|trap|hw]
#                                   [--host-harts N] [--window SECONDS] [--nimbus PATH]
# Needs the guest images (bash guests/build.sh). Prints one summary; exit 0 when all VMs booted.
set -euo pipefail

vms=32 mem=64M mode=emulate host_harts=2 window=10
nimbus="$(cd "$(dirname "$0")/.." && pwd)/build/release/src/cli/nimbus"
while [ $# -gt 0 ]; do
  case "$1" in
    --vms) vms="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --mode) mode="$2"; shift 2 ;;
    --host-harts) host_harts="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --nimbus) nimbus="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "measure-density: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$nimbus" ] || { echo "measure-density: no nimbus at $nimbus (build it, or pass --nimbus)" >&2; exit 2; }
# shellcheck source=/dev/null
source "$(dirname "$0")/../guests/paths.sh"
[ -f "${NIMBUS_GUEST_KERNEL:-}" ] && [ -f "${NIMBUS_GUEST_INITRD:-}" ] ||
  { echo "measure-density: guest images missing: run bash guests/build.sh" >&2; exit 2; }

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

args=()
for i in $(seq 1 "$vms"); do
  cat > "$work/vm$i.toml" <<TOML
name = "idle$i"
memory = "$mem"
mode = "$mode"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=shell"
TOML
  args+=(--vm "$work/vm$i.toml")
done

start=$(date +%s.%N)
"$nimbus" run "${args[@]}" --host-harts "$host_harts" --state-dir "$work/state" > "$work/vmm.out" 2>&1 &
pid=$!

# Booted: every VM's console shows the init marker and then its shell prompt.
deadline=$(( $(date +%s) + 600 ))
while :; do
  ready=0
  for i in $(seq 1 "$vms"); do
    grep -q "NIMBUS-GUEST:" "$work/state/idle$i.log" 2>/dev/null && ready=$((ready + 1))
  done
  [ "$ready" -eq "$vms" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "measure-density: the VMM exited early:" >&2; tail -20 "$work/vmm.out" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "measure-density: only $ready of $vms VMs booted in 600 s" >&2; exit 1; }
  sleep 0.5
done
booted=$(date +%s.%N)
sleep 5   # let the guests' boot-time timers and the shells settle

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); w0=$(date +%s.%N)
sleep "$window"
t1=$(ticks); w1=$(date +%s.%N)

rss_kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
rss=$(rss_kib VmRSS); anon=$(rss_kib RssAnon); shmem=$(rss_kib RssShmem)

awk -v vms="$vms" -v mem="$mem" -v mode="$mode" -v harts="$host_harts" \
    -v boot="$(echo "$booted - $start" | bc)" -v cpu_ticks="$((t1 - t0))" -v hz="$hz" \
    -v wall="$(echo "$w1 - $w0" | bc)" -v rss="$rss" -v anon="$anon" -v shmem="$shmem" 'BEGIN {
  cpu = cpu_ticks / hz / wall * 100
  printf "density: %d idle Linux VMs of %s, mode %s, %d host harts\n", vms, mem, mode, harts
  printf "  all booted to their shells in %.1f s\n", boot
  printf "  host CPU while idle: %.2f%% of one host CPU (%.2f%% of %d), over %.1f s\n", cpu, cpu / harts, harts, wall
  printf "  VMM resident memory: %.1f MiB in all = %.1f MiB guest RAM touched (memfd) + %.1f MiB VMM\n",
         rss / 1024, shmem / 1024, anon / 1024
  printf "  per VM: %.2f MiB of host memory beyond its RAM (VMM anonymous memory / VMs), %.2f MiB of RAM touched\n",
         anon / 1024 / vms, shmem / 1024 / vms
}'
