#!/usr/bin/env bash
# Misbehaving guests stop or are contained alone (issue 3, item 6). Next to a Linux VM that must
# pass its boot test, in the same VMM on two host harts, run in each virtualization mode:
#   panic  - Linux with no init: the kernel panics and spins in its panic loop
#   storm  - a bare-metal kernel that calls an unknown SBI extension in a tight loop (an exit
#            per instruction pair: a trap storm against the VMM)
#   spin   - a bare-metal kernel that disables interrupts and spins forever
# The Linux VM passes, the VMM stays up (the run ends by its --timeout: exit 124, since the
# hostile VMs never stop), stats.json shows the storm VM's exits and the others still running.
# Throughput under such neighbours is measured by scripts/measure-isolation.sh, not here.
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a VMM test: no QEMU equivalent"
require_machine
require_guests kernel initramfs

# Raw RV64 kernels from 32-bit words, little-endian.
words() { perl -e 'print pack("V*", map { hex } @ARGV)' "$@"; }
# addi a7, zero, 0x7ff; ecall; j .-4
words 7ff00893 00000073 ffdff06f > "$TEST_WORK/storm.bin"
# csrci sstatus, 2; j .
words 10017073 0000006f > "$TEST_WORK/spin.bin"

window=5
for mode in emulate trap hw; do
  probe="$("$NIMBUS_BIN" run --virt "$mode" --kernel /dev/null --state-dir "$TEST_WORK/probe" < /dev/null 2>&1)"
  if [[ "$probe" == *"not available"* ]]; then say "note: mode $mode is not built; skipped"; continue; fi
  dir="$TEST_WORK/$mode"
  mkdir -p "$dir"
  cat > "$dir/linux.toml" <<TOML
name = "linux"
mode = "$mode"
memory = "128M"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
  cat > "$dir/panic.toml" <<TOML
name = "panic"
mode = "$mode"
memory = "64M"
kernel = "$NIMBUS_GUEST_KERNEL"
append = "console=ttyS0 init=/nonexistent"
TOML
  for kind in storm spin; do
    cat > "$dir/$kind.toml" <<TOML
name = "$kind"
mode = "$mode"
memory = "16M"
kernel = "$TEST_WORK/$kind.bin"
TOML
  done
  say "checking $mode: linux next to panic, storm and spin -> linux PASS, VMM up until its timeout"
  timeout $((window + GUEST_TIMEOUT + 30)) "$NIMBUS_BIN" run --vm "$dir/linux.toml" --vm "$dir/panic.toml" \
    --vm "$dir/storm.toml" --vm "$dir/spin.toml" --host-harts 2 --timeout $((window + 20)) \
    --state-dir "$dir/state" < /dev/null > /dev/null 2> "$dir/stderr"
  status=$?
  grep -aq '^NIMBUS-TEST: PASS' "$dir/state/linux.log" || {
    tail -20 "$dir/state/linux.log" | sed 's/^/    /'; cat "$dir/stderr"; fail "$mode: the Linux VM did not pass next to hostile VMs"; }
  say "ok: $mode: linux: $(grep -a -m1 '^NIMBUS-TEST' "$dir/state/linux.log" | tr -d '\r')"
  [ "$status" -eq 124 ] || { cat "$dir/stderr"; fail "$mode: expected the run to end by its timeout (124), got $status"; }
  grep -aq 'Kernel panic' "$dir/state/panic.log" || { tail -5 "$dir/state/panic.log"; fail "$mode: the panic VM did not panic"; }
  python3 - "$dir/state/stats.json" "$mode" <<'PY' || fail "$mode: stats.json does not show the hostile VMs contained"
import json, sys
stats = json.load(open(sys.argv[1]))
vms = {vm["name"]: vm for vm in stats["vms"]}
storm = vms["storm"]
calls = storm["exits"]["sbi_call"]
assert calls > 10000, f"storm VM made only {calls} SBI calls"
for name in ("storm", "spin", "panic"):
    assert vms[name]["state"] == "running", f"{name} is {vms[name]['state']}, expected still running"
print(f"    ok: {sys.argv[2]}: storm VM made {calls} SBI calls; panic, storm and spin still running, each on its own")
PY
done
