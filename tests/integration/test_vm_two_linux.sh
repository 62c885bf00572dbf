#!/usr/bin/env bash
# Three Linux VMs (2 vCPUs each), one per mode (alpha emulate, beta trap, gamma hw), run side by
# side under the VMM, which is their firmware (no OpenSBI inside): all reach "NIMBUS-TEST: PASS
# harts=2", power off through SBI SRST, and the run exits 0. Each VM's console is in its own log;
# stats.json has every VM's counters, and each VM's two vCPUs ran on their own host threads
# (vcpu_threads 2, in every mode: docs/smp.md), alpha capped at 150 % of a host hart without the
# VMM clamping it to one hart.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
declare -A mode=([alpha]=emulate [beta]=trap [gamma]=hw)
for name in alpha beta gamma; do
  cat > "$TEST_WORK/$name.toml" <<TOML
name = "$name"
mode = "${mode[$name]}"
memory = "128M"
vcpus = 2
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
done
# A cap above one host hart: a VM whose vCPUs run on their own threads may use 100 % per vCPU.
echo 'cap = 150' >> "$TEST_WORK/alpha.toml"
say "checking: nimbus run --vm alpha.toml --vm beta.toml --vm gamma.toml -> all PASS harts=2, exit 0"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/alpha.toml" --vm "$TEST_WORK/beta.toml" --vm "$TEST_WORK/gamma.toml" \
  --host-harts 2 --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" --log-dir "$TEST_WORK/logs" \
  < /dev/null > "$TEST_WORK/stdout" 2> "$TEST_WORK/stderr"
RUN_STATUS=$?
for name in alpha beta gamma; do
  log="$TEST_WORK/logs/$name.log"
  [ -f "$log" ] || fail "no console log for VM $name"
  grep -aq '^NIMBUS-TEST: PASS harts=2' "$log" || {
    tail -20 "$log" | sed 's/^/    /'; cat "$TEST_WORK/stderr"; fail "VM $name did not pass (exit $RUN_STATUS)"; }
  grep -aq 'SBI implementation ID=0x4e494d42' "$log" || fail "VM $name did not run on the VMM's SBI"
  say "ok: $name (${mode[$name]}): $(grep -a -m1 '^NIMBUS-TEST' "$log" | tr -d '\r')"
done
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/stderr"; fail "expected exit 0, got $RUN_STATUS"; }
grep -q "VM 'alpha' powered off (exit code 0" "$TEST_WORK/stderr" || fail "no power-off report for alpha"
stats="$TEST_WORK/state/stats.json"
[ -f "$stats" ] || fail "no stats.json"
"$NIMBUS_BIN" stats --state-dir "$TEST_WORK/state" > "$TEST_WORK/stats.txt" || fail "nimbus stats failed"
grep -q '^  shutdown  *1  *1  *1$' "$TEST_WORK/stats.txt" || { cat "$TEST_WORK/stats.txt"; fail "stats do not show one shutdown per VM"; }
say "ok: exit 0; stats: $(grep '^  sbi_call' "$TEST_WORK/stats.txt" | tr -s ' ')"
python3 -c '
import json, sys
for vm in json.load(open(sys.argv[1]))["vms"]:
    assert vm.get("vcpu_threads") == 2, (vm.get("name"), vm.get("mode"), vm.get("vcpu_threads"))
' "$stats" || fail "the VMs did not run their vCPUs on their own host threads (vcpu_threads in stats.json)"
grep -q "cap and reservation are limited" "$TEST_WORK/stderr" && fail "alpha's cap of 150 % was clamped: $(cat "$TEST_WORK/stderr")"
say "ok: each VM ran its 2 vCPUs on their own host threads; alpha's cap of 150 % stood"
