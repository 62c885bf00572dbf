#pragma once
// Shadow page tables of one trap-mode vCPU: guest-virtual -> machine address, in machine memory,
// in the format the hart walks. The hart always runs in U-mode, so every shadow leaf has U=1;
// the guest's privilege is expressed by which root the hart uses:
//   supervisor root — guest kernel pages, and guest user pages only while the guest has SUM
//                     set (never executable; dropped again when SUM is cleared);
//   user root       — guest user pages only.
// Shadows are kept per guest address space (the guest's satp: mode, ASID and root), a small
// LRU cache, so switching between processes does not rebuild them. Leaves are 4 KiB whatever
// the guest's page size, filled on demand at shadow misses, and dropped when the guest fences
// (SFENCE.VMA by address, by ASID — sparing global leaves — or all).
#include <cstdint>
#include <vector>

#include "hypervisor/trap_mode/shadow_table_pages.hpp"

namespace nimbus::hypervisor {

class ShadowPageTables {
public:
  enum class Root : uint8_t { supervisor = 0, user = 1 };

  struct Leaf {
    uint64_t machine_page = 0;   // machine address of the 4 KiB frame page
    bool read = false, write = false, execute = false;
    bool global = false;         // from a global guest mapping: survives ASID fences
    bool sum_user = false;       // a guest user page in the supervisor root (SUM): dropped when SUM clears
  };

  enum class Result : uint8_t {
    ok,
    reset,    // the table limit was hit: every shadow was dropped first (hart satp and TLB are stale)
    failed,   // no table page even after dropping everything
  };

  ShadowPageTables(ShadowTablePages& pages, unsigned max_spaces);

  // Makes the address space of guest satp `guest_satp` current (an existing shadow or a new one).
  void select(uint64_t guest_satp);
  uint64_t current_key() const { return current_key_; }

  // The satp value for the hart that runs on `root` of the current space (allocating the root
  // table if needed); `result` tells whether that needed a reset. 0 if it failed.
  uint64_t hart_satp(Root root, Result& result);

  // The satp value of `root` of the current space as hart_satp gives it, or 0 if it has no table.
  uint64_t existing_hart_satp(Root root) const;

  // Writes one 4 KiB leaf for `va` into `root` of the current space.
  Result map(Root root, uint64_t va, const Leaf& leaf);

  void invalidate_address(uint64_t va);    // every space, both roots
  void invalidate_asid(uint64_t asid);     // non-global leaves of the spaces with this ASID
  void invalidate_all();                   // every space dropped, every table page freed
  // Drops the guest user pages mapped into the current supervisor root under SUM. Returns
  // whether any was mapped (the hart's cached translations must then be dropped).
  bool clear_sum_leaves();
  // Clears W in every leaf of every space (live migration: the next store to each page faults
  // and is marked dirty). The caller drops the hart's cached translations.
  void protect_writes();

  uint64_t resets() const { return resets_; }
  // Counts the times table pages were given back (a space dropped, or every space): a root's
  // machine address may then name another table, so the hart's translations cached per root
  // (Hart::switch_user_root) must go.
  uint64_t tables_released() const { return tables_released_; }
  size_t spaces() const { return spaces_.size(); }
  uint64_t table_pages() const { return pages_.in_use(); }
  // Leaf lookup for tests: the shadow PTE for `va` in `root` of the current space (0 if none).
  uint64_t lookup(Root root, uint64_t va) const;

  static constexpr uint64_t kGlobalSoftwareBit = uint64_t{1} << 8; // RSW: the hart ignores it
  // SUM leaves remembered per space; beyond that they are dropped early (a guest that keeps SUM
  // set and refills the same pages must not grow the list without bound).
  static constexpr size_t kMaxSumSlots = 4096;

private:
  static constexpr uint64_t kNoRoot = ~uint64_t{0};
  struct Space {
    uint64_t key = 0;                 // guest satp
    uint64_t roots[2] = {kNoRoot, kNoRoot};  // machine addresses (0 is a valid one)
    std::vector<uint64_t> tables;     // every table page of the space (roots included)
    std::vector<uint64_t> sum_slots;  // machine addresses of SUM leaves in the supervisor root
    bool sum_mapped = false;          // a SUM leaf was written since SUM was last cleared
    uint64_t last_used = 0;
  };

  Space& current() { return spaces_[current_index_]; }
  // Allocates a table page for the current space; on the limit, resets and reports it.
  bool new_table(uint64_t& page, Result& result);
  void drop_space(size_t index);
  unsigned levels() const;
  uint64_t* slot_for(uint64_t root, uint64_t va, unsigned levels) const;
  uint8_t* pool_byte(uint64_t machine) const { return reinterpret_cast<uint8_t*>(pages_.entries(0)) + machine; }

  ShadowTablePages& pages_;
  unsigned max_spaces_;
  std::vector<Space> spaces_;
  size_t current_index_ = 0;
  uint64_t current_key_ = 0;
  uint64_t clock_ = 0;
  uint64_t resets_ = 0;
  uint64_t tables_released_ = 0;
};

} // namespace nimbus::hypervisor
