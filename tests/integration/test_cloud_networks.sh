#!/usr/bin/env bash
# Tenant networks across hosts (docs/cloud.md, "Tenant networks"): `cloud up --hosts 2`, tenants
# alice and bob each make a network named "blue" (same name, different networks). alice's web
# server and her client land on different hosts (anti-affinity); bob's probe VM sits on his own
# "blue" with an address in the same subnet. The probe runs while the server serves and must get
# no answer and not one frame. Then the server moves live to the other host: etcd's forwarding
# table (net/ports/<vni>/<mac>/<host>) must name only its new host, a second probe of bob's
# (booted during the move, probing through and after it) must again get nothing, and alice's client (on the server's old host, by anti-affinity) fetches the
# page from the moved server across hosts (wget, ping).
# Also: a network's key never appears in API answers or logs; a VM cannot name another tenant's
# network; a network in use cannot be deleted. Prints how long each part took.
source "$(dirname "$0")/lib.sh"
require_machine
# shellcheck source=../../guests/paths.sh
source "$NIMBUS_SOURCE_DIR/guests/paths.sh"
nimbus_guest_ready kernel initramfs || skip "guest kernel/initramfs not built (guests/build.sh)"
source "$(dirname "$0")/cloud_up_lib.sh"
started=$SECONDS

start_cloud --hosts 2 --harts 1 --memory 1G --cpu-overcommit 4 --consolidate-interval 0 \
  --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD"
image() { # name append
  api POST /v1/images "$ADMIN_TOKEN" "{\"name\":\"$1\",\"kernel\":\"$NIMBUS_GUEST_KERNEL\",\"initrd\":\"$NIMBUS_GUEST_INITRD\",\
\"append\":\"console=ttyS0 $2\",\"mode\":\"emulate\"}" > /dev/null
  expect_status 201 "image $1"
}
image serve "nimbus.mode=net-serve nimbus.ip=10.0.0.1/24"
image fetch "nimbus.mode=net-fetch nimbus.ip=10.0.0.2/24 nimbus.peer=10.0.0.1"
image probe "nimbus.mode=net-probe nimbus.ip=10.0.0.3/24 nimbus.peer=10.0.0.1"
A=$(tenant_create alice 4 1024 4)
B=$(tenant_create bob 4 1024 4)
api POST /v1/networks "$A" '{"name":"blue"}' > /dev/null; expect_status 201 "alice's network blue"
api POST /v1/networks "$B" '{"name":"blue"}' > /dev/null; expect_status 201 "bob's network blue"
api POST /v1/networks "$A" '{"name":"blue"}' > /dev/null; expect_status 409 "alice's blue again"
api POST /v1/vms "$B" '{"name":"x","flavor":"n1.tiny","image":"probe","networks":["red"]}' > /dev/null
expect_status 404 "bob names a network he does not have"
vni_a=$(api GET /v1/networks/blue "$A" | jq -r .vni)
vni_b=$(api GET /v1/networks/blue "$B" | jq -r .vni)
[ "$vni_a" != "$vni_b" ] || fail "alice's and bob's blue share VNI $vni_a"
[ "$(api GET /v1/networks "$A" | jq -r '[.[].tenant] | unique | join(",")')" = alice ] || fail "alice sees other tenants' networks"

create() { # token name image [anti-affinity]
  local aa=""; [ -n "${4:-}" ] && aa=",\"anti_affinity\":\"$4\""
  api POST /v1/vms "$1" "{\"name\":\"$2\",\"flavor\":\"n1.small\",\"image\":\"$3\",\"networks\":[\"blue\"]$aa}" | jq -r .id
  expect_status 201 "create $2"
}
web=$(create "$A" web serve pair)
probe=$(create "$B" probe probe)
log_of() { echo "$CLOUD_DIR/hosts/$(api GET "/v1/vms/$1" "$ADMIN_TOKEN" | jq -r .host)/vms/$1/$1.log"; }
say "web ($web) on $(api GET "/v1/vms/$web" "$A" | jq -r .host), bob's probe ($probe) on $(api GET "/v1/vms/$probe" "$B" | jq -r .host)"
serving() { grep -aq '^NIMBUS-NET: serving ' "$(log_of "$web")" 2>/dev/null; }
probed() { grep -aq '^NIMBUS-NET: probe ' "$(log_of "$probe")" 2>/dev/null; }
wait_until 300 "web serving" serving
wait_until 300 "bob's probe finished" probed
grep -aq '^NIMBUS-TEST: PASS isolated' "$(log_of "$probe")" ||
  { tail -5 "$(log_of "$probe")"; fail "bob's VM reached alice's server or received frames"; }
grep -aq 'PASS served' "$(log_of "$web")" && fail "the server stopped before the client came"
say "ok: bob's VM on his 'blue' got nothing from alice's ($(grep -a -m1 '^NIMBUS-NET: probe' "$(log_of "$probe")" | tr -d '\r')) after $((SECONDS - started)) s"

# The server moves live to the other host, NIC and all.
from=$(api GET "/v1/vms/$web" "$A" | jq -r .host)
to=$(jq -r --arg a "$from" '.hosts[] | select(.name != $a) | .name' "$CLOUD_DIR/cloud.json")
mac=$(api GET "/v1/vms/$web" "$A" | jq -r '.nics[0].mac')
[ -n "$mac" ] && [ "$mac" != null ] || fail "web has no NIC: $(api GET "/v1/vms/$web" "$A")"
ports() { ectl get --prefix "/nimbus/net/ports/$vni_a/$mac/" --keys-only | grep .; }
[ "$(ports)" = "/nimbus/net/ports/$vni_a/$mac/$from" ] || fail "web's NIC before the move: $(ports)"
moved_at=$SECONDS
api POST "/v1/vms/$web/migrate" "$ADMIN_TOKEN" "{\"host\":\"$to\"}" > /dev/null; expect_status 200 "migrate web to $to"
# bob's second probe boots during the move (its boot is longer than the move) and probes for
# ≈ 9 s: isolation during and after the move, without a boot of its own on the critical path.
probe2=$(create "$B" probe2 probe)
probed2() { grep -aq '^NIMBUS-NET: probe ' "$(log_of "$probe2")" 2>/dev/null; }
moved() { api GET "/v1/vms/$web" "$A" | jq -e --arg h "$to" '.host == $h and .state == "running"' > /dev/null; }
wait_until 60 "web running on $to" moved
probed2 && fail "bob's second probe ended before web's move did: it did not probe the moved server"
event=$(api GET "/v1/events?limit=50" "$ADMIN_TOKEN" | jq -r '[.[] | select(.vm == "web" and .kind == "moved")][0].message')
grep -q "moved live" <<< "$event" || fail "web's move was not live: $event"
only_new_port() { [ "$(ports)" = "/nimbus/net/ports/$vni_a/$mac/$to" ]; }
deadline=$((SECONDS + 10))
until only_new_port; do
  [ $SECONDS -lt $deadline ] || fail "etcd's forwarding table for web's MAC $mac does not name only $to: $(ports | tr '\n' ' ')"
  sleep 0.2
done
grep -aq 'PASS served' "$(log_of "$web")" && fail "the server stopped during its move"
say "ok: web moved live $from -> $to in $((SECONDS - moved_at)) s; net/ports/$vni_a/$mac names only $to"
wait_until 300 "bob's second probe finished" probed2
grep -aq '^NIMBUS-TEST: PASS isolated' "$(log_of "$probe2")" ||
  { tail -5 "$(log_of "$probe2")"; fail "bob's VM reached alice's moved server or received frames"; }
grep -aq 'PASS served' "$(log_of "$web")" && fail "the moved server stopped before the client came"
say "ok: during and after the move bob's second probe on $(api GET "/v1/vms/$probe2" "$B" | jq -r .host) got nothing either ($((SECONDS - moved_at)) s after the migrate request)"

client=$(create "$A" client fetch pair)
[ "$(api GET "/v1/vms/$client" "$A" | jq -r .host)" = "$from" ] || fail "the client is not on $from (anti-affinity with web on $to)"
api DELETE /v1/networks/blue "$A" > /dev/null; expect_status 409 "delete alice's blue while in use"
fetched() { grep -aq '^NIMBUS-TEST: PASS fetched' "$(log_of "$client")" 2>/dev/null; }
wait_until 300 "the client's fetch" fetched
token=$(grep -a -m1 '^NIMBUS-NET: serving ' "$CLOUD_DIR/hosts/$from/vms/$web/$web.log" | tr -d '\r' | awk '{ print $3 }')
got=$(grep -a -m1 '^NIMBUS-NET: fetched ' "$(log_of "$client")" | tr -d '\r')
[ "$got" = "NIMBUS-NET: fetched nimbus page $token" ] || fail "client fetched '$got', web served token $token"
say "ok: alice's client on $from fetched her page from the moved server on $to; $(grep -a -m1 '^NIMBUS-NET: ping' "$(log_of "$client")" | tr -d '\r') (loaded host)"

# Each host's switch: frames went host to host, none spoofed or unauthenticated.
for h in host-0 host-1; do
  sock="$CLOUD_DIR/hosts/$h/agent.sock"
  m=$(curl -s --unix-socket "$sock" http://agent/metrics | grep '^nimbus_host_net_frames_total')
  count() { sed -n "s/^nimbus_host_net_frames_total{kind=\"$1\"} //p" <<< "$m"; }
  [ "$(count from_hosts)" -gt 0 ] && [ "$(count to_hosts)" -gt 0 ] || fail "$h's switch exchanged no frames with the other host: $m"
  [ "$(count spoofed)" = 0 ] && [ "$(count unauthenticated)" = 0 ] && [ "$(count host_spoofed)" = 0 ] || fail "$h's switch dropped frames: $m"
  say "ok: $h's switch: $(tr '\n' ' ' <<< "$m" | sed 's/nimbus_host_net_frames_total//g')"
done

# The keys: in etcd for the agents, never in an API answer or a log.
for vni in "$vni_a" "$vni_b"; do
  key=$(ectl get "/nimbus/net/keys/$vni" --print-value-only)
  [ ${#key} -eq 64 ] || fail "network key of VNI $vni is not 64 hex digits"
  for t in "$A" "$B" "$ADMIN_TOKEN"; do
    api GET /v1/networks "$t" | grep -q "$key" && fail "an API answer shows a network key"
    api GET /v1/vms "$t" | grep -q "$key" && fail "an API answer shows a network key"
  done
  grep -rqs "$key" "$CLOUD_DIR/logs" && fail "a log shows a network key"
done
say "ok: network keys appear in no API answer or log"
say "PASS after $((SECONDS - started)) s"
