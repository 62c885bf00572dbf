#pragma once
// A hart's host-mapped window (docs/jit.md, "The host-mapped window"): per translation context,
// 4 GiB of host address space in which the guest page at virtual address v is mapped at offset
// (v mod 4 GiB), by a second mapping of the bus's own RAM (shared_ram.hpp: mremap of size 0).
// Generated code of a U-mode unit whose access finds its page there (SoftTlb::window_tag) reads
// or writes window + (v mod 4 GiB): the access waits for the address only, not for the soft-TLB
// entry's addend behind it, which is what a chase through pages placed one by one (a process's
// heap) otherwise waits on at every step. Slots are mapped on demand and only ever hold a page
// some entry mapped; whether an access may use one is the window tag's business, not the
// slot's protection (readable and writable). The oldest slot is unmapped when the window holds
// kMaxPages, or the process kProcessMaxPages (each is a host mapping, and the host limits a
// process's mappings: vm.max_map_count, 65530 by default).
#include <cstdint>
#include <optional>
#include <vector>

#include "machine/zero_pages.hpp"

namespace nimbus::machine {

class HostWindow {
public:
  static constexpr unsigned kSlotBits = 20; // slots per context: the 4 KiB pages of 4 GiB
  static constexpr uint64_t kContextBytes = uint64_t{1} << (kSlotBits + 12);
  static constexpr unsigned kMaxPages = 16384;
  static constexpr unsigned kProcessMaxPages = 32768;

  // Reserves the address space (no host memory) for `contexts` contexts, slots to hold pages
  // of `ram` (shared memory); throws std::bad_alloc when the host will not.
  HostWindow(uint8_t* ram, unsigned contexts);
  ~HostWindow();
  HostWindow(const HostWindow&) = delete;
  HostWindow& operator=(const HostWindow&) = delete;

  const uint8_t* base(unsigned context) const { return base_ + context * kContextBytes; }
  static constexpr uint32_t slot_of(uint64_t vaddr) { return static_cast<uint32_t>(vaddr >> 12) & ((1u << kSlotBits) - 1); }

  // Whether the slot of vaddr in `context` maps RAM's page at `ram_offset`.
  bool maps(unsigned context, uint64_t vaddr, uint64_t ram_offset) const {
    return state(context, slot_of(vaddr)) == ram_offset / 4096 + 1;
  }
  struct Slot {
    unsigned context;
    uint32_t slot;
  };
  // Maps RAM's page at `ram_offset` at the slot of vaddr in `context` (whatever it held before
  // goes). To make room the window may first unmap its oldest slot: `evicted` names
  // it. False when the host refused a mapping (the slot then maps nothing).
  bool map(unsigned context, uint64_t vaddr, uint64_t ram_offset, std::optional<Slot>& evicted);
  unsigned mapped_pages() const { return count_; }
  // Whether a map at vaddr's slot in `context` would change or unmap nothing already mapped
  // (an empty slot, room in the window and the process).
  bool map_is_fresh(unsigned context, uint64_t vaddr) const;

private:
  uint32_t& state(unsigned context, uint32_t slot) const {
    return static_cast<uint32_t*>(states_.data())[(uint64_t{context} << kSlotBits) + slot];
  }
  bool unmap(unsigned context, uint32_t slot);
  void evict_oldest(std::optional<Slot>& evicted);

  uint8_t* ram_;
  unsigned contexts_;
  uint8_t* base_ = nullptr;
  // Per slot: RAM's page number + 1 it maps, 0 for none (PROT_NONE, reserved), or
  // kEmptyInRing for none while the ring still lists it (a remap the host refused).
  static constexpr uint32_t kEmptyInRing = ~uint32_t{0};
  ZeroPages states_;
  // The mapped slots, oldest first from head_ (a ring of context << kSlotBits | slot).
  std::vector<uint32_t> ring_;
  unsigned head_ = 0;
  unsigned count_ = 0;
};

} // namespace nimbus::machine
