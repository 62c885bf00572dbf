#!/usr/bin/env bash
# One VM under the VMM without a TOML file: nimbus run --virt emulate boots Linux with 2 vCPUs on
# the terminal console (the VMM as firmware) to PASS and exit 0; --deterministic runs repeat
# exactly; an unknown mode is a clear usage error.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
args=(--virt emulate --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" --state-dir "$TEST_WORK/state"
      --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" --mem 128M --smp 2 --deterministic)
say "checking: --virt emulate --smp 2 -> PASS harts=2, exit 0, twice identical"
run_guest "$TEST_WORK/one.log" "$GUEST_TIMEOUT" "${args[@]}"
expect_marker "$TEST_WORK/one.log" "harts=2"
run_guest "$TEST_WORK/two.log" "$GUEST_TIMEOUT" "${args[@]}"
expect_marker "$TEST_WORK/two.log" "harts=2"
cmp -s "$TEST_WORK/one.log" "$TEST_WORK/two.log" || { diff "$TEST_WORK/one.log" "$TEST_WORK/two.log" | head; fail "deterministic VM runs differ"; }
say "ok: two deterministic runs printed identical consoles"
"$NIMBUS_BIN" run --virt bogus --kernel "$NIMBUS_GUEST_KERNEL" --state-dir "$TEST_WORK/state" --timeout 5 \
  < /dev/null > /dev/null 2> "$TEST_WORK/mode.err"
status=$?
[ "$status" -eq 2 ] && grep -q "is not a mode" "$TEST_WORK/mode.err" || { cat "$TEST_WORK/mode.err"; fail "--virt bogus should be a usage error (exit 2), got $status"; }
say "ok: --virt bogus: $(head -1 "$TEST_WORK/mode.err") (exit 2)"
