#!/usr/bin/env bash
# `nimbus bench --workload micro --micro-repeat 2` boots the microbenchmark guest on Nimbus and on
# QEMU twice each and prints a row per benchmark with both host times and their ratio; its JSON
# has a positive host and guest µs/op for every benchmark on both. Size: NIMBUS_MICRO_SCALE
# (default 1).
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = qemu ] && skip "tests the nimbus bench command itself"
command -v qemu-system-riscv64 >/dev/null || skip "qemu-system-riscv64 not installed (nimbus bench compares with it)"
require_guests kernel initramfs bench
scale="${NIMBUS_MICRO_SCALE:-1}"
out="$TEST_WORK/bench.out"
say "checking: nimbus bench --workload micro --micro-scale $scale --micro-repeat 2 prints every benchmark for Nimbus and QEMU"
"$NIMBUS_BIN" bench --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" --workload micro \
  --micro-scale "$scale" --micro-repeat 2 --timeout "$GUEST_TIMEOUT" --json "$TEST_WORK/bench.json" > "$out" 2> "$out.stderr"
status=$?
sed 's/^/    /' "$out"
[ "$status" -eq 0 ] || { tail -30 "$out.stderr" | sed 's/^/    /'; fail "nimbus bench exited with $status"; }
grep -q 'Nimbus/QEMU' "$out" || fail "no ratio column in the table"
[ "$(jq .micro_repeat "$TEST_WORK/bench.json")" = 2 ] || fail "JSON does not say it kept the fastest of 2 runs"
for name in null_syscall page_fault fork_exit_wait exec pipe_roundtrip cpu; do
  # Two tables (host, guest), each with the benchmark, iterations, two figures and a ratio.
  [ "$(grep -cE "^$name +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+x$" "$out")" -eq 2 ] || fail "no complete rows for $name"
  for label in Nimbus QEMU; do
    jq -e --arg l "$label" --arg n "$name" \
      '.micro[$l][$n] | .iterations > 0 and .host_us_per_op > 0 and .guest_us_per_op > 0' \
      "$TEST_WORK/bench.json" > /dev/null || fail "JSON lacks positive figures for $name on $label"
  done
done
say "PASS: six benchmarks, host and guest tables, JSON for both machines"
