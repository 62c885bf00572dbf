#!/usr/bin/env bash
# Tenant isolation: tenant A's token cannot list, show, delete, stop or reach the console of
# tenant B's VMs (404 by name and by id, as if they did not exist), nor use admin endpoints (403);
# usage shows only its own; B's VM is untouched afterwards.
source "$(dirname "$0")/lib.sh"
require_machine
source "$(dirname "$0")/cloud_up_lib.sh"

start_cloud --hosts 2 --simulate --harts 4 --memory 1G --no-image --consolidate-interval 0
api POST /v1/images "$ADMIN_TOKEN" '{"name":"sim","kernel":"/bin/true"}' >/dev/null
A=$(tenant_create alice 4 1024 4)
B=$(tenant_create bob 4 1024 4)
api POST /v1/vms "$A" '{"name":"a1","flavor":"n1.tiny","image":"sim"}' >/dev/null
expect_status 201 "alice creates a1"
BID=$(api POST /v1/vms "$B" '{"name":"secret","flavor":"n1.tiny","image":"sim"}' | jq -r .id)
expect_status 201 "bob creates secret"

[ "$(api GET /v1/vms "$A" | jq -r '[.[].name] | join(",")')" = "a1" ] || fail "alice's list shows more than her VM"
for ref in secret "$BID"; do
  api GET "/v1/vms/$ref" "$A" >/dev/null; expect_status 404 "alice shows bob's $ref"
  api DELETE "/v1/vms/$ref" "$A" >/dev/null; expect_status 404 "alice deletes bob's $ref"
  api POST "/v1/vms/$ref/stop" "$A" '{}' >/dev/null; expect_status 404 "alice stops bob's $ref"
  api GET "/v1/vms/$ref/console?follow=0" "$A" >/dev/null; expect_status 404 "alice reads bob's console $ref"
  api POST "/v1/vms/$ref/console" "$A" 'ls' >/dev/null; expect_status 404 "alice types into bob's console $ref"
  api GET "/v1/vms/$ref?tenant=bob" "$A" >/dev/null; expect_status 404 "alice names bob's tenant for $ref"
done
api POST /v1/vms "$A" '{"name":"x","flavor":"n1.tiny","image":"sim","tenant":"bob"}' >/dev/null
expect_status 403 "alice creates in bob's tenant"
api GET /v1/hosts "$A" >/dev/null; expect_status 403 "alice lists hosts"
api POST /v1/hosts/host-0/drain "$A" '{}' >/dev/null; expect_status 403 "alice drains a host"
api POST /v1/tenants "$A" '{"name":"evil","quota":{"vcpus":1,"memory_mib":1,"vms":1,"disk_gib":1}}' >/dev/null
expect_status 403 "alice creates a tenant"
api GET /v1/tenants/bob "$A" >/dev/null; expect_status 403 "alice reads bob's tenant"
api GET /v1/tenants/bob/usage "$A" >/dev/null; expect_status 403 "alice reads bob's usage"
[ "$(api GET /v1/tenants "$A" | jq -r '[.[].name] | join(",")')" = "alice" ] || fail "alice sees other tenants"
[ "$(api GET /v1/usage "$A" | jq -r .tenant)" = "alice" ] || fail "alice's usage is not hers"
api GET /v1/events "$A" | jq -e 'all(.[]; .tenant == "alice")' >/dev/null || fail "alice sees others' events"
api GET /v1/vms "bogus-token" >/dev/null; expect_status 401 "unknown token"
# Bob's VM is still there, untouched.
[ "$(api GET /v1/vms/secret "$B" | jq -r .state)" = "running" ] || fail "bob's VM changed"
say "tenant A got 404 for B's VMs (list/show/delete/stop/console, by name and id), 403 for admin endpoints and B's tenant"
say PASS
