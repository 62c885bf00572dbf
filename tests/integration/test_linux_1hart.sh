#!/usr/bin/env bash
# Linux 6.1 boots on one hart through Debian's OpenSBI fw_dynamic to the guest's test marker
# and powers off with exit code 0.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
say "checking: fw_dynamic + Image + initramfs, 1 hart, 256M -> 'NIMBUS-TEST: PASS harts=1', exit 0"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" \
  --mem 256M --smp 1 --deterministic
expect_marker "$TEST_WORK/console.log" "harts=1"
grep -aq '^NIMBUS-GUEST: Linux 6.1' "$TEST_WORK/console.log" || fail "banner does not report Linux 6.1"
say "ok: banner: $(grep -a -m1 '^NIMBUS-GUEST: Linux' "$TEST_WORK/console.log")"
