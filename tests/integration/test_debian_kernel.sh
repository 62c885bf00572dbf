#!/usr/bin/env bash
# A kernel the project neither configured nor built: Debian 13's own riscv64 kernel (6.12, the
# Image of linux-image-riscv64's package, fetched from Debian's archive and cached; its drivers
# for virtio are modules, so the test runs without a disk) boots with the project's initramfs on
# the bare machine under OpenSBI, 2 harts on their own host threads, and as three VMs of one VMM
# in emulate, trap and hw mode, 2 vCPUs each; each must pass the guest's self-test and power off.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests initramfs
kernel="$(guest_debian_kernel trixie "$TEST_WORK/fetch.log")" \
  || { tail -5 "$TEST_WORK/fetch.log"; skip "Debian's archive could not be reached and no Debian kernel is cached"; }
say "kernel: $kernel ($(cat "$(dirname "$kernel")/package"))"
append="console=ttyS0 nimbus.mode=test nimbus.disk=none"

say "checking: the bare machine, OpenSBI fw_dynamic, 2 harts -> 'NIMBUS-TEST: PASS harts=2'"
run_guest "$TEST_WORK/bare.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$kernel" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "$append" --mem 256M --smp 2
expect_marker "$TEST_WORK/bare.log" "harts=2"
grep -aq "^NIMBUS-GUEST: Linux 6\.12\..*deb13" "$TEST_WORK/bare.log" || fail "the guest did not say it runs Debian's 6.12 kernel"
[ "$TEST_MACHINE" = qemu ] && { say PASS; exit 0; }

say "checking: the same kernel as VMs in emulate, trap and hw mode of one VMM, 2 vCPUs each"
vms=()
for mode in emulate trap hw; do
  printf 'name = "%s"\nmode = "%s"\nmemory = "192M"\nvcpus = 2\nkernel = "%s"\ninitrd = "%s"\nappend = "%s"\n' \
    "$mode" "$mode" "$kernel" "$NIMBUS_GUEST_INITRD" "$append" > "$TEST_WORK/$mode.toml"
  vms+=(--vm "$TEST_WORK/$mode.toml")
done
timeout 400 "$NIMBUS_BIN" run "${vms[@]}" --console-stdout --state-dir "$TEST_WORK/state" --timeout 300 \
  < /dev/null > "$TEST_WORK/vmm.log" 2> "$TEST_WORK/vmm.err"
status=$?
for mode in emulate trap hw; do
  grep -aq "^$mode| NIMBUS-TEST: PASS harts=2" "$TEST_WORK/vmm.log" \
    || { grep -a "^$mode|" "$TEST_WORK/vmm.log" | tail -25; tail -5 "$TEST_WORK/vmm.err"; fail "the $mode VM did not pass"; }
done
[ "$status" -eq 0 ] || { tail -10 "$TEST_WORK/vmm.err"; fail "the VMM exited with $status after every VM passed"; }
say "ok: $(grep -a -m1 '^NIMBUS-GUEST' "$TEST_WORK/bare.log"); the VMs passed in emulate, trap and hw mode"
say PASS
