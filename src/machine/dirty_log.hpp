#pragma once
// Dirty-page logging for live migration (docs/migration.md, "Live migration"): one bit per
// 4 KiB page of RAM, set by every write path the emulator controls while logging is on (a hart
// installing a store entry in its soft TLB, the hart's slow store path, device DMA into RAM,
// loaders, the VMM writing guest memory), read and cleared by the migration in rounds.
//
// The hot path stays untouched: a store that hits the soft TLB marks nothing. Instead the page
// is marked when its store entry is installed, and whoever clears the log must flush every
// hart's store entries in the same step (at a round boundary, on the VM's thread), so the next
// store to a page sent since then goes through the slow path and marks it again.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace nimbus::machine {

class DirtyLog {
public:
  static constexpr uint64_t kPageSize = 4096;
  static constexpr unsigned kPageShift = 12;

  explicit DirtyLog(uint64_t ram_size);

  uint64_t pages() const { return pages_; }
  // Marks every page that [offset, offset + len) touches (offsets from the start of RAM);
  // offsets beyond RAM are ignored. Any thread.
  void mark(uint64_t offset, uint64_t len) {
    if (len == 0 || offset >= ram_size_) return;
    const uint64_t last_byte = offset + len - 1 < ram_size_ ? offset + len - 1 : ram_size_ - 1;
    for (uint64_t page = offset >> kPageShift; page <= last_byte >> kPageShift; ++page)
      words_[page / 64].fetch_or(uint64_t{1} << (page % 64), std::memory_order_relaxed);
  }
  void mark_all();
  // The pages marked since the last take, as a bitmap (bit p of word p/64), and clears them.
  std::vector<uint64_t> take();
  // Pages currently marked (for estimates; racy while writers run).
  uint64_t count() const;

private:
  uint64_t ram_size_;
  uint64_t pages_;
  uint64_t word_count_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

} // namespace nimbus::machine
