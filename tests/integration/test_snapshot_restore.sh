#!/usr/bin/env bash
# Snapshot and restore (docs/migration.md), emulate mode: a 2-vCPU Linux guest (its vCPUs on their
# own host threads: docs/smp.md) runs nimbus-bench (a
# long integer/memory/FP checksum); mid-run SIGUSR1 snapshots it, the VMM is killed with -9 and
# `nimbus run --restore` resumes it; the restored guest is snapshotted once more, this time with
# `nimbus snapshot NAME --to DIR` through the VMM's control socket, killed, and restored again. The guest must finish with the same checksum as the benchmark computes natively
# (what an unsnapshotted run prints: test_benchmark_checksum.sh), its console going on where it
# stopped. Also: a corrupt, truncated or newer-version state file and a missing memory file are
# refused with a clear message and exit code 2; trap mode has its own test (test_snapshot_restore_trap.sh).
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = nimbus ] || skip "snapshots are a nimbus feature"
require_guests kernel initramfs bench
rounds=48   # about 5.5 s of guest time with the JIT of 2026-12-05: two 1 s waits and the restores fit in it with room for a faster JIT
native_sum="$("$NIMBUS_GUEST_BENCH_NATIVE" "$rounds" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ -n "$native_sum" ] || fail "native benchmark printed no checksum"
say "native checksum for $rounds rounds: $native_sum"
snap="$TEST_WORK/snap"
state="$TEST_WORK/state"
append="console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds"

# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -aq "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# snapshot_and_kill PID LOG [signal|control]: snapshot (SIGUSR1 or `nimbus snapshot`), wait until
# the VMM reports it, kill -9.
snapshot_and_kill() {
  local pid="$1" err="$2" how="${3:-signal}" before
  before="$(grep -ac 'snapshot written' "$err" 2>/dev/null || true)"
  if [ "$how" = signal ]; then
    kill -USR1 "$pid" || fail "VMM $pid is not running"
  else
    "$NIMBUS_BIN" snapshot vm --to "$snap" --state-dir "$state" > "$TEST_WORK/snapshot.out" 2>&1 \
      || { cat "$TEST_WORK/snapshot.out"; fail "nimbus snapshot failed"; }
    grep -q "snapshot written to $snap" "$TEST_WORK/snapshot.out" || fail "nimbus snapshot printed: $(cat "$TEST_WORK/snapshot.out")"
  fi
  for _ in $(seq 1 100); do
    [ "$(grep -ac 'snapshot written' "$err" 2>/dev/null || true)" -gt "$before" ] && break
    sleep 0.1
  done
  [ "$(grep -ac 'snapshot written' "$err")" -gt "$before" ] || { cat "$err"; fail "no snapshot reported"; }
  say "$(grep -a 'snapshot written' "$err" | tail -1 | sed 's/^nimbus run: //')"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
}

say "run 1: boot, snapshot 1 s into the benchmark, kill -9"
"$NIMBUS_BIN" run --virt emulate --smp 2 --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" --append "$append" \
  --mem 256M --console-stdout --state-dir "$state" --timeout 60 --snapshot-on-signal "$snap" \
  > "$TEST_WORK/run1.log" 2> "$TEST_WORK/run1.err" &
pid=$!
wait_for "$TEST_WORK/run1.log" 'mode bench' 30 || { tail "$TEST_WORK/run1.log"; fail "guest did not start the benchmark"; }
grep -aq '2 harts.*mode bench' "$TEST_WORK/run1.log" || { tail "$TEST_WORK/run1.log"; fail "guest did not start on 2 vCPUs"; }
sleep 1
snapshot_and_kill "$pid" "$TEST_WORK/run1.err"
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/run1.log" && fail "the benchmark finished before the snapshot: make it longer"
[ -f "$snap/state" ] || fail "no $snap/state"
memory_file="$(ls "$snap" | grep '^memory-')"
[ "$(echo "$memory_file" | wc -l)" -eq 1 ] || fail "expected one memory file, found: $memory_file"
apparent=$(stat -c %s "$snap/$memory_file")
allocated=$(( $(stat -c %b "$snap/$memory_file") * $(stat -c %B "$snap/$memory_file") ))
[ "$apparent" -eq $((256 << 20)) ] || fail "memory file is $apparent bytes, expected 256 MiB"
[ "$allocated" -lt $((128 << 20)) ] || fail "memory file is not sparse: $allocated bytes allocated"
say "ok: memory file $((allocated >> 20)) MiB on disk of $((apparent >> 20)) MiB"

say "run 2: restore, 'nimbus snapshot vm --to' the same directory 1 s later, kill -9"
"$NIMBUS_BIN" run --restore "$snap" --console-stdout --state-dir "$state" --timeout 60 \
  > "$TEST_WORK/run2.log" 2> "$TEST_WORK/run2.err" &
pid=$!
wait_for "$TEST_WORK/run2.err" 'resumed from snapshot' 10 || { cat "$TEST_WORK/run2.err"; fail "run 2 did not resume"; }
say "$(grep -a 'resumed from snapshot' "$TEST_WORK/run2.err" | sed 's/^nimbus run: //')"
sleep 1
snapshot_and_kill "$pid" "$TEST_WORK/run2.err" control
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/run2.log" && fail "the benchmark finished before the second snapshot"
[ "$(ls "$snap" | grep -c '^memory-')" -eq 1 ] || fail "the replaced snapshot's memory file was not removed: $(ls "$snap")"

say "run 3: restore and let the guest finish"
"$NIMBUS_BIN" run --restore "$snap" --console-stdout --state-dir "$state" --timeout 60 \
  > "$TEST_WORK/run3.log" 2> "$TEST_WORK/run3.err"
status=$?
grep -a 'resumed from snapshot' "$TEST_WORK/run3.err" | sed 's/^nimbus run: /    /'
line="$(grep -a -m1 'NIMBUS-BENCH: ' "$TEST_WORK/run3.log" || true)"
[ -n "$line" ] || { tail -20 "$TEST_WORK/run3.log"; cat "$TEST_WORK/run3.err"; fail "no NIMBUS-BENCH line after restore (exit $status)"; }
sum="$(echo "$line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ "$sum" = "$native_sum" ] || fail "checksum after two snapshot/restore hops is $sum, expected $native_sum"
grep -aq 'reboot: Power down' "$TEST_WORK/run3.log" || fail "the restored guest did not power off"
[ "$status" -eq 0 ] || fail "restored VM exited with $status"
say "ok: restored guest finished: $line"

# Bad snapshots: refused with exit 2 and a message saying what is wrong.
expect_refused() {
  local what="$1" pattern="$2" dir="$3" out
  out="$("$NIMBUS_BIN" run --restore "$dir" --console-stdout --state-dir "$state" --timeout 10 2>&1 > /dev/null)"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "$what: exit $rc, expected 2 ($out)"
  grep -q "$pattern" <<< "$out" || fail "$what: message '$out' lacks '$pattern'"
  say "ok: $what refused: $(echo "$out" | head -1)"
}
bad="$TEST_WORK/bad"
mkdir -p "$bad"
ln -sf "$snap/$(ls "$snap" | grep '^memory-')" "$bad/"
cp "$snap/state" "$bad/state"; truncate -s -100 "$bad/state"
expect_refused "truncated state" "truncated snapshot" "$bad"
cp "$snap/state" "$bad/state"; printf '\x63' | dd of="$bad/state" bs=1 seek=200 conv=notrunc 2>/dev/null
expect_refused "corrupt state" "checksum mismatch" "$bad"
cp "$snap/state" "$bad/state"; printf '\x09' | dd of="$bad/state" bs=1 seek=8 conv=notrunc 2>/dev/null
expect_refused "newer format version" "version 9 is newer" "$bad"
head -c 4096 /dev/urandom > "$bad/state"
expect_refused "garbage" "not a nimbus snapshot" "$bad"
cp "$snap/state" "$bad/state"; rm -f "$bad"/memory-*
out="$("$NIMBUS_BIN" run --restore "$bad" --console-stdout --state-dir "$state" --timeout 10 2>&1 > /dev/null)"
rc=$?
[ "$rc" -ne 0 ] && grep -q "memory file" <<< "$out" || fail "missing memory file: exit $rc, '$out'"
say "ok: missing memory file refused: $(echo "$out" | grep -m1 'memory file')"
out="$("$NIMBUS_BIN" snapshot nosuchvm --to "$bad" --state-dir "$state" 2>&1)"
[ $? -eq 1 ] && grep -q "no running VM 'nosuchvm'" <<< "$out" || fail "nimbus snapshot of no VM: '$out'"
say "ok: $out"
