#!/usr/bin/env bash
# Builds nimbus-bench and nimbus-suite (the benchmark suite) for the guest (riscv64, static) and
# natively (x86-64, the physical limit), and nimbus-micro (the virtualization-cost
# microbenchmarks) for the guest.
# Usage: build-bench.sh OUTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
out="${1:?usage: build-bench.sh OUTDIR}"
mkdir -p "$out"
src="$NIMBUS_GUESTS_DIR/bench/nimbus-bench.c"
# -ffp-contract=off: no fused multiply-add, so riscv64 and x86-64 compute bit-identical checksums.
flags=(-O2 -std=c11 -D_POSIX_C_SOURCE=200809L -ffp-contract=off -fno-math-errno -Wall -Wextra -Werror)
"${NIMBUS_CROSS}gcc" "${flags[@]}" -static -o "$out/nimbus-bench" "$src"
"${NIMBUS_CROSS}strip" "$out/nimbus-bench"
gcc "${flags[@]}" -o "$out/nimbus-bench-native" "$src"
"${NIMBUS_CROSS}gcc" "${flags[@]}" -static -o "$out/nimbus-micro" "$NIMBUS_GUESTS_DIR/bench/nimbus-micro.c"
"${NIMBUS_CROSS}strip" "$out/nimbus-micro"
"${NIMBUS_CROSS}gcc" "${flags[@]}" -static -o "$out/nimbus-suite" "$NIMBUS_GUESTS_DIR/bench/nimbus-suite.c"
"${NIMBUS_CROSS}strip" "$out/nimbus-suite"
gcc "${flags[@]}" -o "$out/nimbus-suite-native" "$NIMBUS_GUESTS_DIR/bench/nimbus-suite.c"
guest_log "bench: built nimbus-bench (riscv64 static, $(stat -c %s "$out/nimbus-bench") bytes), nimbus-bench-native" \
  "nimbus-micro (riscv64 static, $(stat -c %s "$out/nimbus-micro") bytes) and nimbus-suite (+ native)"
