# Sourced by test_snapshot_restore_{trap,hw}.sh (after lib.sh): snapshot_restore MODE ROUNDS runs
# nimbus-bench for ROUNDS rounds in a 2-vCPU VM of that mode with a disk, snapshots it 1 s in,
# kills the VMM with -9, restores it from the snapshot (frames filled from the memory file on
# their first touch, the mode's tables rebuilt) and checks the checksum the benchmark computes
# natively.
snapshot_restore() {
  local mode="$1" rounds="$2"
  require_machine
  [ "$TEST_MACHINE" = nimbus ] || skip "snapshots are a nimbus feature"
  require_guests kernel initramfs bench
  local native_sum="$("$NIMBUS_GUEST_BENCH_NATIVE" "$rounds" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
  [ -n "$native_sum" ] || fail "native benchmark printed no checksum"
  local snap="$TEST_WORK/snap"
  local state="$TEST_WORK/state"
  truncate -s 64M "$TEST_WORK/disk.img"

  "$NIMBUS_BIN" run --virt "$mode" --smp 2 --drive "$TEST_WORK/disk.img" --kernel "$NIMBUS_GUEST_KERNEL" \
    --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds" \
    --mem 256M --console-stdout --state-dir "$state" --timeout 60 > "$TEST_WORK/run1.log" 2> "$TEST_WORK/run1.err" &
  local pid=$!
  for _ in $(seq 1 300); do grep -aq 'mode bench' "$TEST_WORK/run1.log" && break; sleep 0.1; done
  grep -aq '2 harts.*mode bench' "$TEST_WORK/run1.log" || { tail "$TEST_WORK/run1.log"; fail "guest did not start the benchmark on 2 harts"; }
  sleep 1
  "$NIMBUS_BIN" snapshot vm --to "$snap" --state-dir "$state" > "$TEST_WORK/snapshot.out" 2>&1 \
    || { cat "$TEST_WORK/snapshot.out" "$TEST_WORK/run1.err"; fail "nimbus snapshot failed"; }
  say "$(cat "$TEST_WORK/snapshot.out")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  grep -aq 'NIMBUS-BENCH' "$TEST_WORK/run1.log" && fail "the benchmark finished before the snapshot"

  "$NIMBUS_BIN" run --restore "$snap" --console-stdout --state-dir "$state" --timeout 60 \
    > "$TEST_WORK/run2.log" 2> "$TEST_WORK/run2.err"
  status=$?
  grep -a 'resumed from snapshot' "$TEST_WORK/run2.err" | sed 's/^nimbus run: /    /'
  grep -aq 'RAM faulting in from the memory file' "$TEST_WORK/run2.err" \
    || fail "$mode mode should fill frames from the memory file on demand"
  line="$(grep -a -m1 'NIMBUS-BENCH: ' "$TEST_WORK/run2.log" || true)"
  [ -n "$line" ] || { tail -20 "$TEST_WORK/run2.log"; cat "$TEST_WORK/run2.err"; fail "no NIMBUS-BENCH line after restore (exit $status)"; }
  sum="$(echo "$line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
  [ "$sum" = "$native_sum" ] || fail "checksum after restore is $sum, expected $native_sum"
  [ "$status" -eq 0 ] || fail "restored VM exited with $status"
  say "ok: $mode mode, 2 vCPUs, restored guest finished: $line"
}
