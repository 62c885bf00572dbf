#!/usr/bin/env bash
# Bad input to the controller gets precise errors: malformed JSON (400, where and what to send),
# unknown fields, unknown flavor and image (400 naming them and listing the choices), quota
# exceeded (403 naming the quota and the usage), a reused name (409), no token (401), an unknown
# route (404), and etcd unreachable (503: "etcd unreachable, retry" for reads, "outcome unknown" for writes); the CLI prints them too.
# Host records that are nonsense (not JSON, capacity of the wrong type, zero or negative
# capacity) take no VMs and break nothing: creates still land on the real host.
source "$(dirname "$0")/lib.sh"
require_machine
source "$(dirname "$0")/cloud_up_lib.sh"

start_cloud --hosts 1 --simulate --harts 4 --memory 1G --no-image --consolidate-interval 0
api POST /v1/images "$ADMIN_TOKEN" '{"name":"sim","kernel":"/bin/true"}' >/dev/null
T=$(tenant_create acme 2 1024 2)

check() {  # check CODE JQ-CONDITION WHAT
  [ "$(status)" = "$1" ] || { cat "$TEST_WORK/body"; fail "$3: expected HTTP $1, got $(status)"; }
  jq -e "$2" "$TEST_WORK/body" >/dev/null || { cat "$TEST_WORK/body"; fail "$3: body lacks $2"; }
  say "$3 -> $1: $(jq -r .error "$TEST_WORK/body")"
}
api POST /v1/vms "$T" '{"name": "a", "flavor": ' >/dev/null
check 400 '.code == "malformed_json" and (.error | test("byte [0-9]+")) and (.error | contains("flavor"))' "malformed JSON"
api POST /v1/vms "$T" '"just a string"' >/dev/null
check 400 '.code == "malformed_json"' "not an object"
api POST /v1/vms "$T" '{"name":"a","flavor":"n1.tiny","image":"sim","colour":"red"}' >/dev/null
check 400 '.code == "unknown_field" and .field == "colour"' "unknown field"
api POST /v1/vms "$T" '{"flavor":"n1.tiny","image":"sim"}' >/dev/null
check 400 '.code == "missing_field" and .field == "name"' "missing name"
api POST /v1/vms "$T" '{"name":"Not Valid!","flavor":"n1.tiny","image":"sim"}' >/dev/null
check 400 '.code == "bad_name"' "bad name"
api POST /v1/vms "$T" '{"name":"a","flavor":"n9.huge","image":"sim"}' >/dev/null
check 400 '.code == "unknown_flavor" and .flavor == "n9.huge" and (.choices | index("n1.tiny")) and (.error | contains("n1.tiny"))' "unknown flavor"
api POST /v1/vms "$T" '{"name":"a","flavor":"n1.tiny","image":"nope"}' >/dev/null
check 400 '.code == "unknown_image" and .image == "nope" and (.choices == ["sim"])' "unknown image"
api POST /v1/vms "$T" '{"name":"a","flavor":"n1.tiny","image":"sim"}' >/dev/null; expect_status 201 "first create"
api POST /v1/vms "$T" '{"name":"a","flavor":"n1.tiny","image":"sim"}' >/dev/null
check 409 '.code == "name_taken" and (.error | contains("'"'"'a'"'"'"))' "name reused"
api POST /v1/vms "$T" '{"name":"b","flavor":"n1.medium","image":"sim"}' >/dev/null
check 403 '.code == "quota_exceeded" and .quota == "vcpus" and .limit == 2 and .usage == 1' "quota exceeded"
api GET /v1/vms/ghost "$T" >/dev/null
check 404 '.code == "not_found" and (.error | contains("ghost"))' "unknown VM"
api GET /v1/nothing "$T" >/dev/null
check 404 '.code == "no_route"' "unknown route"
curl -s -o "$TEST_WORK/body" -w '%{http_code}' "$CLOUD_URL/v1/vms" > "$TEST_WORK/status"
check 401 '.code == "unauthenticated" and (.error | contains("Bearer"))' "no token"
api PUT /v1/tenants/acme/quota "$ADMIN_TOKEN" '{"vcpus":-1,"memory_mib":1,"vms":1,"disk_gib":1}' >/dev/null
check 400 '.code == "bad_field" and .field == "vcpus"' "negative quota"

# The CLI says the same and exits non-zero.
out=$(NIMBUS_URL=$CLOUD_URL NIMBUS_TOKEN=$T "$NIMBUS_BIN" vm create z --flavor n9.huge --image sim 2>&1) && fail "CLI accepted an unknown flavor"
grep -q "unknown flavor 'n9.huge'; choose one of: .*n1.tiny" <<< "$out" || fail "CLI error unclear: $out"
say "CLI: $out"
out=$(NIMBUS_URL=http://127.0.0.1:1 NIMBUS_TOKEN=x "$NIMBUS_BIN" vm list 2>&1); rc=$?
[ $rc -eq 3 ] && grep -q "did not answer" <<< "$out" || fail "CLI with no controller: rc $rc: $out"

# etcd gone: a write gets 503 etcd_outcome_unknown (its transaction may commit after the timeout).
kill -STOP "$(jq -r .etcd.pid "$CLOUD_DIR/cloud.json")"
api POST /v1/vms "$T" '{"name":"c","flavor":"n1.tiny","image":"sim"}' >/dev/null
kill -CONT "$(jq -r .etcd.pid "$CLOUD_DIR/cloud.json")"
check 503 '.code == "etcd_outcome_unknown" and (.error | test("may have been applied"))' "etcd frozen"
# An idempotent admin change (drain: one unconditional put) is sent again instead: etcd frozen for
# 2.5 s (longer than one request's 2 s timeout) costs the caller a wait, not a 503.
host=$(api GET /v1/hosts "$ADMIN_TOKEN" | jq -r '.[0].name')
kill -STOP "$(jq -r .etcd.pid "$CLOUD_DIR/cloud.json")"
( sleep 2.5; kill -CONT "$(jq -r .etcd.pid "$CLOUD_DIR/cloud.json")" ) &
api POST "/v1/hosts/$host/drain" "$ADMIN_TOKEN" '{}' >/dev/null
wait
check 200 '.draining == true' "drain while etcd froze for 2.5 s (sent again)"
api POST "/v1/hosts/$host/undrain" "$ADMIN_TOKEN" '{}' >/dev/null
check 200 '.draining == false' "undrain"

ectl put /nimbus/hosts/junk1 'not json at all' > /dev/null
ectl put /nimbus/hosts/junk2 '{"name":"junk2","capacity":"lots"}' > /dev/null
ectl put /nimbus/hosts/junk3 '{"name":"junk3","capacity":{"vcpus":64,"memory_mib":-5,"disk_gib":0}}' > /dev/null
seen() { [ "$(api GET /v1/hosts "$ADMIN_TOKEN" | jq '[.[] | select(.name | startswith("junk"))] | length')" = 3 ]; }
wait_until 5 "the controller sees the three junk host records" seen
T2=$(tenant_create globex 4 2048 4)
for n in j1 j2; do
  api POST /v1/vms "$T2" "{\"name\":\"$n\",\"flavor\":\"n1.tiny\",\"image\":\"sim\"}" >/dev/null
  [ "$(status)" = 201 ] || { cat "$TEST_WORK/body"; fail "create $n beside junk host records: HTTP $(status)"; }
  [ "$(jq -r .host "$TEST_WORK/body")" = "$host" ] || fail "$n placed on $(jq -r .host "$TEST_WORK/body"), not the real host $host"
done
grep -q "host junk1 registered .*not a host record; it takes no VMs" "$CLOUD_DIR/logs/controller.log" ||
  fail "the controller's log does not say junk1's record is not a host record"
say "host records that are nonsense take no VMs; creates land on $host"
say PASS
