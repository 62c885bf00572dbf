#!/usr/bin/env bash
# Console input on the virtio console (docs/board.md): a Linux machine with --virtio-console and
# --console-input hvc reads one line from /dev/hvc1; the host types a random token on the
# machine's console (stdin). Passes when the guest printed exactly that token, read from hvc1,
# and powered off with 0. The UART gets none of it (the guest's ttyS0 shell is not involved).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a Nimbus option: QEMU's equivalent is a second chardev"
require_machine
require_guests kernel initramfs
token="hvc-$RANDOM$RANDOM"
say "checking: '$token' typed on the console arrives on the guest's /dev/hvc1"
started=$SECONDS
# stdin is a FIFO that stays open until the machine is done, so the console never sees
# end-of-input first.
mkfifo "$TEST_WORK/stdin"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --virtio-console --console-input hvc --append "console=ttyS0 nimbus.mode=hvc-read" --timeout "$GUEST_TIMEOUT" \
  < "$TEST_WORK/stdin" > "$TEST_WORK/console.raw" 2> "$TEST_WORK/stderr" &
runner=$!
exec 3> "$TEST_WORK/stdin"
# Typed once the guest reads the port: Linux's driver discards what arrives before its console
# port is connected (drivers/char/virtio_console.c, in_intr), as a login prompt needs to be up.
for _ in $(seq 1 $((GUEST_TIMEOUT * 5))); do
  grep -aq '^NIMBUS-HVC: reading' "$TEST_WORK/console.raw" && break
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.2
done
printf '%s\n' "$token" >&3
wait "$runner"
RUN_STATUS=$?
exec 3>&-
tr -d '\r' < "$TEST_WORK/console.raw" > "$TEST_WORK/console"
line=$(grep -a -m1 '^NIMBUS-TEST: ' "$TEST_WORK/console")
[ "$line" = "NIMBUS-TEST: PASS hvc read '$token'" ] || {
  tail -20 "$TEST_WORK/console" | sed 's/^/    /'; cat "$TEST_WORK/stderr"; fail "guest said '$line', expected the token $token"; }
grep -aq '^NIMBUS-HVC: reading /dev/hvc' "$TEST_WORK/console" || fail "the guest did not read a virtio console"
[ "$RUN_STATUS" -eq 0 ] || fail "expected exit 0, got $RUN_STATUS"
say "ok: the guest read '$token' from $(grep -a -m1 '^NIMBUS-HVC: reading' "$TEST_WORK/console" | awk '{ print $3 }') after $((SECONDS - started)) s"
