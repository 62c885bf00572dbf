#include "hypervisor/hw_mode/g_stage_table.hpp"

#include <cstring>
#include <stdexcept>

namespace nimbus::hypervisor {

namespace {

constexpr uint64_t kValid = 1;
constexpr uint64_t kUser = 1u << 4;
constexpr uint64_t kAccessed = 1u << 6;
constexpr uint64_t kDirty = 1u << 7;
constexpr uint64_t kLeafBits = GStageTable::kRead | GStageTable::kWrite | GStageTable::kExecute;
constexpr unsigned kPpnShift = 10;

uint64_t pte_target(uint64_t pte) { return (pte >> kPpnShift) << 12; }
uint64_t make_pte(uint64_t machine, uint64_t bits) { return ((machine >> 12) << kPpnShift) | bits; }

// Index into the table at `level` (2 = root, whose index has two extra bits in the x4 modes).
uint64_t index_at(uint64_t gpa, unsigned level) {
  const uint64_t shift = 12 + 9 * level;
  const uint64_t width = level == 2 ? 11 : 9;
  return (gpa >> shift) & ((uint64_t{1} << width) - 1);
}

} // namespace

GStageTable::GStageTable(TablePages& pages, uint8_t* machine_memory, uint64_t machine_base)
    : pages_(pages), memory_(machine_memory), base_(machine_base) {
  const auto root = allocate_root();
  if (!root) throw std::runtime_error("no machine memory left for the VM's G-stage root table");
  root_ = *root;
}

std::optional<uint64_t> GStageTable::allocate_root() {
  // The x4 root spans four pages and must be 16 KiB aligned.
  const auto offset = pages_.allocate(4, 16 * 1024);
  if (!offset) return std::nullopt;
  return base_ + *offset;
}

uint64_t GStageTable::hgatp(uint16_t vmid) const {
  return (kModeSv39x4 << 60) | (uint64_t{vmid} << 44) | (root_ >> 12);
}

GStageTable::MapStatus GStageTable::map(uint64_t gpa, uint64_t machine, uint64_t size, uint64_t permissions) {
  if ((size != 4096 && size != kMegapage) || gpa % size != 0 || machine % size != 0 ||
      (gpa >> kGuestAddressBits) != 0 || (permissions & ~kLeafBits) != 0 || (permissions & kLeafBits) == 0 ||
      ((permissions & kWrite) && !(permissions & kRead)))
    return MapStatus::bad_address;
  std::lock_guard lock(mutex_);
  const unsigned leaf_level = size == kMegapage ? 1 : 0;
  const uint64_t leaf = make_pte(machine, permissions | kValid | kUser | kAccessed | kDirty);
  uint64_t at = root_;
  for (unsigned level = 2;; --level) {
    uint64_t& pte = table(at)[index_at(gpa, level)];
    if (level == leaf_level) {
      if (pte & kValid) {
        if (!(pte & kLeafBits) || pte_target(pte) != machine) return MapStatus::conflict;
        pte = leaf;   // the same page: new permissions (write after a write-protect)
        return MapStatus::ok;
      }
      pte = leaf;
      mapped_bytes_ += size;
      return MapStatus::ok;
    }
    if (pte & kValid) {
      if (pte & kLeafBits) return MapStatus::conflict;   // a larger leaf already covers it
      at = pte_target(pte);
      continue;
    }
    const auto next = pages_.allocate();
    if (!next) return MapStatus::no_table_memory;
    pte = make_pte(base_ + *next, kValid);
    at = base_ + *next;
  }
}

void GStageTable::clear() {
  std::lock_guard lock(mutex_);
  pages_.release_all();
  mapped_bytes_ = 0;
  const auto root = allocate_root();
  if (!root) throw std::runtime_error("no machine memory left for the VM's G-stage root table");
  root_ = *root;
}

void GStageTable::protect_writes() {
  std::lock_guard lock(mutex_);
  // The tree from the root: 2048 root entries, then 512 per table.
  for (uint64_t i2 = 0; i2 < 2048; ++i2) {
    const uint64_t p2 = table(root_)[i2];
    if (!(p2 & kValid) || (p2 & kLeafBits)) continue;   // map() never makes root leaves
    uint64_t* level1 = table(pte_target(p2));
    for (unsigned i1 = 0; i1 < 512; ++i1) {
      uint64_t& p1 = level1[i1];
      if (!(p1 & kValid)) continue;
      if (p1 & kLeafBits) {
        p1 = 0;
        mapped_bytes_ -= kMegapage;
        continue;
      }
      uint64_t* level0 = table(pte_target(p1));
      for (unsigned i0 = 0; i0 < 512; ++i0)
        if (level0[i0] & kValid) level0[i0] &= ~uint64_t{kWrite};
    }
  }
}

std::optional<uint64_t> GStageTable::translate(uint64_t gpa) const {
  if ((gpa >> kGuestAddressBits) != 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  uint64_t at = root_;
  for (unsigned level = 2;; --level) {
    const uint64_t pte = table(at)[index_at(gpa, level)];
    if (!(pte & kValid)) return std::nullopt;
    if (pte & kLeafBits) {
      const uint64_t span = uint64_t{1} << (12 + 9 * level);
      return pte_target(pte) + (gpa & (span - 1));
    }
    if (level == 0) return std::nullopt;
    at = pte_target(pte);
  }
}

} // namespace nimbus::hypervisor
