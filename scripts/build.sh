#!/usr/bin/env bash
# Configures and builds Nimbus. Usage: scripts/build.sh [release|sanitize] (default release).
#   release  -> build/release  (RelWithDebInfo, -O2; the binary users run)
#   sanitize -> build/sanitize (ASan + UBSan; unit tests only)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
flavor="${1:-release}"
jobs="${NIMBUS_JOBS:-$(nproc)}"
case "$flavor" in
  release)
    cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ninja -C "$root/build/release" -j "$jobs"
    ;;
  sanitize)
    cmake -S "$root" -B "$root/build/sanitize" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNIMBUS_SANITIZE=ON \
      -DNIMBUS_BENCHMARKS=OFF >/dev/null
    ninja -C "$root/build/sanitize" -j "$jobs" unit_tests
    ;;
  *)
    echo "scripts/build.sh: unknown flavor '$flavor' (use release or sanitize)" >&2
    exit 2
    ;;
esac
