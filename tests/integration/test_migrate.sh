#!/usr/bin/env bash
# Live migration (docs/migration.md), emulate mode: a 2-vCPU Linux guest (its vCPUs on their own
# host threads: docs/smp.md) with a disk runs nimbus-bench
# (a long integer/memory/FP checksum). While it computes:
#   1. a destination that dies mid-transfer, and 2. a stream corrupted on the way (one bit
#      flipped inside the page data) each fail the migration: `nimbus migrate` exits 1 saying
#      the VM runs on here, the source VMM still runs it, a real destination refuses the
#      corrupt stream and exits without running it;
#   3. the VM is migrated to a second VMM and from there to a third (the disk lock moving along);
#      each source VMM ends with 0 and the guest's console continues on the last one, which
#      prints the checksum the benchmark computes natively and powers off with 0.
# Also: bytes that are no migration stream are refused by `nimbus run --incoming` with exit 2.
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = nimbus ] || skip "live migration is a nimbus feature"
require_guests kernel initramfs bench
command -v python3 > /dev/null || skip "python3 is needed for the failure stand-ins"
helper="$(dirname "$0")/migrate_helper.py"
rounds=32   # long enough to outlast steps 1-3 (16 finished before the second hop once, under load)
native_sum="$("$NIMBUS_GUEST_BENCH_NATIVE" "$rounds" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ -n "$native_sum" ] || fail "native benchmark printed no checksum"
disk="$TEST_WORK/disk.img"
truncate -s 8M "$disk"

wait_for() {   # FILE PATTERN SECONDS
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -aq "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
port_of() { sed -n 's/.*waiting for an incoming migration on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$1" | head -1; }
# start_destination NAME: a VMM waiting on a free port; sets dst_pid and dst_port.
start_destination() {
  "$NIMBUS_BIN" run --incoming tcp:127.0.0.1:0 --console-stdout --state-dir "$TEST_WORK/$1" --timeout 120 \
    > "$TEST_WORK/$1.log" 2> "$TEST_WORK/$1.err" &
  dst_pid=$!
  wait_for "$TEST_WORK/$1.err" 'waiting for an incoming' 10 || { cat "$TEST_WORK/$1.err"; fail "$1 does not listen"; }
  dst_port="$(port_of "$TEST_WORK/$1.err")"
}
wait_port_file() { for _ in $(seq 50); do [ -s "$1" ] && return 0; sleep 0.1; done; fail "no port in $1"; }

say "source: boot with a disk, start the benchmark"
"$NIMBUS_BIN" run --virt emulate --smp 2 --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds" --drive "$disk" \
  --mem 256M --console-stdout --state-dir "$TEST_WORK/src" --timeout 120 > "$TEST_WORK/src.log" 2> "$TEST_WORK/src.err" &
src_pid=$!
wait_for "$TEST_WORK/src.log" 'mode bench' 40 || { tail "$TEST_WORK/src.log"; fail "guest did not start the benchmark"; }
grep -aq '2 harts.*mode bench' "$TEST_WORK/src.log" || { tail "$TEST_WORK/src.log"; fail "guest did not start on 2 vCPUs"; }

say "1: a destination that dies mid-transfer"
python3 "$helper" dying-destination "$TEST_WORK/dying.port" &
wait_port_file "$TEST_WORK/dying.port"
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$(cat "$TEST_WORK/dying.port")" --state-dir "$TEST_WORK/src" \
  > "$TEST_WORK/m1.out" 2>&1 && fail "migrate to a dying destination succeeded: $(cat "$TEST_WORK/m1.out")"
grep -q "runs on here" "$TEST_WORK/m1.out" || fail "migrate said: $(cat "$TEST_WORK/m1.out")"
kill -0 "$src_pid" 2>/dev/null || fail "the source VMM stopped"
say "ok: $(cat "$TEST_WORK/m1.out")"

say "2: one bit flipped in the page data on the way to a real destination"
start_destination bad
python3 "$helper" corrupting-proxy "$TEST_WORK/proxy.port" "$dst_port" 300000 &
wait_port_file "$TEST_WORK/proxy.port"
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$(cat "$TEST_WORK/proxy.port")" --state-dir "$TEST_WORK/src" \
  > "$TEST_WORK/m2.out" 2>&1 && fail "migrate through a corrupting proxy succeeded: $(cat "$TEST_WORK/m2.out")"
grep -q "runs on here" "$TEST_WORK/m2.out" || fail "migrate said: $(cat "$TEST_WORK/m2.out")"
wait "$dst_pid"
status=$?
[ "$status" -ne 0 ] || fail "the destination of a corrupt stream exited with 0"
grep -q "checksum mismatch" "$TEST_WORK/bad.err" || { cat "$TEST_WORK/bad.err"; fail "the destination did not name the corruption"; }
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/bad.log" && fail "the destination of a corrupt stream ran the guest"
kill -0 "$src_pid" 2>/dev/null || fail "the source VMM stopped"
say "ok: source: $(cat "$TEST_WORK/m2.out"); destination exit $status: $(grep -a 'checksum mismatch' "$TEST_WORK/bad.err" | head -1)"

say "3: migrate to a second VMM, then on to a third"
start_destination hop1
hop1_pid=$dst_pid
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$dst_port" --state-dir "$TEST_WORK/src" > "$TEST_WORK/m3.out" 2>&1 \
  || { cat "$TEST_WORK/m3.out" "$TEST_WORK/hop1.err"; fail "migration 1 failed"; }
say "$(cat "$TEST_WORK/m3.out")"
wait "$src_pid"
status=$?
[ "$status" -eq 0 ] || { cat "$TEST_WORK/src.err"; fail "the source VMM exited with $status after the migration"; }
grep -q "left this VMM: migrated to" "$TEST_WORK/src.err" || fail "the source did not report the migration"
sleep 0.5
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/hop1.log" && fail "the benchmark finished before the second migration: make it longer"
start_destination hop2
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$dst_port" --state-dir "$TEST_WORK/hop1" --json > "$TEST_WORK/m4.out" 2>&1 \
  || { cat "$TEST_WORK/m4.out" "$TEST_WORK/hop2.err"; fail "migration 2 failed"; }
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["rounds"] >= 2 and r["pages_sent"] > 0, r' \
  "$TEST_WORK/m4.out" || fail "migrate --json printed: $(cat "$TEST_WORK/m4.out")"
say "$(cat "$TEST_WORK/m4.out")"
wait "$hop1_pid" || fail "the second VMM exited with $? after passing the VM on"
wait "$dst_pid"
status=$?
line="$(grep -a -m1 'NIMBUS-BENCH: ' "$TEST_WORK/hop2.log" || true)"
[ -n "$line" ] || { tail -5 "$TEST_WORK/hop2.log"; cat "$TEST_WORK/hop2.err"; fail "no NIMBUS-BENCH line on the last VMM"; }
[ "$status" -eq 0 ] || fail "the last VMM exited with $status"
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/src.log" "$TEST_WORK/hop1.log" && fail "the benchmark ended on an earlier VMM too"
sum="$(echo "$line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ "$sum" = "$native_sum" ] || fail "checksum after two migrations is $sum, expected $native_sum"
say "ok: checksum $sum after two live migrations, as computed natively"

say "4: bytes that are no migration stream"
start_destination junk
python3 "$helper" garbage "$dst_port"
wait "$dst_pid"
status=$?
[ "$status" -eq 2 ] || fail "--incoming exited with $status on garbage, expected 2"
grep -q "not a nimbus migration stream" "$TEST_WORK/junk.err" || { cat "$TEST_WORK/junk.err"; fail "no clear message"; }
say "ok: $(grep 'not a nimbus' "$TEST_WORK/junk.err")"
say PASS
