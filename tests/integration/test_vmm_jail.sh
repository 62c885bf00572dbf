#!/usr/bin/env bash
# `nimbus run --jail` (docs/security.md): one jailed VMM runs three Linux VMs, one per --virt
# mode, and the test checks from outside that
#  1. every thread runs as the jail user (nobody) with no capabilities, no new privileges and
#     the seccomp filter, in mount, network and PID namespaces of its own (pid 1 there) and in
#     cgroups of its own with the limits given; the process started stays outside as its keeper
#     (root, its own filter), and the cgroups go when the VMM goes;
#  2. its root holds only what it needs: its disk and state directory are there, a file next to
#     the disk and the host's /etc and /usr are not;
#  3. a snapshot into its state directory works (the directory is given to the jail user), one
#     outside is refused with a message that says why; SIGTERM stops it cleanly (130);
#  4. misuse gets a clear error: a root --jail-user, a caller without root.
# The jailed bare machine has its own test (test_bare_machine_jail.sh).
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
# Limits the VMM stays well inside: three 96 MiB guests, two host harts.
"$NIMBUS_BIN" run "${vms[@]}" --state-dir "$state" --jail --console-stdout --timeout 120 \
  --jail-memory-max 1G --jail-cpu-max 150 --jail-pids-max 200 < /dev/null > "$TEST_WORK/out" 2> "$TEST_WORK/err" &
keeper=$!
pid=""
for _ in $(seq 100); do
  pid="$(pgrep -P "$keeper" | head -1)" && [ -n "$pid" ] && break
  sleep 0.05
done
[ -n "$pid" ] || { cat "$TEST_WORK/err"; fail "the keeper started no VMM"; }
for _ in $(seq 600); do
  [ "$(grep -c 'NIMBUS-GUEST: Linux' "$TEST_WORK/out")" -ge 3 ] && break
  kill -0 "$pid" 2> /dev/null || { cat "$TEST_WORK/err"; fail "the jailed VMM exited early"; }
  sleep 0.2
done
[ "$(grep -c 'NIMBUS-GUEST: Linux' "$TEST_WORK/out")" -ge 3 ] || { tail "$TEST_WORK/out" "$TEST_WORK/err"; fail "not all three guests booted in the jail"; }
say "ok: three guests (emulate, trap, hw) booted in one jailed VMM"

nobody_uid="$(id -u nobody)"
expect_threads_run_as "$pid" "$nobody_uid"
status="/proc/$pid/status"
for field in CapEff CapPrm CapInh CapAmb; do
  [ "$(awk "/^$field:/ {print \$2}" "$status")" = 0000000000000000 ] || fail "$field is not empty: $(grep "^$field" "$status")"
done
[ "$(awk '/^NoNewPrivs:/ {print $2}' "$status")" = 1 ] || fail "NoNewPrivs is not set"
[ "$(awk '/^Seccomp:/ {print $2}' "$status")" = 2 ] || fail "the seccomp filter is not on"
for ns in mnt net ipc uts pid; do
  [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "the VMM shares the host's $ns namespace"
done
[ "$(awk '/^NSpid:/ {print $NF}' "$status")" = 1 ] || fail "the VMM is not pid 1 of its namespace: $(grep NSpid "$status")"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$state/stats.json")" = "$pid" ] \
  || fail "stats.json does not give the VMM's pid as the host sees it"
say "ok: $(ls /proc/"$pid"/task | wc -l) threads as nobody, no capabilities, seccomp on, own mnt/net/ipc/uts/pid namespaces (pid 1 inside)"

# Its cgroups: the VMM alone in a group per limit, with the values asked for (v2 or v1).
# The directory of each of its groups: the hierarchy's mount point (mountinfo) + its path.
mapfile -t groups < <(python3 - "$pid" <<'PY'
import sys
mounts = []
for line in open("/proc/self/mountinfo"):
    f = line.split()
    d = f.index("-")
    if f[d + 1] in ("cgroup", "cgroup2") and f[3] == "/":
        mounts.append((f[d + 1], f[4], set(f[d + 3].split(","))))
for line in open(f"/proc/{sys.argv[1]}/cgroup"):
    _, controllers, path = line.rstrip("\n").split(":", 2)
    if "/nimbus/vmm-" not in path:
        continue
    for kind, mount, options in mounts:
        if (kind == "cgroup2") == (controllers == "") and (kind == "cgroup2" or set(controllers.split(",")) <= options):
            print(mount + path)
            break
PY
)
[ ${#groups[@]} -ge 1 ] || fail "the VMM is in no cgroup of its own: $(cat "/proc/$pid/cgroup")"
seen=""
for dir in "${groups[@]}"; do
  [ "$(cat "$dir/cgroup.procs")" = "$pid" ] || fail "$dir holds $(cat "$dir/cgroup.procs" | tr '\n' ' ')"
  [ -f "$dir/memory.max" ] && { [ "$(cat "$dir/memory.max")" = 1073741824 ] || fail "memory.max $(cat "$dir/memory.max")"; seen+=" memory"; }
  [ -f "$dir/memory.limit_in_bytes" ] && { [ "$(cat "$dir/memory.limit_in_bytes")" = 1073741824 ] || fail "memory limit $(cat "$dir/memory.limit_in_bytes")"; seen+=" memory"; }
  [ -f "$dir/cpu.max" ] && { [ "$(cat "$dir/cpu.max")" = "150000 100000" ] || fail "cpu.max $(cat "$dir/cpu.max")"; seen+=" cpu"; }
  [ -f "$dir/cpu.cfs_quota_us" ] && { [ "$(cat "$dir/cpu.cfs_quota_us")" = 150000 ] || fail "cfs quota $(cat "$dir/cpu.cfs_quota_us")"; seen+=" cpu"; }
  [ -f "$dir/pids.max" ] && { [ "$(cat "$dir/pids.max")" = 200 ] || fail "pids.max $(cat "$dir/pids.max")"; seen+=" pids"; }
done
for c in memory cpu pids; do case "$seen" in *"$c"*) ;; *) fail "no $c limit in ${groups[*]}" ;; esac; done
kstatus="/proc/$keeper/status"
[ "$(awk '/^Uid:/ {print $2}' "$kstatus")" = 0 ] && [ "$(awk '/^Seccomp:/ {print $2}' "$kstatus")" = 2 ] \
  || fail "the keeper is not root under its own filter"
say "ok: cgroups${seen} hold the VMM alone with the limits given; the keeper $keeper is root under its own filter"

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

kill -TERM "$keeper"   # as a shell or the host agent would: the keeper forwards it
set +e
wait "$keeper"
code=$?
set -e
[ "$code" = 130 ] || { tail "$TEST_WORK/err"; fail "SIGTERM gave exit $code, expected 130"; }
grep -q 'sandbox' "$TEST_WORK/err" && { cat "$TEST_WORK/err"; fail "the seccomp filter stopped the jailed VMM"; }
for dir in "${groups[@]}"; do [ ! -d "$dir" ] || fail "$dir was left behind"; done
say "ok: SIGTERM to the keeper stopped the jailed VMM with 130; its cgroups are gone"

# kill -9 of the keeper takes the VMM with it (parent-death signal, re-armed after the drop).
"$NIMBUS_BIN" run --vm "$TEST_WORK/trap.toml" --state-dir "$TEST_WORK/s4" --jail --timeout 60 < /dev/null \
  > "$TEST_WORK/out4" 2> "$TEST_WORK/err4" &
keeper=$!
for _ in $(seq 200); do [ -f "$TEST_WORK/s4/stats.json" ] && break; sleep 0.05; done
pid="$(pgrep -P "$keeper" | head -1)"
[ -n "$pid" ] || { cat "$TEST_WORK/err4"; fail "no second jailed VMM"; }
kill -KILL "$keeper"
for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.05; done
! kill -0 "$pid" 2> /dev/null || fail "the VMM $pid outlived its keeper"
say "ok: kill -9 of the keeper ended its VMM"

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
expect_refused "root as jail user" "unprivileged" "$NIMBUS_BIN" run --vm "$TEST_WORK/trap.toml" --state-dir "$TEST_WORK/s2" \
  --jail --jail-user root --timeout 5
chmod 755 "$TEST_WORK"
expect_refused "without root" "needs root" setpriv --reuid="$nobody_uid" --regid="$(id -g nobody)" --clear-groups \
  "$NIMBUS_BIN" run --vm "$TEST_WORK/trap.toml" --state-dir "$TEST_WORK/s3" --jail --timeout 5
