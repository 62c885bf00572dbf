#!/usr/bin/env bash
# Integer kernels (int_kernels.c) on QEMU and on Nimbus's JIT (bench/bare_kernels.sh). Usage:
#   bench/int_kernels/run.sh NIMBUS_BINARY... [-- ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_file="$here/int_kernels.c"
names=(crc sort sieve interp fib muldiv hash bits string)
# 40 repetitions: 2-3 s per run, so the machines' start-up (QEMU's is ~50 ms longer than
# Nimbus's) is a few per cent of a run, not a third of it as at 4 (0.1-0.3 s runs).
reps=(40 40 40 40 40 40 40 40 40)
cflags="-O2 -fno-builtin"
# shellcheck source=bench/bare_kernels.sh
source "$here/../bare_kernels.sh"
