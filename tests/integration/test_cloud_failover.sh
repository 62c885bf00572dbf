#!/usr/bin/env bash
# Host loss with real agents and real Linux VMs: `cloud up --hosts 3`, three small VMs (128 MiB,
# 1 vCPU) packed on one host, then kill -9 of that host's agent. Its VMMs die with it; after the
# lease (3 s) and the grace period (2 s) the controller re-places them: within 15 s every VM runs
# again on another host with generation 2, exactly one assignment and one VMM process each, and
# no VMM of the lost host remains. Prints the measured time.
source "$(dirname "$0")/lib.sh"
require_machine
# shellcheck source=../../guests/paths.sh
source "$NIMBUS_SOURCE_DIR/guests/paths.sh"
nimbus_guest_ready kernel initramfs || skip "guest kernel/initramfs not built (guests/build.sh)"
source "$(dirname "$0")/cloud_up_lib.sh"

start_cloud --hosts 3 --harts 1 --memory 1G --cpu-overcommit 4 --lease-ttl 3 --grace 2 --consolidate-interval 0 \
  --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD"
T=$(tenant_create ops 8 4096 8)
for i in 1 2 3; do
  api POST /v1/vms "$T" "{\"name\":\"web$i\",\"flavor\":\"n1.small\",\"image\":\"linux\"}" >/dev/null
  expect_status 201 "create web$i"
done
hosts_used=$(api GET /v1/vms "$T" | jq -r '[.[].host] | unique | join(" ")')
victim=$(api GET /v1/vms "$T" | jq -r 'group_by(.host) | max_by(length) | .[0].host')
moving=$(api GET /v1/vms "$T" | jq -r --arg h "$victim" '[.[] | select(.host == $h)] | length')
say "VMs on: $hosts_used; killing the agent of $victim ($moving VMs)"
all_running() { [ "$(api GET /v1/vms "$T" | jq '[.[] | select(.state == "running")] | length')" -eq 3 ]; }
wait_until 90 "3 VMs running" all_running
some_vmm_of() { [ -n "$(pgrep -f "run --vm $CLOUD_DIR/hosts/$1/" || true)" ]; }
wait_until 10 "VMMs of $victim" some_vmm_of "$victim"

pid=$(jq -r --arg h "$victim" '.hosts[] | select(.name == $h) | .pid' "$CLOUD_DIR/cloud.json")
t0=$(date +%s.%N)
kill -9 "$pid"
moved() {
  api GET /v1/vms "$T" | jq -e --arg h "$victim" 'length == 3 and all(.[]; .state == "running" and .host != $h)' >/dev/null
}
deadline=$((SECONDS + 15))
until moved; do
  [ $SECONDS -lt $deadline ] || { api GET /v1/vms "$T" | jq -c '.[] | {name, host, state, generation}'; tail -5 "$CLOUD_DIR/logs/controller.log"; fail "VMs not running elsewhere within 15 s"; }
  sleep 0.1
done
took=$(echo "$(date +%s.%N) - $t0" | bc)
say "failover: all $moving VMs of $victim running on other hosts $(printf '%.1f' "$took") s after kill -9 (lease 3 s + grace 2 s + restart)"

# None twice: no VMM of the lost host, one assignment and one VMM per VM, generation 2 for the moved.
some_vmm_of "$victim" && fail "a VMM of the lost host $victim still runs"
[ "$(ectl get --prefix "/nimbus/assign/$victim/" --keys-only | grep -c .)" -eq 0 ] || fail "assignments left on $victim"
for id in $(api GET /v1/vms "$T" | jq -r '.[].id'); do
  n=$(ectl get --prefix /nimbus/assign/ --keys-only | grep -c "/$id\$")
  [ "$n" -eq 1 ] || fail "VM $id has $n assignments"
  v=$(pgrep -fc "run --vm $CLOUD_DIR/hosts/.*/$id.toml" || true)
  [ "$v" -eq 1 ] || fail "VM $id has $v VMM processes"
  st=$(ectl get "/nimbus/vmstatus/$id" --print-value-only)
  [ "$(echo "$st" | jq -r .host)" != "$victim" ] || fail "vmstatus of $id still on $victim"
done
api GET /v1/vms "$T" | jq -e --arg h "$victim" '[.[] | select(.generation == 2)] | length >= 1' >/dev/null || fail "no VM has generation 2"
api GET /v1/vms "$T" | jq -c '.[] | {name, host, state, generation}' | while read -r l; do say "  $l"; done
# The restarted guests boot (their console logs on the new host show the kernel).
booted() {
  local id h
  for id in $(api GET /v1/vms "$T" | jq -r '.[].id'); do
    h=$(api GET "/v1/vms/$id" "$T" | jq -r .host)
    grep -qa "Linux version" "$CLOUD_DIR/hosts/$h/vms/$id/$id.log" 2>/dev/null || return 1
  done
}
wait_until 60 "the moved guests' kernels on their new hosts' consoles" booted
say "moved guests booted $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s after the kill"
grep -E "lost|moved" "$CLOUD_DIR/logs/controller.log" | tail -4 | while read -r l; do say "  log: $l"; done
say PASS
