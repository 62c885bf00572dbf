#!/usr/bin/env bash
# The guest benchmark (nimbus-bench, integer + memory + FP) and the benchmark suite's computing
# workloads (nimbus-suite: lists, calls, state machines, byte loops, matrices, FP, memcpy, qsort)
# compute the same checksums in the guest as natively on x86-64: the whole stack (ISA, FPU, MMU,
# Linux, libc) computes correctly under load. Prints both elapsed times. Rounds:
# NIMBUS_BENCH_ROUNDS (default 1, kept short).
source "$(dirname "$0")/lib.sh"
require_machine
require_guests kernel initramfs bench
rounds="${NIMBUS_BENCH_ROUNDS:-1}"
native_line="$("$NIMBUS_GUEST_BENCH_NATIVE" "$rounds")" || fail "native benchmark failed"
native_sum="$(echo "$native_line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
say "native x86-64: $native_line"
say "checking: guest nimbus.mode=bench nimbus.bench=$rounds prints checksum $native_sum, exit 0"
run_guest "$TEST_WORK/console.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds" \
  --mem 256M --smp 1 --deterministic
guest_line="$(grep -a -m1 '^NIMBUS-BENCH: ' "$TEST_WORK/console.log" || true)"
[ -n "$guest_line" ] || { tail -20 "$TEST_WORK/console.log"; fail "no NIMBUS-BENCH line (exit $RUN_STATUS)"; }
say "guest riscv64 ($TEST_MACHINE): $guest_line"
guest_sum="$(echo "$guest_line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ "$guest_sum" = "$native_sum" ] || fail "checksum differs: guest $guest_sum, native $native_sum"
[ "$RUN_STATUS" -eq 0 ] || { explain_exit "$TEST_WORK/console.log"; fail "benchmark ran but the machine exited with $RUN_STATUS"; }
say "ok: checksums match ($guest_sum), exit 0"

# The suite's workloads that depend on nothing but the CPU (its busybox part prints tools'
# output, which differs from the host's tools; `nimbus bench --workload suite` compares that with QEMU).
suite="list,calls,switch,bytes,matrix,fp,memcpy,sort"
native_line="$("$(dirname "$NIMBUS_GUEST_BENCH_NATIVE")/nimbus-suite-native" 1 ${suite//,/ })" || fail "native suite failed"
native_sum="$(echo "$native_line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
say "native x86-64: $native_line"
run_guest "$TEST_WORK/suite.log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" \
  --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=suite nimbus.suite=1,$suite" \
  --mem 256M --smp 1 --deterministic
guest_line="$(grep -a -m1 '^NIMBUS-SUITE: ' "$TEST_WORK/suite.log" || true)"
[ -n "$guest_line" ] || { tail -20 "$TEST_WORK/suite.log"; fail "no NIMBUS-SUITE line (exit $RUN_STATUS)"; }
say "guest riscv64 ($TEST_MACHINE): $guest_line"
guest_sum="$(echo "$guest_line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ "$guest_sum" = "$native_sum" ] || fail "suite checksum differs: guest $guest_sum, native $native_sum"
[ "$RUN_STATUS" -eq 0 ] || { explain_exit "$TEST_WORK/suite.log"; fail "the suite ran but the machine exited with $RUN_STATUS"; }
say "ok: suite checksums match ($guest_sum), exit 0"
