#!/usr/bin/env bash
# Guests that jump into nothing, storm the machine with traps or execute garbage get the
# exceptions the spec says, and Nimbus keeps running them until the timeout, then reports where
# each hart was. Nimbus itself never crashes (no signal, no sanitizer report). A guest that
# reboots at once, forever, still ends at the timeout and at the instruction limit: both bound
# the whole run, not each of its machines.
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = qemu ] && skip "this checks Nimbus's own stop reporting"

# Raw M-mode programs at 0x80000000 (little-endian instruction words).
emit() { local out="$1"; shift; : > "$out"; for w in "$@"; do printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
  $((w & 0xff)) $((w >> 8 & 0xff)) $((w >> 16 & 0xff)) $((w >> 24 & 0xff)))" >> "$out"; done; }
# jr zero: fetch from address 0 (nothing there); mtvec is 0 too, so every trap faults again.
emit "$TEST_WORK/jump-to-nothing.bin" 0x00000067
# auipc t0,0; addi t0,t0,12; csrw mtvec,t0; ecall -> the handler is the ecall itself: a trap storm.
emit "$TEST_WORK/ecall-storm.bin" 0x00000297 0x00c28293 0x30529073 0x00000073
# auipc t0,0; addi t0,t0,12; csrw mtvec,t0; then an all-ones word: illegal instruction forever.
emit "$TEST_WORK/garbage.bin" 0x00000297 0x00c28293 0x30529073 0xffffffff
# lui t0,0x100; lui t1,0x7; addi t1,t1,0x777; sw t1,0(t0): 0x7777 to the syscon, a reboot.
emit "$TEST_WORK/reboot-storm.bin" 0x001002b7 0x00007337 0x77730313 0x0062a023 0x0000006f

check() {
  local name="$1" expect_pc="$2" what="$3"
  "$NIMBUS_BIN" run --bios none --kernel "$TEST_WORK/$name.bin" --timeout 2 < /dev/null \
    > "$TEST_WORK/$name.out" 2> "$TEST_WORK/$name.err"
  local status=$?
  [ "$status" -eq 124 ] || { cat "$TEST_WORK/$name.err"; fail "$name: exit $status, expected 124 (timeout)"; }
  grep -q "hart 0: pc=$expect_pc M-mode" "$TEST_WORK/$name.err" ||
    { cat "$TEST_WORK/$name.err"; fail "$name: stop report does not show hart 0 at pc=$expect_pc"; }
  if grep -qiE "sanitizer|runtime error|segmentation" "$TEST_WORK/$name.err"; then
    cat "$TEST_WORK/$name.err"; fail "$name: Nimbus reported an internal error"
  fi
  say "ok: $name kept running until the timeout, stopped at pc=$expect_pc ($what)"
}
check jump-to-nothing 0x0 "instruction access faults at 0"
check ecall-storm 0x8000000c "ecall traps into itself"
check garbage 0x8000000c "illegal instruction traps into itself"

# The reboot storm: each reboot is a fresh machine, which once started its own timeout, so the
# run never ended. `timeout 20` keeps a regression from hanging the suite.
for limit in "--timeout 1:124:timeout" "--max-instructions 100000:125:instruction limit"; do
  IFS=: read -r option expect what <<< "$limit"
  # shellcheck disable=SC2086  # the option and its value are two words
  timeout --signal=KILL 20 "$NIMBUS_BIN" run --bios none --kernel "$TEST_WORK/reboot-storm.bin" $option < /dev/null \
    > "$TEST_WORK/storm.out" 2> "$TEST_WORK/storm.err"
  status=$?
  [ "$status" -eq "$expect" ] && grep -q "$what" "$TEST_WORK/storm.err" ||
    { cat "$TEST_WORK/storm.err"; fail "reboot storm with $option: exit $status, expected $expect"; }
  say "ok: a guest rebooting forever stops at $option: $(head -1 "$TEST_WORK/storm.err")"
done
