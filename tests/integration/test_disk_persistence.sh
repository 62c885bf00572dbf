#!/usr/bin/env bash
# The guest writes a payload to the virtio disk, fsyncs and reads it back from the device;
# a second boot on the same disk file must find the first boot's data intact.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
disk="$TEST_WORK/disk.img"
truncate -s 8M "$disk"
for boot in 1 2; do
  say "checking boot $boot: test init on virtio-blk $disk -> 'NIMBUS-TEST: PASS ... boot=$boot'"
  run_guest "$TEST_WORK/boot$boot.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
    --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test" \
    --mem 256M --smp 1 --drive "$disk" --deterministic
  expect_marker "$TEST_WORK/boot$boot.log" "disk=ok boot=$boot"
done
grep -aq 'verified data of boot 1' "$TEST_WORK/boot2.log" || fail "second boot did not verify the first boot's data"
head -c 64 "$disk" | grep -aq '^NIMBUS-DISK boot=2 ' || fail "disk header on the host is not boot 2's: $(head -c 64 "$disk" | tr -d '\0')"
say "ok: the host sees the header of boot 2 in $disk"
