#!/usr/bin/env bash
# The host agent's REST API over its UNIX socket (curl --unix-socket) and over TCP with a bearer
# token: create, get, stop, start, reboot, snapshot, live-migrate to a second agent (PUT with
# "incoming": true there), delete a real VM; malformed requests get 400 with a
# message saying what is wrong, unknown VMs 404, conflicts 409; /metrics is Prometheus text.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a host agent test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
source "$(dirname "$0")/cloud_lib.sh"

# As root (and where namespaces are allowed) the agents jail their VMMs, so the whole API
# (snapshot and live migration included) is checked against jailed VMMs (docs/security.md):
# h1's each as a uid of its own from a range, h2's as nobody.
jail=() jail1=()
if [ "$(id -u)" = 0 ] && unshare --mount --net true 2> /dev/null && id nobody > /dev/null 2>&1; then
  jail=(--vmm-jail-user nobody) jail1=(--vmm-jail-uids 200000-200009)
fi
echo "s3cret-token" > "$TEST_WORK/token"
start_agent h1 --harts 2 --memory 1G --listen 127.0.0.1:0 --token-file "$TEST_WORK/token" --stop-grace 3 "${jail1[@]}"
[ "$(stat -c %a "$AGENT_SOCK")" = 600 ] || fail "API socket mode is $(stat -c %a "$AGENT_SOCK"), expected 600"
wait_until 5 "the TCP address line" grep -q '^API listening on http://127.0.0.1:' "$TEST_WORK/h1.out"
url=$(sed -n 's/^API listening on //p' "$TEST_WORK/h1.out")
say "ok: API on $AGENT_SOCK (mode 0600) and $url"

expect() { # expect STATUS BODY-SUBSTRING
  [ "$API_STATUS" = "$1" ] || fail "expected HTTP $1, got $API_STATUS: $body"
  [ -z "${2:-}" ] || grep -qF -- "$2" <<< "$body" || fail "expected '$2' in: $body"
}

api "$AGENT_SOCK" PUT /v1/vms/web -d '{"id":"web", "vcpus": '; body=$API_BODY
expect 400 '"error": "malformed JSON: '
api "$AGENT_SOCK" PUT /v1/vms/web -d '{"vcpus": 2}'; body=$API_BODY
expect 400 "field 'kernel': required"
api "$AGENT_SOCK" PUT /v1/vms/web -d '{"kernel": "/k", "vcpus": 99}'; body=$API_BODY
expect 400 "field 'vcpus': must be 1..64, got 99"
api "$AGENT_SOCK" PUT /v1/vms/web -d '{"id": "other", "kernel": "/k"}'; body=$API_BODY
expect 400 "does not match the id in the path"
api "$AGENT_SOCK" GET /v1/vms/nope; body=$API_BODY
expect 404 "no VM 'nope'"
api "$AGENT_SOCK" GET /v1/nothing; body=$API_BODY
expect 404 "no such endpoint"
say "ok: malformed requests: 400 with the reason; unknown VM and path: 404"

api "$AGENT_SOCK" PUT /v1/vms/web -d "$(linux_spec web)"; body=$API_BODY
expect 201 '"state": "starting"'
api "$AGENT_SOCK" PUT /v1/vms/web -d "$(linux_spec web)"; body=$API_BODY
expect 200 ""
api "$AGENT_SOCK" PUT /v1/vms/web -d "$(linux_spec web 2)"; body=$API_BODY
expect 409 "already exists with another spec"
running() { [ "$(vm_state "$AGENT_SOCK" web)" = running ]; }
wait_until 10 "web running" running
some_vmm "$TEST_WORK/h1/vms/web/" || fail "no VMM process for web"
if [ ${#jail1[@]} -gt 0 ]; then
  jailed_vmm() { vmm=$(pgrep -u 200000 -f "$TEST_WORK/h1/vms/web/" | head -1); [ -n "$vmm" ]; }
  wait_until 10 "web's VMM as uid 200000" jailed_vmm
  [ "$(readlink "/proc/$vmm/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] || fail "web's VMM is not in a mount namespace of its own"
  grep -q "^Gid:.*200000" "/proc/$vmm/status" || fail "web's VMM kept another group: $(grep ^Gid "/proc/$vmm/status")"
  memcg=$(awk -F: '$2 == "memory" || $2 == "" {print $3}' "/proc/$vmm/cgroup" | grep /nimbus/vmm- | head -1)
  [ -n "$memcg" ] || fail "web's VMM is in no cgroup of its own: $(cat "/proc/$vmm/cgroup")"
  say "ok: web's VMM runs jailed as uid 200000 (from --vmm-jail-uids), in cgroup $memcg"
fi
api "$AGENT_SOCK" PUT /v1/vms/huge -d '{"kernel": "/k", "vcpus": 2, "memory_mib": 1024}'; body=$API_BODY
expect 409 "does not fit on host h1"
say "ok: PUT created web (201; same spec again 200, another spec 409, too big 409), its VMM runs"

api "$AGENT_SOCK" POST /v1/vms/web/actions -d '{"action":"start"}'; body=$API_BODY
expect 409 "already running"
api "$AGENT_SOCK" POST /v1/vms/web/actions -d '{"action":"pause"}'; body=$API_BODY
expect 400 "field 'action': must be start, stop or reboot"
api "$AGENT_SOCK" POST /v1/vms/web/actions -d '{"verb":"stop"}'; body=$API_BODY
expect 400 "field 'action': required"
api "$AGENT_SOCK" POST /v1/vms/web/actions -d '{"action":"stop"}'; body=$API_BODY
expect 202 ""
stopped() { [ "$(vm_state "$AGENT_SOCK" web)" = stopped ]; }
wait_until 10 "web stopped" stopped
no_vmm "$TEST_WORK/h1/vms/web/" || fail "web's VMM still runs after stop"
say "ok: stop: the VMM exited, state stopped"

api "$AGENT_SOCK" POST /v1/vms/web/actions -d '{"action":"start"}'; body=$API_BODY
expect 202 ""
wait_until 10 "web running again" running
old=$(vmm_pids "$TEST_WORK/h1/vms/web/")
api "$AGENT_SOCK" POST /v1/vms/web/actions -d '{"action":"reboot"}'; body=$API_BODY
expect 202 ""
rebooted() { local p; p=$(vmm_pids "$TEST_WORK/h1/vms/web/"); [ -n "$p" ] && [ "$p" != "$old" ] && running; }
wait_until 15 "web rebooted with a new VMM" rebooted
say "ok: start, then reboot (a fresh VMM: pid $(echo $old) -> $(echo $(vmm_pids "$TEST_WORK/h1/vms/web/")))"

api "$AGENT_SOCK" GET /v1/vms/web/stats; body=$API_BODY
expect 200 '"cpu_seconds"'
api "$AGENT_SOCK" GET /v1/host; body=$API_BODY
expect 200 '"capacity"'
api "$AGENT_SOCK" GET /metrics; body=$API_BODY
expect 200 'nimbus_host_vms{state="running"} 1'
grep -q 'nimbus_host_vm_exits_total{kind="stopped"} 2' <<< "$body" || fail "metrics: expected 2 stopped exits: $body"
say "ok: stats, host and metrics"

# TCP: the token is required.
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/vms")
[ "$code" = 401 ] || fail "TCP without a token: HTTP $code, expected 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" "$url/v1/vms")
[ "$code" = 401 ] || fail "TCP with a wrong token: HTTP $code, expected 401"
curl -sf -H "Authorization: Bearer s3cret-token" "$url/v1/vms" | grep -q '"id": "web"' || fail "TCP with the token did not list web"
say "ok: TCP API: 401 without or with a wrong token, 200 with it"

# Snapshot and live migration through the API (docs/migration.md "Through the host agent").
api "$AGENT_SOCK" POST /v1/vms/web/snapshot -d '{"to":"snap"}'; body=$API_BODY
expect 400 "field 'to': must be an absolute directory, got"
api "$AGENT_SOCK" POST /v1/vms/web/snapshot -d '{"to":"/tmp/../etc"}'; body=$API_BODY
expect 400 "has a '..' component"
api "$AGENT_SOCK" POST /v1/vms/nope/snapshot -d "{}"; body=$API_BODY
expect 404 "no VM 'nope'"
api "$AGENT_SOCK" POST /v1/vms/web/snapshot -d "{\"to\":\"$TEST_WORK/snap\"}"; body=$API_BODY
expect 201 "nimbus run --restore $TEST_WORK/snap"
[ -s "$TEST_WORK/snap/state" ] || fail "no snapshot state file in $TEST_WORK/snap"
running || fail "web stopped running after its snapshot"
api "$AGENT_SOCK" POST /v1/vms/web/migrate -d '{}'; body=$API_BODY
expect 400 "field 'to': required"
api "$AGENT_SOCK" POST /v1/vms/web/migrate -d '{"to":"tcp:127.0.0.1:0"}'; body=$API_BODY
expect 400 "field 'to': port must be 1..65535"
api "$AGENT_SOCK" POST /v1/vms/web/migrate -d '{"to":"tcp:127.0.0.1:9","max_downtime_ms":0}'; body=$API_BODY
expect 400 "field 'max_downtime_ms': must be 1..60000, got 0"
h1_pid=$AGENT_PID h1_sock=$AGENT_SOCK
start_agent h2 --harts 2 --memory 1G --stop-grace 3 "${jail[@]}"
api "$AGENT_SOCK" PUT /v1/vms/web -d "$(linux_spec web | sed 's/}$/,"incoming":true}/')"; body=$API_BODY
expect 201 '"incoming": true'
listening() { api "$AGENT_SOCK" GET /v1/vms/web; grep -q '"incoming_address": "tcp:' <<< "$API_BODY"; }
wait_until 10 "the incoming VMM's address" listening
to=$(sed -n 's/.*"incoming_address": "\(tcp:[^"]*\)".*/\1/p' <<< "$API_BODY")
api "$h1_sock" POST /v1/vms/web/migrate -d "{\"to\":\"$to\"}"; body=$API_BODY
expect 200 '"downtime_ms"'
say "ok: snapshot to $TEST_WORK/snap; migrated web to h2 ($to): $(grep -o '"downtime_ms": [0-9.]*' <<< "$body")"
arrived() { [ "$(vm_state "$AGENT_SOCK" web)" = running ]; }
wait_until 10 "web running on h2" arrived
migrated() { [ "$(vm_state "$h1_sock" web)" = migrated ]; }
wait_until 10 "web migrated on h1" migrated
grep -aq 'Linux version' "$TEST_WORK/h2/vms/web/web.log" && fail "web booted again on h2"
api "$AGENT_SOCK" DELETE /v1/vms/web; body=$API_BODY
expect 204 ""
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent h2 exit code $? after SIGTERM"
AGENT_PID=$h1_pid AGENT_SOCK=$h1_sock
say "ok: web runs on h2 (not rebooted), migrated on h1"

api "$AGENT_SOCK" DELETE /v1/vms/web; body=$API_BODY
expect 204 ""
gone() { api "$AGENT_SOCK" GET /v1/vms/web; [ "$API_STATUS" = 404 ]; }
wait_until 10 "web deleted" gone
no_vmm "$TEST_WORK/h1/vms/web/" || fail "web's VMM still runs after DELETE"
say "ok: DELETE removed web"

kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "agent exit code $rc after SIGTERM"
[ ! -e "$AGENT_SOCK" ] || fail "the API socket was left behind"
say "PASS"
