#!/usr/bin/env bash
# The seccomp sandbox of `nimbus run` (docs/security.md):
#  1. a running VMM is in seccomp filter mode (/proc/PID/status "Seccomp: 2") on the bare
#     machine and under --vm in emulate, trap and hw mode; with --no-sandbox it is not (0);
#  2. a forbidden system call (hidden hook NIMBUS_TEST_FORBIDDEN_SYSCALL=1: ptrace after the
#     filter is on) ends that VMM alone with exit code 159 and a report naming the call, while
#     another VMM running next to it finishes normally;
#  3. a bare-machine reboot (Linux reboot -f typed on the console) works under the filter.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs
command -v riscv64-linux-gnu-gcc >/dev/null || skip "riscv64-linux-gnu-gcc not installed"
programs="$NIMBUS_SOURCE_DIR/tests/differential/programs"
writer="$TEST_WORK/disk_writer.elf"
riscv64-linux-gnu-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -ffreestanding -nostdlib -nostartfiles \
  -static -no-pie -fno-pic -Wl,--no-relax -Wl,--build-id=none -I "$programs" -T "$programs/link.ld" \
  -o "$writer" "$programs/crt.S" "$NIMBUS_SOURCE_DIR/tests/integration/programs/disk_writer.c" \
  || fail "could not build the writer"

# seccomp_of PID: the Seccomp field once the VMM finished its setup (polls up to 20 s for 2).
seccomp_of() {
  local value=""
  for _ in $(seq 200); do
    value="$(awk '/^Seccomp:/ {print $2}' "/proc/$1/status" 2> /dev/null)"
    [ "$value" = 2 ] && break
    sleep 0.1
  done
  echo "$value"
}

# expect_sandboxed WHAT WANT CMD...: starts CMD in the background, checks Seccomp = WANT, stops it.
expect_sandboxed() {
  local what="$1" want="$2"; shift 2
  "$@" < /dev/null > "$TEST_WORK/$what.out" 2> "$TEST_WORK/$what.err" &
  local pid=$! value status
  value="$(seccomp_of "$pid")"
  local limits
  limits="$(grep -E '^Max (core file size|open files)' "/proc/$pid/limits" 2> /dev/null | awk '{print $(NF-2)}' | tr '\n' ' ')"
  sleep 1 # let the guest run a little under the filter
  kill -TERM "$pid" 2> /dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
  status=$?
  grep -q 'sandbox' "$TEST_WORK/$what.err" && { cat "$TEST_WORK/$what.err"; fail "$what: the sandbox stopped the VMM"; }
  [ "$value" = "$want" ] || { cat "$TEST_WORK/$what.err"; fail "$what: Seccomp is '$value', expected $want"; }
  # A --vm VMM stops cleanly on SIGTERM (sockets removed, final stats written): 130.
  [[ "$what" != vm-* ]] || [ "$status" -eq 130 ] || { cat "$TEST_WORK/$what.err"; fail "$what: SIGTERM gave exit $status, expected 130"; }
  # Resource limits come with the sandbox (docs/security.md): no core dumps, few descriptors.
  if [ "$want" = 2 ]; then
    read -r core files <<< "$limits"
    [ "$core" = 0 ] && [ "$files" -lt 1024 ] || fail "$what: limits core=$core open-files=$files, expected 0 and < 1024"
  fi
  say "ok: $what: Seccomp: $value, exit $status after SIGTERM, limits (core, open files): $limits"
}

say "checking: a running VMM is in seccomp filter mode in every mode"
truncate -s 64M "$TEST_WORK/bare.img"
expect_sandboxed bare 2 "$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$TEST_WORK/bare.img" --timeout 60
expect_sandboxed bare-linux 2 "$NIMBUS_BIN" run --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0" --timeout 60
for mode in emulate trap hw; do
  cat > "$TEST_WORK/$mode.toml" <<TOML
name = "$mode"
mode = "$mode"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0"
TOML
  expect_sandboxed "vm-$mode" 2 "$NIMBUS_BIN" run --vm "$TEST_WORK/$mode.toml" --state-dir "$TEST_WORK/$mode.state" --timeout 60
done
expect_sandboxed no-sandbox 0 "$NIMBUS_BIN" run --vm "$TEST_WORK/emulate.toml" --state-dir "$TEST_WORK/ns.state" \
  --timeout 60 --no-sandbox

say "checking: a forbidden system call ends that VMM alone (exit 159, reported), its neighbour finishes"
truncate -s 1M "$TEST_WORK/good.img" "$TEST_WORK/bad.img"
"$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$TEST_WORK/good.img" --timeout 60 < /dev/null \
  > "$TEST_WORK/good.out" 2> "$TEST_WORK/good.err" &
good=$!
NIMBUS_TEST_FORBIDDEN_SYSCALL=1 "$NIMBUS_BIN" run --bios none --kernel "$writer" --drive "$TEST_WORK/bad.img" \
  --timeout 60 < /dev/null > "$TEST_WORK/bad.out" 2> "$TEST_WORK/bad.err"
bad_status=$?
printf 'name = "hooked"\nmemory = "16M"\nkernel = "%s"\nbios = "none"\n' "$writer" > "$TEST_WORK/hooked.toml"
NIMBUS_TEST_FORBIDDEN_SYSCALL=1 "$NIMBUS_BIN" run --vm "$TEST_WORK/hooked.toml" --state-dir "$TEST_WORK/hooked.state" \
  --timeout 60 < /dev/null > /dev/null 2> "$TEST_WORK/bad-vm.err"
bad_vm_status=$?
wait "$good"
good_status=$?
[ "$bad_status" -eq 159 ] || { cat "$TEST_WORK/bad.err"; fail "bare machine with the hook exited $bad_status, expected 159"; }
grep -q 'sandbox: forbidden system call ptrace (number [0-9]*)' "$TEST_WORK/bad.err" \
  || fail "no report naming ptrace: $(cat "$TEST_WORK/bad.err")"
[ "$bad_vm_status" -eq 159 ] || { cat "$TEST_WORK/bad-vm.err"; fail "--vm with the hook exited $bad_vm_status, expected 159"; }
grep -q 'sandbox: forbidden system call ptrace' "$TEST_WORK/bad-vm.err" || fail "--vm: no report naming ptrace"
say "ok: $(grep -m1 'forbidden' "$TEST_WORK/bad.err") (exit 159, bare machine and --vm)"
[ "$good_status" -eq 0 ] && grep -q '^FULL' "$TEST_WORK/good.out" \
  || { cat "$TEST_WORK/good.err"; fail "the neighbour VMM did not finish normally (exit $good_status)"; }
say "ok: the neighbour wrote its disk full and exited 0"

say "checking: a bare-machine reboot under the filter (kernel, initrd and the locked drive reopened)"
truncate -s 8M "$TEST_WORK/reboot.img"
(sleep 10; echo 'reboot -f'; sleep 15; echo 'echo second-boot-$((6*7))'; sleep 2; echo 'poweroff -f') |
  timeout 90 "$NIMBUS_BIN" run --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" --append console=ttyS0 \
    --drive "$TEST_WORK/reboot.img" --timeout 60 > "$TEST_WORK/reboot.out" 2> "$TEST_WORK/reboot.err"
reboot_status=$?
boots="$(grep -ac 'Linux version' "$TEST_WORK/reboot.out")"
[ "$reboot_status" -eq 0 ] && [ "$boots" -eq 2 ] && grep -aq '^second-boot-42' "$TEST_WORK/reboot.out" \
  || { tail -5 "$TEST_WORK/reboot.out"; cat "$TEST_WORK/reboot.err"; fail "reboot under the sandbox: exit $reboot_status, $boots boots"; }
say "ok: 2 boots, the second answers, exit 0"
