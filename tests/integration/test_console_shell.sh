#!/usr/bin/env bash
# The interactive default: with no nimbus.mode the guest drops to a busybox shell on the
# console. Commands typed on stdin (sent once the shell is up) run in the guest and their
# output comes back; `poweroff -f` ends the machine with exit code 0. Exercises UART input.
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs
log="$TEST_WORK/console.log"
fifo="$TEST_WORK/stdin"
mkfifo "$fifo"
: > "$log"
# Feeder: waits for the shell banner, then types. Keeps the fifo open until the machine ends.
(
  exec 3> "$fifo"
  for _ in $(seq 1 "$GUEST_TIMEOUT"); do
    grep -aq 'NIMBUS-GUEST: busybox shell' "$log" 2>/dev/null && break
    sleep 1
  done
  sleep 2
  printf 'echo "answer=$((6 * 7))"\n' >&3
  sleep 1
  printf 'cat /proc/cpuinfo | grep -c ^processor | sed "s/^/cpus=/"\n' >&3
  sleep 1
  printf 'poweroff -f\n' >&3
  sleep "$GUEST_TIMEOUT"
) &
feeder=$!
say "checking: default boot reaches the shell, 'echo answer=\$((6 * 7))' prints answer=42, poweroff -f exits 0"
if [ "$TEST_MACHINE" = qemu ]; then
  timeout "$GUEST_TIMEOUT" qemu-system-riscv64 -M virt -nographic -monitor none -serial stdio -m 256M -smp 1 \
    -bios "$NIMBUS_OPENSBI_DYNAMIC" -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD" \
    -append "console=ttyS0" < "$fifo" 2> "$log.stderr" | stdbuf -oL tr -d '\r' > "$log"
  RUN_STATUS=${PIPESTATUS[0]}
else
  timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
    --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0" --mem 256M --smp 1 --deterministic \
    --timeout "$GUEST_TIMEOUT" < "$fifo" 2> "$log.stderr" | stdbuf -oL tr -d '\r' > "$log"
  RUN_STATUS=${PIPESTATUS[0]}
fi
kill "$feeder" 2>/dev/null
wait "$feeder" 2>/dev/null
grep -aq '^answer=42' "$log" || { tail -20 "$log" | sed 's/^/    /'; fail "no 'answer=42' from the guest shell (exit $RUN_STATUS)"; }
say "ok: shell answered: $(grep -a -m1 '^answer=' "$log")"
grep -aq '^cpus=1' "$log" || { tail -20 "$log" | sed 's/^/    /'; fail "no 'cpus=1' from the guest shell"; }
[ "$RUN_STATUS" -eq 0 ] || { explain_exit "$log"; fail "poweroff -f should exit 0, got $RUN_STATUS"; }
say "ok: poweroff -f -> exit 0"
