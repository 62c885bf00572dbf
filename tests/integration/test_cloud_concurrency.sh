#!/usr/bin/env bash
# 100 VM creates at once from two tenants against 3 simulated hosts whose capacity exceeds the
# tenants' quotas: exactly quota-many succeed, every other one is a 403 naming the quota, no host's
# alloc exceeds its capacity, no tenant's usage exceeds its quota, and alloc, usage, records and
# assignments agree. Then every VM is deleted twice at once through both replicas: each exactly once.
# NIMBUS_MAX_BATCHES_IN_FLIGHT=N runs both replicas with --max-batches-in-flight N (default 1).
source "$(dirname "$0")/lib.sh"
require_machine
source "$(dirname "$0")/cloud_up_lib.sh"

in_flight=${NIMBUS_MAX_BATCHES_IN_FLIGHT:-1}
start_cloud --hosts 3 --simulate --harts 8 --memory 2G --cpu-overcommit 1 --no-image --consolidate-interval 0 \
  --max-batches-in-flight "$in_flight"
api POST /v1/images "$ADMIN_TOKEN" '{"name":"sim","kernel":"/bin/true"}' >/dev/null
expect_status 201 "image create"
# A second controller replica on the same etcd takes half of the requests: the two race
# through etcd transactions.
"$NIMBUS_BIN" controller --etcd "$ETCD_URL" "${ETCD_TLS_ARGS[@]}" --listen 127.0.0.1:0 --url-file "$TEST_WORK/ctl2.url" \
  --admin-token-file "$CLOUD_DIR/admin.token" --cpu-overcommit 1 --consolidate-interval 0 --id controller-1 \
  --max-batches-in-flight "$in_flight" \
  > "$TEST_WORK/ctl2.log" 2>&1 &
EXTRA_PIDS+=($!)
wait_until 10 "second controller" test -s "$TEST_WORK/ctl2.url"
URL2=$(cat "$TEST_WORK/ctl2.url")
T1=$(tenant_create t1 10 100000 10)
T2=$(tenant_create t2 12 100000 100)

mkdir -p "$TEST_WORK/req"
CURLS=()
start=$(date +%s.%N)
for i in $(seq 1 100); do
  if [ $((i % 2)) -eq 0 ]; then tok=$T1; else tok=$T2; fi
  if [ $((i % 4)) -lt 2 ]; then url=$CLOUD_URL; else url=$URL2; fi
  curl -s -o "$TEST_WORK/req/r$i.json" -w '%{http_code}\n' -X POST -H "Authorization: Bearer $tok" \
    --data-binary "{\"name\":\"vm$i\",\"flavor\":\"n1.tiny\",\"image\":\"sim\"}" "$url/v1/vms" > "$TEST_WORK/req/st$i" &
  CURLS+=($!)
done
wait "${CURLS[@]}"
took=$(echo "$(date +%s.%N) - $start" | bc)
created=$(cat "$TEST_WORK"/req/st* | grep -c '^201$')
refused=$(cat "$TEST_WORK"/req/st* | grep -c '^403$')
other=$(cat "$TEST_WORK"/req/st* | grep -vc '^20[1]$\|^403$')
sleep 0.5
say "100 concurrent creates (2 tenants, 2 controller replicas) in ${took}s: $created created, $refused refused with 403, $other other"
if [ "$other" -ne 0 ]; then
  # Said now, failed after the invariants below are checked (an odd answer must not hide a breach).
  for i in $(seq 1 100); do
    code=$(cat "$TEST_WORK/req/st$i")
    [ "$code" = 201 ] || [ "$code" = 403 ] || say "vm$i: HTTP $code $(jq -c . "$TEST_WORK/req/r$i.json" 2>/dev/null || cat "$TEST_WORK/req/r$i.json")"
  done | head -10
fi
[ "$other" -ne 0 ] || [ "$created" -eq 22 ] || fail "expected 22 creates (quotas 10 + 12), got $created"
for f in "$TEST_WORK"/req/r*.json; do
  if jq -e '.code == "quota_exceeded"' "$f" >/dev/null; then
    jq -e '(.quota | IN("vcpus", "vms")) and .usage != null and (.error | contains("quota exceeded"))' "$f" >/dev/null || { cat "$f"; fail "403 does not name the quota"; }
  fi
done

# Hosts: alloc <= capacity, alloc lists = assignments.
over=0; total=0
for h in $(ectl get --prefix /nimbus/hosts/ --keys-only | sed -n 's#^/nimbus/hosts/##p'); do
  cap=$(ectl get "/nimbus/hosts/$h" --print-value-only | jq .capacity.vcpus)
  al=$(ectl get "/nimbus/alloc/$h" --print-value-only | jq '.vcpus // 0')
  n=$(ectl get "/nimbus/alloc/$h" --print-value-only | jq '.vms | length')
  as=$(ectl get --prefix "/nimbus/assign/$h/" --keys-only | grep -c .)
  al=${al:-0}; n=${n:-0}  # no alloc key: nothing placed there
  say "host $h: alloc $al of $cap vCPUs, $n VMs, $as assignments"
  [ "$al" -le "$cap" ] || over=$((over + 1))
  [ "$n" = "$as" ] || fail "host $h: alloc lists $n VMs but has $as assignments"
  total=$((total + n))
done
[ "$over" -eq 0 ] || fail "$over hosts overcommitted"
u1=$(ectl get /nimbus/usage/t1 --print-value-only | jq .vcpus)
u2=$(ectl get /nimbus/usage/t2 --print-value-only | jq .vcpus)
[ "$u1" -le 10 ] && [ "$u2" -le 12 ] || fail "quota overrun: usage t1 $u1 (quota 10), t2 $u2 (quota 12)"
[ "$(ectl get --prefix /nimbus/vms/ --keys-only | grep -c .)" -eq "$total" ] || fail "VM records != the $total VMs in allocs"
[ "$other" -eq 0 ] || fail "$other answers neither 201 nor 403 (above); no host over capacity, no quota overrun, allocs = records ($created created, usage t1 $u1/10, t2 $u2/12)"
[ "$total" -eq 22 ] || fail "allocs hold $total VMs, expected 22"
[ "$u1" -eq 10 ] && [ "$u2" -eq 12 ] || fail "usage t1 $u1 (quota 10), t2 $u2 (quota 12)"
say "zero overcommitted hosts, zero quota overruns (t1 10/10, t2 12/12)"

# Now capacity binds: t2's quota is raised and 30 more creates race for the 2 free vCPUs.
api PUT /v1/tenants/t2/quota "$ADMIN_TOKEN" '{"vcpus":1000,"memory_mib":1000000,"vms":1000,"disk_gib":1000}' >/dev/null
expect_status 200 "raise t2's quota"
sleep 0.3
CURLS=()
for i in $(seq 101 130); do
  if [ $((i % 2)) -eq 0 ]; then url=$CLOUD_URL; else url=$URL2; fi
  curl -s -o "$TEST_WORK/req/r$i.json" -w '%{http_code}\n' -X POST -H "Authorization: Bearer $T2" \
    --data-binary "{\"name\":\"vm$i\",\"flavor\":\"n1.tiny\",\"image\":\"sim\"}" "$url/v1/vms" > "$TEST_WORK/req/cap$i" &
  CURLS+=($!)
done
wait "${CURLS[@]}"
ok=$(cat "$TEST_WORK"/req/cap* | grep -c '^201$'); full=$(cat "$TEST_WORK"/req/cap* | grep -c '^503$')
say "30 more creates against 2 free vCPUs: $ok created, $full refused with 503 no_capacity"
[ "$ok" -eq 2 ] && [ "$full" -eq 28 ] || fail "expected 2 created and 28 no_capacity"
for h in $(ectl get --prefix /nimbus/hosts/ --keys-only | sed -n 's#^/nimbus/hosts/##p'); do
  al=$(ectl get "/nimbus/alloc/$h" --print-value-only | jq '.vcpus // 0'); al=${al:-0}
  [ "$al" -le 8 ] || fail "host $h overcommitted: $al of 8 vCPUs"
done
say "still zero overcommitted hosts (all 3 at 8 of 8 vCPUs)"

# Deletes are group-committed too: every VM deleted twice at once, through both replicas. Each
# VM goes exactly once (one 200, one 404), and alloc, usage and assignments drop to zero.
ids=$(cat "$TEST_WORK"/req/r*.json | jq -r 'select(.id != null) | .id')
[ "$(echo "$ids" | grep -c .)" -eq 24 ] || fail "expected 24 VM ids, got $(echo "$ids" | grep -c .)"
CURLS=()
for id in $ids; do
  for url in "$CLOUD_URL" "$URL2"; do
    curl -s -o /dev/null -w '%{http_code}\n' -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" "$url/v1/vms/$id" \
      > "$TEST_WORK/req/del-$id-${url##*:}" &
    CURLS+=($!)
  done
done
wait "${CURLS[@]}"
d200=$(cat "$TEST_WORK"/req/del-* | grep -c '^200$'); d404=$(cat "$TEST_WORK"/req/del-* | grep -c '^404$')
say "48 concurrent deletes of 24 VMs (each twice, 2 replicas): $d200 deleted, $d404 not found"
[ "$d200" -eq 24 ] && [ "$d404" -eq 24 ] || fail "expected 24 deleted and 24 not found; answers: $(cat "$TEST_WORK"/req/del-* | sort | uniq -c | tr "\n" " ")"
for t in t1 t2; do
  u=$(ectl get "/nimbus/usage/$t" --print-value-only | jq '[.vcpus, .memory_mib, .vms] | add')
  [ "$u" -eq 0 ] || fail "usage of $t is $u after deleting everything"
done
for h in $(ectl get --prefix /nimbus/hosts/ --keys-only | sed -n 's#^/nimbus/hosts/##p'); do
  al=$(ectl get "/nimbus/alloc/$h" --print-value-only | jq '.vcpus + (.vms | length)'); al=${al:-0}
  [ "$al" -eq 0 ] || fail "host $h: alloc not empty after deleting everything"
done
[ "$(ectl get --prefix /nimbus/assign/ --keys-only | grep -c .)" -eq 0 ] || fail "assignments left"
[ "$(ectl get --prefix /nimbus/vms/ --keys-only | grep -c .)" -eq 0 ] || fail "VM records left"
say "allocs, usage, assignments and records all back to zero"
for u in "$CLOUD_URL" "$URL2"; do
  curl -s "$u/metrics" | grep -E '^nimbus_(placement_decisions_total|txn_conflicts_total|create_batches)' | while read -r l; do say "  $u $l"; done
  curl -s "$u/metrics" | awk '$1 == "nimbus_placement_latency_seconds_sum" {s = $2} $1 == "nimbus_placement_latency_seconds_count" {c = $2}
    END {if (c > 0) printf "mean placement latency %.1f ms over %d decisions\n", 1000 * s / c, c}' | while read -r l; do say "  $u $l"; done
done
say PASS
