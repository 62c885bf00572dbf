#!/usr/bin/env bash
# Bad input never crashes or hangs `nimbus run`: each case below must exit with code 2 within
# 20 s and explain itself in a short error on stderr (one line, plus at most a usage hint).
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = nimbus ] || skip "checks the nimbus command line only"
require_machine
require_guests kernel initramfs

# Raw binaries are legitimate kernels (u-boot.bin is one), so random bytes alone cannot be
# told from a program. What can be told: a file carrying the RISC-V Linux Image magic whose
# header is cut short, or whose header asks for more memory than the machine has.
garbage="$TEST_WORK/garbage.bin"
head -c 65536 /dev/urandom > "$garbage"
truncated_image="$TEST_WORK/truncated-Image"
head -c 60 "$NIMBUS_GUEST_KERNEL" > "$truncated_image"     # both magics, header (64 bytes) cut
grep -aq 'RISCV' "$truncated_image" || fail "the guest Image has no RISC-V Image magic at offset 48"
huge_image="$TEST_WORK/huge-Image"
{ head -c 16 "$NIMBUS_GUEST_KERNEL"
  printf '\x00\x00\x00\x00\x00\x01\x00\x00'                   # image_size = 1 TiB
  tail -c +25 "$NIMBUS_GUEST_KERNEL" | head -c 65536; } > "$huge_image"
empty="$TEST_WORK/empty"
: > "$empty"
x86_elf="$(type -P true)"   # an x86-64 ELF executable (not the shell builtin)
# A RISC-V ELF whose program headers point past the end of the file.
"$NIMBUS_SOURCE_DIR/tests/differential/build-programs.sh" "$TEST_WORK/elf" rv64i_alu > /dev/null 2>&1 \
  || fail "could not build a RISC-V ELF for the truncated-ELF case"
truncated_elf="$TEST_WORK/truncated.elf"
head -c 200 "$TEST_WORK/elf/rv64i_alu.elf" > "$truncated_elf"

K=(--kernel "$NIMBUS_GUEST_KERNEL")
cases=(
  "missing kernel file|--kernel $TEST_WORK/does-not-exist"
  "missing initrd file|${K[*]} --initrd $TEST_WORK/does-not-exist"
  "missing drive file|${K[*]} --drive $TEST_WORK/does-not-exist"
  "missing firmware file|${K[*]} --bios $TEST_WORK/does-not-exist"
  "no kernel at all|--mem 256M"
  "empty kernel|--kernel $empty"
  "Linux Image header cut short|--kernel $truncated_image"
  "Linux Image larger than RAM (image_size 1 TiB)|--kernel $huge_image --mem 256M"
  "truncated RISC-V ELF (bare metal)|--bios none --kernel $truncated_elf"
  "x86-64 ELF kernel|--kernel $x86_elf"
  "x86-64 ELF kernel (bare metal)|--bios none --kernel $x86_elf"
  "--mem 0|${K[*]} --mem 0"
  "--mem not a size|${K[*]} --mem lots"
  "--mem absurdly large|${K[*]} --mem 64T"
  "--mem negative|${K[*]} --mem -256M"
  "--smp 0|${K[*]} --smp 0"
  "--smp too many|${K[*]} --smp 100000"
  "--smp not a number|${K[*]} --smp two"
  "--timeout not a number|${K[*]} --timeout soon"
  "--max-instructions negative|${K[*]} --max-instructions -5"
  "--load without address|--bios none --kernel $TEST_WORK/elf/rv64i_alu.elf --load $garbage"
  "--load bad address|--bios none --kernel $TEST_WORK/elf/rv64i_alu.elf --load $garbage@nowhere"
  "--load missing file|--bios none --kernel $TEST_WORK/elf/rv64i_alu.elf --load $TEST_WORK/does-not-exist@0x80100000"
  "unknown option|${K[*]} --frobnicate"
  "unknown --bios keyword|${K[*]} --bios sbi-of-my-dreams"
)
failures=0
for entry in "${cases[@]}"; do
  what="${entry%%|*}"
  read -r -a args <<< "${entry#*|}"
  timeout 20 "$NIMBUS_BIN" run "${args[@]}" < /dev/null > "$TEST_WORK/out" 2> "$TEST_WORK/err"
  status=$?
  lines=$(wc -l < "$TEST_WORK/err")
  first="$(head -n 1 "$TEST_WORK/err")"
  if [ "$status" -eq 2 ] && [ -n "$first" ] && [ "$lines" -le 2 ]; then
    say "ok: $what -> exit 2: $first"
  else
    failures=$((failures + 1))
    case "$status" in
      124) why="hung (killed after 20 s)" ;;
      13[0-9]) why="crashed with signal $((status - 128))" ;;
      *) why="exit $status, $lines stderr lines" ;;
    esac
    say "FAIL: $what (nimbus run ${args[*]}) -> $why"
    head -5 "$TEST_WORK/err" | sed 's/^/    stderr: /'
  fi
done
[ "$failures" -eq 0 ] || fail "$failures of ${#cases[@]} bad inputs were not rejected cleanly"
say "all ${#cases[@]} bad inputs rejected with exit 2 and a short error"
