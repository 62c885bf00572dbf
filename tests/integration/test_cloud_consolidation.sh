#!/usr/bin/env bash
# Consolidation under a load drop, with simulated hosts: 32 tiny VMs fill 8 hosts of 4 vCPUs;
# then 3 of every host's 4 VMs are deleted (8 VMs left, one per host). The leader's rounds (every
# second, at most 5 moves per round and 2 out of a host; stop-and-restart, as simulated hosts
# run no VMM to migrate live) must bring the active
# hosts to within 10 % of the placement engine's lower bound, which it reports in /metrics and
# its log. Every VM runs afterwards and each move's event says it was stop-and-restart.
# The cloud runs with --no-tls here, so that the plain-HTTP cloud stays tested.
source "$(dirname "$0")/lib.sh"
require_machine
source "$(dirname "$0")/cloud_up_lib.sh"

start_cloud --no-tls --hosts 8 --simulate --harts 4 --memory 1G --cpu-overcommit 1 --no-image --consolidate-interval 1
api POST /v1/images "$ADMIN_TOKEN" '{"name":"sim","kernel":"/bin/true"}' >/dev/null
T=$(tenant_create load 64 8192 64)
for i in $(seq 1 32); do
  api POST /v1/vms "$T" "{\"name\":\"vm$i\",\"flavor\":\"n1.tiny\",\"image\":\"sim\"}" >/dev/null
  expect_status 201 "create vm$i"
done
metric() { curl -s "$CLOUD_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
say "filled: $(metric nimbus_active_hosts) active hosts, lower bound $(metric nimbus_hosts_lower_bound)"

# The load drops: keep one VM per host.
api GET /v1/vms "$T" | jq -r 'group_by(.host)[] | .[1:][] | .name' > "$TEST_WORK/drop"
[ "$(wc -l < "$TEST_WORK/drop")" -eq 24 ] || fail "expected 24 VMs to delete, got $(wc -l < "$TEST_WORK/drop")"
while read -r n; do api DELETE "/v1/vms/$n" "$T" >/dev/null; expect_status 200 "delete $n"; done < "$TEST_WORK/drop"
start=$SECONDS
say "after the drop: $(metric nimbus_active_hosts) active hosts, lower bound $(metric nimbus_hosts_lower_bound)"

within_bound() {
  local a b
  a=$(metric nimbus_active_hosts); b=$(metric nimbus_hosts_lower_bound)
  [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt 0 ] && [ $((a * 100)) -le $((b * 110)) ]
}
wait_until 60 "active hosts within 10 % of the lower bound" within_bound
active=$(metric nimbus_active_hosts); bound=$(metric nimbus_hosts_lower_bound)
say "consolidated in $((SECONDS - start)) s: $active active hosts, lower bound $bound, $(metric 'nimbus_moves_total{kind="restart"}') moves"
grep 'consolidation:' "$CLOUD_DIR/logs/controller.log" | tail -3 | while read -r l; do say "  log: $l"; done

# Every VM runs, on hosts within capacity, and the moves say how they were made.
all_running() { [ "$(api GET /v1/vms "$T" | jq '[.[] | select(.state == "running")] | length')" -eq 8 ]; }
wait_until 20 "all 8 VMs running" all_running
for h in $(ectl get --prefix /nimbus/alloc/ --keys-only | sed -n 's#^/nimbus/alloc/##p'); do
  [ "$(ectl get "/nimbus/alloc/$h" --print-value-only | jq .vcpus)" -le 4 ] || fail "host $h over capacity"
done
api GET "/v1/events?limit=1000" "$ADMIN_TOKEN" | jq -e '[.[] | select(.kind == "moved")] | length > 0 and
  all(.[]; .message | contains("moved by stop-and-restart (not live: a simulated host runs no VMM to migrate)"))' >/dev/null ||
  fail "no move events, or one without the stop-and-restart note"
say PASS
