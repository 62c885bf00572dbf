#!/usr/bin/env bash
# A TAP device joins a virtual network to a host's own network stack (--net-tap). Inside a
# network namespace this test creates, a VMM runs Linux VM alpha (hw mode, 10.0.0.1 on network
# blue) serving a page holding a random token; the namespace's stack (10.0.0.254 on the TAP device
# the VMM created) fetches the page over TCP and then tells alpha to stop. Passes when the host
# fetched exactly the token alpha served, the VMM exited 0, and stats.json counts frames both ways
# through the device and none spoofed. Needs root (network namespaces); skips otherwise.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
[ "$(id -u)" -eq 0 ] || skip "needs root to create a network namespace"
command -v ip > /dev/null || skip "no ip command (iproute2)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
ns="nimbus-tap-$$"
ip netns add "$ns" 2> "$TEST_WORK/netns.err" || skip "cannot create a network namespace: $(cat "$TEST_WORK/netns.err")"
vmm=""
cleanup() {
  [ -n "$vmm" ] && kill "$vmm" 2> /dev/null
  ip netns delete "$ns" 2> /dev/null
  rm -rf "$TEST_WORK"
}
trap cleanup EXIT
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up

cat > "$TEST_WORK/alpha.toml" <<TOML
name = "alpha"
memory = "128M"
mode = "hw"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=net-serve nimbus.ip=10.0.0.1/24"
[[net]]
network = "blue"
TOML
say "checking: the host (a network namespace) fetches a page from VM alpha through TAP device ntap0"
started=$SECONDS
in_ns timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/alpha.toml" --net-tap blue=ntap0 \
  --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" --log-dir "$TEST_WORK/logs" \
  < /dev/null > "$TEST_WORK/stdout" 2> "$TEST_WORK/stderr" &
vmm=$!
log="$TEST_WORK/logs/alpha.log"
show() { echo "  --- $log"; tail -15 "$log" 2> /dev/null | sed 's/^/    /'; cat "$TEST_WORK/stderr"; }

for _ in $(seq 1 100); do in_ns ip link show ntap0 > /dev/null 2>&1 && break; sleep 0.1; done
in_ns ip link show ntap0 > /dev/null 2>&1 || { show; fail "the VMM did not create TAP device ntap0"; }
in_ns ip addr add 10.0.0.254/24 dev ntap0 || fail "ip addr add on ntap0 failed"
in_ns ip link set ntap0 up || fail "ip link set ntap0 up failed"

token=""
for _ in $(seq 1 $((GUEST_TIMEOUT * 2))); do
  token=$(grep -a -m1 '^NIMBUS-NET: serving ' "$log" 2> /dev/null | tr -d '\r' | awk '{ print $3 }')
  [ -n "$token" ] && break
  kill -0 "$vmm" 2> /dev/null || break
  sleep 0.5
done
[ -n "$token" ] || { show; fail "alpha did not start serving"; }
# The host's side: fetch the page (retrying while ARP and httpd settle), then stop alpha (port 9).
fetched=$(in_ns python3 - <<'PY'
import socket, time, urllib.request
page = ""
deadline = time.time() + 30
while time.time() < deadline and not page:
    try:
        page = urllib.request.urlopen("http://10.0.0.1/", timeout=2).read().decode().strip()
    except OSError:
        time.sleep(0.3)
print(page)
if page:
    with socket.create_connection(("10.0.0.1", 9), timeout=5) as s:
        s.sendall(b"done\n")
PY
)
[ "$fetched" = "nimbus page $token" ] || { show; fail "the host fetched '$fetched', alpha served token $token"; }
say "ok: the host fetched alpha's page (token $token) through ntap0"
wait "$vmm"
status=$?
vmm=""
grep -aq '^NIMBUS-TEST: PASS served' "$log" || { show; fail "alpha did not finish"; }
[ "$status" -eq 0 ] || { show; fail "expected exit 0, got $status"; }
python3 - "$TEST_WORK/state/stats.json" <<'PY' || fail "stats.json does not show the TAP device's traffic"
import json, sys
s = json.load(open(sys.argv[1]))
blue, tap = s["networks"]["blue"], s["taps"]["ntap0"]
assert tap["network"] == "blue" and tap["to_host"] > 3 and tap["from_host"] > 3, tap
assert blue["to_host"] > 3 and blue["from_host"] > 3 and blue["host_spoofed"] == 0 and blue["spoofed"] == 0, blue
print("[test_vm_net_tap] ok: stats.json taps.ntap0:", tap)
PY
say "ok: exit 0 after $((SECONDS - started)) s"
