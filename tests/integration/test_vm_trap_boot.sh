#!/usr/bin/env bash
# Linux 6.1 boots as a VM in trap mode (--virt trap: the guest kernel in U-mode, every privileged
# instruction emulated by the VMM, shadow page tables) to the guest's test marker and powers off
# with exit code 0; then a garbage trap-mode VM fails alone next to a trap and an emulate Linux VM.
# Skips when the guest images have not been built (guests/build.sh).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = nimbus ] || skip "trap mode is a Nimbus VMM mode (no QEMU equivalent)"
require_machine
# Images given in the environment win; else those of this tree's guests/ (by content hash).
if [ ! -f "${NIMBUS_GUEST_KERNEL:-}" ] || [ ! -f "${NIMBUS_GUEST_INITRD:-}" ]; then
  # shellcheck source=../../guests/paths.sh
  source "$NIMBUS_SOURCE_DIR/guests/paths.sh" > /dev/null 2>&1 || true
fi
[ -f "${NIMBUS_GUEST_KERNEL:-}" ] && [ -f "${NIMBUS_GUEST_INITRD:-}" ] || skip "guest images missing (run guests/build.sh)"
# Captured first: `| grep -q` exits at the first match and, under pipefail, the help's SIGPIPE fails it.
run_help="$("$NIMBUS_BIN" run --help 2>&1)"
grep -q -- '--virt' <<<"$run_help" || fail "nimbus run has no --virt option"
say "checking: --virt trap, Image + initramfs, 1 vCPU, 256M -> 'NIMBUS-TEST: PASS harts=1', exit 0"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --virt trap --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=test nimbus.disk=none" --mem 256M
expect_marker "$TEST_WORK/console.log" "harts=1"
grep -aq '^NIMBUS-GUEST: Linux 6.1' "$TEST_WORK/console.log" || fail "banner does not report Linux 6.1"
say "ok: banner: $(grep -a -m1 '^NIMBUS-GUEST: Linux' "$TEST_WORK/console.log")"

# Side by side on one host: a trap-mode VM whose kernel is garbage fails alone (its trap handler
# faults on itself) while a trap-mode Linux and an emulate-mode Linux both pass.
LC_ALL=C awk 'BEGIN { srand(42); for (i = 0; i < 65536; i++) printf "%c", int(rand() * 256) }' > "$TEST_WORK/garbage.bin"
printf 'name = "garbage"\nmemory = "64M"\nmode = "trap"\nkernel = "garbage.bin"\n' > "$TEST_WORK/garbage.toml"
for vm in trap emulate; do
  cat > "$TEST_WORK/linux-$vm.toml" <<TOML
name = "linux-$vm"
memory = "128M"
mode = "$vm"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
done
say "checking: trap garbage + trap Linux + emulate Linux -> garbage fails alone, both Linux pass, exit 1"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/garbage.toml" --vm "$TEST_WORK/linux-trap.toml" \
  --vm "$TEST_WORK/linux-emulate.toml" --host-harts 2 --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" \
  < /dev/null > /dev/null 2> "$TEST_WORK/vms.stderr"
RUN_STATUS=$?
for vm in trap emulate; do
  grep -aq '^NIMBUS-TEST: PASS' "$TEST_WORK/state/linux-$vm.log" || {
    tail -20 "$TEST_WORK/state/linux-$vm.log"; cat "$TEST_WORK/vms.stderr"; fail "the $vm Linux VM did not pass"; }
  say "ok: linux-$vm: $(grep -a -m1 '^NIMBUS-TEST' "$TEST_WORK/state/linux-$vm.log" | tr -d '\r')"
done
grep -q "VM 'garbage' failed: .*faults on itself" "$TEST_WORK/vms.stderr" ||
  { cat "$TEST_WORK/vms.stderr"; fail "no failure report for the garbage VM"; }
[ "$RUN_STATUS" -eq 1 ] || { cat "$TEST_WORK/vms.stderr"; fail "expected exit 1 (the failed VM's), got $RUN_STATUS"; }
say "ok: garbage failed alone, exit 1"
