#!/usr/bin/env bash
# One virtual network across two VMM processes: each VMM runs one Linux VM on network "blue",
# and the VMMs are joined by a UDP tunnel on the loopback (--net-tunnel). alpha serves a page,
# beta fetches it through the tunnel. Passes when beta printed alpha's token, both VMMs exit 0,
# and both tunnels counted datagrams (and no malformed or stranger ones).
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
write_vm beta "nimbus.mode=net-fetch nimbus.ip=10.0.0.2/24 nimbus.peer=10.0.0.1"
say "checking: VMM A (alpha, udp:$port_a) and VMM B (beta, udp:$port_b) share network blue through the tunnel"
started=$SECONDS
for pair in "alpha $port_a $port_b" "beta $port_b $port_a"; do
  set -- $pair
  timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/$1.toml" --host-harts 1 \
    --net-tunnel "udp:$2,peer=127.0.0.1:$3" --timeout "$GUEST_TIMEOUT" \
    --state-dir "$TEST_WORK/state-$1" --log-dir "$TEST_WORK/logs" < /dev/null > "$TEST_WORK/$1.stdout" 2> "$TEST_WORK/$1.stderr" &
  eval "pid_$1=$!"
done
wait "$pid_alpha"; status_a=$?
wait "$pid_beta"; status_b=$?
alpha="$TEST_WORK/logs/alpha.log" beta="$TEST_WORK/logs/beta.log"
show() { for f in "$alpha" "$beta" "$TEST_WORK/alpha.stderr" "$TEST_WORK/beta.stderr"; do echo "  --- $f"; tail -12 "$f" 2>/dev/null | sed 's/^/    /'; done; }
token=$(grep -a -m1 '^NIMBUS-NET: serving ' "$alpha" | tr -d '\r' | awk '{ print $3 }')
[ -n "$token" ] || { show; fail "alpha did not start serving (exit $status_a)"; }
fetched=$(grep -a -m1 '^NIMBUS-NET: fetched ' "$beta" | tr -d '\r')
[ "$fetched" = "NIMBUS-NET: fetched nimbus page $token" ] || { show; fail "beta fetched '$fetched', alpha served token $token"; }
say "ok: beta fetched alpha's page through the tunnel (token $token)"
[ "$status_a" -eq 0 ] && [ "$status_b" -eq 0 ] || { show; fail "expected both VMMs to exit 0, got $status_a and $status_b"; }
grep -a '^NIMBUS-NET: ping' "$beta" | tr -d '\r' | while read -r line; do say "measured (loaded host): $line"; done
for side in alpha beta; do
  python3 - "$TEST_WORK/state-$side/stats.json" "$side" <<'PY' || fail "$side's tunnel stats are wrong"
import json, sys
t = json.load(open(sys.argv[1]))["tunnel"]
assert t["sent"] > 5 and t["received"] > 5 and t["malformed"] == 0 and t["strangers"] == 0, t
print(f"[test_vm_net_tunnel] ok: {sys.argv[2]}'s tunnel: {t}")
PY
done
say "ok: both VMMs exit 0 after $((SECONDS - started)) s"
