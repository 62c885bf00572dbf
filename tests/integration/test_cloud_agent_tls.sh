#!/usr/bin/env bash
# TLS both ways: etcd serves HTTPS and requires client certificates; the agent reaches it with
# --etcd https://... --etcd-ca/--etcd-cert/--etcd-key, and serves its own API over HTTPS
# (--tls-cert/--tls-key) with a bearer token. Simulated VMs (no guest images needed).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a host agent test: no QEMU equivalent"
require_machine
command -v openssl >/dev/null || skip "openssl not installed"
source "$(dirname "$0")/cloud_lib.sh"

pki="$TEST_WORK/pki"
test_pki "$pki" etcd agent client

cport=$(free_port); pport=$(free_port)
ETCD_URL="https://127.0.0.1:$cport"
etcd --name t --data-dir "$TEST_WORK/etcd" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
  --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" --trusted-ca-file "$pki/ca.crt" --client-cert-auth \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "t=http://127.0.0.1:$pport" --log-level warn --logger zap > "$TEST_WORK/etcd.log" 2>&1 &
CLOUD_PIDS+=("$!")
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" --cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" --command-timeout=3s "$@"; }
healthy() { ectl endpoint health > /dev/null 2>&1; }
wait_until 15 "etcd with TLS healthy" healthy

echo "tls-token" > "$TEST_WORK/token"
start_agent t1 --simulate --etcd "$ETCD_URL" --etcd-ca "$pki/ca.crt" --etcd-cert "$pki/client.crt" --etcd-key "$pki/client.key" \
  --listen 127.0.0.1:0 --tls-cert "$pki/agent.crt" --tls-key "$pki/agent.key" --token-file "$TEST_WORK/token"
registered() { ectl get /nimbus/hosts/t1 --print-value-only | grep -q '"api":"https://127.0.0.1:'; }
wait_until 10 "hosts/t1 registered over TLS, advertising an https API" registered
say "ok: the agent registered through etcd's TLS with a client certificate"

url=$(sed -n 's/^API listening on //p' "$TEST_WORK/t1.out")
case "$url" in https://127.0.0.1:*) ;; *) fail "the TCP API is not HTTPS: '$url'";; esac
curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer tls-token" "$url/v1/host" | grep -q '"name": "t1"' \
  || fail "GET $url/v1/host over HTTPS with the token failed"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" "$url/v1/host")
[ "$code" = 401 ] || fail "HTTPS without a token: HTTP $code, expected 401"
curl -s --max-time 5 "http://${url#https://}/v1/host" > /dev/null 2>&1 && fail "plain HTTP answered on the HTTPS port"
say "ok: the agent's API answers HTTPS with the token (401 without), not plain HTTP"

ectl put /nimbus/assign/t1/v1 '{"id":"v1","vcpus":1,"memory_mib":64,"kernel":"/fake"}' > /dev/null
running() { ectl get /nimbus/vmstatus/v1 --print-value-only | grep -q '"state":"running"'; }
wait_until 10 "v1 running (watch over TLS)" running
say "ok: an assignment arrives through the TLS watch"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "agent exit code $?"
[ -z "$(ectl get /nimbus/hosts/t1 --print-value-only)" ] || fail "hosts/t1 left after SIGTERM"
say "PASS"
