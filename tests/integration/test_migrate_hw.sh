#!/usr/bin/env bash
# Live migration in hw mode (the guest in VS-mode over G-stage tables, dirty pages tracked by
# write-protecting G-stage leaves) with a local disk copied along (--with-disk): a 256 MiB Linux
# guest with 2 vCPUs runs nimbus-bench; 2 s into it, it is migrated to a VMM that writes the
# disk to its own file (--incoming-disk). The destination's guest prints the checksum the
# benchmark computes natively and powers off with 0, and the copied disk equals the source's
# image byte for byte (data and holes). Also: --incoming-disk refuses an existing file.
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = nimbus ] || skip "live migration is a nimbus feature"
require_guests kernel initramfs bench
rounds=48 # 16 took 2.1-2.5 s of guest time with the JIT of 2026-12-05 and ended before the migration (about 3-4 s in); 48 take 6-7.5 s
native_sum="$("$NIMBUS_GUEST_BENCH_NATIVE" "$rounds" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ -n "$native_sum" ] || fail "native benchmark printed no checksum"
disk="$TEST_WORK/disk.img"
copy="$TEST_WORK/copy.img"
truncate -s 16M "$disk"
# Data at both ends and in the middle, holes between: the copy must carry both.
head -c 1M /dev/urandom | dd of="$disk" bs=1M seek=0 conv=notrunc 2> /dev/null
head -c 300K /dev/urandom | dd of="$disk" bs=1K seek=7000 conv=notrunc 2> /dev/null
head -c 4K /dev/urandom | dd of="$disk" bs=1K seek=16380 conv=notrunc 2> /dev/null

wait_for() {   # FILE PATTERN SECONDS
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -aq "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
port_of() { sed -n 's/.*waiting for an incoming migration on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$1" | head -1; }

"$NIMBUS_BIN" run --virt hw --smp 2 --drive "$disk" --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds" --mem 256M --console-stdout \
  --state-dir "$TEST_WORK/src" --timeout 120 > "$TEST_WORK/src.log" 2> "$TEST_WORK/src.err" &
src_pid=$!
wait_for "$TEST_WORK/src.log" 'mode bench' 60 || { tail "$TEST_WORK/src.log"; fail "guest did not start the benchmark"; }
grep -aq '2 harts.*mode bench' "$TEST_WORK/src.log" || fail "the benchmark does not run on 2 harts"

say "--incoming-disk refuses a file that exists and is not empty"
echo precious > "$TEST_WORK/taken.img"
"$NIMBUS_BIN" run --incoming tcp:127.0.0.1:0 --incoming-disk "$TEST_WORK/taken.img" --console-stdout \
  --state-dir "$TEST_WORK/taken" --timeout 60 > /dev/null 2> "$TEST_WORK/taken.err" &
taken_pid=$!
wait_for "$TEST_WORK/taken.err" 'waiting for an incoming' 10 || fail "destination does not listen"
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$(port_of "$TEST_WORK/taken.err")" --with-disk \
  --state-dir "$TEST_WORK/src" > "$TEST_WORK/m0.out" 2>&1 && fail "migration onto an existing file succeeded"
wait "$taken_pid"
grep -q "exists and is not empty" "$TEST_WORK/m0.out" || fail "migrate said: $(cat "$TEST_WORK/m0.out")"
[ "$(cat "$TEST_WORK/taken.img")" = precious ] || fail "the existing file was changed"
kill -0 "$src_pid" 2> /dev/null || fail "the source VMM stopped"
say "ok: $(cat "$TEST_WORK/m0.out")"

sleep 2
"$NIMBUS_BIN" run --incoming tcp:127.0.0.1:0 --incoming-disk "$copy" --console-stdout \
  --state-dir "$TEST_WORK/dst" --timeout 120 > "$TEST_WORK/dst.log" 2> "$TEST_WORK/dst.err" &
dst_pid=$!
wait_for "$TEST_WORK/dst.err" 'waiting for an incoming' 10 || { cat "$TEST_WORK/dst.err"; fail "destination does not listen"; }
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$(port_of "$TEST_WORK/dst.err")" --with-disk --json \
  --state-dir "$TEST_WORK/src" > "$TEST_WORK/m1.out" 2>&1 \
  || { cat "$TEST_WORK/m1.out" "$TEST_WORK/dst.err"; fail "the migration failed"; }
say "$(cat "$TEST_WORK/m1.out")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["rounds"] >= 2 and r["disk_blocks_sent"] > 0, r' \
  "$TEST_WORK/m1.out" || fail "migrate --json printed: $(cat "$TEST_WORK/m1.out")"
wait "$src_pid"
status=$?
[ "$status" -eq 0 ] || { cat "$TEST_WORK/src.err"; fail "the source VMM exited with $status after the migration"; }
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/src.log" && fail "the benchmark finished before the migration"
wait "$dst_pid"
status=$?
line="$(grep -a -m1 'NIMBUS-BENCH: ' "$TEST_WORK/dst.log" || true)"
[ -n "$line" ] || { tail -5 "$TEST_WORK/dst.log"; cat "$TEST_WORK/dst.err"; fail "no NIMBUS-BENCH line on the destination"; }
[ "$status" -eq 0 ] || fail "the destination VMM exited with $status"
sum="$(echo "$line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ "$sum" = "$native_sum" ] || fail "checksum after the migration is $sum, expected $native_sum"
say "ok: hw mode, 2 vCPUs: checksum $sum after a live migration, as computed natively"
cmp "$disk" "$copy" || fail "the copied disk differs from the source's image"
say "ok: the disk copy ($(du -k "$copy" | cut -f1) KiB allocated of 16 MiB) equals the source's image"
say PASS
