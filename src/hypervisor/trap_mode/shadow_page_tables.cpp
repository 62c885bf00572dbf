#include "hypervisor/trap_mode/shadow_page_tables.hpp"

#include "hypervisor/trap_mode/guest_page_walk.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor {

namespace satp = riscv::csr::satp;

namespace {
// Shadow mode follows the guest's (same canonical-address rules); a bare guest gets Sv39, which
// covers every guest-physical RAM address we configure (below 256 GiB).
uint64_t shadow_mode(uint64_t guest_satp) {
  const uint64_t mode = guest_satp >> satp::kModeShift;
  return mode == satp::kModeBare ? satp::kModeSv39 : mode;
}
unsigned levels_of(uint64_t mode) { return mode == satp::kModeSv39 ? 3 : mode == satp::kModeSv48 ? 4 : 5; }
uint64_t asid_of(uint64_t guest_satp) { return (guest_satp & satp::kAsidMask) >> 44; }
bool canonical(uint64_t va, unsigned levels) {
  const int64_t upper = static_cast<int64_t>(va) >> (12 + 9 * levels - 1);
  return upper == 0 || upper == -1;
}
bool is_leaf(uint64_t entry) { return (entry & pte::kV) && (entry & (pte::kR | pte::kW | pte::kX)); }
} // namespace

ShadowPageTables::ShadowPageTables(ShadowTablePages& pages, unsigned max_spaces)
    : pages_(pages), max_spaces_(max_spaces == 0 ? 1 : max_spaces) {
  select(0);
}

unsigned ShadowPageTables::levels() const { return levels_of(shadow_mode(current_key_)); }

void ShadowPageTables::select(uint64_t guest_satp) {
  current_key_ = guest_satp;
  ++clock_;
  for (size_t i = 0; i < spaces_.size(); ++i) {
    if (spaces_[i].key == guest_satp) {
      current_index_ = i;
      spaces_[i].last_used = clock_;
      return;
    }
  }
  if (spaces_.size() >= max_spaces_) {
    size_t oldest = 0;
    for (size_t i = 1; i < spaces_.size(); ++i)
      if (spaces_[i].last_used < spaces_[oldest].last_used) oldest = i;
    drop_space(oldest);
  }
  Space space;
  space.key = guest_satp;
  space.last_used = clock_;
  spaces_.push_back(std::move(space));
  current_index_ = spaces_.size() - 1;
}

void ShadowPageTables::drop_space(size_t index) {
  for (const uint64_t page : spaces_[index].tables) pages_.release(page);
  ++tables_released_;
  spaces_.erase(spaces_.begin() + static_cast<std::ptrdiff_t>(index));
}

bool ShadowPageTables::new_table(uint64_t& page, Result& result) {
  if (auto fresh = pages_.allocate()) {
    page = *fresh;
    current().tables.push_back(page);
    return true;
  }
  // At the limit: drop every shadow and start over with the current space alone.
  invalidate_all();
  ++resets_;
  result = Result::reset;
  select(current_key_);
  if (auto fresh = pages_.allocate()) {
    page = *fresh;
    current().tables.push_back(page);
    return true;
  }
  result = Result::failed;
  return false;
}

uint64_t ShadowPageTables::hart_satp(Root root, Result& result) {
  result = Result::ok;
  const auto r = static_cast<unsigned>(root);
  if (current().roots[r] == kNoRoot) {
    uint64_t page = 0;
    if (!new_table(page, result)) return 0;
    current().roots[r] = page;
  }
  return (shadow_mode(current_key_) << satp::kModeShift) | (current().roots[r] >> 12);
}

uint64_t ShadowPageTables::existing_hart_satp(Root root) const {
  const uint64_t table = spaces_[current_index_].roots[static_cast<unsigned>(root)];
  return table == kNoRoot ? 0 : (shadow_mode(current_key_) << satp::kModeShift) | (table >> 12);
}

ShadowPageTables::Result ShadowPageTables::map(Root root, uint64_t va, const Leaf& leaf) {
  const unsigned n = levels();
  if (!canonical(va, n)) return Result::failed;
  Result result = Result::ok;
  // One restart at most: after a reset the space is empty, and a walk that still runs out of
  // table pages never will fit (a limit below the levels needed would otherwise loop forever).
  for (unsigned walks = 0;; ++walks) {
    if (walks == 2) return Result::failed;
    const auto r = static_cast<unsigned>(root);
    if (current().roots[r] == kNoRoot) {
      uint64_t page = 0;
      if (!new_table(page, result)) return Result::failed;
      current().roots[r] = page;
    }
    const uint64_t resets_before = resets_;
    uint64_t table = current().roots[r];
    bool restarted = false;
    for (unsigned level = n - 1; level > 0; --level) {
      uint64_t* slot = pages_.entries(table) + ((va >> (12 + 9 * level)) & 0x1ff);
      if (!(*slot & pte::kV)) {
        uint64_t page = 0;
        if (!new_table(page, result)) return Result::failed;
        if (resets_ != resets_before) { // every table went away: walk again from this fresh page as the root
          current().roots[r] = page;
          restarted = true;
          break;
        }
        *slot = ((page >> 12) << 10) | pte::kV;
      }
      table = ((*slot >> 10) & pte::kPpnMask) << 12;
    }
    if (restarted) continue;
    uint64_t entry = ((leaf.machine_page >> 12) << 10) | pte::kV | pte::kU | pte::kA | pte::kD;
    if (leaf.read) entry |= pte::kR;
    if (leaf.write) entry |= pte::kW;
    if (leaf.execute) entry |= pte::kX;
    if (leaf.global) entry |= kGlobalSoftwareBit;
    uint64_t* slot = pages_.entries(table) + ((va >> 12) & 0x1ff);
    *slot = entry;
    if (leaf.sum_user) {
      Space& space = current();
      if (space.sum_slots.size() >= kMaxSumSlots) {
        const uint64_t keep = table + ((va >> 12) & 0x1ff) * 8;
        for (const uint64_t other : space.sum_slots)
          if (other != keep) *reinterpret_cast<uint64_t*>(pool_byte(other)) = 0;
        space.sum_slots.clear();
      }
      space.sum_slots.push_back(table + ((va >> 12) & 0x1ff) * 8);
      space.sum_mapped = true;
    }
    return result;
  }
}

uint64_t* ShadowPageTables::slot_for(uint64_t root, uint64_t va, unsigned n) const {
  uint64_t table = root;
  for (unsigned level = n - 1; level > 0; --level) {
    const uint64_t entry = pages_.entries(table)[(va >> (12 + 9 * level)) & 0x1ff];
    if (!(entry & pte::kV)) return nullptr;
    table = ((entry >> 10) & pte::kPpnMask) << 12;
  }
  return pages_.entries(table) + ((va >> 12) & 0x1ff);
}

uint64_t ShadowPageTables::lookup(Root root, uint64_t va) const {
  const Space& space = spaces_[current_index_];
  const uint64_t r = space.roots[static_cast<unsigned>(root)];
  const unsigned n = levels();
  if (r == kNoRoot || !canonical(va, n)) return 0;
  const uint64_t* slot = slot_for(r, va, n);
  return slot ? *slot : 0;
}

void ShadowPageTables::invalidate_address(uint64_t va) {
  for (Space& space : spaces_) {
    const unsigned n = levels_of(shadow_mode(space.key));
    if (!canonical(va, n)) continue;
    for (const uint64_t root : space.roots) {
      if (root == kNoRoot) continue;
      if (uint64_t* slot = slot_for(root, va, n)) *slot = 0;
    }
  }
}

void ShadowPageTables::invalidate_asid(uint64_t asid) {
  for (Space& space : spaces_) {
    if ((space.key >> satp::kModeShift) == satp::kModeBare || asid_of(space.key) != asid) continue;
    // Table pages hold either table pointers or leaves; a linear scan finds every leaf.
    for (const uint64_t table : space.tables) {
      uint64_t* entries = pages_.entries(table);
      for (unsigned i = 0; i < 512; ++i)
        if (is_leaf(entries[i]) && !(entries[i] & kGlobalSoftwareBit)) entries[i] = 0;
    }
    // A global SUM leaf survives the fence and must still go when SUM clears.
    std::erase_if(space.sum_slots, [this](uint64_t slot) { return !is_leaf(*reinterpret_cast<uint64_t*>(pool_byte(slot))); });
  }
}

void ShadowPageTables::invalidate_all() {
  spaces_.clear();
  pages_.release_all();
  ++tables_released_;
  select(current_key_);
}

void ShadowPageTables::protect_writes() {
  // Table pages hold either table pointers or leaves; a linear scan finds every leaf.
  for (Space& space : spaces_)
    for (const uint64_t table : space.tables) {
      uint64_t* entries = pages_.entries(table);
      for (unsigned i = 0; i < 512; ++i)
        if (is_leaf(entries[i])) entries[i] &= ~pte::kW;
    }
}

bool ShadowPageTables::clear_sum_leaves() {
  Space& space = current();
  for (const uint64_t slot : space.sum_slots) *reinterpret_cast<uint64_t*>(pool_byte(slot)) = 0;
  space.sum_slots.clear();
  const bool mapped = space.sum_mapped;
  space.sum_mapped = false;
  return mapped;
}

} // namespace nimbus::hypervisor
