#!/usr/bin/env bash
# One virtual network across two processes joined by a UDP tunnel on the loopback (--net-tunnel):
# a VMM runs Linux VM alpha on network "blue" and serves a page; a bare machine (`nimbus run
# --kernel ... --net blue`, OpenSBI inside) is beta and fetches it through the tunnel. Passes when
# beta printed alpha's token, both processes exit 0, and the VMM's tunnel counted datagrams both
# ways (and no malformed or stranger ones). The two share a key (key=FILE): every datagram is
# authenticated, and none failed.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
read -r port_a port_b < <(python3 -c '
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
write_vm() { # name append
  cat > "$TEST_WORK/$1.toml" <<TOML
name = "$1"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 $2"
[[net]]
network = "blue"
TOML
}
write_vm alpha "nimbus.mode=net-serve nimbus.ip=10.0.0.1/24"
key="$TEST_WORK/tunnel.key"
(umask 077 && head -c 32 /dev/urandom | base64 > "$key")
say "checking: VMM (alpha, udp:$port_a) and bare machine (beta, udp:$port_b) share network blue through the tunnel"
started=$SECONDS
mkdir -p "$TEST_WORK/logs"
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/alpha.toml" --host-harts 1 \
  --net-tunnel "udp:$port_a,peer=127.0.0.1:$port_b,key=$key" --timeout "$GUEST_TIMEOUT" \
  --state-dir "$TEST_WORK/state-alpha" --log-dir "$TEST_WORK/logs" < /dev/null > "$TEST_WORK/alpha.stdout" 2> "$TEST_WORK/alpha.stderr" &
pid_alpha=$!
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0 nimbus.mode=net-fetch nimbus.ip=10.0.0.2/24 nimbus.peer=10.0.0.1" --mem 128M \
  --net blue --net-tunnel "udp:$port_b,peer=127.0.0.1:$port_a,key=$key" --timeout "$GUEST_TIMEOUT" \
  < /dev/null > "$TEST_WORK/beta.raw" 2> "$TEST_WORK/beta.stderr" &
pid_beta=$!
wait "$pid_alpha"; status_a=$?
wait "$pid_beta"; status_b=$?
tr -d '\r' < "$TEST_WORK/beta.raw" > "$TEST_WORK/logs/beta.log"
alpha="$TEST_WORK/logs/alpha.log" beta="$TEST_WORK/logs/beta.log"
show() { for f in "$alpha" "$beta" "$TEST_WORK/alpha.stderr" "$TEST_WORK/beta.stderr"; do echo "  --- $f"; tail -12 "$f" 2>/dev/null | sed 's/^/    /'; done; }
token=$(grep -a -m1 '^NIMBUS-NET: serving ' "$alpha" | tr -d '\r' | awk '{ print $3 }')
[ -n "$token" ] || { show; fail "alpha did not start serving (exit $status_a)"; }
fetched=$(grep -a -m1 '^NIMBUS-NET: fetched ' "$beta" | tr -d '\r')
[ "$fetched" = "NIMBUS-NET: fetched nimbus page $token" ] || { show; fail "beta fetched '$fetched', alpha served token $token"; }
say "ok: beta fetched alpha's page through the tunnel (token $token)"
[ "$status_a" -eq 0 ] && [ "$status_b" -eq 0 ] || { show; fail "expected both processes to exit 0, got $status_a and $status_b"; }
grep -a '^NIMBUS-NET: ping' "$beta" | tr -d '\r' | while read -r line; do say "measured (loaded host): $line"; done
python3 - "$TEST_WORK/state-alpha/stats.json" <<'PY' || fail "the VMM's tunnel stats are wrong"
import json, sys
t = json.load(open(sys.argv[1]))["tunnel"]
assert t["sent"] > 5 and t["received"] > 5 and t["malformed"] == 0 and t["strangers"] == 0, t
assert t["authenticated"] and t["unauthenticated"] == 0 and t["replayed"] == 0, t
print(f"[test_vm_net_tunnel] ok: the VMM's tunnel: {t}")
PY
say "ok: both processes exit 0 after $((SECONDS - started)) s"
