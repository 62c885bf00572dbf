#!/usr/bin/env bash
# Controller replicas: `cloud up` starts one (the leader), a second joins as a follower; kill -9 of
# the leader: the follower takes the lead once the leader's lease expires (5 s) and does the
# leader-only work (a drain moves the VMs away); the API answered on the follower throughout.
source "$(dirname "$0")/lib.sh"
require_machine
source "$(dirname "$0")/cloud_up_lib.sh"

start_cloud --hosts 2 --simulate --harts 4 --memory 1G --cpu-overcommit 1 --no-image --consolidate-interval 0
"$NIMBUS_BIN" controller --etcd "$ETCD_URL" "${ETCD_TLS_ARGS[@]}" --listen 127.0.0.1:0 --url-file "$TEST_WORK/ctl2.url" \
  --admin-token-file "$CLOUD_DIR/admin.token" --cpu-overcommit 1 --consolidate-interval 0 --id controller-1 \
  > "$TEST_WORK/ctl2.log" 2>&1 &
EXTRA_PIDS+=($!)
wait_until 10 "second controller" test -s "$TEST_WORK/ctl2.url"
URL2=$(cat "$TEST_WORK/ctl2.url")
leader() { curl -s "$1/v1/health" | jq -r .leader; }
leads() { [ "$(leader "$1")" = true ]; }
wait_until 5 "the first controller leads" leads "$CLOUD_URL"
[ "$(leader "$URL2")" = false ] || fail "two leaders"
api POST /v1/images "$ADMIN_TOKEN" '{"name":"sim","kernel":"/bin/true"}' >/dev/null
T=$(tenant_create t 8 4096 8)
for i in 1 2 3; do api POST /v1/vms "$T" "{\"name\":\"v$i\",\"flavor\":\"n1.tiny\",\"image\":\"sim\"}" >/dev/null; done

t0=$(date +%s.%N)
kill -9 "$(jq -r .controller.pid "$CLOUD_DIR/cloud.json")"
CLOUD_URL=$URL2  # api() talks to the follower from now on
api GET /v1/vms "$T" >/dev/null; expect_status 200 "follower answers reads at once"
wait_until 15 "the follower leads" leads "$URL2"
say "follower leads $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s after kill -9 of the leader (lease 5 s)"
LEADER_KEY=$(ectl get /nimbus/leader --print-value-only | jq -r .id)
[ "$LEADER_KEY" = controller-1 ] || fail "leader key names $LEADER_KEY"
src=$(api GET /v1/vms "$T" | jq -r '.[0].host')
api POST "/v1/hosts/$src/drain" "$ADMIN_TOKEN" '{}' >/dev/null; expect_status 200 "drain $src"
drained() { api GET /v1/vms "$T" | jq -e --arg h "$src" 'all(.[]; .host != $h and .state == "running")' >/dev/null; }
wait_until 15 "VMs moved off $src by the new leader" drained
say "the new leader drained $src"
say PASS
