#!/usr/bin/env bash
# `nimbus bench --workload suite` runs the benchmark suite (guests/bench/nimbus-suite.c: linked
# lists, calls, state machines, byte loops, integer matrices, FP, memcpy, qsort, busybox's tools)
# on Nimbus and on QEMU, fails unless both compute the same checksum (a differential test of the
# whole stack on code shaped like real programs), and prints a row per workload with both times,
# their ratio and the geometric mean; its JSON has every workload for both machines.
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = qemu ] && skip "tests the nimbus bench command itself"
command -v qemu-system-riscv64 >/dev/null || skip "qemu-system-riscv64 not installed (nimbus bench compares with it)"
require_guests kernel initramfs bench
out="$TEST_WORK/bench.out"
say "checking: nimbus bench --workload suite prints every workload for Nimbus and QEMU, same checksum on both"
"$NIMBUS_BIN" bench --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" --workload suite \
  --timeout "$GUEST_TIMEOUT" --json "$TEST_WORK/bench.json" > "$out" 2> "$out.stderr"
status=$?
sed 's/^/    /' "$out"
[ "$status" -eq 0 ] || { tail -30 "$out.stderr" | sed 's/^/    /'; fail "nimbus bench exited with $status"; }
grep -q 'identical on both' "$out" || fail "no checksum line"
for name in list calls switch bytes matrix fp memcpy sort tools; do
  grep -qE "^  $name +[0-9.]+ s +[0-9.]+ s +[0-9.]+x" "$out" || fail "no row for $name"
  jq -e --arg n "$name" '.suite[$n] | .nimbus > 0 and .qemu > 0 and .speed_ratio > 0' "$TEST_WORK/bench.json" > /dev/null ||
    fail "JSON lacks positive figures for $name"
done
jq -e '.suite_geomean > 0' "$TEST_WORK/bench.json" > /dev/null || fail "JSON lacks the geometric mean"
say "PASS: nine workloads, same checksum on Nimbus and QEMU, geometric mean $(jq -r '.suite_geomean * 100 | round / 100' "$TEST_WORK/bench.json")x"
