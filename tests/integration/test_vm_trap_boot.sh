#!/usr/bin/env bash
# Linux 6.1 boots as a VM in trap mode (--virt trap: the guest kernel in U-mode, every privileged
# instruction emulated by the VMM, shadow page tables) to the guest's test marker and powers off
# with exit code 0. Skips when the guest images have not been built (guests/build.sh).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = nimbus ] || skip "trap mode is a Nimbus VMM mode (no QEMU equivalent)"
require_machine
# Images given in the environment win; else those of this tree's guests/ (by content hash).
if [ ! -f "${NIMBUS_GUEST_KERNEL:-}" ] || [ ! -f "${NIMBUS_GUEST_INITRD:-}" ]; then
  # shellcheck source=../../guests/paths.sh
  source "$NIMBUS_SOURCE_DIR/guests/paths.sh" > /dev/null 2>&1 || true
fi
[ -f "${NIMBUS_GUEST_KERNEL:-}" ] && [ -f "${NIMBUS_GUEST_INITRD:-}" ] || skip "guest images missing (run guests/build.sh)"
"$NIMBUS_BIN" run --help 2>&1 | grep -q -- '--virt' || fail "nimbus run has no --virt option"
say "checking: --virt trap, Image + initramfs, 1 vCPU, 256M -> 'NIMBUS-TEST: PASS harts=1', exit 0"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --virt trap --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" --mem 256M
expect_marker "$TEST_WORK/console.log" "harts=1"
grep -aq '^NIMBUS-GUEST: Linux 6.1' "$TEST_WORK/console.log" || fail "banner does not report Linux 6.1"
say "ok: banner: $(grep -a -m1 '^NIMBUS-GUEST: Linux' "$TEST_WORK/console.log")"
