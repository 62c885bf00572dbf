#!/usr/bin/env bash
# Two Linux VMs on one VMM and one virtual network ("blue"): alpha (emulate mode) serves a page
# holding a random token with busybox httpd; beta (hw mode) fetches it with wget, pings alpha and
# tells it to stop through nc. Meanwhile gamma (trap mode) sits on another network ("red") with an
# address in the same subnet and tries to reach alpha. Passes when beta printed exactly the token
# alpha served, gamma got no answer and not one frame, all three powered off with 0, and
# stats.json counts the frames on network blue and none delivered to gamma. Prints the ping RTT.
# NIMBUS_NET_BENCH_MIB=N also times a wget of an N-MiB file (throughput; not for CI).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
bench="${NIMBUS_NET_BENCH_MIB:+ nimbus.netbench=$NIMBUS_NET_BENCH_MIB}"
write_vm() { # name mode append [network]
  cat > "$TEST_WORK/$1.toml" <<TOML
name = "$1"
memory = "128M"
mode = "$2"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 $3$bench"
[[net]]
network = "${4:-blue}"
TOML
}
write_vm alpha "${NIMBUS_NET_SERVER_MODE:-emulate}" "nimbus.mode=net-serve nimbus.ip=10.0.0.1/24"
write_vm beta "${NIMBUS_NET_CLIENT_MODE:-hw}" "nimbus.mode=net-fetch nimbus.ip=10.0.0.2/24 nimbus.peer=10.0.0.1"
write_vm gamma trap "nimbus.mode=net-probe nimbus.ip=10.0.0.3/24 nimbus.peer=10.0.0.1" red
say "checking: alpha serves a page on network blue, beta fetches it (wget), pings alpha; gamma on red reaches nothing"
started=$SECONDS
timeout $((GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$TEST_WORK/alpha.toml" --vm "$TEST_WORK/beta.toml" --vm "$TEST_WORK/gamma.toml" \
  --host-harts 2 --timeout "$GUEST_TIMEOUT" --state-dir "$TEST_WORK/state" --log-dir "$TEST_WORK/logs" \
  < /dev/null > "$TEST_WORK/stdout" 2> "$TEST_WORK/stderr"
RUN_STATUS=$?
alpha="$TEST_WORK/logs/alpha.log" beta="$TEST_WORK/logs/beta.log" gamma="$TEST_WORK/logs/gamma.log"
show() { for f in "$alpha" "$beta" "$gamma"; do echo "  --- $f"; tail -15 "$f" 2>/dev/null | sed 's/^/    /'; done; cat "$TEST_WORK/stderr"; }
token=$(grep -a -m1 '^NIMBUS-NET: serving ' "$alpha" | tr -d '\r' | awk '{ print $3 }')
[ -n "$token" ] || { show; fail "alpha did not start serving (exit $RUN_STATUS)"; }
fetched=$(grep -a -m1 '^NIMBUS-NET: fetched ' "$beta" | tr -d '\r')
[ "$fetched" = "NIMBUS-NET: fetched nimbus page $token" ] || { show; fail "beta fetched '$fetched', alpha served token $token"; }
say "ok: beta fetched alpha's page (token $token)"
grep -aq '^NIMBUS-TEST: PASS served' "$alpha" || { show; fail "alpha did not finish"; }
grep -aq '^NIMBUS-TEST: PASS fetched' "$beta" || { show; fail "beta did not finish"; }
grep -aq '^NIMBUS-TEST: PASS isolated' "$gamma" || { show; fail "gamma, on network red, reached alpha or received frames"; }
say "ok: gamma on network red: $(grep -a -m1 '^NIMBUS-NET: probe' "$gamma" | tr -d '\r')"
[ "$RUN_STATUS" -eq 0 ] || { show; fail "expected exit 0, got $RUN_STATUS"; }
grep -a '^NIMBUS-NET: \(ping\|wget\)' "$beta" | tr -d '\r' | while read -r line; do say "measured (loaded host): $line"; done
python3 - "$TEST_WORK/state/stats.json" <<'PY' || fail "stats.json does not show network blue's traffic"
import json, sys
s = json.load(open(sys.argv[1]))
blue = s["networks"]["blue"]
assert blue["forwarded"] > 10 and blue["flooded"] >= 1 and blue["spoofed"] == 0, blue
red = s["networks"]["red"]
assert red["forwarded"] == 0 and red["spoofed"] == 0, red
for vm in s["vms"]:
    nic = vm["nics"][0]
    if vm["name"] == "gamma":
        assert nic["network"] == "red" and nic["rx_frames"] == 0 and nic["tx_frames"] > 0, nic
    else:
        assert nic["network"] == "blue" and nic["rx_frames"] > 5 and nic["tx_frames"] > 5, nic
print("[test_vm_net_two_linux] ok: stats.json network blue:", blue, "red:", red)
PY
say "ok: exit 0 after $((SECONDS - started)) s"
