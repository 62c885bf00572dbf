#!/usr/bin/env bash
# kill -9 of the host agent kills its VMMs too (PR_SET_PDEATHSIG): otherwise a VM would run
# twice once the controller restarts it elsewhere. Two VMs are created through the API.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a host agent test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
source "$(dirname "$0")/cloud_lib.sh"

start_agent h1 --harts 2 --memory 1G
for id in k1 k2; do
  api "$AGENT_SOCK" PUT /v1/vms/$id -d "$(linux_spec $id)"
  [ "$API_STATUS" = 201 ] || fail "PUT /v1/vms/$id: HTTP $API_STATUS"
done
two_vmms() { [ "$(vmm_pids "$TEST_WORK/h1/vms/" | wc -l)" -eq 2 ]; }
wait_until 15 "VMMs for k1 and k2" two_vmms
pids=$(vmm_pids "$TEST_WORK/h1/vms/")
say "ok: two VMMs running: $(echo $pids)"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
wait_until 3 "the VMMs to die with their agent" no_vmm "$TEST_WORK/h1/vms/"
# (a dead VMM may linger as a zombie until its new parent reaps it: that is not running)
for p in $pids; do ps -o stat= -p "$p" 2>/dev/null | grep -qv Z && fail "VMM $p survived the agent"; done
say "ok: kill -9 of the agent killed both VMMs"
say "PASS"
