#!/usr/bin/env bash
# The same Linux image and init under the VMM in every virtualization mode this build has, side
# by side in one run: each VM (2 vCPUs) prints "NIMBUS-TEST: PASS harts=2" and the run exits 0.
# emulate and hw are required; trap joins when its vCPU is built.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
modes=(emulate hw)
probe="$("$NIMBUS_BIN" run --virt trap --kernel /dev/null --state-dir "$TEST_WORK/probe" --timeout 5 < /dev/null 2>&1)"
if [[ "$probe" == *"not available"* ]]; then
  say "note: trap mode is not built yet; running emulate and hw"
else
  modes+=(trap)
fi
vms=()
for mode in "${modes[@]}"; do
  cat > "$TEST_WORK/$mode.toml" <<TOML
name = "$mode"
mode = "$mode"
memory = "128M"
vcpus = 2
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
  vms+=(--vm "$TEST_WORK/$mode.toml")
done
say "checking: ${modes[*]} side by side -> each PASS harts=2, exit 0"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run "${vms[@]}" --host-harts 2 --timeout "$GUEST_TIMEOUT" \
  --state-dir "$TEST_WORK/state" < /dev/null > /dev/null 2> "$TEST_WORK/stderr"
RUN_STATUS=$?
for mode in "${modes[@]}"; do
  log="$TEST_WORK/state/$mode.log"
  grep -aq '^NIMBUS-TEST: PASS harts=2' "$log" || {
    tail -20 "$log" | sed 's/^/    /'; cat "$TEST_WORK/stderr"; fail "mode $mode did not pass (exit $RUN_STATUS)"; }
  say "ok: $mode: $(grep -a -m1 '^NIMBUS-TEST' "$log" | tr -d '\r')"
done
# The guest's own report of itself is identical in every mode.
first="$(grep -a -m1 '^NIMBUS-GUEST: Linux' "$TEST_WORK/state/emulate.log" | tr -d '\r')"
for mode in "${modes[@]}"; do
  [ "$(grep -a -m1 '^NIMBUS-GUEST: Linux' "$TEST_WORK/state/$mode.log" | tr -d '\r')" = "$first" ] ||
    fail "mode $mode reports a different guest than emulate"
done
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/stderr"; fail "expected exit 0, got $RUN_STATUS"; }
"$NIMBUS_BIN" stats --json --state-dir "$TEST_WORK/state" | python3 -c '
import json, sys
vms = {vm["name"]: vm for vm in json.load(sys.stdin)["vms"]}
assert vms["emulate"]["exits"]["mmio"] == 0, vms["emulate"]
assert vms["hw"]["g_stage_faults"] > 0 and vms["hw"]["exits"]["mmio"] > 0, vms["hw"]
' || fail "counters do not show the modes at work (emulate: no MMIO exits; hw: G-stage faults and MMIO exits)"
say "ok: exit 0; emulate has no MMIO exits, hw has G-stage faults and MMIO exits"
