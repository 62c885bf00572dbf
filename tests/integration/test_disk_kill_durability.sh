#!/usr/bin/env bash
# Flushed guest writes survive kill -9 of the VMM at any moment.
# A bare-metal writer (tests/integration/programs/disk_writer.c) writes numbered, checksummed
# 4 KiB records to the virtio disk, FLUSHes after each and prints "ACK <n>" once the FLUSH
# completed. The test starts it (alternately on the bare machine and as a bios = "none" VM under
# the VMM), kills the process with SIGKILL after a random 20-700 ms, and checks that every record
# the console acknowledged is on the disk with the run's nonce and a good checksum: zero lost,
# zero torn. The next run starts at once on the same image, so the disk lock must have died with
# the killed process. It also checks that a second VMM on an image in use is refused (exit 2,
# naming the image and the holder's pid) and that a read-only attach leaves the image unchanged.
# NIMBUS_KILLS (default 60) sets the number of kills.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "kills the Nimbus VMM: no QEMU equivalent"
require_machine
command -v riscv64-linux-gnu-gcc >/dev/null || skip "riscv64-linux-gnu-gcc not installed (scripts/install-deps.sh)"
command -v python3 >/dev/null || skip "python3 not installed"
writer="$TEST_WORK/disk_writer.elf"
build_bare_metal "$writer" "$NIMBUS_SOURCE_DIR/tests/integration/programs/disk_writer.c" || fail "could not build the writer"
disk="$TEST_WORK/disk.img"
truncate -s 256M "$disk" # 65535 records: no run reaches the end before its kill
kills="${NIMBUS_KILLS:-60}"

# check_run CONSOLE_LOG: verifies the acknowledged records; prints "acked lost torn".
check_run() {
  python3 - "$1" "$disk" <<'PY'
import struct, sys
log, disk = sys.argv[1], sys.argv[2]
text = open(log, 'rb').read().decode('latin-1').replace('\r', '')
lines = text.split('\n')[:-1]          # complete lines only: a cut last line is no acknowledgement
nonce, acked = None, []
for line in lines:
    if line.startswith('RUN '): nonce = int(line[4:], 16)
    elif line.startswith('ACK ') and nonce is not None: acked.append(int(line[4:]))
    elif line.startswith('ERROR'): print('writer error:', line, file=sys.stderr); sys.exit(3)
if acked != list(range(1, len(acked) + 1)):
    print('acknowledgements out of order', file=sys.stderr); sys.exit(3)
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b: h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
image = open(disk, 'rb')
lost = torn = 0
for i in acked:
    image.seek(512 + (i - 1) * 4096)
    rec = image.read(4096)
    magic, n, idx = struct.unpack_from('<QQQ', rec)
    if magic != 0x31434552424d494e or n != nonce or idx != i:
        lost += 1; print(f'record {i}: lost (magic {magic:x} nonce {n:x} index {idx})', file=sys.stderr)
    elif struct.unpack_from('<Q', rec, 4088)[0] != fnv(rec[:4088]):
        torn += 1; print(f'record {i}: torn (bad checksum)', file=sys.stderr)
print(len(acked), lost, torn)
PY
}

vm_toml() { # vm_toml FILE [readonly]
  { echo 'name = "writer"'; echo 'memory = "16M"'; echo "kernel = \"$writer\""; echo 'bios = "none"'
    echo "disk = \"$disk\""; [ -n "${2:-}" ] && echo 'readonly = true'; } > "$1"
}
vm_toml "$TEST_WORK/writer.toml"

# start_writer MODE LOG: starts the writer in the background; sets WRITER_PID and WRITER_CONSOLE.
start_writer() {
  local mode="$1" run="$2"
  if [ "$mode" = bare ]; then
    WRITER_CONSOLE="$run.console"
    "$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$disk" --timeout 60 \
      < /dev/null > "$WRITER_CONSOLE" 2> "$run.stderr" &
  else
    WRITER_CONSOLE="$run.state/writer.log"
    mkdir -p "$run.state"
    "$NIMBUS_BIN" run --vm "$TEST_WORK/writer.toml" --state-dir "$run.state" --timeout 60 \
      < /dev/null > "$run.stdout" 2> "$run.stderr" &
  fi
  WRITER_PID=$!
}

say "checking: $kills kill -9s of a writer flushing 4 KiB records -> every acknowledged record intact"
total_acked=0 total_lost=0 total_torn=0 finished=0 early=0 start=$SECONDS
for ((k = 1; k <= kills; k++)); do
  mode=bare; [ $((k % 2)) -eq 0 ] && mode=vm
  run="$TEST_WORK/run$k"
  start_writer "$mode" "$run"
  sleep "0.$(printf '%03d' $((20 + RANDOM % 680)))"
  kill -9 "$WRITER_PID" 2> /dev/null
  wait "$WRITER_PID" 2> /dev/null
  status=$?
  # 137: killed. 0 with FULL: the writer filled the disk first (a fast host); checked all the same.
  [ "$status" -eq 137 ] || { [ "$status" -eq 0 ] && grep -q '^FULL' "$WRITER_CONSOLE"; } \
    || { cat "$run.stderr"; fail "kill $k ($mode): the writer exited with $status before the kill"; }
  [ "$status" -eq 137 ] || finished=$((finished + 1))
  if [ ! -e "$WRITER_CONSOLE" ] && [ "$status" -eq 137 ]; then
    # Killed before the VMM created the VM's console log (it does so once its options are parsed
    # and guest memory is reserved; under load that can take longer than the shortest kill):
    # nothing was acknowledged, so nothing can be lost. The disk is still checked by later runs.
    early=$((early + 1))
    continue
  fi
  read -r acked lost torn < <(check_run "$WRITER_CONSOLE" 2> "$run.check") \
    || { cat "$run.check"; fail "kill $k: could not check the run"; }
  [ -s "$run.check" ] && sed 's/^/    /' "$run.check"
  total_acked=$((total_acked + acked)) total_lost=$((total_lost + lost)) total_torn=$((total_torn + torn))
done
say "kills: $((kills - finished)), records acknowledged: $total_acked, lost: $total_lost, torn: $total_torn ($((SECONDS - start)) s)"
[ "$finished" -eq 0 ] || say "note: $finished runs filled the disk before their kill"
[ "$early" -eq 0 ] || say "note: $early VMMs were killed before they had created the console log"
[ "$total_lost" -eq 0 ] && [ "$total_torn" -eq 0 ] || fail "acknowledged records were lost or torn"
[ "$total_acked" -ge "$kills" ] || fail "too few acknowledged records ($total_acked) for the test to mean anything"
say "ok: zero lost, zero torn"

say "checking: a second VMM on an image in use -> exit 2 naming the image and the holder"
start_writer vm "$TEST_WORK/holder"
for _ in $(seq 50); do grep -q '^ACK' "$WRITER_CONSOLE" 2> /dev/null && break; sleep 0.1; done
"$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$disk" --timeout 5 < /dev/null \
  > "$TEST_WORK/second.out" 2> "$TEST_WORK/second.err"
second=$?
"$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$disk" --drive-read-only --timeout 5 < /dev/null \
  > /dev/null 2> "$TEST_WORK/second-ro.err"
second_ro=$?
kill -9 "$WRITER_PID" 2> /dev/null; wait "$WRITER_PID" 2> /dev/null
[ "$second" -eq 2 ] || fail "second read-write attach exited $second, expected 2"
grep -q "$disk: disk image is in use by pid $WRITER_PID" "$TEST_WORK/second.err" \
  || fail "error does not name the image and pid $WRITER_PID: $(cat "$TEST_WORK/second.err")"
[ "$second_ro" -eq 2 ] || fail "read-only attach next to a writer exited $second_ro, expected 2"
say "ok: $(cat "$TEST_WORK/second.err")"

say "checking: readonly = true (VM) and --drive-read-only (bare) leave the image unchanged"
sum_before="$(sha256sum < "$disk")"
vm_toml "$TEST_WORK/ro.toml" readonly
"$NIMBUS_BIN" run --vm "$TEST_WORK/ro.toml" --state-dir "$TEST_WORK/ro.state" --timeout 10 < /dev/null \
  > /dev/null 2> "$TEST_WORK/ro.err"
grep -aq '^ERROR write' "$TEST_WORK/ro.state/writer.log" || fail "the read-only VM's write did not fail: $(head -3 "$TEST_WORK/ro.state/writer.log")"
"$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$disk" --drive-read-only --timeout 10 < /dev/null \
  > "$TEST_WORK/ro-bare.out" 2> /dev/null
grep -aq '^ERROR write' "$TEST_WORK/ro-bare.out" || fail "the read-only bare machine's write did not fail"
[ "$(sha256sum < "$disk")" = "$sum_before" ] || fail "a read-only attach changed the image"
say "ok: writes fail with IOERR, the image is unchanged"
