#!/usr/bin/env bash
# Linux 6.1 boots SMP on three harts running in parallel, each on its own host thread (the bare
# machine's default without --deterministic): spinlocks (AMOs, LR/SC), IPIs and remote fences
# through OpenSBI and the CLINT cross host threads. Once interpreted, once with the JIT.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
[ "$TEST_MACHINE" = qemu ] && skip "host threads per hart are a Nimbus option"
for jit in off on; do
  say "checking: --smp 3 --hart-threads on --jit $jit -> 'NIMBUS-TEST: PASS harts=3', exit 0"
  run_guest "$TEST_WORK/console-$jit.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
    --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" \
    --mem 256M --smp 3 --hart-threads on --jit "$jit"
  expect_marker "$TEST_WORK/console-$jit.log" "harts=3"
done
