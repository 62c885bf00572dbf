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
checksum() { sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p'; }

# same_as_native NAME MARKER APPEND NATIVE-COMMAND...: the guest booted with APPEND prints a
# MARKER line whose checksum is the native command's, and the machine exits 0.
same_as_native() {
  local name="$1" marker="$2" append="$3"; shift 3
  local native_line native_sum guest_line guest_sum log="$TEST_WORK/$name.log"
  native_line="$("$@")" || fail "native $name failed"
  native_sum="$(checksum <<< "$native_line")"
  say "native x86-64: $native_line"
  say "checking: guest $append prints checksum $native_sum, exit 0"
  run_guest "$log" "$GUEST_TIMEOUT" --bios opensbi --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
    --append "console=ttyS0 $append" --mem 256M --smp 1 --deterministic
  guest_line="$(grep -a -m1 "^$marker: " "$log" || true)"
  [ -n "$guest_line" ] || { tail -20 "$log"; fail "no $marker line (exit $RUN_STATUS)"; }
  say "guest riscv64 ($TEST_MACHINE): $guest_line"
  guest_sum="$(checksum <<< "$guest_line")"
  [ "$guest_sum" = "$native_sum" ] || fail "$name checksum differs: guest $guest_sum, native $native_sum"
  [ "$RUN_STATUS" -eq 0 ] || { explain_exit "$log"; fail "$name ran but the machine exited with $RUN_STATUS"; }
  say "ok: $name checksums match ($guest_sum), exit 0"
}

same_as_native benchmark NIMBUS-BENCH "nimbus.mode=bench nimbus.bench=$rounds" "$NIMBUS_GUEST_BENCH_NATIVE" "$rounds"
# The suite's workloads that depend on nothing but the CPU (its busybox part prints tools'
# output, which differs from the host's tools; `nimbus bench --workload suite` compares that with QEMU).
suite="list,calls,switch,bytes,matrix,fp,memcpy,sort"
# shellcheck disable=SC2086
same_as_native suite NIMBUS-SUITE "nimbus.mode=suite nimbus.suite=1,$suite" \
  "$(dirname "$NIMBUS_GUEST_BENCH_NATIVE")/nimbus-suite-native" 1 ${suite//,/ }
