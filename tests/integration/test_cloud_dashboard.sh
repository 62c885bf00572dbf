#!/usr/bin/env bash
# The controller's web dashboard in a real browser: etcd, a controller and three simulated host
# agents on loopback ports, two tenants with VMs created through the API, then headless
# Chromium renders /ui/#token=... and the test checks the DOM (host names, VM names, tenant
# usage, events, a console from a stand-in agent), a screenshot (size, not blank), the token
# prompt without a token, a tenant token's narrower view, and that no path escapes the web dir.
# Usage: test_cloud_dashboard.sh PATH/TO/nimbus
source "$(dirname "$0")/lib.sh"
require_machine
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$CHROMIUM" ] || skip "chromium not installed (scripts/install-deps.sh)"
command -v etcd >/dev/null || fail "etcd not installed (scripts/install-deps.sh)"
command -v etcdctl >/dev/null || fail "etcdctl not installed (scripts/install-deps.sh)"
command -v curl >/dev/null || fail "curl not installed"
[ -f "$NIMBUS_SOURCE_DIR/web/node_modules/@xterm/xterm/lib/xterm.js" ] ||
  fail "xterm.js missing: run 'npm ci' in $NIMBUS_SOURCE_DIR/web (scripts/install-deps.sh does)"

PIDS=()
WATCHDOG=""
cleanup() {
  local pid i
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for i in $(seq 30); do
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && break; done
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if [ -n "${NIMBUS_TEST_KEEP:-}" ]; then say "kept $TEST_WORK"; else rm -rf "$TEST_WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' TERM INT
# The whole test is bounded: a watchdog ends it after 240 s.
( sleep $((240 + ${NIMBUS_TEST_PAUSE:-0})) & s=$!; trap 'kill $s; exit 0' TERM; wait $s; echo "[$TEST_NAME] FAIL: timed out after 240 s"; kill -TERM $$ ) &
WATCHDOG=$!

W="$TEST_WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# --- etcd -------------------------------------------------------------------------------------
CP=$(free_port); PP=$(free_port)
ETCD="http://127.0.0.1:$CP"
etcd --name dash --data-dir "$W/etcd" --log-level warn \
  --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "dash=http://127.0.0.1:$PP" > "$W/etcd.log" 2>&1 &
PIDS+=($!)
wait_for 20 curl -sf "$ETCD/health" || { tail "$W/etcd.log"; fail "etcd did not start"; }
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD" "$@"; }

# --- the web dir: the source's dashboard plus traps for path escapes ----------------------------
mkdir -p "$W/web/dashboard"
cp -r "$NIMBUS_SOURCE_DIR/web/dashboard/." "$W/web/dashboard/"
ln -s "$NIMBUS_SOURCE_DIR/web/node_modules" "$W/web/node_modules"
echo "SECRET-OUTSIDE" > "$W/web/secret.txt"
echo "SECRET-DOTFILE" > "$W/web/dashboard/.env"
ln -s /etc "$W/web/dashboard/etc-link"
ln -s ../secret.txt "$W/web/dashboard/secret-link.txt"

# --- controller -------------------------------------------------------------------------------
ADMIN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
echo "$ADMIN" > "$W/admin.token"
"$NIMBUS_BIN" controller --etcd "$ETCD" --listen 127.0.0.1:0 --admin-token-file "$W/admin.token" \
  --url-file "$W/url" --web-dir "$W/web" --consolidate-interval 0 --grace 600 --cpu-overcommit 1 --disks-dir "$W/disks" > "$W/controller.log" 2>&1 &
PIDS+=($!)
wait_for 20 test -s "$W/url" || { tail "$W/controller.log"; fail "the controller did not start"; }
URL=$(cat "$W/url")
say "controller at $URL"
capi() {  # capi TOKEN METHOD PATH [BODY]
  curl -sS -X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' ${4:+--data "$4"} "$URL$3"
}

# --- a stand-in agent for the console, the only host when its VM is placed ----------------------
python3 "$(dirname "$0")/dashboard/fake_agent.py" "$W/fake.port" > "$W/fake.log" 2>&1 &
PIDS+=($!)
wait_for 10 test -s "$W/fake.port" || fail "the stand-in agent did not start"
FAKE="http://127.0.0.1:$(cat "$W/fake.port")"
ectl put /nimbus/hosts/edge-console "{\"name\":\"edge-console\",\"api\":\"$FAKE\",\"capacity\":{\"vcpus\":1,\"memory_mib\":128,\"disk_gib\":4},\"rack\":\"r0\",\"started\":\"2026-01-01T00:00:00Z\"}" >/dev/null

wait_for 10 sh -c "curl -sf -H 'Authorization: Bearer $ADMIN' $URL/v1/hosts | grep -q edge-console" ||
  fail "the controller did not see the stand-in host"
capi "$ADMIN" POST /v1/images '{"name":"linux","kernel":"/nonexistent/Image","append":"console=ttyS0"}' >/dev/null
ACME=$(capi "$ADMIN" POST /v1/tenants '{"name":"acme","quota":{"vcpus":24,"memory_mib":4096,"vms":10,"disk_gib":100}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
GLOBEX=$(capi "$ADMIN" POST /v1/tenants '{"name":"globex","quota":{"vcpus":16,"memory_mib":3072,"vms":4,"disk_gib":40}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
[ -n "$ACME" ] && [ -n "$GLOBEX" ] || fail "could not create the tenants"
out=$(capi "$ACME" POST /v1/vms '{"name":"acme-console","flavor":"n1.small","image":"linux"}')
grep -q '"host": "edge-console"' <<< "$out" || fail "the console VM was not placed on the stand-in host: $out"
CONSOLE_ID=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ectl put "/nimbus/vmstatus/$CONSOLE_ID" "{\"host\":\"edge-console\",\"generation\":1,\"state\":\"running\",\"pid\":1,\"cpu_load\":0.4}" >/dev/null

# --- simulated agents of different sizes; rack2-node-d gets a VM first and is lost later ----------
declare -A HOST_PID
start_host() {  # start_host NAME HARTS MEMORY
  "$NIMBUS_BIN" host --name "$1" --simulate --etcd "$ETCD" --harts "$2" --memory "$3" --disk-gib 200 --dir "$W/host-$1" \
    --lease-ttl 3 > "$W/host-$1.log" 2>&1 &
  PIDS+=($!)
  HOST_PID[$1]=$!
}
host_listed() {  # host_listed NAME [STATE]
  curl -sf -H "Authorization: Bearer $ADMIN" "$URL/v1/hosts" |
    python3 -c 'import json,sys; n=sys.argv[1]; s=sys.argv[2:]; sys.exit(0 if any(h["name"]==n and (not s or h["state"]==s[0]) for h in json.load(sys.stdin)) else 1)' "$@"
}
start_host rack2-node-d 4 1G
wait_for 20 host_listed rack2-node-d || { tail "$W/host-rack2-node-d.log"; fail "host rack2-node-d did not register"; }
out=$(capi "$GLOBEX" POST /v1/vms '{"name":"legacy-1","flavor":"n1.large","image":"linux"}')
grep -q '"host": "rack2-node-d"' <<< "$out" || fail "legacy-1 was not placed on rack2-node-d: $out"
start_host rack1-node-a 16 2G
start_host rack1-node-b 16 2G
start_host rack2-node-c 8 1G
for h in rack1-node-a rack1-node-b rack2-node-c; do
  wait_for 20 host_listed "$h" || { tail "$W/host-$h.log"; fail "host $h did not register"; }
done

# --- VMs of both tenants ----------------------------------------------------------------------
for vm in "acme web-1 n1.large" "acme web-2 n1.large" "acme db-1 n1.xlarge" "acme cache-1 n1.medium" \
          "globex api-1 n1.large" "globex api-2 n1.medium" "globex batch-1 n1.medium"; do
  set -- $vm
  tok=$ACME; [ "$1" = globex ] && tok=$GLOBEX
  out=$(capi "$tok" POST /v1/vms "{\"name\":\"$2\",\"flavor\":\"$3\",\"image\":\"linux\"}")
  grep -q '"id"' <<< "$out" || fail "creating VM $2 failed: $out"
done
out=$(# rack2-node-d dies (no lease revoke): lost, its VM kept there for the long --grace.
{ kill -9 "${HOST_PID[rack2-node-d]}"; wait "${HOST_PID[rack2-node-d]}"; } 2>/dev/null
wait_for 20 host_listed rack2-node-d lost || fail "rack2-node-d is not reported lost"
capi "$ADMIN" POST /v1/hosts/rack2-node-c/drain '{}')
grep -q '"draining": true' <<< "$out" || fail "draining rack2-node-c failed: $out"
# Give the agents a moment to run the VMs and publish their load.
wait_for 20 sh -c "curl -sf -H 'Authorization: Bearer $ADMIN' $URL/v1/vms | grep -q '\"running\"'" || say "note: no VM reported running yet"
sleep 2

# --- serving: content types, 404s, no path escapes ---------------------------------------------
status() { curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL$1"; }
ctype() { curl -s --path-as-is -o /dev/null -w '%{content_type}' "$URL$1"; }
[ "$(status /)" = 302 ] || fail "GET / is not a redirect"
curl -s -o /dev/null -D - "$URL/" | grep -qi '^location: /ui/' || fail "GET / does not redirect to /ui/"
[ "$(status /ui/)" = 200 ] || fail "GET /ui/ is not 200"
case "$(ctype /ui/)" in text/html*) ;; *) fail "/ui/ content type $(ctype /ui/)" ;; esac
case "$(ctype /ui/app.js)" in text/javascript*) ;; *) fail "/ui/app.js content type $(ctype /ui/app.js)" ;; esac
case "$(ctype /ui/style.css)" in text/css*) ;; *) fail "/ui/style.css content type $(ctype /ui/style.css)" ;; esac
[ "$(status /ui/vendor/xterm/xterm/lib/xterm.js)" = 200 ] || fail "xterm.js is not served"
case "$(ctype /ui/vendor/xterm/xterm/css/xterm.css)" in text/css*) ;; *) fail "xterm.css content type" ;; esac
[ "$(status /ui/no-such-file.js)" = 404 ] || fail "a missing file is not 404"
for bad in /ui/../secret.txt /ui/../../../../etc/passwd /ui/%2e%2e/secret.txt /ui/..%2fsecret.txt \
           /ui/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd /ui/vendor/xterm/../../secret.txt \
           /ui/vendor/xterm/xterm/../../../secret.txt /ui/vendor/xterm/..%2f..%2fpackage.json /ui/vendor/xterm/ \
           /ui/.env /ui/etc-link/passwd /ui/secret-link.txt /ui//etc/passwd /ui/%5c..%5csecret.txt /ui/dashboard/../secret.txt; do
  code=$(status "$bad")
  body=$(curl -s --path-as-is "$URL$bad")
  case "$body" in *SECRET*|*root:*) fail "$bad leaked a file outside the web dir" ;; esac
  [ "$code" = 404 ] || fail "$bad: HTTP $code, want 404"
done
say "serving: redirect, content types, 404s and path escapes OK"

# The console path the page uses: output through the controller, input POSTed to the agent.
grep -q NIMBUS-CONSOLE-OK <<< "$(capi "$ADMIN" GET "/v1/vms/$CONSOLE_ID/console?follow=0")" || fail "console output does not come through"
capi "$ACME" POST "/v1/vms/$CONSOLE_ID/console" 'echo typed' >/dev/null
grep -q 'input: echo typed' <<< "$(capi "$ACME" GET "/v1/vms/$CONSOLE_ID/console?follow=0")" || fail "console input does not reach the agent"
# The dashboard's relay streams: output typed while the agent's stream is open arrives at once.
# (Accept-Encoding as a browser sends it: a compressed stream would arrive only at its end.)
curl -sS -N --max-time 4 -H "Authorization: Bearer $ACME" -H 'Accept-Encoding: gzip, deflate, br' \
  "$URL/v1/dashboard/vms/$CONSOLE_ID/console" > "$W/stream.txt" 2>/dev/null &
STREAM=$!
sleep 1.5
capi "$ACME" POST "/v1/vms/$CONSOLE_ID/console" 'live-key' >/dev/null
wait "$STREAM"
grep -q NIMBUS-CONSOLE-OK "$W/stream.txt" || fail "the dashboard's console relay does not stream the log"
grep -q 'input: live-key' "$W/stream.txt" || fail "the dashboard's console relay does not stream new output"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GLOBEX" "$URL/v1/dashboard/vms/$CONSOLE_ID/console")" = 404 ] ||
  fail "another tenant reaches acme's console through the relay"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/dashboard/vms/$CONSOLE_ID/console")" = 401 ] || fail "the relay answers without a token"
say "console: output and input through the controller, streamed by the relay"

# --- the browser --------------------------------------------------------------------------------
if [ -n "${NIMBUS_TEST_PAUSE:-}" ]; then  # look at it by hand for a while
  echo "$URL/ui/#token=$ADMIN (admin)  $URL/ui/#token=$GLOBEX (globex)  console VM $CONSOLE_ID" > "$W/links"
  say "paused ${NIMBUS_TEST_PAUSE} s: $(cat "$W/links")"
  sleep "$NIMBUS_TEST_PAUSE"
fi
chrome() {  # chrome OUTFILE URL [flags...]: dump-dom into OUTFILE
  local out="$1" url="$2"; shift 2
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$W/chrome-$RANDOM" --window-size=1440,1100 --virtual-time-budget=8000 "$@" \
    --dump-dom "$url" > "$out" 2> "$out.stderr" || { tail -5 "$out.stderr"; fail "chromium failed on $url"; }
}

chrome "$W/admin.html" "$URL/ui/#token=$ADMIN"
grep -q 'data-view="dashboard"' "$W/admin.html" || fail "the admin page did not open the dashboard"
grep -q 'data-loaded="true"' "$W/admin.html" || fail "the admin page did not load data"
for want in rack1-node-a rack1-node-b rack2-node-c edge-console web-1 web-2 db-1 cache-1 api-1 api-2 batch-1 acme-console \
            legacy-1 'badge draining' 'badge lost' 'data-tenant="acme"' 'data-tenant="globex"' 'tenant_created' 'Active hosts vs lower bound' 'id="fleet-bound"'; do
  grep -q -- "$want" "$W/admin.html" || fail "the admin page lacks '$want'"
done
ACME_USAGE=$(capi "$ADMIN" GET /v1/tenants/acme/usage | python3 -c 'import json,sys; u=json.load(sys.stdin)["usage"]; print(u["vcpus"], u["vms"])')
set -- $ACME_USAGE
grep -q ">$1 / 24<" "$W/admin.html" || fail "acme's vCPU usage '$1 / 24' is not on the page"
grep -q ">$2 / 10<" "$W/admin.html" || fail "acme's VM count '$2 / 10' is not on the page"
say "admin view: hosts, VMs, tenant usage ($1 vCPUs, $2 VMs of acme), fleet bound and events rendered"

# The token stays out of the address (replaced from the fragment) and the console renders.
chrome "$W/console.html" "$URL/ui/#token=$ADMIN&console=$CONSOLE_ID&tenant=acme"
grep -q 'NIMBUS-CONSOLE-OK' "$W/console.html" || fail "the console does not show the VM's output"
grep -q 'class="xterm' "$W/console.html" || fail "the console is not an xterm.js terminal"
grep -Eq 'class="console-state ok"[^>]*>live<' "$W/console.html" || fail "the console is not live (streamed)"
say "console: the VM's output rendered in xterm.js"

chrome "$W/tenant.html" "$URL/ui/#token=$GLOBEX"
grep -q 'tenant globex' "$W/tenant.html" || fail "the tenant page does not say which tenant"
for want in api-1 api-2 batch-1 'data-tenant="globex"'; do
  grep -q -- "$want" "$W/tenant.html" || fail "the tenant page lacks '$want'"
done
for unwanted in web-1 db-1 acme-console 'data-tenant="acme"' rack2-node-c; do
  ! grep -q -- "$unwanted" "$W/tenant.html" || fail "the tenant page shows another tenant's '$unwanted'"
done
say "tenant view: only globex's VMs"

chrome "$W/login.html" "$URL/ui/"
grep -q 'data-view="login"' "$W/login.html" || fail "without a token the page does not ask for one"
grep -q 'id="token-input"' "$W/login.html" || fail "the token prompt has no input"
! grep -q 'rack1-node-a' "$W/login.html" || fail "without a token the page shows hosts"
say "no token: the token prompt"

# --- screenshot ---------------------------------------------------------------------------------
SHOT="${NIMBUS_DASHBOARD_SCREENSHOT:-$W/dashboard.png}"
timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
  --user-data-dir="$W/chrome-shot" --window-size=1440,1100 --virtual-time-budget=8000 \
  --screenshot="$SHOT" "$URL/ui/#token=$ADMIN" > "$W/shot.log" 2>&1 || { tail -5 "$W/shot.log"; fail "chromium screenshot failed"; }
[ -s "$SHOT" ] || fail "no screenshot written"
python3 "$(dirname "$0")/dashboard/png_check.py" "$SHOT" 1440 1100 || fail "the screenshot is wrong or blank"
if [ -n "${NIMBUS_DASHBOARD_SCREENSHOT:-}" ]; then  # and the console, for the docs
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
    --user-data-dir="$W/chrome-shot2" --window-size=1440,1100 --virtual-time-budget=8000 \
    --screenshot="${SHOT%.png}-console.png" "$URL/ui/#token=$ADMIN&console=$CONSOLE_ID&tenant=acme" > "$W/shot2.log" 2>&1
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
    --user-data-dir="$W/chrome-shot3" --window-size=1440,1700 --virtual-time-budget=8000 \
    --screenshot="${SHOT%.png}-full.png" "$URL/ui/#token=$ADMIN" > "$W/shot3.log" 2>&1
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
    --user-data-dir="$W/chrome-shot4" --window-size=1200,900 --virtual-time-budget=8000 \
    --screenshot="${SHOT%.png}-tenant.png" "$URL/ui/#token=$GLOBEX" > "$W/shot4.log" 2>&1
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
    --user-data-dir="$W/chrome-shot5" --window-size=1200,800 --virtual-time-budget=4000 \
    --screenshot="${SHOT%.png}-login.png" "$URL/ui/" > "$W/shot5.log" 2>&1
fi
say "PASS"
