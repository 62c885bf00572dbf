#!/usr/bin/env bash
# A VM with a network interface keeps networking across a snapshot-restore and a live migration
# (docs/migration.md, "Network interfaces"). Network "blue" spans processes through UDP tunnels:
#   alpha: a VMM's Linux VM serving a page (httpd) on 10.0.0.1, tunnel port A;
#   beta:  a bare machine's Linux shell on 10.0.0.2 (commands typed on its console), whose
#          tunnel has two peers: alpha's first VMM (port A) and the destination (port C).
# beta fetches alpha's page (1) before anything; (2) after alpha was snapshotted, its VMM killed
# with -9 and the VM restored in a new VMM on port A; (3) after the restored VM was migrated live
# to a VMM on port C (beta's tunnel learned alpha's MAC behind A: only the announcement the VM
# makes on arrival sends its traffic to C), with a ping too; then beta tells alpha to stop and
# alpha powers off with 0 on the last VMM.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
read -r port_a port_b port_c < <(python3 -c '
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cat > "$TEST_WORK/alpha.toml" <<TOML
name = "alpha"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=net-serve nimbus.ip=10.0.0.1/24"
[[net]]
network = "blue"
TOML
wait_for() {   # FILE PATTERN SECONDS
  local i
  for i in $(seq 1 $(($3 * 10))); do
    { tr -d '\r' < "$1"; } 2>/dev/null | grep -aq "$2" && return 0
    sleep 0.1
  done
  return 1
}
pids=()
cleanup_vmms() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap 'cleanup_vmms; rm -rf "$TEST_WORK"' EXIT
show() { for f in "$TEST_WORK"/logs/alpha.log "$TEST_WORK"/*.log "$TEST_WORK"/*.err "$TEST_WORK/beta.raw"; do
  echo "  --- $f"; tail -8 "$f" 2>/dev/null | tr -d '\r' | sed 's/^/    /'; done; }
die() { show; fail "$*"; }

say "alpha (VMM, tunnel :$port_a) and beta (bare machine, tunnel :$port_b, peers :$port_a and :$port_c) boot"
mkdir -p "$TEST_WORK/logs"
"$NIMBUS_BIN" run --vm "$TEST_WORK/alpha.toml" --host-harts 1 --net-tunnel "udp:$port_a,peer=127.0.0.1:$port_b" \
  --timeout 300 --state-dir "$TEST_WORK/s1" --log-dir "$TEST_WORK/logs" < /dev/null > "$TEST_WORK/vmm1.log" \
  2> "$TEST_WORK/vmm1.err" &
vmm1=$!; pids+=("$vmm1")
mkfifo "$TEST_WORK/beta.in"
exec 3<> "$TEST_WORK/beta.in"
"$NIMBUS_BIN" run --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0 nimbus.ip=10.0.0.2/24" --mem 128M --net blue \
  --net-tunnel "udp:$port_b,peer=127.0.0.1:$port_a,peer=127.0.0.1:$port_c" --timeout 300 \
  < "$TEST_WORK/beta.in" > "$TEST_WORK/beta.raw" 2> "$TEST_WORK/beta.err" &
beta=$!; pids+=("$beta")
wait_for "$TEST_WORK/logs/alpha.log" '^NIMBUS-NET: serving ' 120 || die "alpha did not start serving"
token=$(tr -d '\r' < "$TEST_WORK/logs/alpha.log" | grep -a -m1 '^NIMBUS-NET: serving ' | awk '{ print $3 }')
wait_for "$TEST_WORK/beta.raw" 'NIMBUS-GUEST: busybox shell' 120 || die "beta's shell did not start"
sleep 1

fetch() {   # STEP: beta fetches alpha's page; passes when it got the token
  echo "wget -q -T 5 -O - http://10.0.0.1/ | sed 's/^/PAGE-$1 /'; echo FETCHED-$1" >&3
  wait_for "$TEST_WORK/beta.raw" "^FETCHED-$1" 60 || die "step $1: beta's wget did not finish"
  got=$(tr -d '\r' < "$TEST_WORK/beta.raw" | grep -a -m1 "^PAGE-$1 " | cut -d' ' -f2-)
  [ "$got" = "nimbus page $token" ] || die "step $1: beta fetched '$got', alpha serves token $token"
  say "ok: step $1: beta fetched alpha's page (token $token)"
}
fetch 1

say "2: snapshot alpha, kill its VMM with -9, restore it in a new VMM on the same tunnel port"
"$NIMBUS_BIN" snapshot alpha --to "$TEST_WORK/snap" --state-dir "$TEST_WORK/s1" > "$TEST_WORK/snapshot.out" 2>&1 \
  || die "snapshot failed: $(cat "$TEST_WORK/snapshot.out")"
say "$(cat "$TEST_WORK/snapshot.out")"
kill -9 "$vmm1"; wait "$vmm1" 2>/dev/null
"$NIMBUS_BIN" run --restore "$TEST_WORK/snap" --net-tunnel "udp:$port_a,peer=127.0.0.1:$port_b" --console-stdout \
  --timeout 300 --state-dir "$TEST_WORK/s2" < /dev/null > "$TEST_WORK/vmm2.log" 2> "$TEST_WORK/vmm2.err" &
vmm2=$!; pids+=("$vmm2")
wait_for "$TEST_WORK/vmm2.err" 'resumed from snapshot' 30 || die "the restore did not resume"
fetch 2

say "3: migrate the restored alpha live to a VMM on tunnel port $port_c"
"$NIMBUS_BIN" run --incoming tcp:127.0.0.1:0 --net-tunnel "udp:$port_c,peer=127.0.0.1:$port_b" --console-stdout \
  --timeout 300 --state-dir "$TEST_WORK/s3" < /dev/null > "$TEST_WORK/vmm3.log" 2> "$TEST_WORK/vmm3.err" &
vmm3=$!; pids+=("$vmm3")
wait_for "$TEST_WORK/vmm3.err" 'waiting for an incoming' 20 || die "the destination does not listen"
dst_port=$(sed -n 's/.*waiting for an incoming migration on tcp:127.0.0.1:\([0-9]*\).*/\1/p' "$TEST_WORK/vmm3.err" | head -1)
"$NIMBUS_BIN" migrate alpha --to "tcp:127.0.0.1:$dst_port" --state-dir "$TEST_WORK/s2" > "$TEST_WORK/migrate.out" 2>&1 \
  || die "the migration failed: $(cat "$TEST_WORK/migrate.out")"
say "$(cat "$TEST_WORK/migrate.out")"
wait "$vmm2" || die "the restored VMM exited with $? after the migration"
fetch 3
echo "ping -c 3 -W 5 10.0.0.1 | grep -a 'packets transmitted' | sed 's/^/PING /'" >&3
wait_for "$TEST_WORK/beta.raw" '^PING ' 30 || die "beta's ping printed nothing"
ping_line=$(tr -d '\r' < "$TEST_WORK/beta.raw" | grep -a -m1 '^PING ')
grep -q ' 3 packets received' <<< "$ping_line" || die "after the migration: $ping_line"
say "ok: step 3: $ping_line"

say "4: beta tells alpha to stop; alpha powers off on the last VMM"
echo "echo done | nc 10.0.0.1 9 > /dev/null; echo TOLD-\$?" >&3
wait "$vmm3"
status=$?
tr -d '\r' < "$TEST_WORK/vmm3.log" | grep -aq 'NIMBUS-TEST: PASS served' || die "alpha did not finish on the last VMM"
[ "$status" -eq 0 ] || die "the last VMM exited with $status"
echo "exit" >&3
wait "$beta" || die "beta exited with $?"
say "ok: alpha served across a snapshot-restore and a live migration, powered off with 0"
say PASS
