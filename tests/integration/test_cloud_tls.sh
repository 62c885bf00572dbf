#!/usr/bin/env bash
# `nimbus cloud up` (TLS is its default) end to end (docs/cloud.md, "TLS inside the cloud"): the
# cloud's CA and a certificate for etcd, the controller, the admin and each agent in DIR/pki;
# etcd serves only TLS and refuses a client without a certificate of the CA; the controller's
# API is HTTPS only and `nimbus` finds the CA in cloud.json; the agents' APIs HTTPS, the
# controller verifying them with --agent-ca. One Linux VM (the clock-gap guest: a line a second): its console through the
# controller, a live move to the other host over TLS (the destination's VMM waits on tls:, the
# guest's counter continues, one VMM, one assignment), its console again from the new host (API
# and dashboard routes).
# Then a second controller replica without --agent-ca, and one with the wrong CA, must refuse
# the console with agent_tls_unverified and say to give --agent-ca; a missing or non-PEM
# --agent-ca is refused at startup.
source "$(dirname "$0")/lib.sh"
require_machine
# shellcheck source=../../guests/paths.sh
source "$NIMBUS_SOURCE_DIR/guests/paths.sh"
nimbus_guest_ready kernel initramfs || skip "guest kernel/initramfs not built (guests/build.sh)"
source "$(dirname "$0")/cloud_up_lib.sh"
started=$SECONDS

start_cloud --hosts 2 --harts 1 --memory 1G --cpu-overcommit 4 --consolidate-interval 0 --no-image
pki="$CLOUD_DIR/pki"
[ -s "$pki/ca.crt" ] && [ -s "$pki/host-0.crt" ] && [ -s "$pki/host-1.key" ] || fail "cloud up made no DIR/pki"
[ "$(stat -c %a "$pki/ca.key")" = 600 ] || fail "the CA key is not mode 0600"
for k in etcd controller admin host-0; do [ "$(stat -c %a "$pki/$k.key")" = 600 ] || fail "$k.key is not mode 0600"; done

# etcd: TLS only, and only for clients with a certificate of the cloud's CA.
case "$ETCD_URL" in https://127.0.0.1:*) ;; *) fail "etcd's endpoint is not https: $ETCD_URL" ;; esac
curl -s --max-time 3 "$ETCD_URL/health" -o /dev/null --cert "$pki/admin.crt" --key "$pki/admin.key" ||
  fail "etcd refused the admin's client certificate"
curl -s --max-time 3 "$ETCD_URL/health" -o /dev/null && fail "etcd answered a client without a certificate"
curl -s --max-time 3 "http://${ETCD_URL#https://}/health" -o /dev/null && fail "etcd answered plain HTTP"
( unset ETCDCTL_CERT ETCDCTL_KEY; ectl get /nimbus/ --prefix --keys-only > /dev/null 2>&1 ) &&
  fail "etcdctl without a client certificate read the cloud's keys"
[ "$(ectl get --prefix /nimbus/hosts/ --keys-only | grep -c .)" = 2 ] || fail "the agents did not register over TLS"
# The controller: HTTPS only; the CLI trusts the cloud's CA through cloud.json, and says what to
# do when it has no CA for the controller it is given.
case "$CLOUD_URL" in https://127.0.0.1:*) ;; *) fail "the controller's URL is not https: $CLOUD_URL" ;; esac
curl -s --max-time 3 "http://${CLOUD_URL#https://}/v1/health" > /dev/null && fail "the controller answered plain HTTP"
"$NIMBUS_BIN" host list --cloud "$CLOUD_DIR" --json | jq -e 'length == 2' > /dev/null || fail "nimbus host list --cloud over HTTPS"
out=$(cd "$TEST_WORK" && env -u NIMBUS_CA XDG_RUNTIME_DIR="$TEST_WORK/none" NIMBUS_URL="$CLOUD_URL" NIMBUS_TOKEN="$ADMIN_TOKEN" "$NIMBUS_BIN" host list 2>&1) &&
  fail "the CLI trusted the controller with no CA: $out"
grep -q -- "--ca FILE" <<< "$out" || fail "no CA: the CLI did not say to give --ca: $out"
NIMBUS_CA="$pki/ca.crt" XDG_RUNTIME_DIR="$TEST_WORK/none" NIMBUS_URL="$CLOUD_URL" NIMBUS_TOKEN="$ADMIN_TOKEN" "$NIMBUS_BIN" host list > /dev/null ||
  fail "NIMBUS_CA did not verify the controller"
grep -qi "<html" <<< "$(curl -sfL --max-time 5 "$CLOUD_URL/ui/")" || fail "the dashboard page over HTTPS"
say "ok: etcd and the controller speak only TLS (the dashboard too); etcd wants a client certificate of the cloud's CA"
[ "$(api GET /v1/hosts "$ADMIN_TOKEN" | jq -r '[.[].api | startswith("https://127.0.0.1:")] | all')" = true ] ||
  fail "the agents' APIs are not HTTPS: $(api GET /v1/hosts "$ADMIN_TOKEN" | jq -c '[.[].api]')"
api POST /v1/images "$ADMIN_TOKEN" "{\"name\":\"gap\",\"kernel\":\"$NIMBUS_GUEST_KERNEL\",\"initrd\":\"$NIMBUS_GUEST_INITRD\",\
\"append\":\"console=ttyS0 nimbus.mode=gap nimbus.gap=900\",\"mode\":\"emulate\"}" > /dev/null
expect_status 201 "image create"
T=$(tenant_create ops 2 1024 2)
id=$(api POST /v1/vms "$T" '{"name":"g1","flavor":"n1.small","image":"gap"}' | jq -r .id)
expect_status 201 "create g1"
src=$(api GET "/v1/vms/$id" "$T" | jq -r .host)
dst=$(jq -r --arg a "$src" '.hosts[] | select(.name != $a) | .name' "$CLOUD_DIR/cloud.json")

# The console through the controller, which reaches the agent over HTTPS and verifies it.
console_says() { # what: the console (so far) through the controller shows it
  api GET "/v1/vms/$id/console?follow=0" "$T" | grep -aq "$1" && [ "$(status)" = 200 ]
}
wait_until 120 "the guest's counter in the console through the controller ($(status): $(head -c 300 "$TEST_WORK/body"))" \
  console_says 'NIMBUS-GAP: t=1 '
say "ok: g1's console on $src through the controller over HTTPS after $((SECONDS - started)) s"

t0=$SECONDS
api POST "/v1/vms/$id/migrate" "$ADMIN_TOKEN" "{\"host\":\"$dst\"}" > /dev/null
expect_status 200 "migrate g1 to $dst"
moved() { api GET "/v1/vms/$id" "$T" | jq -e --arg h "$dst" '.host == $h and .state == "running"' > /dev/null; }
wait_until 60 "g1 running on $dst" moved
event=$(api GET "/v1/events?limit=50" "$ADMIN_TOKEN" | jq -r '[.[] | select(.vm == "g1" and .kind == "moved")][0].message')
grep -q "moved live" <<< "$event" || fail "the move was not live: $event"
vmm=$(pgrep -af "run (--vm|--incoming) .*$CLOUD_DIR/hosts/.*/vms/$id" || true)
[ "$(grep -c . <<< "$vmm")" -eq 1 ] || fail "not exactly one VMM for g1: $vmm"
grep -q -- "--incoming tls:127.0.0.1:" <<< "$vmm" && grep -q "/hosts/$dst/" <<< "$vmm" ||
  fail "the VMM on $dst did not wait for the VM over TLS: $vmm"
keys=$(ectl get --prefix /nimbus/assign/ --keys-only | grep "/$id\$")
[ "$keys" = "/nimbus/assign/$dst/$id" ] || fail "g1's assignments: $keys"
say "ok: g1 moved live $src -> $dst over TLS in $((SECONDS - t0)) s ($event)"
last=$(grep -ao 'NIMBUS-GAP: t=[0-9]*' "$CLOUD_DIR/hosts/$src/vms/$id/$id.log" | tail -1 | sed 's/.*t=//')
wait_until 20 "the counter past t=$last in the console from $dst through the controller" console_says "NIMBUS-GAP: t=$((last + 1)) "
grep -aq 'Linux version' "$TEST_WORK/body" && fail "the console from $dst shows a boot (the VM restarted)"
say "ok: the console from $dst through the controller continues at t=$((last + 1))"
curl -s --max-time 5 -o "$TEST_WORK/dash" -H "Authorization: Bearer $T" "$CLOUD_URL/v1/dashboard/vms/$id/console?follow=0"
grep -aq 'NIMBUS-GAP: t=' "$TEST_WORK/dash" || fail "the dashboard's console stream through the controller: $(head -c 300 "$TEST_WORK/dash")"

# Controllers that cannot verify the agents: a second replica without --agent-ca, one with a CA
# that did not sign them (an agent's own certificate). Both must refuse and say what to do.
replica() { # name [args]: a controller replica on this etcd; sets REPLICA_URL
  local name="$1"; shift
  "$NIMBUS_BIN" controller --etcd "$ETCD_URL" "${ETCD_TLS_ARGS[@]}" --listen 127.0.0.1:0 --url-file "$TEST_WORK/$name.url" --id "$name" \
    --admin-token-file "$CLOUD_DIR/admin.token" --agent-token-file "$CLOUD_DIR/agent.token" --consolidate-interval 0 "$@" \
    > "$TEST_WORK/$name.log" 2>&1 &
  EXTRA_PIDS+=("$!")
  wait_until 15 "controller $name listening" test -s "$TEST_WORK/$name.url"
  REPLICA_URL=$(cat "$TEST_WORK/$name.url")
}
replica_console() { # url: GET the console through it; the body in $TEST_WORK/body
  curl -s -o "$TEST_WORK/body" -w '%{http_code}' -H "Authorization: Bearer $T" "$1/v1/vms/$id/console?follow=0"
}
replica no-ca
code=$(replica_console "$REPLICA_URL")
[ "$code" = 502 ] && jq -e '.code == "agent_tls_unverified"' "$TEST_WORK/body" > /dev/null &&
  grep -q -- "--agent-ca" "$TEST_WORK/body" || fail "a controller without --agent-ca: HTTP $code $(cat "$TEST_WORK/body")"
say "ok: without --agent-ca: HTTP 502 $(jq -r .error "$TEST_WORK/body")"
replica wrong-ca --agent-ca "$pki/host-0.crt"
code=$(replica_console "$REPLICA_URL")
[ "$code" = 502 ] && jq -e '.code == "agent_tls_unverified"' "$TEST_WORK/body" > /dev/null &&
  grep -q -- "--agent-ca $pki/host-0.crt does not verify" "$TEST_WORK/body" ||
  fail "a controller with the wrong CA: HTTP $code $(cat "$TEST_WORK/body")"
say "ok: with the wrong CA: HTTP 502 $(jq -r .error "$TEST_WORK/body")"
for bad in "$TEST_WORK/missing.crt" "$CLOUD_DIR/admin.token"; do
  out=$("$NIMBUS_BIN" controller --etcd "$ETCD_URL" "${ETCD_TLS_ARGS[@]}" --listen 127.0.0.1:0 --agent-ca "$bad" 2>&1) && fail "--agent-ca $bad accepted"
  grep -q -- "--agent-ca $bad: .*DIR/pki/ca.crt" <<< "$out" || fail "--agent-ca $bad: $out"
done
say "ok: a missing or non-PEM --agent-ca is refused at startup: $out"
say "PASS after $((SECONDS - started)) s"
