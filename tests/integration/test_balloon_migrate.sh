#!/usr/bin/env bash
# Live migration of a VM with a balloon (docs/migration.md, docs/board.md): a 256 MiB emulate-mode
# Linux VM writes a 4 MiB file of random bytes (its checksum noted), writes 64 MiB more to tmpfs
# and deletes it; free page reporting gives that memory back (host memory held by its RAM falls,
# whole frames return to the pool). Then it is migrated to a second VMM:
#   - the guest is intact there: the random file has the same checksum, its shell answers;
#   - the memory it gave back stays given back: the destination's RAM holds no more host memory
#     than the source's did (plus a little the guest touched since), not the 64 MiB again;
#   - the balloon's state travelled: its counters of reported memory are on the destination.
# shellcheck disable=SC2016  # typed lines are for the guest's shell to expand
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
began=$SECONDS
cat > "$TEST_WORK/bm.toml" <<TOML
name = "bm"
memory = "256M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0"
balloon = true
TOML
"$NIMBUS_BIN" run --vm "$TEST_WORK/bm.toml" --host-harts 1 --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/src" \
  < /dev/null > /dev/null 2> "$TEST_WORK/src.err" &
src_pid=$!
trap 'kill $src_pid ${dst_pid:-} 2>/dev/null; rm -rf "$TEST_WORK"' EXIT

wait_log() {   # wait_log FILE PATTERN SECONDS
  for _ in $(seq 1 "$3"); do grep -aq "$2" "$1" 2>/dev/null && return 0; sleep 1; done
  return 1
}
# field DIR KEY: one number from the VM's entry in DIR/stats.json.
field() {
  "$NIMBUS_BIN" stats --json --state-dir "$1" | python3 -c "
import json, sys
vm = json.load(sys.stdin)['vms'][0]
for k in '$2'.split('.'): vm = vm[k]
print(vm)"
}
# type_into DIR LINE: types LINE into the VM's console on the VMM of DIR and detaches.
type_into() {
  local fifo="$TEST_WORK/feed.$RANDOM"
  mkfifo "$fifo"
  ( exec 3> "$fifo"; printf '%s\n' "$2" >&3; sleep 1; printf '\001x' >&3; exec sleep 30 ) &
  local feeder=$!
  timeout 60 "$NIMBUS_BIN" console bm --state-dir "$1" < "$fifo" > /dev/null 2>&1
  kill "$feeder" 2>/dev/null
  wait "$feeder" 2>/dev/null
}
wait_log "$TEST_WORK/src/bm.log" 'NIMBUS-GUEST: busybox shell' "$GUEST_TIMEOUT" \
  || { cat "$TEST_WORK/src.err"; fail "the guest did not reach its shell"; }
say "ok: at its shell after $((SECONDS - began)) s"

type_into "$TEST_WORK/src" 'dd if=/dev/urandom of=/tmp/keep bs=1M count=4 2>/dev/null; echo "sum-before=$(md5sum < /tmp/keep)"'
wait_log "$TEST_WORK/src/bm.log" '^sum-before=' 60 || fail "the guest did not write its file"
sum_before="$(grep -a '^sum-before=' "$TEST_WORK/src/bm.log" | head -1 | tr -d '\r' | cut -d= -f2)"
sleep 3   # boot-time and file reports settle, stats are rewritten
base_resident=$(field "$TEST_WORK/src" host_resident_bytes)
type_into "$TEST_WORK/src" 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; echo "filled=$((32 * 2))"'
wait_log "$TEST_WORK/src/bm.log" '^filled=64' 60 || fail "the guest did not write the fill"
sleep 2
full_resident=$(field "$TEST_WORK/src" host_resident_bytes)
type_into "$TEST_WORK/src" 'rm /tmp/fill; echo "removed=$((40 + 2))"'
wait_log "$TEST_WORK/src/bm.log" '^removed=42' 60 || fail "the guest did not remove the fill"
src_resident=$full_resident
for _ in $(seq 1 30); do
  sleep 1
  src_resident=$(field "$TEST_WORK/src" host_resident_bytes)
  [ $(( (full_resident - src_resident) * 100 )) -ge $(( (full_resident - base_resident) * 80 )) ] && break
done
[ $(( (full_resident - src_resident) * 100 )) -ge $(( (full_resident - base_resident) * 80 )) ] \
  || fail "only $(( (full_resident - src_resident) >> 20 )) of $(( (full_resident - base_resident) >> 20 )) MiB came back before the migration"
pool_returned=$(field "$TEST_WORK/src" pool_returned_bytes)
[ "$pool_returned" -ge $((32 << 20)) ] || fail "only $((pool_returned >> 20)) MiB went back to the frame pool"
reported=$(field "$TEST_WORK/src" balloon.reported_bytes)
say "ok: source RAM held $((base_resident >> 20)) -> $((full_resident >> 20)) -> $((src_resident >> 20)) MiB; $((pool_returned >> 20)) MiB back in the pool"

# --console-stdout: its console is a socket and a log, as with --vm (not the terminal).
"$NIMBUS_BIN" run --incoming tcp:127.0.0.1:0 --console-stdout --state-dir "$TEST_WORK/dst" --timeout "$GUEST_TIMEOUT" \
  < /dev/null > /dev/null 2> "$TEST_WORK/dst.err" &
dst_pid=$!
wait_log "$TEST_WORK/dst.err" 'waiting for an incoming' 10 || { cat "$TEST_WORK/dst.err"; fail "the destination does not listen"; }
port="$(sed -n 's/.*waiting for an incoming migration on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$TEST_WORK/dst.err" | head -1)"
"$NIMBUS_BIN" migrate bm --to "tcp:127.0.0.1:$port" --state-dir "$TEST_WORK/src" > "$TEST_WORK/m.out" 2>&1 \
  || { cat "$TEST_WORK/m.out" "$TEST_WORK/dst.err"; fail "the migration failed"; }
wait "$src_pid" || fail "the source VMM exited with $? after the migration"
say "ok: $(head -c 300 "$TEST_WORK/m.out")"

sleep 2   # the destination's stats file
dst_resident=$(field "$TEST_WORK/dst" host_resident_bytes)
say "destination RAM holds $((dst_resident >> 20)) MiB of host memory (source held $((src_resident >> 20)) MiB)"
[ "$dst_resident" -le $((src_resident + (8 << 20))) ] \
  || fail "the destination holds $((dst_resident >> 20)) MiB, the source held $((src_resident >> 20)) MiB: given-back memory came back"
[ "$(field "$TEST_WORK/dst" balloon.reported_bytes)" -ge "$reported" ] || fail "the balloon's counters did not travel"
type_into "$TEST_WORK/dst" 'echo "sum-after=$(md5sum < /tmp/keep)"'
wait_log "$TEST_WORK/dst/bm.log" '^sum-after=' 60 || { tail -5 "$TEST_WORK/dst/bm.log"; fail "the guest does not answer after the migration"; }
sum_after="$(grep -a '^sum-after=' "$TEST_WORK/dst/bm.log" | head -1 | tr -d '\r' | cut -d= -f2)"
[ "$sum_after" = "$sum_before" ] || fail "the file's checksum was $sum_before, is $sum_after after the migration"
say "ok: the guest's file has the same checksum ($sum_after) on the destination"
type_into "$TEST_WORK/dst" 'poweroff -f'
wait "$dst_pid" || fail "the destination VMM exited with $?"
say "PASS ($((SECONDS - began)) s)"
