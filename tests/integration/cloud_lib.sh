# shellcheck shell=bash
# Shared by the cloud integration tests (test_cloud_*.sh), sourced after lib.sh: a real etcd on
# random loopback ports with a temporary data dir, helpers to wait, and cleanup of every process
# the test started (etcd, agents, and any VMM left behind) on exit.
command -v etcd >/dev/null || skip "etcd not installed (Debian etcd-server)"
command -v etcdctl >/dev/null || skip "etcdctl not installed (Debian etcd-client)"
command -v curl >/dev/null || skip "curl not installed"

CLOUD_PIDS=()
cloud_cleanup() {
  exec 2>/dev/null  # no "Killed" job notices
  local p
  for p in "${CLOUD_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  # Any VMM started under this test's directory (they die with their agent; this is a safety net).
  for p in $(pgrep -f "nimbus run --vm $TEST_WORK/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  rm -rf "$TEST_WORK"
}
trap cloud_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_etcd: sets ETCD_PID, ETCD_URL and the etcdctl wrapper `ectl`.
start_etcd() {
  local cport pport
  cport=$(free_port); pport=$(free_port)
  while [ "$pport" = "$cport" ]; do pport=$(free_port); done
  ETCD_URL="http://127.0.0.1:$cport"
  etcd --name t --data-dir "$TEST_WORK/etcd" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "t=http://127.0.0.1:$pport" --log-level warn --logger zap > "$TEST_WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  CLOUD_PIDS+=("$ETCD_PID")
  local i
  for i in $(seq 1 100); do
    curl -sf "$ETCD_URL/health" 2>/dev/null | grep -q true && return 0
    kill -0 "$ETCD_PID" 2>/dev/null || { cat "$TEST_WORK/etcd.log"; fail "etcd exited at start"; }
    sleep 0.1
  done
  fail "etcd not healthy within 10 s"
}

ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" --command-timeout=3s "$@"; }

# test_pki DIR NAME...: a test CA (DIR/ca.crt, ca.key) and for each NAME a P-256 key and a
# certificate for 127.0.0.1 and localhost it signed, for server and client use (DIR/NAME.crt, .key).
test_pki() {
  local dir="$1" name; shift
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 2 \
    -subj "/CN=nimbus-test-ca" 2>/dev/null || fail "openssl could not make a CA"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$dir/ext"
  for name in "$@"; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" \
      -subj "/CN=$name" 2>/dev/null &&
      openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
        -extfile "$dir/ext" -out "$dir/$name.crt" 2>/dev/null || fail "openssl could not sign a certificate for $name"
  done
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
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

# vmm_pids DIR: pids of VMM processes whose command line names DIR, one per line (a jailed VMM
# counts twice: its keeper and itself).
vmm_pids() { pgrep -f "nimbus run --vm $1" || true; }
no_vmm() { [ -z "$(vmm_pids "$1")" ]; }
some_vmm() { [ -n "$(vmm_pids "$1")" ]; }

# api SOCKET METHOD PATH [curl args...]: sets API_BODY and API_STATUS (no subshell, so the
# caller sees both). apiget prints the body, for pipes.
api() {
  local socket="$1" method="$2" path="$3"; shift 3
  local out
  out=$(curl -s --max-time 10 --unix-socket "$socket" -X "$method" -w '\n%{http_code}' "http://agent$path" "$@")
  API_STATUS="${out##*$'\n'}"
  API_BODY="${out%$'\n'*}"
}
apiget() { api "$@"; printf '%s' "$API_BODY"; }
# vm_state SOCKET ID: the VM's top-level state on that agent (not its spec's desired "state"),
# empty when the agent does not answer 200.
vm_state() {
  api "$1" GET "/v1/vms/$2"
  [ "$API_STATUS" = 200 ] || return 0
  python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])' <<< "$API_BODY"
}

# linux_spec ID [GENERATION]: a VM spec for the test Linux guest, 64 MiB, 1 vCPU, emulate mode.
linux_spec() {
  local id="$1" gen="${2:-1}"
  printf '{"id":"%s","generation":%s,"vcpus":1,"memory_mib":64,"mode":"emulate","kernel":"%s","initrd":"%s","append":"console=ttyS0"}' \
    "$id" "$gen" "$NIMBUS_GUEST_KERNEL" "$NIMBUS_GUEST_INITRD"
}

# start_agent NAME [options...]: runs `nimbus host` with --dir $TEST_WORK/NAME, sets AGENT_PID and
# AGENT_SOCK (the API socket), output in $TEST_WORK/NAME.out and .err.
start_agent() {
  local name="$1"; shift
  AGENT_SOCK="$TEST_WORK/$name/agent.sock"
  "$NIMBUS_BIN" host --name "$name" --dir "$TEST_WORK/$name" "$@" > "$TEST_WORK/$name.out" 2> "$TEST_WORK/$name.err" &
  AGENT_PID=$!
  CLOUD_PIDS+=("$AGENT_PID")
  wait_until 10 "the agent's API socket" test -S "$AGENT_SOCK"
}
