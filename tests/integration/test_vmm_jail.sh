#!/usr/bin/env bash
# `nimbus run --jail` (docs/security.md): one jailed VMM runs three Linux VMs, one per --virt
# mode, and the test checks from outside that
#  1. every thread runs as the jail user (nobody) with no capabilities, no new privileges and
#     the seccomp filter, in mount and network namespaces of its own;
#  2. its root holds only what it needs: its disk and state directory are there, a file next to
#     the disk and the host's /etc and /usr are not;
#  3. a snapshot into its state directory works (the directory is given to the jail user), one
#     outside is refused with a message that says why; SIGTERM stops it cleanly (130);
#  4. misuse gets a clear error: the bare machine, a root --jail-user, a caller without root.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
[ "$(id -u)" = 0 ] || skip "--jail needs root"
unshare --mount --net true 2> /dev/null || skip "this machine does not allow new mount and network namespaces"
id nobody > /dev/null 2>&1 || skip "no user 'nobody'"

state="$TEST_WORK/state"
truncate -s 8M "$TEST_WORK/disk.img"
echo "not for the VMM" > "$TEST_WORK/secret"
vms=()
for mode in emulate trap hw; do
  disk=""
  [ "$mode" = emulate ] && disk="disk = \"$TEST_WORK/disk.img\""
  cat > "$TEST_WORK/$mode.toml" <<TOML
name = "$mode"
mode = "$mode"
memory = "96M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0"
$disk
TOML
  vms+=(--vm "$TEST_WORK/$mode.toml")
done
"$NIMBUS_BIN" run "${vms[@]}" --state-dir "$state" --jail --console-stdout --timeout 120 < /dev/null \
  > "$TEST_WORK/out" 2> "$TEST_WORK/err" &
pid=$!
for _ in $(seq 600); do
  [ "$(grep -c 'NIMBUS-GUEST: Linux' "$TEST_WORK/out")" -ge 3 ] && break
  kill -0 "$pid" 2> /dev/null || { cat "$TEST_WORK/err"; fail "the jailed VMM exited early"; }
  sleep 0.2
done
[ "$(grep -c 'NIMBUS-GUEST: Linux' "$TEST_WORK/out")" -ge 3 ] || { tail "$TEST_WORK/out" "$TEST_WORK/err"; fail "not all three guests booted in the jail"; }
say "ok: three guests (emulate, trap, hw) booted in one jailed VMM"

nobody_uid="$(id -u nobody)"
for task in /proc/"$pid"/task/*; do
  uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$task/status")"
  [ "$uids" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] || fail "thread ${task##*/} runs as uids '$uids'"
done
status="/proc/$pid/status"
for field in CapEff CapPrm CapInh CapAmb; do
  [ "$(awk "/^$field:/ {print \$2}" "$status")" = 0000000000000000 ] || fail "$field is not empty: $(grep "^$field" "$status")"
done
[ "$(awk '/^NoNewPrivs:/ {print $2}' "$status")" = 1 ] || fail "NoNewPrivs is not set"
[ "$(awk '/^Seccomp:/ {print $2}' "$status")" = 2 ] || fail "the seccomp filter is not on"
for ns in mnt net ipc uts; do
  [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "the VMM shares the host's $ns namespace"
done
say "ok: $(ls /proc/"$pid"/task | wc -l) threads as nobody, no capabilities, seccomp on, own mnt/net/ipc/uts namespaces"

root="/proc/$pid/root"
[ -f "$root$TEST_WORK/disk.img" ] || fail "the disk is not in the jail"
[ -d "$root$state" ] || fail "the state directory is not in the jail"
[ -f "$root$NIMBUS_GUEST_KERNEL" ] || fail "the kernel is not in the jail"
for absent in "$TEST_WORK/secret" "$TEST_WORK/emulate.toml" /etc/passwd /usr /bin; do
  [ ! -e "$root$absent" ] || fail "the jail shows $absent"
done
[ "$(stat -c %U "$state")" = nobody ] || fail "the state directory was not given to the jail user"
say "ok: the jail's root has the disk, kernel and state directory, and not $TEST_WORK/secret, /etc or /usr"

"$NIMBUS_BIN" snapshot emulate --to "$state/snap" --state-dir "$state" > "$TEST_WORK/snap.out" 2>&1 \
  || { cat "$TEST_WORK/snap.out"; fail "a snapshot into the state directory failed"; }
[ -f "$state/snap/state" ] && [ "$(stat -c %U "$state/snap/state")" = nobody ] || fail "the snapshot was not written by the jail user"
set +e
"$NIMBUS_BIN" snapshot emulate --to "$TEST_WORK/elsewhere" --state-dir "$state" > "$TEST_WORK/snap2.out" 2>&1
code=$?
set -e
[ "$code" = 2 ] && grep -q 'jailed' "$TEST_WORK/snap2.out" || { cat "$TEST_WORK/snap2.out"; fail "a snapshot outside the jail gave exit $code"; }
say "ok: snapshot in the state directory written by nobody; outside refused: $(cat "$TEST_WORK/snap2.out")"

kill -TERM "$pid"
set +e
wait "$pid"
code=$?
set -e
[ "$code" = 130 ] || { tail "$TEST_WORK/err"; fail "SIGTERM gave exit $code, expected 130"; }
grep -q 'sandbox' "$TEST_WORK/err" && { cat "$TEST_WORK/err"; fail "the seccomp filter stopped the jailed VMM"; }
say "ok: SIGTERM stopped the jailed VMM with 130"

# expect_refused WHAT TEXT CMD...: exit 2 and TEXT in the message.
expect_refused() {
  local what="$1" text="$2"; shift 2
  set +e
  "$@" < /dev/null > "$TEST_WORK/refused.out" 2>&1
  local code=$?
  set -e
  [ "$code" = 2 ] && grep -q -- "$text" "$TEST_WORK/refused.out" \
    || { cat "$TEST_WORK/refused.out"; fail "$what: exit $code, expected 2 and '$text'"; }
  say "ok: $what: $(head -1 "$TEST_WORK/refused.out")"
}
expect_refused "bare machine" "bare machine" "$NIMBUS_BIN" run --kernel "$NIMBUS_GUEST_KERNEL" --jail --timeout 5
expect_refused "root as jail user" "unprivileged" "$NIMBUS_BIN" run --vm "$TEST_WORK/trap.toml" --state-dir "$TEST_WORK/s2" \
  --jail --jail-user root --timeout 5
chmod 755 "$TEST_WORK"
expect_refused "without root" "needs root" setpriv --reuid="$nobody_uid" --regid="$(id -g nobody)" --clear-groups \
  "$NIMBUS_BIN" run --vm "$TEST_WORK/trap.toml" --state-dir "$TEST_WORK/s3" --jail --timeout 5
