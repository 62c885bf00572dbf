#!/usr/bin/env bash
# VMs that bring their own M-mode (emulate mode only):
#  1. bios = "none": a bare-metal M-mode program (the differential program irq_uart_no_iir: an
#     xv6-style UART driver with interrupts through the PLIC's M context, started at 0x8000_0000
#     as QEMU -bios none does) runs as a VM next to a Linux VM on the VMM's SBI; both finish
#     correctly (the program prints its signature and powers off through the syscon, Linux
#     passes), the run exits 0.
#  2. bios = "opensbi": Linux on Debian's OpenSBI fw_dynamic inside the VM reaches its marker, and
#     its SBI is OpenSBI's (implementation ID 1), not the VMM's.
#  3. mode = "trap" or "hw" with bios = "opensbi" is a configuration error (exit 2) naming the key.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
[ -f "$NIMBUS_OPENSBI_DYNAMIC" ] || skip "opensbi package not installed"
"$NIMBUS_SOURCE_DIR/tests/differential/build-programs.sh" "$TEST_WORK/prog" irq_uart_no_iir \
  || fail "could not build the bare-metal program"

cat > "$TEST_WORK/bare.toml" <<TOML
name = "bare"
memory = "64M"
kernel = "$TEST_WORK/prog/irq_uart_no_iir.elf"
bios = "none"
TOML
cat > "$TEST_WORK/linux.toml" <<TOML
name = "linux"
memory = "128M"
vcpus = 2
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
say "checking: bios=none M-mode program next to Linux on the VMM's SBI -> both finish, exit 0"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/bare.toml" --vm "$TEST_WORK/linux.toml" \
  --host-harts 2 --deterministic --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" \
  --log-dir "$TEST_WORK/logs" < /dev/null > "$TEST_WORK/stdout" 2> "$TEST_WORK/stderr"
RUN_STATUS=$?
bare_log="$TEST_WORK/logs/bare.log"
[ -f "$bare_log" ] || fail "no console log for the bare VM"
tr -d '\r' < "$bare_log" > "$TEST_WORK/bare.out"
for line in "phase_a.interrupts: 0x0000000000000001" "phase_b.interrupts: 0x0000000000000001" \
            "phase_c.bounded: 0x0000000000000001" "DONE"; do
  grep -qxF "$line" "$TEST_WORK/bare.out" || { cat "$TEST_WORK/bare.out"; cat "$TEST_WORK/stderr"; fail "bare VM: no line '$line'"; }
done
say "ok: bare: $(grep -c . "$TEST_WORK/bare.out") lines, $(grep -m1 '^phase_a.interrupts' "$TEST_WORK/bare.out")"
grep -aq '^NIMBUS-TEST: PASS harts=2' "$TEST_WORK/logs/linux.log" || {
  tail -20 "$TEST_WORK/logs/linux.log"; cat "$TEST_WORK/stderr"; fail "Linux next to the bare VM did not pass"; }
say "ok: linux: $(grep -a -m1 '^NIMBUS-TEST' "$TEST_WORK/logs/linux.log" | tr -d '\r')"
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/stderr"; fail "expected exit 0, got $RUN_STATUS"; }
grep -q "VM 'bare' powered off (exit code 0" "$TEST_WORK/stderr" || { cat "$TEST_WORK/stderr"; fail "no power-off report for bare"; }

cat > "$TEST_WORK/osbi.toml" <<TOML
name = "osbi"
memory = "128M"
vcpus = 2
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
bios = "opensbi"
TOML
say "checking: Linux on OpenSBI inside an emulate-mode VM reaches its marker on OpenSBI's SBI"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/osbi.toml" --deterministic \
  --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state2" --log-dir "$TEST_WORK/logs2" \
  < /dev/null > "$TEST_WORK/stdout2" 2> "$TEST_WORK/stderr2"
RUN_STATUS=$?
log="$TEST_WORK/logs2/osbi.log"
[ -f "$log" ] || fail "no console log for the OpenSBI VM"
grep -aq 'OpenSBI v' "$log" || { head -30 "$log"; fail "no OpenSBI banner"; }
grep -aq '^NIMBUS-TEST: PASS harts=2' "$log" || { tail -20 "$log"; cat "$TEST_WORK/stderr2"; fail "Linux on OpenSBI did not pass (exit $RUN_STATUS)"; }
grep -aq 'SBI implementation ID=0x1 ' "$log" || { grep -a 'SBI' "$log"; fail "Linux did not run on OpenSBI's SBI"; }
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/stderr2"; fail "expected exit 0, got $RUN_STATUS"; }
say "ok: $(grep -a -m1 'OpenSBI v' "$log" | tr -d '\r'); $(grep -a -m1 '^NIMBUS-TEST' "$log" | tr -d '\r')"

for mode in trap hw; do
  sed "s/^bios = .*/bios = \"opensbi\"\nmode = \"$mode\"/" "$TEST_WORK/osbi.toml" > "$TEST_WORK/bad-$mode.toml"
  "$NIMBUS_BIN" run --vm "$TEST_WORK/bad-$mode.toml" --state-dir "$TEST_WORK/state3" < /dev/null \
    > /dev/null 2> "$TEST_WORK/bad.err"
  status=$?
  [ "$status" -eq 2 ] || { cat "$TEST_WORK/bad.err"; fail "mode=$mode with bios=opensbi: expected exit 2, got $status"; }
  grep -q "key 'bios'" "$TEST_WORK/bad.err" || { cat "$TEST_WORK/bad.err"; fail "mode=$mode: error does not name the key"; }
  say "ok: mode=$mode: $(head -1 "$TEST_WORK/bad.err")"
done
