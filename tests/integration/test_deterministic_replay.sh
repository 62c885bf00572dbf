#!/usr/bin/env bash
# --deterministic derives time from retired instructions: two boots of the same images on two
# harts print exactly the same console output, kernel timestamps included.
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = qemu ] && skip "replay is a Nimbus property (QEMU needs -icount for it)"
require_guests kernel initramfs
say "checking: two --deterministic boots with 2 harts give byte-identical consoles"
for run in 1 2; do
  run_guest "$TEST_WORK/console-$run.log" "$GUEST_TIMEOUT" --kernel "$NIMBUS_GUEST_KERNEL" \
    --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" \
    --smp 2 --deterministic
  expect_marker "$TEST_WORK/console-$run.log" "harts=2"
done
grep -aq '^\[ *[0-9]*\.[0-9]*\]' "$TEST_WORK/console-1.log" || fail "no kernel timestamps to compare"
if ! diff -u "$TEST_WORK/console-1.log" "$TEST_WORK/console-2.log" > "$TEST_WORK/replay.diff"; then
  head -40 "$TEST_WORK/replay.diff" | sed 's/^/    /'
  fail "the two deterministic runs differ"
fi
say "PASS: $(wc -l < "$TEST_WORK/console-1.log") console lines identical"
