#!/usr/bin/env bash
# One `nimbus host --simulate-hosts 50` process registers 50 simulated hosts (one lease, one
# watch) in a real etcd, runs a VM assigned to one of them (a fake with a synthetic load that the
# API can set), publishes every host's status, and on SIGTERM revokes the lease: all 50 go.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a host agent test: no QEMU equivalent"
require_machine
source "$(dirname "$0")/cloud_lib.sh"

start_etcd
t0=$(date +%s.%N)
start_agent sim --etcd "$ETCD_URL" --simulate-hosts 50 --harts 16 --memory 64G --lease-ttl 10
count() { [ "$(ectl get --prefix /nimbus/hosts/ --keys-only | grep -c .)" -eq "$1" ]; }
wait_until 20 "50 hosts registered" count 50
say "ok: 50 hosts registered in $(python3 -c "import time; print(f'{time.time() - $t0:.2f}')")s"
ectl get /nimbus/hosts/sim-0049 --print-value-only | grep -q '"vcpus":16' || fail "hosts/sim-0049 lacks its capacity"

ectl put /nimbus/assign/sim-0017/v1 '{"id":"v1","generation":1,"vcpus":2,"memory_mib":512,"kernel":"/fake"}' > /dev/null
running() { ectl get /nimbus/vmstatus/v1 --print-value-only | grep -q '"host":"sim-0017".*"state":"running"'; }
wait_until 10 "v1 running on sim-0017" running
api "$AGENT_SOCK" POST /v1/vms/v1/load -d '{"load": 1.25}'; body=$API_BODY
[ "$API_STATUS" = 200 ] || fail "POST load: HTTP $API_STATUS: $body"
loaded() { ectl get /nimbus/hoststatus/sim-0017 --print-value-only | grep -q '"cpu_load":1.25'; }
wait_until 10 "hoststatus/sim-0017 with the load set through the API" loaded
statuses() { [ "$(ectl get --prefix /nimbus/hoststatus/ --keys-only | grep -c .)" -eq 50 ]; }
wait_until 10 "50 hoststatus keys" statuses
say "ok: v1 runs on sim-0017 with the load set through the API; 50 hoststatus keys"

kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "agent exit code $rc"
count 0 || fail "hosts left after SIGTERM"
say "ok: SIGTERM revoked the lease: all 50 hosts gone"
say "PASS"
