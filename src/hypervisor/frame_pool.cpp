#include "hypervisor/frame_pool.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace nimbus::hypervisor {

FramePool::FramePool(uint64_t machine_bytes) {
  if (machine_bytes == 0 || machine_bytes % kFrameSize != 0)
    throw FramePoolError(fmt::format("machine memory must be a positive number of 4 KiB frames, got {} bytes",
                                     machine_bytes));
  total_frames_ = machine_bytes >> kFrameShift;
  if (total_frames_ > (uint64_t{1} << 32) - 1)
    throw FramePoolError(fmt::format("machine memory of {} bytes exceeds the 16 TiB a frame pool can hold",
                                     machine_bytes));
  // MAP_NORESERVE: the host commits a page only when a guest touches its frame.
  void* mapping = mmap(nullptr, machine_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
  if (mapping == MAP_FAILED)
    throw FramePoolError(fmt::format("cannot reserve {} bytes of machine memory: {}", machine_bytes,
                                     std::strerror(errno)));
  base_ = static_cast<uint8_t*>(mapping);
  mapped_bytes_ = machine_bytes;
  owner_.assign(total_frames_, kNoVm);
  owned_count_.push_back(0);   // kNoVm's slot, unused
}

FramePool::~FramePool() { munmap(base_, mapped_bytes_); }

VmId FramePool::register_vm() {
  std::lock_guard lock(mutex_);
  owned_count_.push_back(0);
  return static_cast<VmId>(owned_count_.size() - 1);
}

std::optional<FrameNumber> FramePool::allocate(VmId owner) {
  std::lock_guard lock(mutex_);
  if (owner == kNoVm || owner >= owned_count_.size())
    throw FramePoolError(fmt::format("frame requested for unknown VM id {}", owner));
  FrameNumber frame;
  if (!free_list_.empty()) {
    frame = free_list_.back();
    free_list_.pop_back();
  } else if (never_used_ < total_frames_) {
    frame = static_cast<FrameNumber>(never_used_++);
  } else {
    return std::nullopt;
  }
  owner_[frame] = owner;
  ++owned_count_[owner];
  ++in_use_;
  return frame;
}

void FramePool::release(FrameNumber frame, VmId owner) {
  std::lock_guard lock(mutex_);
  if (frame >= total_frames_)
    throw FramePoolError(fmt::format("frame {} is outside the pool of {} frames", frame, total_frames_));
  if (owner == kNoVm || owner_[frame] != owner)
    throw FramePoolError(fmt::format("VM {} released frame {} which it does not own (owner {})", owner, frame,
                                     owner_[frame]));
  // Drop the host page: it reads as zeros for the next owner and stops costing host memory.
  // Fall back to clearing by hand if the kernel refuses.
  uint8_t* data = frame_data(frame);
  if (madvise(data, kFrameSize, MADV_DONTNEED) != 0) std::memset(data, 0, kFrameSize);
  owner_[frame] = kNoVm;
  --owned_count_[owner];
  --in_use_;
  free_list_.push_back(frame);
}

uint64_t FramePool::free_frames() const {
  std::lock_guard lock(mutex_);
  return total_frames_ - in_use_;
}

uint64_t FramePool::frames_owned_by(VmId owner) const {
  std::lock_guard lock(mutex_);
  return owner < owned_count_.size() && owner != kNoVm ? owned_count_[owner] : 0;
}

VmId FramePool::owner_of(FrameNumber frame) const {
  std::lock_guard lock(mutex_);
  return frame < total_frames_ ? owner_[frame] : kNoVm;
}

} // namespace nimbus::hypervisor
