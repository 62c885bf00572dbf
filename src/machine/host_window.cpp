#include "machine/host_window.hpp"

#include <sys/mman.h>

#include <atomic>
#include <new>

namespace nimbus::machine {

namespace {
std::atomic<unsigned> process_pages{0}; // slots mapped by every window of the process
} // namespace

HostWindow::HostWindow(uint8_t* ram, unsigned contexts)
    : ram_(ram), contexts_(contexts), states_(sizeof(uint32_t) * (uint64_t{contexts} << kSlotBits)),
      ring_(kMaxPages) {
  void* p = mmap(nullptr, contexts * kContextBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<uint8_t*>(p);
}

HostWindow::~HostWindow() {
  munmap(base_, contexts_ * kContextBytes);
  process_pages.fetch_sub(count_, std::memory_order_relaxed);
}

bool HostWindow::unmap(unsigned context, uint32_t slot) {
  uint8_t* at = base_ + context * kContextBytes + (uint64_t{slot} << 12);
  state(context, slot) = 0;
  // Back to reserved address space: no other mapping may take the place.
  return mmap(at, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != MAP_FAILED;
}

void HostWindow::evict_oldest(std::optional<Slot>& evicted) {
  const uint32_t key = ring_[head_];
  head_ = (head_ + 1) % kMaxPages;
  --count_;
  process_pages.fetch_sub(1, std::memory_order_relaxed);
  const Slot s{key >> kSlotBits, key & ((1u << kSlotBits) - 1)};
  unmap(s.context, s.slot);
  evicted = s;
}

bool HostWindow::map_is_fresh(unsigned context, uint64_t vaddr) const {
  return state(context, slot_of(vaddr)) == 0 && count_ < kMaxPages &&
         process_pages.load(std::memory_order_relaxed) < kProcessMaxPages;
}

bool HostWindow::map(unsigned context, uint64_t vaddr, uint64_t ram_offset, std::optional<Slot>& evicted) {
  const uint32_t slot = slot_of(vaddr);
  uint32_t& st = state(context, slot);
  const bool fresh = st == 0;
  if (fresh) {
    if (count_ == kMaxPages || (process_pages.load(std::memory_order_relaxed) >= kProcessMaxPages && count_ > 0))
      evict_oldest(evicted);
    if (process_pages.load(std::memory_order_relaxed) >= kProcessMaxPages) return false;
  }
  uint8_t* at = base_ + context * kContextBytes + (uint64_t{slot} << 12);
  // A second mapping of the same shared page (mremap of size 0), in the slot's place.
  if (mremap(ram_ + ram_offset, 0, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, at) == MAP_FAILED) {
    // The old mapping may be gone already: make the slot reserved and empty again.
    if (!fresh) {
      unmap(context, slot);
      st = kEmptyInRing; // still listed: its turn in the ring unmaps it again, harmlessly
    }
    return false;
  }
  st = static_cast<uint32_t>(ram_offset / 4096 + 1);
  if (fresh) {
    ring_[(head_ + count_) % kMaxPages] = context << kSlotBits | slot;
    ++count_;
    process_pages.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

} // namespace nimbus::machine
