#!/usr/bin/env bash
# CPU shares with real Linux VMs (issue 3, item 6), each VM busy with the CPU benchmark on one
# host hart, by the host CPU time the scheduler gave each VM (stats.json cpu_seconds):
#   weights 200:100 -> 2:1 within 5 %
#   a VM capped at 30 % never gets more than 30 % of the run
#   a 60 % reservation holds against two busy VMs of equal weight (which would leave it 33 %)
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
seconds=10

vm() { # dir name weight cap reservation
  cat > "$1/$2.toml" <<TOML
name = "$2"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=bench nimbus.bench=100000"
weight = $3
cap = $4
reservation = $5
TOML
}
run_vms() { # dir vm...
  local dir="$1"; shift
  local args=()
  for name in "$@"; do args+=(--vm "$dir/$name.toml"); done
  timeout $((seconds + 30)) "$NIMBUS_BIN" run "${args[@]}" --host-harts 1 --timeout "$seconds" \
    --state-dir "$dir/state" < /dev/null > /dev/null 2> "$dir/stderr"
  local status=$?
  [ "$status" -eq 124 ] || { cat "$dir/stderr"; fail "expected the busy VMs to run until the timeout (124), got $status"; }
}
shares() { # dir: prints name=cpu_seconds ... and the total
  python3 - "$1/state/stats.json" <<'PY'
import json, sys
vms = json.load(open(sys.argv[1]))["vms"]
print(" ".join(f"{vm['name']}={vm['cpu_seconds']:.3f}" for vm in vms), f"total={sum(vm['cpu_seconds'] for vm in vms):.3f}")
PY
}
check() { # dir python-condition message
  python3 - "$1/state/stats.json" "$2" <<'PY' || { explain "$1"; fail "$3"; }
import json, sys
cpu = {vm["name"]: vm["cpu_seconds"] for vm in json.load(open(sys.argv[1]))["vms"]}
total = sum(cpu.values())
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
explain() { # dir: each VM's state (and why it ended, if it did) and the end of the VMM's stderr
  python3 - "$1/state/stats.json" <<'PY'
import json, sys
for vm in json.load(open(sys.argv[1]))["vms"]:
    print(f"[test_vm_shares]   {vm['name']}: {vm['state']}", vm.get("reason", ""), f"(exit {vm['exit_code']})" if "exit_code" in vm else "")
PY
  tail -n 20 "$1/stderr" | sed 's/^/[test_vm_shares]   stderr: /'
}

d="$TEST_WORK/weights"; mkdir -p "$d"
vm "$d" heavy 200 0 0; vm "$d" light 100 0 0
say "checking: weights 200:100 on one host hart -> CPU 2:1 within 5%"
run_vms "$d" heavy light
say "  $(shares "$d")"
check "$d" 'abs(cpu["heavy"] / cpu["light"] - 2) <= 0.1' "weights 200:100 did not give 2:1 within 5%: $(shares "$d")"
say "ok: 2:1 within 5%"

d="$TEST_WORK/cap"; mkdir -p "$d"
vm "$d" capped 100 30 0
say "checking: a VM capped at 30% alone on a host hart never exceeds 30%"
run_vms "$d" capped
say "  $(shares "$d") of ${seconds}s"
# The cap is the guarantee (never above 30 %). The lower bound only catches a cap that starves
# the VM: the host hart is a thread that other tests running beside this one (ctest -j) compete
# with for the host's cores, which cost it a few points of a core in CI (23.9 % once at -j2).
check "$d" "cpu['capped'] <= 0.30 * $seconds * 1.01 and cpu['capped'] >= 0.20 * $seconds" \
  "the capped VM got $(shares "$d") in ${seconds}s, not at most (and close to) 30%"
say "ok: cap holds"

d="$TEST_WORK/reservation"; mkdir -p "$d"
vm "$d" reserved 100 0 60; vm "$d" busy1 100 0 0; vm "$d" busy2 100 0 0
say "checking: a 60% reservation holds against two busy VMs of equal weight"
run_vms "$d" reserved busy1 busy2
say "  $(shares "$d")"
check "$d" 'cpu["reserved"] / total >= 0.57' "the 60% reservation did not hold: $(shares "$d")"
say "ok: reservation holds"
