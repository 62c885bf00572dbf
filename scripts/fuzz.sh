#!/usr/bin/env bash
# Builds the fuzz flavor (clang 14, libFuzzer + ASan + UBSan) and runs every fuzz target for a
# bounded time from the project's seed corpus; fails on any crash, sanitizer report, leak,
# timeout or out-of-memory. Prints executions and coverage per target. docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]     (default 30 s; every target)
#        scripts/fuzz.sh --help
#        scripts/fuzz.sh --coverage [TARGET...]   line coverage (llvm-cov) that the corpus left by
#                                                 earlier runs reaches (tests/fuzz/coverage.sh)
#   NIMBUS_FUZZ_JOBS   targets run at once (default: the number of CPUs, at most 2)
#   NIMBUS_FUZZ_CORPUS corpus directory kept between runs (default build/fuzz/corpus); new
#                      inputs the fuzzer finds are added to it, seeds are regenerated each run
# Crash inputs go to build/fuzz/crashes/<target>-crash-<sha1>; reproduce one with
#   build/fuzz/tests/fuzz/fuzz_<target> build/fuzz/crashes/<file>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" = --coverage ]; then
  shift
  exec bash "$root/tests/fuzz/coverage.sh" "$@"
fi
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
seconds="${1:-30}"
shift || true
# libFuzzer reads a -max_total_time it cannot parse as 0, that is "no limit": refuse it here.
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] \
  || { echo "fuzz: SECONDS-PER-TARGET must be a whole number of seconds above 0, got '$seconds' (see --help)" >&2; exit 2; }
build="$root/build/fuzz"
all_targets=(decoder page_walk g_stage shadow_tables virtio_blk virtio_rng virtio_net virtio_balloon virtio_console uart plic clint loader device_tree snapshot vm_config
             placement cloud_api api_requests etcd_values migration_stream tunnel_packet)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
jobs="${NIMBUS_FUZZ_JOBS:-$(nproc)}"
[ "$jobs" -le 2 ] || jobs=2
corpus_root="${NIMBUS_FUZZ_CORPUS:-$build/corpus}"

# The largest input each target reads: the loader takes whole firmware images (OpenSBI's ELF is
# 114 KiB); the others read small structured inputs.
max_len() {
  case "$1" in
    loader) echo 131072 ;;
    snapshot|placement|device_tree|virtio_blk|virtio_rng|virtio_net) echo 16384 ;;
    migration_stream) echo 32768 ;;   # room for a PAGES frame of a few 4 KiB pages
    *) echo 4096 ;;
  esac
}

start=$(date +%s)
bash "$root/scripts/build.sh" fuzz
echo "fuzz: build took $(( $(date +%s) - start )) s"
seeds="$build/seeds"
bash "$root/tests/fuzz/make-seeds.sh" "$build" "$seeds"
mkdir -p "$build/crashes" "$build/logs"

run_target() {
  local t="$1" corpus="$corpus_root/$1" log="$build/logs/$1.log"
  mkdir -p "$corpus" "$seeds/$t"   # a target that builds its inputs itself has no seeds
  rm -f "$build/logs/$t.status"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: ASan's shadow plus a 1 GiB input
  # budget; leaks are checked (ASan's LeakSanitizer) at the end of every input that leaked.
  if "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" \
      "$corpus" "$seeds/$t" > "$log" 2>&1; then
    echo ok > "$build/logs/$t.status"
  else
    echo "failed ($?)" > "$build/logs/$t.status"
  fi
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "fuzz: no target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-12s %-8s %12s %9s %8s %8s %8s\n' target status executions exec/s cov features corpus
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  status="$(cat "$build/logs/$t.status" 2>/dev/null || echo missing)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"   # a target that crashed at once has none
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")"
  printf '%-12s %-8s %12s %9s %8s %8s %8s\n' "$t" "${status%% *}" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}"
  if [ "$status" != ok ]; then
    failed=1
    echo "---- $t: the end of $log" >&2
    grep -E 'ERROR|invariant|runtime error|what\(\)|SUMMARY|Test unit written|#[0-9]+ 0x.* in .*(src|tests)\/' "$log" | head -20 >&2 || true
  fi
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $jobs at once, $(( $(date +%s) - start )) s"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; crash inputs are in $build/crashes (docs/fuzzing.md says how to reproduce)" >&2
  exit 1
fi
