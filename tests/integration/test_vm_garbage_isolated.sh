#!/usr/bin/env bash
# A VM whose kernel is garbage fails alone: the VMM reports it (its trap handler faults on
# itself) while the Linux VM next to it boots to PASS; the run's exit code is the failed VM's (1).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
# 64 KiB of fixed pseudo-random bytes (the same every run).
LC_ALL=C awk 'BEGIN { srand(42); for (i = 0; i < 65536; i++) printf "%c", int(rand() * 256) }' > "$TEST_WORK/garbage.bin"
cat > "$TEST_WORK/garbage.toml" <<TOML
name = "garbage"
memory = "64M"
kernel = "garbage.bin"
TOML
cat > "$TEST_WORK/linux.toml" <<TOML
name = "linux"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
say "checking: garbage kernel + Linux -> garbage fails alone, Linux passes, exit 1"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/garbage.toml" --vm "$TEST_WORK/linux.toml" \
  --host-harts 2 --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" < /dev/null > /dev/null 2> "$TEST_WORK/stderr"
RUN_STATUS=$?
grep -aq '^NIMBUS-TEST: PASS' "$TEST_WORK/state/linux.log" || {
  tail -20 "$TEST_WORK/state/linux.log"; cat "$TEST_WORK/stderr"; fail "the Linux VM did not pass next to the garbage VM"; }
say "ok: linux: $(grep -a -m1 '^NIMBUS-TEST' "$TEST_WORK/state/linux.log" | tr -d '\r')"
grep -q "VM 'garbage' failed" "$TEST_WORK/stderr" || { cat "$TEST_WORK/stderr"; fail "no failure report for the garbage VM"; }
say "ok: $(grep -m1 "VM 'garbage' failed" "$TEST_WORK/stderr")"
[ "$RUN_STATUS" -eq 1 ] || { cat "$TEST_WORK/stderr"; fail "expected exit 1 (the failed VM's), got $RUN_STATUS"; }
say "ok: exit 1"
