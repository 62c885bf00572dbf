#!/usr/bin/env bash
# The virtualization-cost microbenchmarks (guests/bench/nimbus-micro.c, init's nimbus.mode=micro)
# run to the end in the guest: every benchmark prints its start line and a result line with
# positive iterations, ns_per_op and elapsed time, the CPU benchmark computes the native
# checksum, "NIMBUS-MICRO: done" follows, and the machine powers off with 0. Size:
# NIMBUS_MICRO_SCALE (default 1, a few seconds).
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs bench
scale="${NIMBUS_MICRO_SCALE:-1}"
log="$TEST_WORK/console.log"
say "checking: nimbus.mode=micro nimbus.micro=$scale prints every benchmark, sane figures, done, exit 0"
run_guest "$log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0 nimbus.mode=micro nimbus.micro=$scale" --mem 256M --smp 1 --deterministic
show_console() { say "console (last 25 lines):"; tail -25 "$log" | sed 's/^/    /'; }

for name in null_syscall page_fault fork_exit_wait exec pipe_roundtrip cpu; do
  grep -aqx "NIMBUS-MICRO: start name=$name" "$log" || { show_console; fail "no start line for $name"; }
  line="$(grep -a -m1 "^NIMBUS-MICRO: name=$name " "$log" || true)"
  [ -n "$line" ] || { show_console; fail "no result line for $name (exit $RUN_STATUS)"; }
  # name=N iterations=I ns_per_op=X elapsed=Ys: all three figures positive numbers.
  echo "$line" | awk '{
      ok = 0
      if (match($0, /iterations=[0-9]+ ns_per_op=[0-9.]+ elapsed=[0-9.]+s$/)) {
        split(substr($0, RSTART, RLENGTH), f, /[= ]/)
        ok = f[2] + 0 > 0 && f[4] + 0 > 0 && f[6] + 0 > 0
      }
      exit !ok }' || fail "malformed or nonsense result: '$line'"
  say "ok: $line"
done
grep -aqx "NIMBUS-MICRO: done" "$log" || { show_console; fail "no 'NIMBUS-MICRO: done' line"; }

native_sum="$("$NIMBUS_GUEST_BENCH_NATIVE" "$scale" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
guest_sum="$(grep -a -m1 '^NIMBUS-BENCH: ' "$log" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ -n "$native_sum" ] && [ "$guest_sum" = "$native_sum" ] \
  || fail "CPU benchmark checksum in the guest '$guest_sum', natively '$native_sum'"
[ "$RUN_STATUS" -eq 0 ] || { explain_exit "$log"; fail "benchmarks ran but the machine exited with $RUN_STATUS"; }
say "PASS: all six benchmarks, done, checksum $guest_sum, exit 0"
