#!/usr/bin/env bash
# The paravirtualized guest kernel (guests/linux/nimbus-pv.patch, docs/trap-mode.md
# "Paravirtual kernel"): in trap mode it finds the Nimbus PV extension and its null system call
# costs at most 2 exits (13 without it); the same kernel in emulate mode, next to it in one VMM,
# is not offered the extension and passes its boot test on the ordinary paths.
# Skips when the guest images (kernel-pv included) have not been built (guests/build.sh).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = nimbus ] || skip "trap mode is a Nimbus VMM mode (no QEMU equivalent)"
require_machine
# shellcheck source=../../guests/paths.sh
source "$NIMBUS_SOURCE_DIR/guests/paths.sh" > /dev/null 2>&1 || true
[ -f "${NIMBUS_GUEST_KERNEL_PV:-}" ] && [ -f "${NIMBUS_GUEST_INITRD:-}" ] ||
  skip "PV guest kernel missing (run guests/build.sh kernel-pv)"

for mode in trap emulate; do
  cat > "$TEST_WORK/pv-$mode.toml" <<TOML
name = "pv-$mode"
memory = "128M"
mode = "$mode"
vcpus = 2
kernel = "$NIMBUS_GUEST_KERNEL_PV"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
done
say "checking: the PV kernel in trap mode (2 vCPUs) and in emulate mode, one VMM -> both PASS"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/pv-trap.toml" --vm "$TEST_WORK/pv-emulate.toml" \
  --host-harts 2 --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" < /dev/null > /dev/null 2> "$TEST_WORK/vms.stderr"
RUN_STATUS=$?
for mode in trap emulate; do
  log="$TEST_WORK/state/pv-$mode.log"
  grep -aq '^NIMBUS-TEST: PASS harts=2' "$log" || {
    tail -20 "$log"; cat "$TEST_WORK/vms.stderr"; fail "the PV kernel did not pass in $mode mode"; }
done
grep -aq 'nimbus-pv: shared CSR page, sret and MMU hypercalls in use' "$TEST_WORK/state/pv-trap.log" ||
  fail "trap mode: the PV kernel did not take the PV paths"
grep -aq 'nimbus-pv: not offered, ordinary paths' "$TEST_WORK/state/pv-emulate.log" ||
  fail "emulate mode: the PV kernel did not fall back to the ordinary paths"
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/vms.stderr"; fail "expected exit 0, got $RUN_STATUS"; }
say "ok: trap mode uses the PV paths, emulate mode the ordinary ones, both pass on 2 vCPUs"

# The probe took effect where it counts: exits per null system call, from the VMM's counters.
say "checking: trap+pv microbenchmarks (scale 1) -> null system call <= 2 exits"
timeout $((GUEST_TIMEOUT * 2)) "$NIMBUS_BIN" bench --kernel "$NIMBUS_GUEST_KERNEL" --pv-kernel "$NIMBUS_GUEST_KERNEL_PV" \
  --initrd "$NIMBUS_GUEST_INITRD" --workload micro --virt trap+pv --micro-scale 1 --json "$TEST_WORK/micro.json" \
  > "$TEST_WORK/micro.out" 2>&1 || { tail -30 "$TEST_WORK/micro.out"; fail "nimbus bench --virt trap+pv failed"; }
exits="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["micro"]["trap+pv"]["null_syscall"]["exits_per_op"])' \
  "$TEST_WORK/micro.json")" || fail "no exits per null system call in the bench's JSON"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2 else 1)' "$exits" ||
  { cat "$TEST_WORK/micro.out"; fail "null system call costs $exits exits with the PV kernel (bar: <= 2)"; }
say "ok: null system call with the PV kernel: $exits exits per call"
