#include "machine/dirty_log.hpp"

#include <bit>

namespace nimbus::machine {

DirtyLog::DirtyLog(uint64_t ram_size)
    : ram_size_(ram_size), pages_((ram_size + kPageSize - 1) / kPageSize), word_count_((pages_ + 63) / 64),
      words_(std::make_unique<std::atomic<uint64_t>[]>(word_count_)) {
  for (uint64_t i = 0; i < word_count_; ++i) words_[i].store(0, std::memory_order_relaxed);
}

void DirtyLog::mark_all() {
  for (uint64_t i = 0; i < word_count_; ++i) {
    const uint64_t bits = i + 1 < word_count_ || pages_ % 64 == 0 ? ~uint64_t{0} : (uint64_t{1} << (pages_ % 64)) - 1;
    words_[i].fetch_or(bits, std::memory_order_relaxed);
  }
}

std::vector<uint64_t> DirtyLog::take() {
  std::vector<uint64_t> bits(word_count_);
  for (uint64_t i = 0; i < word_count_; ++i) bits[i] = words_[i].exchange(0, std::memory_order_acq_rel);
  return bits;
}

uint64_t DirtyLog::count() const {
  uint64_t n = 0;
  for (uint64_t i = 0; i < word_count_; ++i) n += static_cast<uint64_t>(std::popcount(words_[i].load(std::memory_order_relaxed)));
  return n;
}

} // namespace nimbus::machine
