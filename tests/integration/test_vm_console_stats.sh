#!/usr/bin/env bash
# Consoles and counters of a running VMM: two Linux VMs at their busybox shells. `nimbus stats
# --json` shows both running; `nimbus console alpha` runs a command in alpha and sees alpha power
# off; `nimbus console beta` runs a command and detaches with Ctrl-A x while beta keeps running;
# a second attach powers beta off; the VMM then exits 0 and its final stats show both stopped.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
state="$TEST_WORK/state"
for name in alpha beta; do
  cat > "$TEST_WORK/$name.toml" <<TOML
name = "$name"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0"
TOML
done
"$NIMBUS_BIN" run --vm "$TEST_WORK/alpha.toml" --vm "$TEST_WORK/beta.toml" --host-harts 2 \
  --timeout "$GUEST_TIMEOUT" --state-dir "$state" < /dev/null > /dev/null 2> "$TEST_WORK/vmm.err" &
vmm=$!
trap 'kill $vmm 2>/dev/null; rm -rf "$TEST_WORK"' EXIT
for name in alpha beta; do
  for _ in $(seq 1 "$GUEST_TIMEOUT"); do
    grep -aq 'NIMBUS-GUEST: busybox shell' "$state/$name.log" 2>/dev/null && break
    kill -0 $vmm 2>/dev/null || { cat "$TEST_WORK/vmm.err"; fail "the VMM exited before $name reached its shell"; }
    sleep 1
  done
  grep -aq 'NIMBUS-GUEST: busybox shell' "$state/$name.log" || fail "$name did not reach its shell"
done
sleep 2
say "ok: both VMs at their shells"

# attach NAME OUT SCRIPT: runs `nimbus console NAME` with SCRIPT's output as its typing (the
# feeder stays alive until the console ends, so input stays open), console output to OUT.
attach() {
  local name="$1" out="$2" script="$3" fifo="$TEST_WORK/feed.$RANDOM"
  mkfifo "$fifo"
  ( exec 3> "$fifo"; eval "$script" >&3; exec sleep 120 ) &
  local feeder=$!
  timeout 90 "$NIMBUS_BIN" console "$name" --state-dir "$state" < "$fifo" 2>&1 | tr -d '\r' > "$out"
  kill "$feeder" 2>/dev/null
  wait "$feeder" 2>/dev/null
}

"$NIMBUS_BIN" stats --json --state-dir "$state" > "$TEST_WORK/stats.json" || fail "nimbus stats --json failed"
python3 - "$TEST_WORK/stats.json" <<'PY' || fail "stats.json of the running VMM is not as expected"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["vmm_running"] is True, s["vmm_running"]
vms = {vm["name"]: vm for vm in s["vms"]}
assert set(vms) == {"alpha", "beta"}, vms.keys()
for vm in vms.values():
    assert vm["state"] == "running", vm
    assert vm["exits"]["sbi_call"] > 0 and vm["world_switches"] > 0 and vm["instructions_retired"] > 0, vm
PY
"$NIMBUS_BIN" stats --state-dir "$state" | grep -q '^instructions retired' || fail "nimbus stats prints no table"
say "ok: nimbus stats shows both VMs running with counters"

attach alpha "$TEST_WORK/alpha.out" "printf 'echo \"answer=\$((6 * 7))\"\\n'; sleep 2; printf 'poweroff -f\\n'"
grep -aq '^answer=42' "$TEST_WORK/alpha.out" || { tail "$TEST_WORK/alpha.out"; fail "no answer=42 through nimbus console alpha"; }
grep -aq "VM 'alpha' stopped" "$TEST_WORK/alpha.out" || { tail "$TEST_WORK/alpha.out"; fail "console did not see alpha stop"; }
say "ok: nimbus console alpha: answer=42, then alpha powered off"

attach beta "$TEST_WORK/beta.out" "printf 'echo \"beta=\$((2 + 3))\"\\n'; sleep 2; printf '\\001x'"
grep -aq '^beta=5' "$TEST_WORK/beta.out" || { tail "$TEST_WORK/beta.out"; fail "no beta=5 through nimbus console beta"; }
grep -aq "detached from VM 'beta'" "$TEST_WORK/beta.out" || { tail "$TEST_WORK/beta.out"; fail "Ctrl-A x did not detach"; }
sleep 1.5   # the next stats rewrite
"$NIMBUS_BIN" stats --json --state-dir "$state" | python3 -c '
import json, sys
vms = {vm["name"]: vm for vm in json.load(sys.stdin)["vms"]}
assert vms["beta"]["state"] == "running", vms["beta"]
assert vms["alpha"]["state"] == "powered off" and vms["alpha"]["exit_code"] == 0, vms["alpha"]
' || fail "after detaching, beta should run and alpha be powered off"
say "ok: Ctrl-A x detached; beta still running, alpha powered off"

attach beta "$TEST_WORK/beta-off.out" "printf 'poweroff -f\\n'"
wait $vmm
RUN_STATUS=$?
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/vmm.err"; fail "the VMM should exit 0 after both powered off, got $RUN_STATUS"; }
"$NIMBUS_BIN" stats --state-dir "$state" > "$TEST_WORK/final.txt"
grep -q "^alpha: powered off, exit code 0" "$TEST_WORK/final.txt" && grep -q "^beta: powered off, exit code 0" "$TEST_WORK/final.txt" &&
  grep -q "VMM has exited" "$TEST_WORK/final.txt" || { cat "$TEST_WORK/final.txt"; fail "final stats"; }
[ ! -e "$state/alpha.console" ] || fail "the console socket of a stopped VM was left behind"
say "ok: VMM exit 0; final stats show both powered off"
