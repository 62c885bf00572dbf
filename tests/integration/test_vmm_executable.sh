#!/usr/bin/env bash
# `nimbus run` becomes `nimbus-vmm run` (docs/architecture.md, "The VMM process"): the same
# process (a parent's pid and waitpid hold), the same command line (pgrep -f "nimbus run" finds
# it), without the control plane's libraries mapped, and OpenSSL mapped only when a tunnel key
# (or TLS) asks for it. With NIMBUS_VMM_IN_PROCESS=1 it stays `nimbus`. A bare-metal program
# waits for a key while the test looks at the running machine.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "about Nimbus's executables: no QEMU equivalent"
require_machine
command -v riscv64-linux-gnu-gcc > /dev/null || skip "riscv64-linux-gnu-gcc not installed (scripts/install-deps.sh)"
vmm="$(dirname "$NIMBUS_BIN")/nimbus-vmm"
[ -x "$vmm" ] || fail "no nimbus-vmm beside $NIMBUS_BIN (the nimbus target builds it)"

program="$TEST_WORK/wait_for_key.elf"
build_bare_metal "$program" "$NIMBUS_SOURCE_DIR/tests/integration/programs/wait_for_key.c" || fail "could not build the program"

# check_run EXPECTED_EXE KEY EXPECTED_STATUS [env...]: runs the program (with the options in
# the array extra, if any), checks the running process's executable, command line and maps
# (OpenSSL mapped if and only if openssl=yes), sends KEY and checks the exit status.
extra=()
openssl=no
check_run() {
  local expected_exe="$1" key="$2" expected_status="$3"
  shift 3
  rm -f "$TEST_WORK/keys"
  mkfifo "$TEST_WORK/keys"
  exec 3<> "$TEST_WORK/keys"
  : > "$TEST_WORK/out"
  env "$@" "$NIMBUS_BIN" run --bios none --kernel "$program" --timeout 20 "${extra[@]}" <&3 > "$TEST_WORK/out" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do
    grep -q 'NIMBUS-WAIT: waiting' "$TEST_WORK/out" && break
    kill -0 "$pid" 2> /dev/null || { cat "$TEST_WORK/out"; fail "the machine exited early"; }
    sleep 0.05
  done
  grep -q 'NIMBUS-WAIT: waiting' "$TEST_WORK/out" || { cat "$TEST_WORK/out"; fail "the guest never ran"; }
  local exe
  exe="$(readlink "/proc/$pid/exe")"
  [ "$exe" = "$(readlink -f "$expected_exe")" ] || fail "pid $pid runs $exe, expected $expected_exe"
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "^$NIMBUS_BIN run --bios none --kernel $program " ||
    fail "the command line changed: $(tr '\0' ' ' < "/proc/$pid/cmdline")"
  pgrep -f "nimbus run --bios none --kernel $program" | grep -qx "$pid" || fail "pgrep -f 'nimbus run' does not find $pid"
  if [ "$expected_exe" = "$vmm" ]; then
    if grep -E 'libCbc|libClp|libcpp-httplib|liblapack|libgfortran' "/proc/$pid/maps" > "$TEST_WORK/libs"; then
      fail "the VMM maps control-plane libraries: $(awk '{print $6}' "$TEST_WORK/libs" | sort -u | tr '\n' ' ')"
    fi
    local mapped=no
    grep -qE 'libssl|libcrypto' "/proc/$pid/maps" && mapped=yes
    [ "$mapped" = "$openssl" ] || fail "OpenSSL mapped: $mapped, expected $openssl (options: ${extra[*]:-none})"
  fi
  printf '%s' "$key" >&3
  local status=0
  wait "$pid" || status=$?
  exec 3>&-
  [ "$status" = "$expected_status" ] || { cat "$TEST_WORK/out"; fail "exit status $status, expected $expected_status"; }
  grep -q "NIMBUS-WAIT: got $key" "$TEST_WORK/out" || { cat "$TEST_WORK/out"; fail "the key did not reach the guest"; }
}

check_run "$vmm" p 0
say "nimbus run is nimbus-vmm: same pid, same command line, no control-plane libraries; the verdict passes through"
check_run "$vmm" x 3
say "a failing guest's exit status passes through too"
check_run "$NIMBUS_BIN" p 0 NIMBUS_VMM_IN_PROCESS=1
say "NIMBUS_VMM_IN_PROCESS=1 runs it in nimbus's own process"
# A tunnel with a key: OpenSSL is loaded (at setup, before any sandbox or jail), and only then.
head -c 32 /dev/urandom | base64 > "$TEST_WORK/tunnel.key"
chmod 600 "$TEST_WORK/tunnel.key"
port=$((20000 + RANDOM % 20000))
extra=(--net n0 --net-tunnel "udp:$port,peer=127.0.0.1:$((port + 1)),key=$TEST_WORK/tunnel.key")
openssl=yes
check_run "$vmm" p 0
say "with a tunnel key the VMM loads OpenSSL; without, it never maps it"
# A nimbus-vmm from another build beside nimbus (binaries copied to compare two builds): nimbus
# reads its stamp, says so and runs the command itself. The other builds are copies of this
# nimbus-vmm with the stamp (--version shows its start) rewritten, and with no stamp section (a
# build from before stamps); a copy beside it unchanged must run quietly.
stamp="$("$NIMBUS_BIN" --version | sed -n 's/.*(VMM build \([0-9a-f]*\)).*/\1/p')"
[ ${#stamp} = 12 ] || fail "nimbus --version shows no VMM build stamp: $("$NIMBUS_BIN" --version)"
copies="$TEST_WORK/copies"
mkdir -p "$copies"
cp "$NIMBUS_BIN" "$vmm" "$copies/"
copied_vmm="$(readlink -f "$copies")/nimbus-vmm"
out="$("$copies/nimbus" run --help 2>&1)" || fail "a copied nimbus run --help failed: $out"
grep -q "another build" <<< "$out" && fail "nimbus and nimbus-vmm of one build disagree: $out"
# other_build PERL_SUBSTITUTION EXPECTED_STAMP: rewrites the copied nimbus-vmm and checks the verdict.
other_build() {
  cp "$vmm" "$copies/nimbus-vmm"
  LC_ALL=C perl -pi -e "$1" "$copies/nimbus-vmm"
  out="$("$copies/nimbus" run --help 2>&1)" || fail "nimbus run --help beside another build's VMM failed: $out"
  grep -qF "nimbus: $copied_vmm is from another build (VMM build $2, not $stamp)" <<< "$out" ||
    fail "no word of the other build's nimbus-vmm ($1): $out"
  grep -q "^Usage: nimbus run" <<< "$out" || fail "the command did not run in nimbus itself: $out"
}
other_build "s/$stamp([0-9a-f]{52})/0123456789ab\\1/g" 0123456789ab
other_build 's/\.nimbus_vmm_stamp/.nimbus_vmm_stamq/g' unknown
say "a nimbus-vmm of another build beside nimbus is named and not run"
# Help and usage errors are the run command's, with the command as typed.
help="$("$NIMBUS_BIN" run --help)" || fail "nimbus run --help failed"
grep -q "^Usage: nimbus run" <<< "$help" || fail "nimbus run --help is not the run command's help"
out="$("$NIMBUS_BIN" run --no-such-option 2>&1)"; status=$?
[ "$status" = 2 ] || fail "a usage error exits $status, expected 2"
grep -q "see: nimbus run --help" <<< "$out" || fail "usage error says: $out"
say "PASS"
