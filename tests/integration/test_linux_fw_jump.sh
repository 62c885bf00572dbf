#!/usr/bin/env bash
# Linux 6.1 boots through Debian's OpenSBI fw_jump (fixed kernel address, device tree passed
# by the machine in a1) given as a firmware path.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
[ -f "$NIMBUS_OPENSBI_JUMP" ] || skip "$NIMBUS_OPENSBI_JUMP missing (package opensbi)"
say "checking: --bios $NIMBUS_OPENSBI_JUMP + Image + initramfs -> 'NIMBUS-TEST: PASS', exit 0"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --bios "$NIMBUS_OPENSBI_JUMP" --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" \
  --mem 256M --smp 1 --deterministic
expect_marker "$TEST_WORK/console.log" "harts=1"
