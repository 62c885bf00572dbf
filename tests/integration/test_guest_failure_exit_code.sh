#!/usr/bin/env bash
# A failing guest reaches the host as a failing exit code: the test init, given a disk that
# is too small, prints "NIMBUS-TEST: FAIL ..." and writes 0x3333 | 1 << 16 to the syscon
# (from Linux, through /dev/mem); the machine must exit with code 1, not 0 and not hang.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
disk="$TEST_WORK/small.img"
truncate -s 1M "$disk"
say "checking: test init on a 1 MiB disk -> 'NIMBUS-TEST: FAIL ... need at least 2 MiB', exit code 1"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test" \
  --mem 256M --smp 1 --drive "$disk" --deterministic
line="$(grep -a -m1 '^NIMBUS-TEST: ' "$TEST_WORK/console.log" || true)"
case "$line" in
  "NIMBUS-TEST: FAIL"*"need at least 2 MiB"*) say "ok: $line" ;;
  *) tail -20 "$TEST_WORK/console.log" | sed 's/^/    /'; fail "expected the guest's FAIL marker, got '${line:-nothing}'" ;;
esac
[ "$RUN_STATUS" -eq 1 ] || fail "the guest failed with code 1 but the machine exited with $RUN_STATUS"
say "ok: exit code 1 reached the host"
