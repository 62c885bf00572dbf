#pragma once
// A VM snapshot on disk (docs/migration.md): a directory holding `state` (the snapshot
// container: configuration, clock, vCPUs, devices, and which memory pages exist) and one memory
// file (`memory-<id>`, raw guest RAM, sparse: only non-zero pages are written). Vm::save_snapshot
// writes one; load_snapshot reads and checks the state file so `nimbus run --restore` can build
// the VM from it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hypervisor/vm_config.hpp"
#include "machine/snapshot_format.hpp"

namespace nimbus::hypervisor {

namespace snapshot_tags {
inline constexpr uint32_t kConfig = machine::snapshot::make_tag("VMCF");
inline constexpr uint32_t kVm = machine::snapshot::make_tag("VMST");
inline constexpr uint32_t kMemory = machine::snapshot::make_tag("MEMR");
inline constexpr uint32_t kReservation = machine::snapshot::make_tag("RSRV");
inline constexpr uint32_t kCpu = machine::snapshot::make_tag("CPU_");
} // namespace snapshot_tags

inline constexpr const char* kSnapshotStateFile = "state";
inline constexpr uint64_t kMaxSnapshotStateBytes = 64ull << 20;

struct SnapshotImage {
  std::filesystem::path dir;
  VmConfig config;
  std::vector<machine::snapshot::Section> sections;
  const machine::snapshot::Section* find(uint32_t tag, uint32_t instance = 0) const;
  // Throws FormatError naming the missing section.
  const machine::snapshot::Section& get(uint32_t tag, uint32_t instance = 0) const;
};

// The modes whose VMs can be snapshotted and restored: all three (emulate, trap, hw). Kept as a
// function so a future mode can say no before any VM is built.
inline bool snapshot_supported(VirtMode mode) {
  return mode == VirtMode::emulate || mode == VirtMode::trap || mode == VirtMode::hw;
}

// Reads <dir>/state. Throws machine::snapshot::FormatError (corrupt, truncated, newer version,
// a configuration that makes no sense) or std::runtime_error (cannot read the file), each
// message naming the file.
std::shared_ptr<const SnapshotImage> load_snapshot(const std::filesystem::path& dir);

// The VMCF section of a configuration, and back (throws FormatError).
machine::snapshot::Section encode_config(const VmConfig& config);
VmConfig decode_config(const machine::snapshot::Section& section);
// The state format version a snapshot or migration of a VM with `config` needs: 2 with network
// interfaces (VMCF names them), else 1 (what an older nimbus reads).
uint32_t snapshot_format_version(const VmConfig& config);

} // namespace nimbus::hypervisor
