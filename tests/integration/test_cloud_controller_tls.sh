#!/usr/bin/env bash
# The controller over HTTPS (--tls-cert/--tls-key, a self-signed certificate made here): the
# client verifies it with --ca, refuses it without (saying to pass --ca), and plain HTTP to the
# TLS port gets no answer.
source "$(dirname "$0")/lib.sh"
require_machine
source "$(dirname "$0")/cloud_lib.sh"
command -v openssl >/dev/null || skip "openssl not installed"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_WORK/key.pem" -out "$TEST_WORK/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" > /dev/null 2>&1 || skip "openssl cannot make a certificate"
start_etcd
echo "admin-secret" > "$TEST_WORK/admin.token"
"$NIMBUS_BIN" controller --etcd "$ETCD_URL" --listen 127.0.0.1:0 --url-file "$TEST_WORK/url" \
  --tls-cert "$TEST_WORK/cert.pem" --tls-key "$TEST_WORK/key.pem" --admin-token-file "$TEST_WORK/admin.token" \
  > "$TEST_WORK/controller.log" 2>&1 &
CLOUD_PIDS+=($!)
wait_until 10 "controller URL" test -s "$TEST_WORK/url"
URL=$(cat "$TEST_WORK/url")
case "$URL" in https://*) ;; *) fail "controller URL is not https: $URL" ;; esac
out=$("$NIMBUS_BIN" flavor list --url "$URL" --token admin-secret --ca "$TEST_WORK/cert.pem" 2>&1) || fail "flavor list over TLS: $out"
grep -q n1.tiny <<< "$out" || fail "no flavors over TLS: $out"
out=$("$NIMBUS_BIN" flavor list --url "$URL" --token admin-secret 2>&1) && fail "an unverified certificate was accepted"
grep -q -- "--ca" <<< "$out" || fail "the error does not say to pass --ca: $out"
curl -s --max-time 3 "http://${URL#https://}/v1/health" | grep -q ok && fail "plain HTTP answered on the TLS port"
curl -s --cacert "$TEST_WORK/cert.pem" "$URL/v1/health" | jq -e .ok >/dev/null || fail "curl --cacert /v1/health"
say "HTTPS controller at $URL: verified with --ca, refused without"
say PASS
