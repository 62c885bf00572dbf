# shellcheck shell=bash
# Shared by the benchmarks that run a program in the Linux guest on QEMU and on Nimbus binaries
# taking turns (bench/speedtest1/run.sh, bench/debian-programs/run.sh). Sourced, never executed.
# The caller sets BENCH_WORK (a scratch directory) and BENCH_BINARIES (Nimbus binaries). Brings
# guests/lib.sh and the guest artefacts' paths (guests/paths.sh) with it.
# shellcheck source=/dev/null
source "$(dirname "${BASH_SOURCE[0]}")/../guests/paths.sh"

# OUT: the guest initramfs BASE with the files of directory OVERLAY appended as a second
# (uncompressed) cpio archive, which Linux unpacks over the first; the first is padded to 512
# bytes so that the second's magic is found. Written to OUT.tmp, then renamed.
bench_append_cpio() { # BASE OVERLAY OUT
  cp "$1" "$3.tmp"
  local pad=$(( (512 - $(stat -c %s "$3.tmp") % 512) % 512 ))
  head -c "$pad" /dev/zero >> "$3.tmp"
  (cd "$2" && find . | LC_ALL=C sort | cpio -o -H newc 2> /dev/null) >> "$3.tmp"
  mv "$3.tmp" "$3"
}

# One boot: the guest's shell runs COMMAND, then `exit` (typed ahead) powers the machine off.
# The console goes to OUT; fails the script unless OUT matches MARKER (a grep regex).
bench_boot() { # OUT COMMAND SECONDS MARKER MACHINE-ARGV...
  local out="$1" command="$2" seconds="$3" marker="$4"
  shift 4
  rm -f "$BENCH_WORK/in" && mkfifo "$BENCH_WORK/in"
  # The console's input stays open until the machine is done (the feeder ends as `sleep`).
  (sleep 8; printf '%s\nexit\n' "$command"; exec sleep "$seconds") > "$BENCH_WORK/in" &
  local feeder=$!
  timeout "$seconds" "$@" < "$BENCH_WORK/in" 2>&1 | tr -d '\r' > "$out" || true
  kill "$feeder" 2> /dev/null || true
  if ! grep -q "$marker" "$out"; then
    tail -20 "$out" >&2; echo "$0: the guest did not print '$marker' on $*" >&2; exit 1
  fi
}

# ROUNDS rounds, each a boot of QEMU 7.2 (key qemu) and then of each Nimbus binary (key: its
# index in BENCH_BINARIES), the same kernel, initramfs and Debian OpenSBI, 512 MiB, one hart;
# TAKE KEY CONSOLE-FILE is called after each boot.
bench_rounds() { # ROUNDS KERNEL INITRD TAKE COMMAND SECONDS MARKER
  local rounds="$1" kernel="$2" initrd="$3" take="$4" command="$5" seconds="$6" marker="$7" b
  local append="console=ttyS0 quiet"
  for _ in $(seq "$rounds"); do
    bench_boot "$BENCH_WORK/q" "$command" "$seconds" "$marker" qemu-system-riscv64 -M virt -nographic -m 512M -smp 1 \
      -bios "$NIMBUS_OPENSBI_DYNAMIC" -kernel "$kernel" -initrd "$initrd" -append "$append"
    "$take" qemu "$BENCH_WORK/q"
    for b in "${!BENCH_BINARIES[@]}"; do
      bench_boot "$BENCH_WORK/n$b" "$command" "$seconds" "$marker" "${BENCH_BINARIES[$b]}" run \
        --bios "$NIMBUS_OPENSBI_DYNAMIC" --kernel "$kernel" --initrd "$initrd" --mem 512M --append "$append" --jit on
      "$take" "$b" "$BENCH_WORK/n$b"
    done
  done
}
