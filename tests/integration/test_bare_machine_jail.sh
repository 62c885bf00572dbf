#!/usr/bin/env bash
# `nimbus run --jail` of the bare machine (no --vm: a program on the board; docs/security.md).
# A bare-metal program waits for a key while the test checks from outside that the machine runs
#  1. as the jail user (nobody) in every thread, with no capabilities, under the seccomp filter,
#     as pid 1 of its own PID namespace (its keeper, root under a filter of its own, outside), in
#     mount and network namespaces of its own and a cgroup of its own;
#  2. in a root that holds its program and drive but not a file next to them, /etc or /usr;
# then the key reaches the guest and its verdict comes back through the keeper: 'p' passes
# (exit 0), another key fails (exit 3). A guest that reboots gets a fresh machine, built as the
# jail user from the files in the jail, until the timeout; a drive that user cannot write ends
# the run at the reboot with a message (it is not quietly attached read-only). Misuse gets a clear error: --gdb
# without the host's network, a caller without root.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a jail test: no QEMU equivalent"
require_machine
[ "$(id -u)" = 0 ] || skip "--jail needs root: it makes namespaces and then drops to --jail-user (run as root)"
command -v riscv64-linux-gnu-gcc > /dev/null || skip "riscv64-linux-gnu-gcc not installed (scripts/install-deps.sh)"
unshare --mount --net --pid --fork true 2> /dev/null || skip "this machine does not allow new mount, network and PID namespaces"
id nobody > /dev/null 2>&1 || skip "no user 'nobody'"

program="$TEST_WORK/wait_for_key.elf"
build_bare_metal "$program" "$NIMBUS_SOURCE_DIR/tests/integration/programs/wait_for_key.c" || fail "could not build the program"
truncate -s 1M "$TEST_WORK/drive.img"
echo "not for the machine" > "$TEST_WORK/secret"
run=("$NIMBUS_BIN" run --bios none --kernel "$program" --drive "$TEST_WORK/drive.img" --timeout 10 --jail)

# The guest's input: a FIFO the test holds open, so the guest waits until the test writes.
mkfifo "$TEST_WORK/keys"
exec 3<> "$TEST_WORK/keys"
: > "$TEST_WORK/out"   # there before the machine starts: the wait below reads it at once
"${run[@]}" --jail-pids-max 64 <&3 > "$TEST_WORK/out" 2> "$TEST_WORK/err" &
keeper=$!
for _ in $(seq 100); do
  grep -q 'NIMBUS-WAIT: waiting' "$TEST_WORK/out" && break
  kill -0 "$keeper" 2> /dev/null || { cat "$TEST_WORK/err"; fail "the jailed machine exited early"; }
  sleep 0.05
done
grep -q 'NIMBUS-WAIT: waiting' "$TEST_WORK/out" || { cat "$TEST_WORK/out" "$TEST_WORK/err"; fail "the guest never ran"; }
pid="$(pgrep -P "$keeper" | head -1)"
[ -n "$pid" ] || fail "the keeper $keeper has no machine process"

nobody_uid="$(id -u nobody)"
expect_threads_run_as "$pid" "$nobody_uid"
status="/proc/$pid/status"
[ "$(awk '/^CapEff:/ {print $2}' "$status")" = 0000000000000000 ] || fail "capabilities left: $(grep CapEff "$status")"
[ "$(awk '/^Seccomp:/ {print $2}' "$status")" = 2 ] || fail "the seccomp filter is not on: $(grep Seccomp "$status")"
[ "$(awk '/^NSpid:/ {print $NF}' "$status")" = 1 ] || fail "not pid 1 of its own namespace: $(grep NSpid "$status")"
for ns in pid mnt net; do
  [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "the machine shares the host's $ns namespace"
done
grep -q "/nimbus/vmm-$pid\$" "/proc/$pid/cgroup" || fail "not in a cgroup of its own: $(cat "/proc/$pid/cgroup")"
kstatus="/proc/$keeper/status"
[ "$(awk '/^Uid:/ {print $2}' "$kstatus")" = 0 ] && [ "$(awk '/^Seccomp:/ {print $2}' "$kstatus")" = 2 ] \
  || fail "the keeper is not root under its own filter"
say "ok: $(ls /proc/"$pid"/task | wc -l) threads as nobody (uid $nobody_uid), no capabilities, Seccomp 2, pid 1 of its own PID namespace, own mnt/net namespaces and cgroup; keeper root under its filter"

root="/proc/$pid/root"
[ -f "$root$program" ] && [ -f "$root$TEST_WORK/drive.img" ] || fail "the program or the drive is not in the jail"
for absent in "$TEST_WORK/secret" /etc/passwd /usr; do
  [ ! -e "$root$absent" ] || fail "the jail shows $absent"
done
say "ok: the jail's root has the program and the drive, and not $TEST_WORK/secret, /etc or /usr"

printf p >&3
wait "$keeper"
code=$?
exec 3>&-
[ "$code" = 0 ] && grep -q 'NIMBUS-WAIT: got p' "$TEST_WORK/out" && grep -q DONE "$TEST_WORK/out" \
  || { cat "$TEST_WORK/out" "$TEST_WORK/err"; fail "the jailed guest's pass gave exit $code"; }
grep -q sandbox "$TEST_WORK/err" && { cat "$TEST_WORK/err"; fail "the seccomp filter stopped the jailed machine"; }
printf x | "${run[@]}" > "$TEST_WORK/out2" 2> "$TEST_WORK/err2"
code=$?
[ "$code" = 3 ] || { cat "$TEST_WORK/out2" "$TEST_WORK/err2"; fail "the jailed guest's failure gave exit $code, expected 3"; }
say "ok: the guest's verdicts come back through the keeper: pass 0, fail 3"

# lui t0,0x100; lui t1,0x7; addi t1,t1,0x777; sw t1,0(t0): 0x7777 to the syscon, a reboot, forever.
python3 -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<5I", 0x001002b7, 0x00007337, 0x77730313, 0x0062a023, 0x6f))' \
  "$TEST_WORK/reboot.bin"
reboot=(timeout --signal=KILL 20 "$NIMBUS_BIN" run --bios none --kernel "$TEST_WORK/reboot.bin" --drive "$TEST_WORK/drive.img"
        --timeout 1 --jail)
"${reboot[@]}" < /dev/null > "$TEST_WORK/out3" 2> "$TEST_WORK/err3"
code=$?
[ "$code" = 2 ] && grep -q 'cannot open the drive for writing again after the reboot' "$TEST_WORK/err3" \
  && grep -q "as --jail-user 'nobody'" "$TEST_WORK/err3" \
  || { cat "$TEST_WORK/err3"; fail "a jailed reboot with a drive nobody cannot write gave exit $code, expected 2 and why"; }
say "ok: a jailed reboot with a drive the jail user cannot write stops: $(head -1 "$TEST_WORK/err3")"
chown nobody "$TEST_WORK/drive.img"
"${reboot[@]}" < /dev/null > "$TEST_WORK/out3" 2> "$TEST_WORK/err3"
code=$?
[ "$code" = 124 ] && grep -q 'while rebooting' "$TEST_WORK/err3" \
  || { cat "$TEST_WORK/err3"; fail "a jailed guest rebooting forever gave exit $code, expected 124 at the timeout"; }
say "ok: a jailed guest that reboots gets fresh machines as nobody until the timeout: $(head -1 "$TEST_WORK/err3")"

# expect_refused WHAT TEXT CMD...: exit 2 and TEXT in the message.
expect_refused() {
  local what="$1" text="$2"; shift 2
  "$@" < /dev/null > "$TEST_WORK/refused.out" 2>&1
  local code=$?
  [ "$code" = 2 ] && grep -q -- "$text" "$TEST_WORK/refused.out" \
    || { cat "$TEST_WORK/refused.out"; fail "$what: exit $code, expected 2 and '$text'"; }
  say "ok: $what: $(head -1 "$TEST_WORK/refused.out")"
}
expect_refused "gdb in an empty network namespace" "jail-network host" "${run[@]}" --gdb tcp:127.0.0.1:0
expect_refused "without root" "needs root" setpriv --reuid="$nobody_uid" --regid="$(id -g nobody)" --clear-groups "${run[@]}"
