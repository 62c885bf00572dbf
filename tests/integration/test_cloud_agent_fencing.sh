#!/usr/bin/env bash
# Self-fencing: an agent running a real VM loses etcd (frozen with SIGSTOP). Within its lease
# TTL it kills the VM's VMM (no VMM process remains), before the controller could restart the
# VM elsewhere. When etcd is back, it registers with a new lease and starts the VM again because
# it is still assigned here.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a host agent test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
source "$(dirname "$0")/cloud_lib.sh"

TTL=3
start_etcd
start_agent h1 --etcd "$ETCD_URL" --harts 2 --memory 1G --lease-ttl $TTL
ectl put /nimbus/assign/h1/vm-f "$(linux_spec vm-f 1)" > /dev/null || fail "etcdctl put failed"
wait_until 15 "a VMM process for vm-f" some_vmm "$TEST_WORK/h1/vms/vm-f/"
lease1=$(ectl get /nimbus/hosts/h1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["lease"])')
say "ok: vm-f running (VMM pid $(vmm_pids "$TEST_WORK/h1/vms/vm-f/")), lease $lease1"

kill -STOP "$ETCD_PID"
t0=$(date +%s.%N)
wait_until $TTL "the agent to kill vm-f's VMM (self-fencing)" no_vmm "$TEST_WORK/h1/vms/vm-f/"
took=$(python3 -c "import time; print(f'{time.time() - $t0:.2f}')")
grep -q "FENCING" "$TEST_WORK/h1.err" || fail "no FENCING line in the agent's log"
say "ok: fenced ${took}s after etcd froze (TTL ${TTL}s): no VMM left"
kill -0 "$AGENT_PID" || fail "the agent died"

kill -CONT "$ETCD_PID"
wait_until 20 "vm-f to run again after re-registration" some_vmm "$TEST_WORK/h1/vms/vm-f/"
lease2=$(ectl get /nimbus/hosts/h1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["lease"])')
[ "$lease2" != "$lease1" ] || fail "registered again with the same lease"
say "ok: etcd back: registered with a new lease ($lease2), vm-f started again"
# The restart is the agent's own (same generation): its status says so, for the controller's
# 'restarted' event.
restart_reported() {
  ectl get /nimbus/vmstatus/vm-f --print-value-only |
    jq -e '.starts == 2 and (.previous_end | startswith("fenced: killed by self-fencing"))' > /dev/null
}
wait_until 10 "vm-f's status to report its second start after the fence ($(ectl get /nimbus/vmstatus/vm-f --print-value-only))" \
  restart_reported
say "ok: status says: $(ectl get /nimbus/vmstatus/vm-f --print-value-only | jq -c '{starts, previous_end}')"
say "PASS"
