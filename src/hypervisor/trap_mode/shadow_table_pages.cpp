#include "hypervisor/trap_mode/shadow_table_pages.hpp"

#include <cstring>

namespace nimbus::hypervisor {

ShadowTablePages::ShadowTablePages(FramePool& pool, VmId owner, uint64_t limit_pages)
    : pool_(pool), owner_(owner), limit_(limit_pages) {}

ShadowTablePages::~ShadowTablePages() {
  for (const FrameNumber frame : frames_) pool_.release(frame, owner_);
}

std::optional<uint64_t> ShadowTablePages::allocate() {
  if (in_use_ >= limit_) return std::nullopt;
  if (!free_.empty()) {
    const uint64_t page = free_.back();
    free_.pop_back();
    std::memset(entries(page), 0, kPageSize);
    ++in_use_;
    return page;
  }
  if (next_ == end_) {
    const auto frame = pool_.allocate(owner_);
    if (!frame) return std::nullopt;
    frames_.push_back(*frame);
    next_ = pool_.frame_offset(*frame); // the pool zeroes frames before handing them out
    end_ = next_ + pool_.frame_size();
  }
  const uint64_t page = next_;
  next_ += kPageSize;
  carved_.push_back(page);
  ++in_use_;
  return page;
}

void ShadowTablePages::release(uint64_t page) {
  free_.push_back(page);
  --in_use_;
}

void ShadowTablePages::release_all() {
  free_ = carved_;
  in_use_ = 0;
}

} // namespace nimbus::hypervisor
