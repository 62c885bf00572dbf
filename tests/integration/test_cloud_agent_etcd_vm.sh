#!/usr/bin/env bash
# The host agent runs a real Linux VM assigned through etcd: writing assign/<host>/<id> with
# etcdctl starts a VMM process, the guest reaches its shell (its console, read through the API,
# shows the init marker), hosts/, hoststatus/ and vmstatus/ appear; deleting the assignment stops
# the VM (no VMM left, vmstatus gone); SIGTERM stops the agent with exit 0 and revokes its lease.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a host agent test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
source "$(dirname "$0")/cloud_lib.sh"

start_etcd
start_agent h1 --etcd "$ETCD_URL" --harts 2 --memory 1G --lease-ttl 5
wait_until 10 "hosts/h1 in etcd" bash -c "ETCDCTL_API=3 etcdctl --endpoints $ETCD_URL get /nimbus/hosts/h1 | grep -q capacity"
say "ok: the agent registered hosts/h1"

ectl put /nimbus/assign/h1/vm-a "$(linux_spec vm-a 1)" > /dev/null || fail "etcdctl put failed"
wait_until 10 "a VMM process for vm-a" some_vmm "$TEST_WORK/h1/vms/vm-a/"
booted() { apiget "$AGENT_SOCK" GET "/v1/vms/vm-a/console?follow=0" | grep -aq 'NIMBUS-GUEST: busybox shell'; }
wait_until "$GUEST_TIMEOUT" "vm-a's console to show the guest's shell" booted
say "ok: vm-a booted Linux to its shell under its own VMM (pid $(vmm_pids "$TEST_WORK/h1/vms/vm-a/"))"

status_ok() {
  ectl get /nimbus/vmstatus/vm-a --print-value-only | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["state"] == "running" and s["host"] == "h1" and s["generation"] == 1 and s["pid"] > 0, s' 2>/dev/null &&
  ectl get /nimbus/hoststatus/h1 --print-value-only | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["vms"]["vm-a"]["state"] == "running" and s["used"]["memory_mib"] == 64 and s["used"]["vcpus"] == 1, s' 2>/dev/null
}
wait_until 10 "vmstatus/vm-a and hoststatus/h1 showing vm-a running" status_ok
say "ok: vmstatus/vm-a and hoststatus/h1 show it running"

# Console input through the API reaches the guest; a following GET streams the output live.
curl -sN --max-time 60 --unix-socket "$AGENT_SOCK" http://agent/v1/vms/vm-a/console > "$TEST_WORK/follow.out" &
follower=$!
sleep 0.5
api "$AGENT_SOCK" POST /v1/vms/vm-a/console --data-binary $'echo "sum=$((40 + 2))"\n'
[ "$API_STATUS" = 200 ] || fail "POST console: HTTP $API_STATUS"
answered() { apiget "$AGENT_SOCK" GET "/v1/vms/vm-a/console?follow=0" | grep -aq '^sum=42'; }
wait_until 20 "the guest's answer on the console" answered
streamed() { grep -aq '^sum=42' "$TEST_WORK/follow.out"; }
wait_until 10 "the answer in the following console stream" streamed
grep -aq 'NIMBUS-GUEST: busybox shell' "$TEST_WORK/follow.out" || fail "the console stream did not start with the log so far"
say "ok: console input through the API reached the guest; the following stream showed the log, then the answer"

ectl del /nimbus/assign/h1/vm-a > /dev/null
wait_until 15 "vm-a's VMM to stop after its assignment went" no_vmm "$TEST_WORK/h1/vms/vm-a/"
gone() { [ -z "$(ectl get /nimbus/vmstatus/vm-a --print-value-only)" ]; }
wait_until 10 "vmstatus/vm-a to be deleted" gone
api "$AGENT_SOCK" GET /v1/vms/vm-a
[ "$API_STATUS" = 404 ] || fail "vm-a still known to the agent (HTTP $API_STATUS)"
wait_until 10 "the console stream to end with the VM" bash -c "! kill -0 $follower 2>/dev/null"
say "ok: deleting the assignment stopped vm-a and removed it; its console stream ended"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"; rc=$?
[ "$rc" -eq 0 ] || { tail "$TEST_WORK/h1.err"; fail "the agent exited $rc after SIGTERM"; }
[ -z "$(ectl get /nimbus/hosts/h1 --print-value-only)" ] || fail "hosts/h1 still present after a clean stop"
say "ok: SIGTERM: exit 0, lease revoked (hosts/h1 gone)"
say "PASS"
