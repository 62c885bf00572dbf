#!/usr/bin/env bash
# The gdb stub (docs/gdb.md) driven by Debian's gdb-multiarch in batch mode:
#  1. a bare-metal program with symbols, under the interpreter and under the JIT: break on a
#     symbol, continue, read registers (x, pc, CSRs, FP, priv), single-step, read and write
#     memory, list threads, continue to the program's exit (gdb sees it exit with code 0);
#  2. the Linux kernel on 2 harts, on the bare machine (JIT on) and as a VM under the VMM in emulate
#     and hw mode: stop at its entry (the Image's load address, S-mode, a0 = the hart id), single-step, Ctrl-C the boot once paging is on, read the kernel's own header through
#     its virtual mapping, break on the trap vector (stvec, a virtual address) and step from it, kill.
source "$(dirname "$0")/lib.sh"
require_machine
[ "$TEST_MACHINE" = qemu ] && skip "this tests Nimbus's own gdb stub"
command -v gdb-multiarch >/dev/null || skip "gdb-multiarch not installed (scripts/install-deps.sh)"
command -v riscv64-linux-gnu-gcc >/dev/null || skip "riscv64-linux-gnu-gcc not installed (scripts/install-deps.sh)"

programs="$(dirname "$0")/programs"
elf="$TEST_WORK/gdb_target.elf"
riscv64-linux-gnu-gcc -march=rv64gc -mabi=lp64d -static -nostdlib -nostartfiles -g -T "$programs/gdb_target.ld" \
  -Wl,--build-id=none -o "$elf" "$programs/gdb_target.S" || fail "cannot build the bare-metal program"

PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TEST_WORK"' EXIT

# start_nimbus NAME ARGS...: runs nimbus with a stub on a free port, waiting for gdb; sets PORT and PID.
start_nimbus() {
  local name="$1"; shift
  "$NIMBUS_BIN" run --gdb tcp:127.0.0.1:0 --wait-for-gdb "$@" < /dev/null \
    > "$TEST_WORK/$name.out" 2> "$TEST_WORK/$name.err" &
  PID=$!
  PORT=""
  for _ in $(seq 300); do # 30 s: building a VM under CI load takes a while
    PORT="$(sed -n 's/.*gdb stub listening on port \([0-9]*\).*/\1/p' "$TEST_WORK/$name.err")"
    [ -n "$PORT" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TEST_WORK/$name.err"
  fail "$name: nimbus did not report its gdb port"
}

# expect NAME PATTERN WHAT: the gdb transcript must contain the (extended regex) pattern.
expect() {
  grep -qE "$2" "$TEST_WORK/$1.gdb" || { sed 's/^/    /' "$TEST_WORK/$1.gdb"; fail "$1: $3 (no /$2/ in gdb's output)"; }
}

finish_nimbus() {
  local name="$1" want="$2" status
  for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$PID" 2>/dev/null && { kill "$PID"; wait "$PID"; fail "$name: nimbus still running 30 s after gdb finished"; }
  wait "$PID"; status=$?
  [ "$status" -eq "$want" ] || { cat "$TEST_WORK/$name.err"; fail "$name: nimbus exited with $status, expected $want"; }
  if grep -qiE "sanitizer|runtime error|segmentation" "$TEST_WORK/$name.err"; then
    cat "$TEST_WORK/$name.err"; fail "$name: Nimbus reported an internal error"
  fi
}

bare_metal() {
  local jit="$1" name="bare-$1" started=$SECONDS
  start_nimbus "$name" --bios none --kernel "$elf" --jit "$jit" --timeout 60
  timeout 60 gdb-multiarch -q -nx -batch \
    -ex "set pagination off" -ex "file $elf" -ex "target remote 127.0.0.1:$PORT" \
    -ex 'printf "start pc=%#lx\n", $pc' \
    -ex "break add_twice" -ex "continue" -ex "continue" \
    -ex 'printf "second call a0=%#lx\n", $a0' -ex 'info symbol $ra' \
    -ex "stepi" \
    -ex 'printf "after stepi a0=%#lx moved=%d\n", $a0, (long)$pc - (long)&add_twice' \
    -ex 'printf "misa=%#lx priv=%d mhartid=%d fcsr=%#x\n", $misa, $priv, $mhartid, $fcsr' \
    -ex 'p $f0' \
    -ex 'printf "result=%#lx\n", *(long *)&result' \
    -ex 'set var *(long *)&result = 0x4242' \
    -ex 'printf "written=%#lx\n", *(long *)&result' \
    -ex 'info threads' \
    -ex 'x/2i $pc' \
    -ex "delete" -ex "continue" \
    > "$TEST_WORK/$name.gdb" 2>&1
  expect "$name" "start pc=0x1000" "the stopped machine is at the reset vector (the boot ROM)"
  expect "$name" "Breakpoint 1, add_twice" "the breakpoint on add_twice was not hit"
  expect "$name" "second call a0=0x7" "the second call should have a0 = 7"
  expect "$name" "^loop \+ 6 in section .text" "ra should point into the loop"
  expect "$name" "after stepi a0=0xa moved=2" "stepi should run exactly one (compressed) addi: a0 7 -> 10"
  expect "$name" "misa=0x8000000000[0-9a-f]{6} priv=3 mhartid=0" "CSRs or priv read wrong"
  expect "$name" "float = 0, double = 0" "f0 should read as zero through the FP union"
  expect "$name" "result=0x1122334455667788" "memory read through the stub"
  expect "$name" "written=0x4242" "memory write through the stub"
  expect "$name" "Thread 1 \(hart 0, M-mode\)" "info threads should name hart 0"
  expect "$name" "<add_twice\+2>:[[:space:]]+add[i]?[[:space:]]+a0,a0,4" "x/i should disassemble the next instruction"
  expect "$name" "exited normally" "gdb should see the program power off with code 0"
  finish_nimbus "$name" 0
  say "ok: bare metal, --jit $jit: breakpoint, registers, CSRs, stepi, memory, threads, exit ($((SECONDS - started)) s)"
}

bare_metal off
bare_metal on

# Bad options exit 2 with a message; a hostile client gets '-' for every malformed packet and
# precise errors, and the stub keeps serving.
bad_option() {
  local want="$1"; shift
  "$NIMBUS_BIN" run "$@" < /dev/null > /dev/null 2> "$TEST_WORK/bad.err"
  local status=$?
  [ "$status" -eq 2 ] && grep -q -- "$want" "$TEST_WORK/bad.err" ||
    { cat "$TEST_WORK/bad.err"; fail "nimbus run $*: exit $status, expected 2 and '$want'"; }
}
bad_option "port '99999' must be a number" --bios none --kernel "$elf" --gdb tcp:127.0.0.1:99999
bad_option "host 'example' must be an IPv4 address" --bios none --kernel "$elf" --gdb tcp:example:1234
bad_option "must be tcp:HOST:PORT" --bios none --kernel "$elf" --gdb 1234
bad_option "--wait-for-gdb needs --gdb" --bios none --kernel "$elf" --wait-for-gdb
bad_option "--gdb needs --virt emulate or hw" --virt trap --kernel "$elf" --gdb tcp:127.0.0.1:0
say "ok: bad --gdb options exit 2 with a message"

start_nimbus hostile --bios none --kernel "$elf" --timeout 60
python3 - "$PORT" > "$TEST_WORK/hostile.log" 2>&1 <<'PY' || { cat "$TEST_WORK/hostile.log"; fail "hostile client: the stub misbehaved"; }
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
def frame(payload):
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) % 256)
def expect(what, want):
    got = b""
    while len(got) < len(want):
        chunk = s.recv(len(want) - len(got))
        if not chunk:
            sys.exit(f"{what}: connection closed after {got!r}")
        got += chunk
    if got != want:
        sys.exit(f"{what}: got {got!r}, expected {want!r}")
s.sendall(b"$g#00")                                   # bad checksum
expect("bad checksum", b"-")
s.sendall(b"$" + b"A" * (1 << 20) + b"#00")          # a megabyte: dropped whole
expect("oversized packet", b"-")
s.sendall(frame(b"m0,4"))                             # nothing at address 0
expect("m at 0", b"+" + frame(b"E14"))
s.sendall(frame(b"pzz"))                              # not a register number
expect("p malformed", b"+" + frame(b"E22"))
s.sendall(frame(b"X80001000,4:ab"))                   # fewer bytes than announced
expect("X short", b"+" + frame(b"E22"))
s.sendall(frame(b"qThreadExtraInfo,99"))
expect("unknown thread", b"+" + frame(b"E02"))
s.sendall(frame(b"?"))                                # still serving
expect("stop reply", b"+" + frame(b"T05thread:1;"))
s.sendall(frame(b"c"))
expect("continue", b"+")
print("hostile client: every malformed packet and command answered precisely")
PY
finish_nimbus hostile 0 # the client hung up: the program ran on to its exit
say "ok: a hostile client (bad checksum, 1 MiB packet, bad addresses, registers, threads) gets precise answers"

# linux NAME ARGS...: the kernel under the stub; on the bare machine OpenSBI runs first (break at
# the entry and continue there), under the VMM vCPU 0 waits at the entry already.
linux() {
  local name="$1" started=$SECONDS; shift
  # The Image's header says where it runs: RAM base + text_offset (bytes 8-15, little-endian).
  local text_offset entry
  text_offset="$(od -An -t u8 -j 8 -N 8 "$NIMBUS_GUEST_KERNEL" | tr -d ' ')"
  entry="$(printf '%#x' $((0x80000000 + text_offset)))"
  [ "$name" != bare ] && entry=0x80000000 # the VMM is the firmware: it puts the Image at the start of RAM
  start_nimbus "$name" --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" --append "console=ttyS0" \
    --smp 2 --timeout 120 "$@"
  local to_entry=(-ex "break *$entry" -ex "continue" -ex "delete")
  [ "$name" != bare ] && to_entry=()
  # hw mode: the VMM fills the G-stage table as the guest first touches each page, so before the
  # first instruction ran its page cannot be read (and gdb reads it to step): step later instead.
  local entry_step=(-ex "stepi" -ex 'printf "stepped pc=%#lx\n", $pc')
  [ "$name" = hw ] && entry_step=()
  timeout 110 gdb-multiarch -q -nx -batch \
    -ex "set pagination off" -ex "set architecture riscv:rv64" ${GDB_DEBUG:+-ex "set debug remote 1"} -ex "target remote 127.0.0.1:$PORT" \
    "${to_entry[@]}" \
    -ex 'printf "entry pc=%#lx priv=%d a0-is-hartid=%d dtb=%#lx\n", $pc, $priv, $a0 == $mhartid, $a1' \
    "${entry_step[@]}" \
    -ex "set \$marker_file = \"$TEST_WORK/$name.out\"" -ex 'set $marker = "Linux version"' \
    -ex "source $programs/gdb_interrupt_when.py" -ex "continue" \
    -ex "source $programs/gdb_select_kernel_thread.py" \
    -ex 'printf "interrupted pc=%#lx paging=%d priv=%d\n", $pc, ($satp >> 60) != 0, $priv' \
    -ex 'x/s 0xffffffff80000030' \
    -ex 'break *$stvec' -ex "continue" \
    -ex 'printf "trap vector hit=%d\n", $pc == $stvec' \
    -ex "stepi" -ex 'printf "stepped off the vector by %d\n", $pc - $stvec' \
    -ex 'info threads' \
    -ex "kill" \
    > "$TEST_WORK/$name.gdb" 2>&1
  expect "$name" "entry pc=$entry priv=1 a0-is-hartid=1 dtb=0x[0-9a-f]+" \
    "at the kernel's entry: S-mode, a0 = the hart id, a1 = the device tree"
  [ "$name" = hw ] ||
    expect "$name" "stepped pc=$(printf '%#x' $((entry + 2)))" "stepi over the entry's compressed first instruction"
  expect "$name" "received signal SIGINT" "Ctrl-C (interrupt) should stop the booting kernel"
  expect "$name" "interrupted pc=0xffffffff[0-9a-f]{8} paging=1 priv=1" "the interrupted kernel runs paged in S-mode"
  expect "$name" "0xffffffff80000030:[[:space:]]+\"RISCV\"" \
    "the Image header's magic, read through the kernel's page tables"
  expect "$name" "trap vector hit=1" "a breakpoint on the (virtual) trap vector"
  expect "$name" "stepped off the vector by (2|4)$" "stepi from the breakpoint runs one instruction of the handler"
  expect "$name" "Thread 2 \(hart 1, " "both harts should be listed as threads"
  expect "$name" "Inferior 1 \(Remote target\) killed" "kill"
  finish_nimbus "$name" 0
  say "ok: Linux ($name, 2 harts): entry, stepi, Ctrl-C, virtual memory, trap-vector breakpoint and a step from it, threads, kill ($((SECONDS - started)) s)"
}

require_guests kernel initramfs # at the top level: it sources scripts that declare globals
linux bare --jit on
linux vm --virt emulate --console-stdout --state-dir "$TEST_WORK/state"
linux hw --virt hw --console-stdout --state-dir "$TEST_WORK/state-hw"
say "PASS"
