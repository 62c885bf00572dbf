#!/usr/bin/env bash
# virtio-balloon and virtio-console with a real Linux guest under the VMM (docs/board.md):
#  1. a 256 MiB VM with balloon = true and virtio_console = true boots to its shell;
#  2. the guest writes 64 MiB to tmpfs and deletes it; free page reporting gives the freed
#     memory back: the host memory its RAM holds falls by >= 80 % of what the file touched
#     (measured from the VMM's stats: host_resident_bytes, mincore over the VM's RAM), and the
#     VMM process's RSS falls with it;
#  3. `nimbus balloon NAME --target 96M`: the guest's driver inflates to 96 MiB (actual_bytes),
#     `--target 0` lets it deflate again;
#  4. the guest writes to /dev/hvc1 (hvc0 is the SBI console): the host's console log has it;
#  5. a snapshot of the ballooned VM is written (the balloon's state travels with it).
# Modes: NIMBUS_BALLOON_MODE=emulate (default) | trap | hw.
# shellcheck disable=SC2016  # typed lines are for the guest's shell to expand
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
mode="${NIMBUS_BALLOON_MODE:-emulate}"
state="$TEST_WORK/state"
name=bal
cat > "$TEST_WORK/$name.toml" <<TOML
name = "$name"
memory = "256M"
mode = "$mode"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0"
balloon = true
virtio_console = true
TOML
began=$SECONDS
"$NIMBUS_BIN" run --vm "$TEST_WORK/$name.toml" --host-harts 1 --timeout "$GUEST_TIMEOUT" --state-dir "$state" \
  < /dev/null > /dev/null 2> "$TEST_WORK/vmm.err" &
vmm=$!
trap 'kill $vmm 2>/dev/null; rm -rf "$TEST_WORK"' EXIT
for _ in $(seq 1 "$GUEST_TIMEOUT"); do
  grep -aq 'NIMBUS-GUEST: busybox shell' "$state/$name.log" 2>/dev/null && break
  kill -0 $vmm 2>/dev/null || { cat "$TEST_WORK/vmm.err"; fail "the VMM exited before the guest reached its shell"; }
  sleep 1
done
grep -aq 'NIMBUS-GUEST: busybox shell' "$state/$name.log" || fail "the guest did not reach its shell"
say "ok: $mode-mode VM at its shell after $((SECONDS - began)) s"

# field KEY: one number from the VM's entry in stats.json (rewritten every second).
field() {
  "$NIMBUS_BIN" stats --json --state-dir "$state" | python3 -c "
import json, sys
vm = json.load(sys.stdin)['vms'][0]
keys = '$1'.split('.')
for k in keys: vm = vm[k]
print(vm)"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$vmm/status"; }
# type_into COMMANDS: types a line into the VM's console and detaches.
type_into() {
  local fifo="$TEST_WORK/feed.$RANDOM"
  mkfifo "$fifo"
  ( exec 3> "$fifo"; printf '%s\n' "$1" >&3; sleep 1; printf '\001x' >&3; exec sleep 30 ) &
  local feeder=$!
  timeout 60 "$NIMBUS_BIN" console "$name" --state-dir "$state" < "$fifo" > /dev/null 2>&1
  kill "$feeder" 2>/dev/null
  wait "$feeder" 2>/dev/null
}
wait_log() {   # wait_log PATTERN SECONDS
  for _ in $(seq 1 "$2"); do grep -aq "$1" "$state/$name.log" && return 0; sleep 1; done
  return 1
}

# Boot-time reports settle first (the kernel reports its initial free memory once).
sleep 8
base_returned=$(field returned_bytes)
base_resident=$(field host_resident_bytes)
base_rss=$(rss_kib)
say "before: VM RAM held by the host $((base_resident >> 20)) MiB, given back so far $((base_returned >> 20)) MiB, VMM RSS $((base_rss >> 10)) MiB"

type_into 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; echo "filled=$((32 * 2))"'
wait_log '^filled=64' 120 || fail "the guest did not write the file"
sleep 2   # the next stats rewrite
touched_resident=$(field host_resident_bytes)
touched_rss=$(rss_kib)
touched=$((touched_resident - base_resident))
say "after writing 64 MiB: VM RAM held $((touched_resident >> 20)) MiB (+$((touched >> 20)) MiB), VMM RSS $((touched_rss >> 10)) MiB"
[ "$touched" -ge $((48 << 20)) ] || fail "writing 64 MiB grew the VM's host memory by only $((touched >> 20)) MiB"

type_into 'rm /tmp/fill; echo "removed=$((40 + 2))"'
wait_log '^removed=42' 60 || fail "the guest did not remove the file"
freed_at=$SECONDS
returned=0
for _ in $(seq 1 30); do
  sleep 1
  now_resident=$(field host_resident_bytes)
  returned=$((touched_resident - now_resident))
  [ $((returned * 100)) -ge $((touched * 80)) ] && break
done
now_rss=$(rss_kib)
reported=$(( $(field returned_bytes) - base_returned ))
say "after rm, $((SECONDS - freed_at)) s: VM RAM held $((now_resident >> 20)) MiB: $((returned >> 20)) of the $((touched >> 20)) MiB touched came back ($((returned * 100 / touched)) %); reported $((reported >> 20)) MiB; VMM RSS $((touched_rss >> 10)) -> $((now_rss >> 10)) MiB"
[ $((returned * 100)) -ge $((touched * 80)) ] || fail "only $((returned * 100 / touched)) % of the freed memory came back (bar: 80 %)"

# The host asks the VM to shrink, then lets it grow again.
"$NIMBUS_BIN" balloon "$name" --target 96M --state-dir "$state" > "$TEST_WORK/balloon.out" \
  || { cat "$TEST_WORK/balloon.out"; fail "nimbus balloon --target 96M failed"; }
actual=0
for _ in $(seq 1 60); do
  actual=$(field balloon.actual_bytes)
  [ "$actual" -ge $((96 << 20)) ] && break
  sleep 1
done
[ "$actual" -eq $((96 << 20)) ] || fail "the balloon reached $((actual >> 20)) MiB, not the 96 MiB asked for"
held=$(field balloon.held_bytes)
[ "$held" -eq $((96 << 20)) ] || fail "the device holds $((held >> 20)) MiB, the driver says 96"
shrunk_resident=$(field host_resident_bytes)
say "ok: balloon at 96 MiB (VM RAM held by the host $((shrunk_resident >> 20)) MiB, VMM RSS $(( $(rss_kib) >> 10)) MiB)"
"$NIMBUS_BIN" balloon "$name" --target 0 --state-dir "$state" > /dev/null || fail "nimbus balloon --target 0 failed"
for _ in $(seq 1 60); do
  actual=$(field balloon.actual_bytes)
  [ "$actual" -eq 0 ] && break
  sleep 1
done
[ "$actual" -eq 0 ] || fail "the balloon did not deflate (still $((actual >> 20)) MiB)"
"$NIMBUS_BIN" balloon "$name" --json --state-dir "$state" > "$TEST_WORK/balloon.json" || fail "nimbus balloon --json failed"
python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert b["inflated_pages"] >= 96 * 256 and b["deflated_pages"] >= 96 * 256, b
assert b["ignored_pages"] == 0 and b["ignored_duplicates"] == 0 and b["ignored_reports"] == 0, b
assert b["guest_stats"].get("total_memory", 0) > 200 << 20, b
' "$TEST_WORK/balloon.json" || { cat "$TEST_WORK/balloon.json"; fail "nimbus balloon --json is not as expected"; }
say "ok: balloon inflated to 96 MiB and deflated again; the guest's statistics arrived"

# The second console.
type_into 'echo "hvc-says-$((6 * 7))" > /dev/hvc1; echo "hvc-written=$?"'
wait_log '^hvc-written=0' 30 || fail "writing /dev/hvc1 failed in the guest"
wait_log 'hvc-says-42' 10 || fail "what the guest wrote to /dev/hvc1 did not reach the host's console"
say "ok: /dev/hvc1 (virtio-console) output reached the host"

if [ "$mode" = emulate ] || [ "$mode" = trap ] || [ "$mode" = hw ]; then
  "$NIMBUS_BIN" snapshot "$name" --to "$TEST_WORK/snap" --state-dir "$state" > "$TEST_WORK/snap.out" 2>&1 \
    || { cat "$TEST_WORK/snap.out"; fail "a snapshot of the ballooned VM failed"; }
  say "ok: snapshot written ($(head -c 200 "$TEST_WORK/snap.out"))"
fi

type_into 'poweroff -f'
wait $vmm
RUN_STATUS=$?
[ "$RUN_STATUS" -eq 0 ] || { cat "$TEST_WORK/vmm.err"; fail "the VMM exited with $RUN_STATUS"; }
say "PASS ($mode mode, $((SECONDS - began)) s)"
