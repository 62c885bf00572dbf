#!/usr/bin/env bash
# Configures and builds Nimbus. Usage: scripts/build.sh [release|sanitize|fuzz] (default release).
#   release  -> build/release  (RelWithDebInfo, -O2; the binary users run)
#   sanitize -> build/sanitize (ASan + UBSan; unit tests only)
#   fuzz     -> build/fuzz     (clang 14, libFuzzer + ASan + UBSan; the fuzz targets only, docs/fuzzing.md)
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
  fuzz)
    # The same settings as the `fuzz` preset of CMakePresets.json.
    cmake -S "$root" -B "$root/build/fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DNIMBUS_FUZZ=ON -DNIMBUS_WERROR=OFF \
      -DNIMBUS_BENCHMARKS=OFF >/dev/null
    ninja -C "$root/build/fuzz" -j "$jobs" fuzz_targets
    ;;
  *)
    echo "scripts/build.sh: unknown flavor '$flavor' (use release, sanitize or fuzz)" >&2
    exit 2
    ;;
esac
