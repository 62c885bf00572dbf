# shellcheck shell=bash
# Shared by the controller's integration tests (test_cloud_{concurrency,failover,isolation,
# consolidation,bad_requests}.sh), sourced after lib.sh: `nimbus cloud up` in the test's own
# dir (random ports), a curl wrapper for the REST API, and on exit `cloud down` plus a kill -9 of
# every pid cloud.json names and any VMM left under the test dir.
command -v etcd >/dev/null || skip "etcd not installed (Debian etcd-server)"
command -v etcdctl >/dev/null || skip "etcdctl not installed (Debian etcd-client)"
command -v curl >/dev/null || skip "curl not installed"
command -v jq >/dev/null || skip "jq not installed"

CLOUD_DIR="$TEST_WORK/cloud"
cloud_up_cleanup() {
  exec 2>/dev/null
  if [ -f "$CLOUD_DIR/cloud.json" ]; then
    local pids p
    pids=$(jq -r '[.etcd.pid, .controller.pid, (.hosts[]?.pid)] | .[] | select(. != null)' "$CLOUD_DIR/cloud.json")
    timeout 20 "$NIMBUS_BIN" cloud down --dir "$CLOUD_DIR" >/dev/null 2>&1
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
  fi
  for p in $(pgrep -f "run --vm $TEST_WORK/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  for p in "${EXTRA_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$TEST_WORK"
}
EXTRA_PIDS=()
trap cloud_up_cleanup EXIT

# start_cloud ARGS...: `nimbus cloud up --dir CLOUD_DIR ARGS`; sets CLOUD_URL, ADMIN_TOKEN, ETCD_URL.
# The cloud speaks TLS everywhere unless ARGS say --no-tls: curl and etcdctl then trust its CA
# (CURL_CA_BUNDLE, ETCDCTL_CACERT; NIMBUS_CA, as `cloud up` tells a tenant) and etcdctl shows the admin's client certificate; a process a
# test starts against its etcd takes "${ETCD_TLS_ARGS[@]}" (the controller's certificate).
ETCD_TLS_ARGS=()
start_cloud() {
  timeout 120 "$NIMBUS_BIN" cloud up --dir "$CLOUD_DIR" "$@" > "$TEST_WORK/cloud-up.out" 2>&1 ||
    { cat "$TEST_WORK/cloud-up.out"; tail -20 "$CLOUD_DIR"/logs/*.log; fail "cloud up failed"; }
  CLOUD_URL=$(jq -r .controller.url "$CLOUD_DIR/cloud.json")
  ETCD_URL=$(jq -r .etcd.endpoint "$CLOUD_DIR/cloud.json")
  ADMIN_TOKEN=$(cat "$CLOUD_DIR/admin.token")
  local ca
  ca=$(jq -r '.pki.ca // empty' "$CLOUD_DIR/cloud.json")
  if [ -n "$ca" ]; then
    export CURL_CA_BUNDLE="$ca" ETCDCTL_CACERT="$ca" NIMBUS_CA="$ca"
    ETCDCTL_CERT=$(jq -r .pki.admin_cert "$CLOUD_DIR/cloud.json") ETCDCTL_KEY=$(jq -r .pki.admin_key "$CLOUD_DIR/cloud.json")
    export ETCDCTL_CERT ETCDCTL_KEY
    ETCD_TLS_ARGS=(--etcd-ca "$ca" --etcd-cert "$CLOUD_DIR/pki/controller.crt" --etcd-key "$CLOUD_DIR/pki/controller.key")
  fi
  say "$(head -1 "$TEST_WORK/cloud-up.out")"
}

ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" --command-timeout=3s "$@"; }

# api METHOD PATH TOKEN [BODY]: the body goes to stdout, the HTTP status to $TEST_WORK/status
# ("000" when no answer came: curl's error is then in $TEST_WORK/curl.err). A failed call prints
# no body, not the previous call's.
api() {
  local method="$1" path="$2" token="$3" body="${4:-}"
  local args=(-sS -X "$method" -H "Authorization: Bearer $token" -o "$TEST_WORK/body" -w '%{http_code}')
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  rm -f "$TEST_WORK/body"
  curl "${args[@]}" "$CLOUD_URL$path" > "$TEST_WORK/status" 2> "$TEST_WORK/curl.err"
  [ -f "$TEST_WORK/body" ] && cat "$TEST_WORK/body"
}
status() { cat "$TEST_WORK/status"; }

# no_answer_story: why the controller did not answer, for a failure message: curl's error, whether
# the controller's process still runs, and the end of its log.
no_answer_story() {
  local pid
  pid=$(jq -r '.controller.pid // empty' "$CLOUD_DIR/cloud.json" 2>/dev/null)
  echo "curl: $(tr '\n' ' ' < "$TEST_WORK/curl.err" 2>/dev/null)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "controller (pid $pid) still runs"
  else echo "controller (pid ${pid:-?}) is gone"; fi
  echo "controller log ends:"
  tail -15 "$CLOUD_DIR/logs/controller.log" 2>/dev/null
}

# expect_status CODE WHAT: the last api call answered CODE.
expect_status() {
  [ "$(status)" = "$1" ] && return 0
  if [ "$(status)" = 000 ]; then no_answer_story; else cat "$TEST_WORK/body" 2>/dev/null; fi
  fail "$2: expected HTTP $1, got $(status)"
}

# tenant_create NAME VCPUS MEMORY_MIB VMS: prints the token.
tenant_create() {
  api POST /v1/tenants "$ADMIN_TOKEN" \
    "{\"name\":\"$1\",\"quota\":{\"vcpus\":$2,\"memory_mib\":$3,\"vms\":$4,\"disk_gib\":1000}}" | jq -r .token
  expect_status 201 "tenant create $1"
}

wait_until() {
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    "$@" && return 0
    sleep 0.2
  done
  "$@" && return 0
  fail "timed out after ${seconds}s waiting for: $what"
}
