#!/usr/bin/env bash
# Differential test: every bare-metal program in programs/ runs on QEMU (the reference) and on
# Nimbus, once with the JIT (every block translated on its first run) and once with the
# interpreter alone; their UART signatures and exit codes must match line for line.
# Usage: test_programs.sh PATH/TO/nimbus
# Env: NIMBUS_DIFF_ONLY='glob ...'    only these programs
#      NIMBUS_DIFF_REFERENCE_ONLY=1   run only QEMU (validates the programs themselves)
#      NIMBUS_DIFF_KEEP=DIR            keep ELFs and outputs in DIR
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nimbus="${1:-}"
reference_only="${NIMBUS_DIFF_REFERENCE_ONLY:-0}"

skip() { echo "SKIP: $*"; exit 77; }
command -v "${NIMBUS_CROSS:-riscv64-linux-gnu-}gcc" >/dev/null || skip "riscv64-linux-gnu-gcc not installed"
command -v qemu-system-riscv64 >/dev/null || skip "qemu-system-riscv64 not installed"
if [ "$reference_only" != 1 ]; then
  [ -n "$nimbus" ] || { echo "usage: $0 PATH/TO/nimbus" >&2; exit 2; }
  [ -x "$nimbus" ] || { echo "FAIL: nimbus binary not found or not executable: $nimbus" >&2; exit 1; }
fi

work="${NIMBUS_DIFF_KEEP:-$(mktemp -d)}"
mkdir -p "$work"
[ -n "${NIMBUS_DIFF_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
rm -f "$work"/*.elf
read -r -a only <<< "${NIMBUS_DIFF_ONLY:-*}"
"$here/build-programs.sh" "$work" "${only[@]}" || { echo "FAIL: programs did not build"; exit 1; }

# A program whose source says "// DIFF-DRIVE: SIZE" gets a fresh raw disk of SIZE bytes (dd
# size suffixes) on each machine, sector 0 starting with "NIMBUS-DIFF-DISK" and the rest zero:
# QEMU gets it as virtio-blk on virtio-mmio slot 0 (bus=virtio-mmio-bus.0, as xv6 does) with
# the modern transport (-global virtio-mmio.force-legacy=false: QEMU 7.2's default is the
# legacy version 1 transport, which Nimbus does not offer), Nimbus as --drive (slot 0).
drive_size() { sed -n 's|^// DIFF-DRIVE: *\([0-9A-Za-z]*\).*|\1|p' "$1" | head -1; }
# "// DIFF-VIRTIO-LEGACY": the legacy virtio-mmio transport (QEMU's default; Nimbus --virtio-legacy).
virtio_legacy() { grep -q '^// DIFF-VIRTIO-LEGACY' "$1"; }
make_disk() {
  dd if=/dev/zero of="$1" bs="$2" count=1 status=none
  printf 'NIMBUS-DIFF-DISK' | dd of="$1" conv=notrunc status=none
}

# Runs one machine; writes its UART output (CR stripped) and "exit <code>" as the last line.
# h_* programs test the H extension, which Nimbus always has and QEMU 7.2 only with h=true.
run_qemu() {
  local cpu=() drive=() size
  case "$(basename "$1")" in h_*) cpu=(-cpu rv64,h=true) ;; esac
  size="$(drive_size "$3")"
  if [ -n "$size" ]; then
    make_disk "$2.img" "$size"
    drive=(-drive "file=$2.img,if=none,format=raw,id=d0" -device virtio-blk-device,drive=d0,bus=virtio-mmio-bus.0)
    virtio_legacy "$3" || drive=(-global virtio-mmio.force-legacy=false "${drive[@]}")
  fi
  timeout 30 qemu-system-riscv64 -M virt "${cpu[@]}" -bios none -kernel "$1" -nographic -m 128M -smp 1 \
    "${drive[@]}" -monitor none -serial stdio < /dev/null 2> "$2.stderr" | tr -d '\r' > "$2"
  echo "exit ${PIPESTATUS[0]}" >> "$2"
}
run_nimbus() {
  local drive=() size
  size="$(drive_size "$3")"
  if [ -n "$size" ]; then
    make_disk "$2.img" "$size"
    drive=(--drive "$2.img")
    ! virtio_legacy "$3" || drive+=(--virtio-legacy)
  fi
  # $4: the tier. The JIT translates every block on its first run (NIMBUS_JIT_THRESHOLD=1): these
  # programs are short, and at the default threshold most of them would stay interpreted.
  NIMBUS_JIT_THRESHOLD=1 timeout 60 "$nimbus" run --bios none --kernel "$1" "${drive[@]}" --deterministic \
    --timeout 30 --jit "$4" < /dev/null 2> "$2.stderr" | tr -d '\r' > "$2"
  echo "exit ${PIPESTATUS[0]}" >> "$2"
}

# Applies the program's "// QEMU-DIFFERS: <qemu line> => <spec line> ; <why>" notes.
apply_spec_overrides() {
  local src="$1" out="$2" note qemu_line spec_line why
  while IFS= read -r note; do
    note="${note#*QEMU-DIFFERS: }"
    qemu_line="${note%% => *}"
    spec_line="${note#* => }"; why="${spec_line#* ; }"; spec_line="${spec_line%% ; *}"
    if grep -qxF -- "$qemu_line" "$out"; then
      echo "  note: QEMU 7.2 prints '$qemu_line' where the spec requires '$spec_line' ($why); comparing against the spec"
      awk -v from="$qemu_line" -v to="$spec_line" '$0 == from { print to; next } { print }' "$out" > "$out.spec" && mv "$out.spec" "$out"
    fi
  done < <(grep -h 'QEMU-DIFFERS: ' "$src" || true)
}

passed=0; failed=0; failures=()
for elf in "$work"/*.elf; do
  [ -e "$elf" ] || { echo "FAIL: no program matched '${NIMBUS_DIFF_ONLY:-*}'"; exit 1; }
  name="$(basename "$elf" .elf)"
  src="$here/programs/$name.S"
  run_qemu "$elf" "$work/$name.qemu" "$src"
  apply_spec_overrides "$src" "$work/$name.qemu"
  # The reference must run the program to the end; otherwise the program itself is broken.
  if ! grep -qx DONE "$work/$name.qemu" || ! grep -qx 'exit 0' "$work/$name.qemu"; then
    echo "FAIL $name: the reference run (QEMU) did not reach DONE with exit 0:"
    tail -5 "$work/$name.qemu" | sed 's/^/    /'
    failed=$((failed + 1)); failures+=("$name(reference)"); continue
  fi
  lines=$(($(wc -l < "$work/$name.qemu") - 1))
  if [ "$reference_only" = 1 ]; then
    echo "ok   $name (reference only, $lines lines)"; passed=$((passed + 1)); continue
  fi
  # Both tiers against the reference: the JIT (the default) and the interpreter (--jit off).
  for tier in on off; do
    out="$work/$name.nimbus-jit-$tier"
    run_nimbus "$elf" "$out" "$src" "$tier"
    if diff -u --label "qemu/$name" --label "nimbus/$name --jit $tier" "$work/$name.qemu" "$out" > "$out.diff"; then
      echo "ok   $name --jit $tier ($lines signature lines identical)"
      passed=$((passed + 1))
    else
      echo "FAIL $name --jit $tier: signatures differ (- QEMU reference, + Nimbus):"
      sed 's/^/    /' "$out.diff" | head -60
      if [ -s "$out.stderr" ]; then
        echo "  nimbus stderr:"; head -10 "$out.stderr" | sed 's/^/    /'
      fi
      failed=$((failed + 1)); failures+=("$name(--jit $tier)")
    fi
  done
done
echo "differential: $passed passed, $failed failed${failures[*]:+: ${failures[*]}}"
[ "$failed" -eq 0 ]
