#!/usr/bin/env bash
# Tenant networks across hosts (docs/cloud.md, "Tenant networks"): `cloud up --hosts 2`, tenants
# alice and bob each make a network named "blue" (same name, different networks). alice's web
# server and her client land on different hosts (anti-affinity); bob's probe VM sits on his own
# "blue" with an address in the same subnet. The probe runs while the server serves and must get
# no answer and not one frame; then alice's client fetches the page across hosts (wget, ping).
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

client=$(create "$A" client fetch pair)
[ "$(api GET "/v1/vms/$client" "$A" | jq -r .host)" != "$(api GET "/v1/vms/$web" "$A" | jq -r .host)" ] ||
  fail "web and client share a host (anti-affinity)"
api DELETE /v1/networks/blue "$A" > /dev/null; expect_status 409 "delete alice's blue while in use"
fetched() { grep -aq '^NIMBUS-TEST: PASS fetched' "$(log_of "$client")" 2>/dev/null; }
wait_until 300 "the client's fetch" fetched
token=$(grep -a -m1 '^NIMBUS-NET: serving ' "$(log_of "$web")" | tr -d '\r' | awk '{ print $3 }')
got=$(grep -a -m1 '^NIMBUS-NET: fetched ' "$(log_of "$client")" | tr -d '\r')
[ "$got" = "NIMBUS-NET: fetched nimbus page $token" ] || fail "client fetched '$got', web served token $token"
say "ok: alice's client fetched her page across hosts; $(grep -a -m1 '^NIMBUS-NET: ping' "$(log_of "$client")" | tr -d '\r') (loaded host)"

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
