#!/usr/bin/env bash
# OpenSBI fw_dynamic -> Debian's U-Boot (qemu-riscv64_smode) as the payload -> distro boot
# finds extlinux/extlinux.conf on the virtio disk -> Linux + initramfs -> test marker.
# No typing at the U-Boot prompt.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs uboot
[ -f "$NIMBUS_UBOOT_SMODE" ] || skip "$NIMBUS_UBOOT_SMODE missing (package u-boot-qemu)"
disk="$TEST_WORK/uboot-disk.img"
cp --sparse=always "$NIMBUS_GUEST_UBOOT_DISK" "$disk"   # never let a run modify the cached image
say "checking: fw_dynamic + u-boot.bin + extlinux disk -> U-Boot banner, Linux, 'NIMBUS-TEST: PASS'"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_UBOOT_SMODE" \
  --mem 256M --smp 1 --drive "$disk" --deterministic
grep -aq '^U-Boot 20' "$TEST_WORK/console.log" || { tail -20 "$TEST_WORK/console.log"; fail "no U-Boot banner"; }
grep -aq 'extlinux' "$TEST_WORK/console.log" || { tail -20 "$TEST_WORK/console.log"; fail "U-Boot did not find extlinux.conf"; }
expect_marker "$TEST_WORK/console.log" "harts=1"
