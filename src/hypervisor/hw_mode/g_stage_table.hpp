#pragma once
// The G-stage (guest-physical -> machine-physical) page table of one VM in hw mode, in the
// format the H extension's hgatp walks: Sv39x4 (41-bit guest-physical addresses, a 16 KiB root).
// The VMM fills it on demand at G-stage faults, one 4 KiB page or one 2 MiB megapage at a time,
// always pointing at frames the VM owns. Every leaf is U=1 (the spec treats all G-stage
// accesses as user accesses) with A and D preset, so the hart never writes the table.
// The VM's vCPUs may run on threads of their own (docs/smp.md): the VMM's changes are made under
// one lock; the harts' walkers read the table without it, as harts read the guest's own page
// tables while another hart writes them (each PTE is one aligned 8-byte store).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>

#include "hypervisor/table_pages.hpp"

namespace nimbus::hypervisor {

class GStageTable {
public:
  static constexpr uint64_t kModeSv39x4 = 8;
  static constexpr uint64_t kGuestAddressBits = 41;
  static constexpr uint64_t kMegapage = 2ull << 20;

  enum Permission : uint64_t { kRead = 1u << 1, kWrite = 1u << 2, kExecute = 1u << 3 };

  // Tables are written through `machine_memory` (host address of machine address
  // `machine_base`). Throws std::runtime_error if the root cannot be allocated.
  GStageTable(TablePages& pages, uint8_t* machine_memory, uint64_t machine_base);

  // hgatp value selecting this table for `vmid`.
  uint64_t hgatp(uint16_t vmid) const;

  enum class MapStatus { ok, no_table_memory, bad_address, conflict };
  // Maps [gpa, gpa + size) to [machine, machine + size); size is 4 KiB or 2 MiB, both addresses
  // aligned to it. Remapping an already-mapped page to the same target is ok (with the new
  // permissions); to another target, a 4 KiB page inside an existing megapage, or a megapage
  // over a table of 4 KiB pages is a conflict.
  MapStatus map(uint64_t gpa, uint64_t machine, uint64_t size, uint64_t permissions);
  // Drops every mapping (the caller then issues HFENCE.GVMA / flushes the hart).
  void clear();
  // Live migration: clears W in every 4 KiB leaf and drops every megapage (which refault as
  // 4 KiB pages while dirty pages are logged), so the next guest store to each page is a
  // G-stage fault. The caller flushes the harts' cached translations.
  void protect_writes();

  // Software walk (for tests, audits and "is this mapped"): the machine address gpa maps to.
  std::optional<uint64_t> translate(uint64_t gpa) const;
  uint64_t mapped_bytes() const {
    std::lock_guard lock(mutex_);
    return mapped_bytes_;
  }
  uint64_t root() const { return root_; }

private:
  uint64_t* table(uint64_t machine) const { return reinterpret_cast<uint64_t*>(memory_ + (machine - base_)); }
  std::optional<uint64_t> allocate_root();

  mutable std::mutex mutex_;   // every change to the table and its counters
  TablePages& pages_;
  uint8_t* memory_;
  uint64_t base_;
  std::atomic<uint64_t> root_{0};   // read by hgatp() without the lock
  uint64_t mapped_bytes_ = 0;
};

} // namespace nimbus::hypervisor
