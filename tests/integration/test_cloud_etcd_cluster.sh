#!/usr/bin/env bash
# The cloud on a 3-member etcd cluster, as docs/cloud.md's "On many machines" deploys it (here
# all on loopback): members that talk TLS to each other and to clients, each client with a
# certificate of the cloud's CA; a controller and two (simulated) host agents given all three
# endpoints. VMs are placed; then the etcd leader is killed (kill -9): the cluster elects
# another, the agents keep their leases through the other members (no host lost, no VM
# restarted), the controller goes on placing; the member restarts from its data and rejoins.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a control plane test: no QEMU equivalent"
require_machine
command -v openssl >/dev/null || skip "openssl not installed"
command -v jq >/dev/null || skip "jq not installed"
source "$(dirname "$0")/cloud_lib.sh"

pki="$TEST_WORK/pki"
test_pki "$pki" m0 m1 m2 controller agent admin

# Three members; member i listens for clients on CPORT[i] and for peers on PPORT[i].
CPORT=(); PPORT=(); MEMBER_PID=()
for i in 0 1 2; do CPORT+=("$(free_port)"); PPORT+=("$(free_port)"); done
cluster="m0=https://127.0.0.1:${PPORT[0]},m1=https://127.0.0.1:${PPORT[1]},m2=https://127.0.0.1:${PPORT[2]}"
ENDPOINTS="https://127.0.0.1:${CPORT[0]},https://127.0.0.1:${CPORT[1]},https://127.0.0.1:${CPORT[2]}"
start_member() { # start_member I [new|existing]
  local i="$1" state="$2"
  etcd --name "m$i" --data-dir "$TEST_WORK/etcd-m$i" \
    --listen-client-urls "https://127.0.0.1:${CPORT[$i]}" --advertise-client-urls "https://127.0.0.1:${CPORT[$i]}" \
    --listen-peer-urls "https://127.0.0.1:${PPORT[$i]}" --initial-advertise-peer-urls "https://127.0.0.1:${PPORT[$i]}" \
    --initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token nimbus-test \
    --cert-file "$pki/m$i.crt" --key-file "$pki/m$i.key" --trusted-ca-file "$pki/ca.crt" --client-cert-auth \
    --peer-cert-file "$pki/m$i.crt" --peer-key-file "$pki/m$i.key" --peer-trusted-ca-file "$pki/ca.crt" \
    --peer-client-cert-auth --log-level warn --logger zap >> "$TEST_WORK/etcd-m$i.log" 2>&1 &
  MEMBER_PID[$i]=$!
  CLOUD_PIDS+=("$!")
}
for i in 0 1 2; do start_member "$i" new; done
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  --command-timeout=3s "$@"; }
all_healthy() { ectl endpoint health > /dev/null 2>&1; }
wait_until 30 "three etcd members healthy" all_healthy
ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:${CPORT[0]}" --cacert "$pki/ca.crt" endpoint health > /dev/null 2>&1 &&
  fail "a member answered a client without a certificate"
say "ok: a 3-member etcd cluster over TLS ($(ectl member list | wc -l) members)"

cluster_tls=(--etcd "$ENDPOINTS" --etcd-ca "$pki/ca.crt")
echo "admin-$RANDOM$RANDOM" > "$TEST_WORK/admin.token"; echo "agent-$RANDOM$RANDOM" > "$TEST_WORK/agent.token"
"$NIMBUS_BIN" controller "${cluster_tls[@]}" --etcd-cert "$pki/controller.crt" --etcd-key "$pki/controller.key" \
  --listen 127.0.0.1:0 --tls-cert "$pki/controller.crt" --tls-key "$pki/controller.key" --url-file "$TEST_WORK/url" \
  --admin-token-file "$TEST_WORK/admin.token" --agent-token-file "$TEST_WORK/agent.token" --grace 2 \
  --consolidate-interval 0 > "$TEST_WORK/controller.log" 2>&1 &
CLOUD_PIDS+=("$!")
wait_until 15 "the controller's URL" test -s "$TEST_WORK/url"
URL=$(cat "$TEST_WORK/url")
for h in h1 h2; do
  start_agent "$h" --simulate "${cluster_tls[@]}" --etcd-cert "$pki/agent.crt" --etcd-key "$pki/agent.key" --harts 4 \
    --memory 4G --disk-gib 100 --lease-ttl 5 --token-file "$TEST_WORK/agent.token"
done
ADMIN=$(cat "$TEST_WORK/admin.token")
api() { # api METHOD PATH TOKEN [BODY]: body to stdout, status to $TEST_WORK/status
  local args=(-s --max-time 10 --cacert "$pki/ca.crt" -X "$1" -H "Authorization: Bearer $3" -o "$TEST_WORK/body" -w '%{http_code}')
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  curl "${args[@]}" "$URL$2" > "$TEST_WORK/status"
  cat "$TEST_WORK/body"
}
hosts_up() { [ "$(api GET /v1/hosts "$ADMIN" | jq '[.[] | select(.state == "up")] | length')" = 2 ]; }
wait_until 15 "two hosts up" hosts_up
api POST /v1/images "$ADMIN" '{"name":"sim","kernel":"/sim/Image","mode":"emulate"}' > /dev/null
T=$(api POST /v1/tenants "$ADMIN" '{"name":"acme","quota":{"vcpus":16,"memory_mib":8192,"vms":16,"disk_gib":1000}}' | jq -r .token)
[ "$(cat "$TEST_WORK/status")" = 201 ] || fail "tenant create: $(cat "$TEST_WORK/body")"
create() { # create NAME
  api POST /v1/vms "$T" "{\"name\":\"$1\",\"flavor\":\"n1.tiny\",\"image\":\"sim\"}" > /dev/null
  [ "$(cat "$TEST_WORK/status")" = 201 ] || fail "create $1: HTTP $(cat "$TEST_WORK/status") $(cat "$TEST_WORK/body")"
}
running() { [ "$(api GET /v1/vms "$T" | jq "[.[] | select(.state == \"running\")] | length")" = "$1" ]; }
for n in a1 a2 a3 a4; do create "$n"; done
wait_until 15 "4 VMs running" running 4
say "ok: controller and agents on all three endpoints; 4 VMs placed and running"

# Kill the leader.
leader_id=$(ectl endpoint status -w json | jq -r '.[0].Status.leader')
leader=""
for i in 0 1 2; do
  id=$(ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:${CPORT[$i]}" --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
    --key "$pki/admin.key" endpoint status -w json | jq -r '.[0].Status.header.member_id')
  [ "$id" = "$leader_id" ] && leader=$i
done
[ -n "$leader" ] || fail "no member is the leader ($leader_id)"
kill -9 "${MEMBER_PID[$leader]}"
wait "${MEMBER_PID[$leader]}" 2>/dev/null
t0=$SECONDS
say "killed the etcd leader m$leader (kill -9)"
two_healthy() { [ "$(ectl endpoint health 2>&1 | grep -c 'is healthy')" = 2 ]; }
wait_until 20 "the two other members healthy (a new leader)" two_healthy
for n in b1 b2 b3 b4; do create "$n"; done
wait_until 20 "8 VMs running with a member down" running 8
say "ok: 4 more VMs placed and running $((SECONDS - t0)) s after the leader died"
sleep 6  # more than a lease TTL: a host that lost its lease would be seen by now
hosts_up || fail "a host agent lost its lease when one etcd member died: $(api GET /v1/hosts "$ADMIN" | jq -c '[.[] | {name, state}]')"
gens=$(api GET /v1/vms "$T" | jq -c '[.[] | select(.generation != 1) | .name]')
[ "$gens" = "[]" ] || fail "VMs restarted when one etcd member died: $gens"
grep -q "fenc" "$TEST_WORK"/h1.err "$TEST_WORK"/h2.err && fail "an agent fenced itself: $(grep -h fenc "$TEST_WORK"/h?.err | head -2)"
say "ok: no host lost, no VM restarted, no agent fenced"

# The member comes back from its data and catches up.
start_member "$leader" existing
wait_until 30 "three members healthy again" all_healthy
v=$(ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:${CPORT[$leader]}" --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
  --key "$pki/admin.key" --command-timeout=3s get --prefix /nimbus/vms/ --keys-only | grep -c .)
[ "$v" = 8 ] || fail "the restarted member serves $v VM records, not 8"
say "PASS: m$leader rejoined and serves all 8 VM records"
