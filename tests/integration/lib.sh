# shellcheck shell=bash
# Shared by tests/integration/test_*.sh. Sourced with the nimbus binary as $1.
# NIMBUS_TEST_MACHINE=qemu runs the same guests on qemu-system-riscv64 -M virt instead (the
# reference machine: validates the guest images and the tests themselves).
set -uo pipefail

NIMBUS_SOURCE_DIR="${NIMBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
NIMBUS_BIN="${1:-}"
TEST_MACHINE="${NIMBUS_TEST_MACHINE:-nimbus}"
TEST_NAME="$(basename "$0" .sh)"
TEST_WORK="$(mktemp -d "${TMPDIR:-/tmp}/nimbus-$TEST_NAME.XXXXXX")"
trap 'rm -rf "$TEST_WORK"' EXIT

say() { echo "[$TEST_NAME] $*"; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*"; exit 1; }

require_machine() {
  if [ "$TEST_MACHINE" = qemu ]; then
    command -v qemu-system-riscv64 >/dev/null || skip "qemu-system-riscv64 not installed"
  else
    [ -n "$NIMBUS_BIN" ] || { echo "usage: $0 PATH/TO/nimbus" >&2; exit 2; }
    [ -x "$NIMBUS_BIN" ] || fail "nimbus binary not found or not executable: $NIMBUS_BIN"
  fi
}

# Builds (or finds in the cache) the guest components and sets NIMBUS_GUEST_* paths.
require_guests() {
  command -v riscv64-linux-gnu-gcc >/dev/null || skip "riscv64-linux-gnu-gcc not installed (scripts/install-deps.sh)"
  [ -f /usr/src/linux-source-6.1.tar.xz ] || skip "linux-source-6.1 not installed (scripts/install-deps.sh)"
  if ! "$NIMBUS_SOURCE_DIR/guests/build.sh" "$@" > "$TEST_WORK/guest-build.log" 2>&1; then
    tail -20 "$TEST_WORK/guest-build.log"
    fail "guests/build.sh $* failed"
  fi
  # shellcheck source=../../guests/paths.sh
  source "$NIMBUS_SOURCE_DIR/guests/paths.sh"
}

# expect_threads_run_as PID UID: every thread of PID has UID as its real, effective, saved and
# filesystem uid (a jail's drop must reach threads started before it too).
expect_threads_run_as() {
  local task uids
  for task in /proc/"$1"/task/*; do
    uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$task/status")"
    [ "$uids" = "$2 $2 $2 $2" ] || fail "thread ${task##*/} runs as uids '$uids'"
  done
}

# build_bare_metal OUT SOURCE.c: a bare-metal RV64GC program of ours that starts in M-mode at
# 0x80000000, linked with the differential programs' crt.S (which calls test_main) and link.ld.
build_bare_metal() {
  local programs="$NIMBUS_SOURCE_DIR/tests/differential/programs"
  riscv64-linux-gnu-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -ffreestanding -nostdlib -nostartfiles \
    -static -no-pie -fno-pic -Wall -Wextra -Werror -Wl,--no-relax -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    -I "$programs" -T "$programs/link.ld" -o "$1" "$programs/crt.S" "$2"
}

# run_guest LOG TIMEOUT_SECONDS [nimbus run options...]
# Runs the machine with the agreed `nimbus run` options (or their QEMU equivalents), console
# output to LOG (CR stripped), stdin closed. Sets RUN_STATUS to the exit code.
run_guest() {
  local log="$1" seconds="$2"; shift 2
  if [ "$TEST_MACHINE" = qemu ]; then
    local args=(-M virt -nographic -monitor none -serial stdio -m 256M -smp 1)
    while [ $# -gt 0 ]; do
      case "$1" in
        --kernel) args+=(-kernel "$2"); shift 2 ;;
        --initrd) args+=(-initrd "$2"); shift 2 ;;
        --append) args+=(-append "$2"); shift 2 ;;
        --bios)
          case "$2" in
            opensbi) args+=(-bios "$NIMBUS_OPENSBI_DYNAMIC") ;;
            *) args+=(-bios "$2") ;;
          esac
          shift 2 ;;
        --mem) args+=(-m "$2"); shift 2 ;;
        --smp) args+=(-smp "$2"); shift 2 ;;
        --drive) args+=(-drive "file=$2,if=none,format=raw,id=disk$#" -device "virtio-blk-device,drive=disk$#"); shift 2 ;;
        --deterministic) shift ;;
        --timeout) shift 2 ;;
        *) fail "run_guest: no QEMU equivalent for option $1" ;;
      esac
    done
    timeout "$seconds" qemu-system-riscv64 "${args[@]}" < /dev/null 2> "$log.stderr" | tr -d '\r' > "$log"
    RUN_STATUS=${PIPESTATUS[0]}
  else
    timeout $((seconds + 30)) "$NIMBUS_BIN" run "$@" --timeout "$seconds" < /dev/null 2> "$log.stderr" | tr -d '\r' > "$log"
    RUN_STATUS=${PIPESTATUS[0]}
  fi
}

# Says what the console shows about a machine that did not stop as it should.
explain_exit() {
  local log="$1"
  if [ "$RUN_STATUS" -eq 124 ]; then
    say "note: the guest passed and then powered off ($(grep -ac 'reboot: Power down' "$log") 'reboot: Power down' lines"
    say "      reached the console): Linux -> SBI SRST -> OpenSBI's sifive_test driver, a 16-bit"
    say "      write of 0x5555 to the syscon at 0x100000; the machine kept running until the"
    say "      timeout instead. See the differential program syscon_poweroff_widths."
  fi
}

# expect_marker LOG WHAT: the guest printed "NIMBUS-TEST: PASS" containing WHAT, and the
# machine exited with 0.
expect_marker() {
  local log="$1" what="$2" line
  line="$(grep -a -m1 '^NIMBUS-TEST: ' "$log" || true)"
  if [ -z "$line" ]; then
    say "console (last 25 lines):"; tail -25 "$log" | sed 's/^/    /'
    [ -s "$log.stderr" ] && { say "stderr:"; tail -10 "$log.stderr" | sed 's/^/    /'; }
    fail "no NIMBUS-TEST marker (exit code $RUN_STATUS)"
  fi
  case "$line" in
    "NIMBUS-TEST: PASS"*"$what"*) ;;
    *) tail -25 "$log" | sed 's/^/    /'; fail "unexpected marker: '$line' (wanted PASS with '$what')" ;;
  esac
  if [ "$RUN_STATUS" -ne 0 ]; then
    explain_exit "$log"
    fail "guest passed but the machine exited with $RUN_STATUS, expected 0"
  fi
  say "ok: $line (exit 0)"
}

# shellcheck disable=SC2034  # used by the test scripts
GUEST_TIMEOUT="${NIMBUS_GUEST_TIMEOUT:-300}"
