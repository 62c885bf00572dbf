#include "hypervisor/table_pages.hpp"

#include <cstring>

namespace nimbus::hypervisor {

TablePages::TablePages(FramePool& pool, VmId owner, uint64_t max_pages)
    : pool_(pool), owner_(owner), max_pages_(max_pages) {}

TablePages::~TablePages() {
  for (FrameNumber frame : frames_) pool_.release(frame, owner_);
}

std::optional<uint64_t> TablePages::allocate(unsigned count, uint64_t align) {
  const uint64_t frame_size = pool_.frame_size();
  const uint64_t bytes = uint64_t{count} * kFrameSize;
  if (count == 0 || align < kFrameSize || (align & (align - 1)) != 0 || align > frame_size || bytes > align)
    return std::nullopt;
  if (in_use_ + count > max_pages_) return std::nullopt;
  uint64_t at = (cursor_ + align - 1) & ~(align - 1);
  if (frames_.empty() || at + bytes > frame_size) {
    const auto frame = pool_.allocate(owner_);
    if (!frame) return std::nullopt;
    frames_.push_back(*frame);
    at = 0;
  }
  cursor_ = at + bytes;
  in_use_ += count;
  const uint64_t machine = pool_.frame_offset(frames_.back()) + at;
  std::memset(pool_.base() + machine, 0, bytes);   // a recycled frame is zero; a reused run may not be
  return machine;
}

void TablePages::release_all() {
  for (FrameNumber frame : frames_) pool_.release(frame, owner_);
  frames_.clear();
  cursor_ = 0;
  in_use_ = 0;
}

uint8_t* TablePages::host(uint64_t machine) const {
  const uint64_t frame_size = pool_.frame_size();
  for (FrameNumber frame : frames_) {
    const uint64_t start = pool_.frame_offset(frame);
    if (machine >= start && machine - start < frame_size) return pool_.base() + machine;
  }
  return nullptr;
}

} // namespace nimbus::hypervisor
