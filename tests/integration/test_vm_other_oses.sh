#!/usr/bin/env bash
# Different operating systems side by side as VMs of one VMM (issue 13, "other operating
# systems"; scripts/setup.sh shows the same): Linux in hw mode, Linux in trap mode, Debian's
# U-Boot run by Debian's OpenSBI inside an emulate VM (`bios = "opensbi"`, to its shell), and a
# bare-metal program of our own that starts in M-mode at 0x80000000 (`bios = "none"`). Each
# must say what it is: the Linux VMs pass their self-test and power off, the M-mode program
# prints what only M-mode can read and powers off with 0, U-Boot reaches its prompt. Then the
# VMM is stopped (U-Boot waits at its prompt for ever).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
[ -f "$NIMBUS_UBOOT_SMODE" ] || skip "$NIMBUS_UBOOT_SMODE missing (package u-boot-qemu)"

hello="$TEST_WORK/mmode_hello.elf"
build_bare_metal "$hello" "$NIMBUS_SOURCE_DIR/tests/integration/programs/mmode_hello.c" || fail "could not build the M-mode program"

vm() { # NAME MODE MEMORY then TOML lines
  local name="$1" mode="$2" memory="$3"; shift 3
  { echo "name = \"$name\""; echo "mode = \"$mode\""; echo "memory = \"$memory\""; printf '%s\n' "$@"; } \
    > "$TEST_WORK/$name.toml"
  echo "--vm $TEST_WORK/$name.toml"
}
linux=("kernel = \"$NIMBUS_GUEST_KERNEL\"" "initrd = \"$NIMBUS_GUEST_INITRD\"" \
       'append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"')
# shellcheck disable=SC2046
"$NIMBUS_BIN" run $(vm linux-hw hw 96M "${linux[@]}") $(vm linux-trap trap 96M "${linux[@]}") \
  $(vm uboot emulate 128M 'bios = "opensbi"' "kernel = \"$NIMBUS_UBOOT_SMODE\"") \
  $(vm mmode emulate 16M 'bios = "none"' "kernel = \"$hello\"") \
  --console-stdout --state-dir "$TEST_WORK/state" --timeout 150 < /dev/null > "$TEST_WORK/out" 2> "$TEST_WORK/err" &
pid=$!
done_all() {
  [ -f "$TEST_WORK/out" ] && [ "$(grep -ac '^linux-.*| NIMBUS-TEST: PASS' "$TEST_WORK/out")" = 2 ] && grep -aq '^uboot| =>' "$TEST_WORK/out" &&
    grep -aq '^mmode| NIMBUS-MMODE: hello from M-mode' "$TEST_WORK/out"
}
for _ in $(seq 1400); do
  done_all && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
kill -TERM "$pid" 2> /dev/null || true
wait "$pid" || true
done_all || { tail -30 "$TEST_WORK/out"; cat "$TEST_WORK/err"; fail "not every OS got as far as it should"; }
grep -q "VM 'mmode' powered off (exit code 0" "$TEST_WORK/err" \
  || { cat "$TEST_WORK/err"; fail "the M-mode VM did not power off with 0"; }
say "ok: $(grep -a -m1 '^mmode| NIMBUS-MMODE' "$TEST_WORK/out")"
say "ok: U-Boot at its prompt ($(grep -a -m1 '^uboot| U-Boot 20' "$TEST_WORK/out" | cut -c8-)), Linux passed in hw and trap mode, one VMM"
say PASS
