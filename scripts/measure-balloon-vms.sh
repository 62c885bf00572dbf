#!/usr/bin/env bash
# Memory given back (issue 13, item 2): N Linux VMs with balloons on one VMM. Boots them to their
# shells, then has each write 64 MiB to tmpfs and delete it, and prints the VMM's RSS and the host
# memory the VMs' RAM holds (nimbus stats: host_resident_bytes) idle, after the writes, and
# 10 s after the deletes (free page reporting gives the memory back).
# With --machine-mem SIZE the VMM's frame pool is that size (less than the VMs' sum: memory given
# back returns to the pool, docs/board.md "Memory given back"), and with --busy K only K VMs at a
# time write and delete their 64 MiB, in turns, so the VMs are not all busy at once; the pool's
# free memory is printed after each turn, and every VM must still be running at the end.
#
# Usage: scripts/measure-balloon-vms.sh [--vms N] [--host-harts N] [--machine-mem SIZE] [--busy K] [--nimbus PATH]
# VMs are 256 MiB: Linux reports free pages only with 128 MiB free above its watermark.
# Needs the guest images (bash guests/build.sh). Exit 0 when every step completed.
# shellcheck disable=SC2016  # typed lines are for the guest's shell to expand
set -euo pipefail

vms=32 host_harts=2 machine_mem="" busy=0
nimbus="$(cd "$(dirname "$0")/.." && pwd)/build/release/src/cli/nimbus"
while [ $# -gt 0 ]; do
  case "$1" in
    --vms) vms="$2"; shift 2 ;;
    --host-harts) host_harts="$2"; shift 2 ;;
    --nimbus) nimbus="$2"; shift 2 ;;
    --machine-mem) machine_mem="$2"; shift 2 ;;
    --busy) busy="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/../guests/paths.sh"
nimbus_guest_ready kernel initramfs || { echo "guest images not built: bash guests/build.sh" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/nimbus-balloon-vms.XXXXXX")"
state="$work/state"
args=()
for i in $(seq 1 "$vms"); do
  printf 'name = "v%s"\nmemory = "256M"\nkernel = "%s"\ninitrd = "%s"\nappend = "console=ttyS0"\nballoon = true\n' \
    "$i" "$NIMBUS_GUEST_KERNEL" "$NIMBUS_GUEST_INITRD" > "$work/v$i.toml"
  args+=(--vm "$work/v$i.toml")
done
[ -n "$machine_mem" ] && args+=(--machine-mem "$machine_mem")
[ "$busy" -gt 0 ] && [ "$busy" -le "$vms" ] || busy=$vms
"$nimbus" run "${args[@]}" --host-harts "$host_harts" --timeout 3600 --state-dir "$state" \
  < /dev/null > /dev/null 2> "$work/vmm.err" &
vmm=$!
# `|| true`: at a normal end the VMM has exited, kill fails, and under set -e a failing command
# in the EXIT trap made the script exit 1 (and skip the rm) after every step had passed.
trap 'kill $vmm 2>/dev/null || true; rm -rf "$work"' EXIT
start=$SECONDS
wait_all() {   # wait_all PATTERN [FIRST LAST]: every VM's console log has a line starting with it
  for i in $(seq "${2:-1}" "${3:-$vms}"); do
    until grep -aq "$1" "$state/v$i.log" 2>/dev/null; do
      kill -0 $vmm 2>/dev/null || { cat "$work/vmm.err"; echo "the VMM exited" >&2; exit 1; }
      [ $((SECONDS - start)) -lt 3300 ] || { echo "v$i: no '$1' in time" >&2; exit 1; }
      sleep 1
    done
  done
}
rss() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$vmm/status"; }
held() {
  "$nimbus" stats --json --state-dir "$state" |
    python3 -c 'import json, sys; print(sum(v["host_resident_bytes"] for v in json.load(sys.stdin)["vms"]) >> 20)'
}
pool_py=$(cat <<'PY'
import json, sys
s = json.load(sys.stdin)
vms = s["vms"]
running = sum(v["state"] == "running" for v in vms)
back = sum(v.get("pool_returned_bytes", 0) for v in vms) >> 20
print("pool %d MiB free of %d MiB, %d MiB given back to it so far, %d of %d VMs running"
      % (s["machine_memory_free"] >> 20, s["machine_memory"] >> 20, back, running, len(vms)))
for v in vms:
    if v["state"] != "running":
        print("  %s: %s: %s" % (v.get("name", "?"), v["state"], v.get("reason", "")))
PY
)
pool() {   # the frame pool: free of total, what went back to it, VMs running
  "$nimbus" stats --json --state-dir "$state" | python3 -c "$pool_py"
}
type_into() {   # type_into N LINE: types LINE into VM vN's console and detaches
  local fifo="$work/feed.$1.$RANDOM"
  mkfifo "$fifo"
  ( exec 3> "$fifo"; printf '%s\n' "$2" >&3; sleep 1; printf '\001x' >&3; exec sleep 20 ) &
  local feeder=$!
  timeout 60 "$nimbus" console "v$1" --state-dir "$state" < "$fifo" > /dev/null 2>&1 || true
  kill "$feeder" 2>/dev/null || true
  wait "$feeder" 2>/dev/null || true
}
type_all() {   # type_all LINE [FIRST LAST]
  local pids=()
  for i in $(seq "${2:-1}" "${3:-$vms}"); do type_into "$i" "$1" & pids+=($!); done
  wait "${pids[@]}"
}

wait_all 'NIMBUS-GUEST: busybox shell'
echo "all $vms VMs at their shells after $((SECONDS - start)) s"
sleep 10
echo "idle: VMM RSS $(rss) MiB, the VMs' RAM holds $(held) MiB of host memory ($((vms * 256)) MiB configured)"
echo "idle: $(pool)"
for first in $(seq 1 "$busy" "$vms"); do
  last=$((first + busy - 1)); [ "$last" -le "$vms" ] || last=$vms
  type_all 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; echo "filled=$((32 * 2))"' "$first" "$last"
  wait_all '^filled=64' "$first" "$last"
  sleep 2
  echo "v$first-v$last each wrote 64 MiB to tmpfs: VMM RSS $(rss) MiB, the VMs' RAM holds $(held) MiB; $(pool)"
  type_all 'rm /tmp/fill; echo "removed=$((40 + 2))"' "$first" "$last"
  wait_all '^removed=42' "$first" "$last"
  sleep 10
  echo "10 s after v$first-v$last deleted it: VMM RSS $(rss) MiB, the VMs' RAM holds $(held) MiB; $(pool)"
done
final="$(pool)"
echo "end: $final"
type_all 'poweroff -f'
status=0
wait $vmm || status=$?
[ "$status" -eq 0 ] || { tail -5 "$work/vmm.err"; echo "the VMM exited with $status" >&2; exit 1; }
case "$final" in *" $vms of $vms VMs running"*) ;; *) echo "not every VM ran to the end" >&2; exit 1 ;; esac
