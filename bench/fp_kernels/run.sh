#!/usr/bin/env bash
# Floating-point kernels built as gcc builds C by default (fused multiply-adds: fp_kernels.c) on
# QEMU and on Nimbus's JIT (bench/bare_kernels.sh). Usage:
#   bench/fp_kernels/run.sh NIMBUS_BINARY... [-- ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_file="$here/fp_kernels.c"
names=(matmul nbody saxpy stencil horner convert clamp round)
reps=(8 8 30 24 40 40 12 10)
cflags="-O2 -fno-math-errno"
# shellcheck source=bench/bare_kernels.sh
source "$here/../bare_kernels.sh"
