#!/usr/bin/env bash
# Linux 6.1 boots SMP on two harts (OpenSBI fw_dynamic, HSM hart start) and sees both.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
say "checking: fw_dynamic + Image + initramfs, 2 harts -> 'NIMBUS-TEST: PASS harts=2', exit 0"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" \
  --mem 256M --smp 2 --deterministic
expect_marker "$TEST_WORK/console.log" "harts=2"
