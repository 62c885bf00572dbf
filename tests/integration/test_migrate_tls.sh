#!/usr/bin/env bash
# Live migration over TLS with mutual authentication (docs/migration.md, "TLS"): a Linux guest
# running nimbus-bench in emulate mode;
#   1. a source whose certificate another CA signed is refused by a `--incoming tls:` destination
#      (which exits 2 naming the certificate) and `nimbus migrate` exits 1 saying so and that the
#      VM runs on here, which it does;
#   2. a plain tcp source to the same kind of destination is refused too, the VM runs on;
#   3. with certificates of the cloud's CA the VM moves over TLS and the destination prints the
#      checksum the benchmark computes natively; as root, that destination runs jailed (--jail:
#      its TLS relay crosses into the namespaces, and it runs as nobody).
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = nimbus ] || skip "live migration is a nimbus feature"
require_guests kernel initramfs bench
command -v openssl > /dev/null || skip "openssl not installed"
rounds=24   # the guest still runs its benchmark after the two refused attempts, even on a loaded host
native_sum="$("$NIMBUS_GUEST_BENCH_NATIVE" "$rounds" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ -n "$native_sum" ] || fail "native benchmark printed no checksum"

pki="$TEST_WORK/pki"; mkdir -p "$pki"
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/$1.key" \
         -out "$pki/$1.crt" -days 2 -subj "/CN=$1" 2>/dev/null; }
cert() {   # NAME CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/$1.key" -out "$pki/$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.crt" -CAkey "$pki/$2.key" -CAcreateserial -days 2 \
    -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
}
ca ca && ca other && cert dst ca && cert src ca && cert rogue other || fail "openssl could not make the certificates"
tls_of() { echo "--tls-cert $pki/$1.crt --tls-key $pki/$1.key --tls-ca $pki/ca.crt"; }

wait_for() {   # FILE PATTERN SECONDS
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -aq "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
port_of() { sed -n 's/.*waiting for an incoming migration on tls:127.0.0.1:\([0-9]*\).*/\1/p' "$1" | head -1; }
start_destination() {   # NAME [OPTIONS...]: a VMM waiting with TLS on a free port; sets dst_pid and dst_port
  local name="$1"; shift
  # shellcheck disable=SC2046
  "$NIMBUS_BIN" run --incoming tls:127.0.0.1:0 $(tls_of dst) --console-stdout --state-dir "$TEST_WORK/$name" \
    --timeout 120 "$@" > "$TEST_WORK/$name.log" 2> "$TEST_WORK/$name.err" &
  dst_pid=$!
  wait_for "$TEST_WORK/$name.err" 'waiting for an incoming' 10 || { cat "$TEST_WORK/$name.err"; fail "$name does not listen"; }
  dst_port="$(port_of "$TEST_WORK/$name.err")"
}

say "source: boot, start the benchmark"
"$NIMBUS_BIN" run --virt emulate --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds" \
  --mem 256M --console-stdout --state-dir "$TEST_WORK/src" --timeout 120 > "$TEST_WORK/src.log" 2> "$TEST_WORK/src.err" &
src_pid=$!
wait_for "$TEST_WORK/src.log" 'mode bench' 40 || { tail "$TEST_WORK/src.log"; fail "guest did not start the benchmark"; }

say "1: a source with a certificate of another CA"
start_destination rogue
# shellcheck disable=SC2046
"$NIMBUS_BIN" migrate vm --to "tls:127.0.0.1:$dst_port" --tls-cert "$pki/rogue.crt" --tls-key "$pki/rogue.key" \
  --tls-ca "$pki/ca.crt" --state-dir "$TEST_WORK/src" > "$TEST_WORK/m1.out" 2>&1 \
  && fail "migrate with an untrusted certificate succeeded: $(cat "$TEST_WORK/m1.out")"
grep -q "refused this side's certificate" "$TEST_WORK/m1.out" && grep -q "runs on here" "$TEST_WORK/m1.out" \
  || fail "migrate said: $(cat "$TEST_WORK/m1.out")"
wait "$dst_pid"
status=$?
[ "$status" -eq 2 ] || fail "the destination exited with $status for an untrusted source, expected 2"
grep -q "the source's certificate is not accepted" "$TEST_WORK/rogue.err" || { cat "$TEST_WORK/rogue.err"; fail "no clear message"; }
grep -q "incoming VM" "$TEST_WORK/rogue.err" && fail "the destination read the untrusted source's stream"
kill -0 "$src_pid" 2>/dev/null || fail "the source VMM stopped"
say "ok: source: $(cat "$TEST_WORK/m1.out")"
say "ok: destination exit 2: $(grep 'not accepted' "$TEST_WORK/rogue.err")"

say "2: a plain tcp source"
start_destination plain
"$NIMBUS_BIN" migrate vm --to "tcp:127.0.0.1:$dst_port" --state-dir "$TEST_WORK/src" > "$TEST_WORK/m2.out" 2>&1 \
  && fail "a plain migration to a TLS destination succeeded: $(cat "$TEST_WORK/m2.out")"
grep -q "runs on here" "$TEST_WORK/m2.out" || fail "migrate said: $(cat "$TEST_WORK/m2.out")"
wait "$dst_pid"
status=$?
[ "$status" -eq 2 ] || fail "the destination exited with $status for a plain source, expected 2"
grep -q "TLS handshake with the source failed" "$TEST_WORK/plain.err" || { cat "$TEST_WORK/plain.err"; fail "no clear message"; }
kill -0 "$src_pid" 2>/dev/null || fail "the source VMM stopped"
say "ok: $(grep 'TLS' "$TEST_WORK/plain.err")"

say "3: migrate over TLS with the CA's certificates"
jail=()
if [ "$(id -u)" = 0 ] && unshare --mount --net --pid --fork true 2> /dev/null && id nobody > /dev/null 2>&1; then
  jail=(--jail)
  chmod 755 "$TEST_WORK"
fi
start_destination good "${jail[@]}"
# shellcheck disable=SC2046
"$NIMBUS_BIN" migrate vm --to "tls:127.0.0.1:$dst_port" $(tls_of src) --state-dir "$TEST_WORK/src" \
  > "$TEST_WORK/m3.out" 2>&1 || { cat "$TEST_WORK/m3.out" "$TEST_WORK/good.err"; fail "the TLS migration failed"; }
say "$(cat "$TEST_WORK/m3.out")"
wait "$src_pid" || fail "the source VMM exited with $? after the migration"
grep -q "left this VMM: migrated to tls:127.0.0.1:$dst_port" "$TEST_WORK/src.err" || fail "the source did not report the migration"
grep -q "the source's TLS certificate verified" "$TEST_WORK/good.err" || fail "the destination did not say it verified the source"
if [ ${#jail[@]} -gt 0 ]; then
  vmm="$(pgrep -P "$dst_pid" | head -1)"
  [ -n "$vmm" ] && grep -q "^Uid:.*$(id -u nobody)" "/proc/$vmm/status" || fail "the destination VMM does not run jailed as nobody"
  say "ok: the TLS destination runs jailed as nobody (pid $vmm)"
fi
wait "$dst_pid"
status=$?
line="$(grep -a -m1 'NIMBUS-BENCH: ' "$TEST_WORK/good.log" || true)"
[ -n "$line" ] || { tail -5 "$TEST_WORK/good.log"; cat "$TEST_WORK/good.err"; fail "no NIMBUS-BENCH line on the destination"; }
[ "$status" -eq 0 ] || fail "the destination exited with $status"
grep -aq 'NIMBUS-BENCH' "$TEST_WORK/src.log" && fail "the benchmark ended on the source too"
sum="$(echo "$line" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p')"
[ "$sum" = "$native_sum" ] || fail "checksum after the TLS migration is $sum, expected $native_sum"
say "ok: checksum $sum after a live migration over TLS, as computed natively"
say PASS
