#!/usr/bin/env bash
# Runs every Nimbus test: builds what is missing (release and ASan/UBSan builds, guest images,
# cached by content hash), then unit, differential and integration tests of the release build,
# then the unit tests again under ASan + UBSan, then every libFuzzer target for
# NIMBUS_FUZZ_SECONDS each (default 30, two at a time; 0 skips the stage) from the project's seeds
# (and, outside CI's clean clone, the corpus earlier runs left in build/fuzz/corpus); about 9
# minutes on a 2-core machine, docs/fuzzing.md "In CI".
# Usage: scripts/test.sh [ctest arguments...]   e.g. scripts/test.sh -L unit
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="${NIMBUS_JOBS:-$(nproc)}"

echo "== build (release)"
bash "$root/scripts/build.sh" release
echo "== guest images"
bash "$root/guests/build.sh"
echo "== tests (release build)"
ctest --test-dir "$root/build/release" --output-on-failure -j "$jobs" "$@"
echo "== build (ASan + UBSan)"
bash "$root/scripts/build.sh" sanitize
echo "== unit tests under ASan + UBSan"
# intercept_tls_get_addr=0: GCC 12's sanitizer runtime takes a dynamic TLS block whose address is
# 16 past a page boundary for glibc < 2.25's header and records a garbage range; LeakSanitizer's
# exit scan then dies on it ("Tracer caught signal 11"), at random, in tests that load the gRPC
# module (dlopen'd, so its TLS is dynamic). Off, dynamic TLS is not scanned for roots: a block held
# only there would be reported, never hidden.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build/sanitize" --output-on-failure -j "$jobs" -L unit
fuzz_seconds="${NIMBUS_FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzz targets (libFuzzer + ASan + UBSan, ${fuzz_seconds} s each)"
  bash "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi
