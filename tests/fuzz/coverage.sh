#!/usr/bin/env bash
# Source-based coverage (llvm-cov) that each fuzz target's corpus reaches in the code it tests:
# builds build/fuzz-coverage (the fuzz flavor plus -fprofile-instr-generate -fcoverage-mapping),
# replays build/fuzz/corpus/<target> and the seeds (left by scripts/fuzz.sh) with -runs=0, and prints line,
# function and region coverage of the target's own source files. Needs llvm-14 (llvm-profdata-14, llvm-cov-14).
# Usage: tests/fuzz/coverage.sh [TARGET...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build/fuzz-coverage"
corpus_root="${NIMBUS_FUZZ_CORPUS:-$root/build/fuzz/corpus}"
jobs="${NIMBUS_JOBS:-$(nproc)}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decoder page_walk g_stage shadow_tables virtio_blk virtio_rng virtio_net virtio_balloon virtio_console uart plic clint loader device_tree
                                    snapshot vm_config placement cloud_api api_requests etcd_values migration_stream tunnel_packet)
s="$root/src"
# The files each target is about (the "code under test" column of docs/fuzzing.md).
sources() {
  case "$1" in
    decoder) echo "$s/riscv/decoder.cpp $s/riscv/compressed.cpp" ;;
    page_walk) echo "$s/machine/mmu.cpp $s/hypervisor/trap_mode/guest_page_walk.cpp" ;;
    g_stage) echo "$s/hypervisor/hw_mode/g_stage_table.cpp $s/machine/mmu.cpp" ;;
    shadow_tables) echo "$s/hypervisor/trap_mode/shadow_page_tables.cpp $s/hypervisor/trap_mode/shadow_table_pages.cpp" ;;
    virtio_blk) echo "$s/machine/devices/virtio_block.cpp $s/machine/devices/virtio_mmio.cpp $s/machine/devices/virtqueue.cpp $s/machine/devices/descriptor_chain.cpp" ;;
    virtio_rng) echo "$s/machine/devices/virtio_entropy.cpp $s/machine/devices/virtio_mmio.cpp $s/machine/devices/virtqueue.cpp $s/machine/devices/descriptor_chain.cpp" ;;
    virtio_net) echo "$s/machine/devices/virtio_net.cpp $s/machine/devices/virtio_mmio.cpp $s/machine/devices/virtqueue.cpp $s/machine/devices/descriptor_chain.cpp" ;;
    virtio_balloon) echo "$s/machine/devices/virtio_balloon.cpp $s/machine/devices/virtio_mmio.cpp $s/machine/devices/virtqueue.cpp $s/machine/devices/descriptor_chain.cpp" ;;
    virtio_console) echo "$s/machine/devices/virtio_console.cpp $s/machine/devices/virtio_mmio.cpp $s/machine/devices/virtqueue.cpp $s/machine/devices/descriptor_chain.cpp" ;;
    tunnel_packet) echo "$s/hypervisor/net_tunnel.cpp $s/hypervisor/net_tunnel_auth.cpp $s/hypervisor/net_switch.cpp" ;;
    uart) echo "$s/machine/devices/uart_16550.cpp" ;;
    plic) echo "$s/machine/devices/plic.cpp" ;;
    clint) echo "$s/machine/devices/clint.cpp" ;;
    loader) echo "$s/machine/boot_loader.cpp" ;;
    device_tree) echo "$s/machine/device_tree.cpp" ;;
    snapshot) echo "$s/machine/snapshot_format.cpp $s/machine/devices/device_state.cpp $s/machine/hart_state.cpp $s/machine/board.cpp" ;;
    vm_config) echo "$s/hypervisor/vm_config.cpp" ;;
    placement) echo "$s/cloud/placement/bpp_format.cpp $s/cloud/placement/vbp_format.cpp $s/cloud/placement/json_instance_format.cpp $s/cloud/placement/located_json.cpp $s/cloud/placement/text_lines.cpp $s/cloud/placement/instance_reader.cpp $s/cloud/placement/simulator/trace_csv.cpp" ;;
    cloud_api) echo "$s/cloud/controller/logic.cpp $s/cloud/controller/model.cpp $s/cloud/host/vm_spec.cpp" ;;
    migration_stream) echo "$s/hypervisor/migration_stream.cpp" ;;
    api_requests) echo "$s/cloud/controller/api_routes.hpp $s/cloud/host/agent_routes.hpp" ;;
    etcd_values) echo "$s/cloud/controller/model.cpp" ;;  # and the reply decoders of etcd_client.cpp
  esac
}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 -DNIMBUS_FUZZ=ON -DNIMBUS_FUZZ_COVERAGE=ON -DNIMBUS_WERROR=OFF \
  -DNIMBUS_BENCHMARKS=OFF >/dev/null
ninja -C "$build" -j "$jobs" $(printf 'fuzz_%s ' "${targets[@]}")
mkdir -p "$build/profiles"
printf '%-16s %8s %10s %10s %10s  %s\n' target inputs lines functions regions files
for t in "${targets[@]}"; do
  corpus="$corpus_root/$t"
  [ -d "$corpus" ] || { echo "coverage: no corpus $corpus (run scripts/fuzz.sh first)" >&2; exit 2; }
  rm -f "$build/profiles/$t".*
  # The seeds too (build/fuzz/seeds, written by scripts/fuzz.sh): every run starts from them.
  seeds="$root/build/fuzz/seeds/$t"
  [ -d "$seeds" ] || seeds=""
  LLVM_PROFILE_FILE="$build/profiles/$t.%p.profraw" "$build/tests/fuzz/fuzz_$t" -runs=0 "$corpus" $seeds \
    > "$build/profiles/$t.log" 2>&1
  llvm-profdata-14 merge -sparse "$build/profiles/$t".*.profraw -o "$build/profiles/$t.profdata"
  # The per-file rows of the whole report (file names as the compiler recorded them, relative
  # once ccache rewrote them), summed over the target's own files: regions, missed,
  # functions, missed, lines, missed.
  files="$(sources "$t" | tr ' ' '\n' | sed "s|$s/||" | paste -sd' ')"
  read -r regions functions lines <<< "$(llvm-cov-14 report "$build/tests/fuzz/fuzz_$t" \
    -instr-profile="$build/profiles/$t.profdata" | awk -v files="$files" '
      BEGIN { n = split(files, f, " ") }
      { for (i = 1; i <= n; i++) if (index($1, f[i]) && substr($1, length($1) - length(f[i]) + 1) == f[i]) {
          r += $2; rm += $3; fn += $5; fnm += $6; l += $8; lm += $9 } }
      END { printf "%.2f%% %.2f%% %.2f%%\n", r ? 100 * (r - rm) / r : 0, fn ? 100 * (fn - fnm) / fn : 0,
                   l ? 100 * (l - lm) / l : 0 }')"
  printf '%-16s %8s %10s %10s %10s  %s\n' "$t" "$(ls "$corpus" | wc -l)" "$lines" "$functions" "$regions" \
    "$(sources "$t" | tr ' ' '\n' | sed "s|$s/||" | paste -sd, -)"
done
