#include "hypervisor/frame_pool.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nimbus::hypervisor {

FramePool::FramePool(uint64_t machine_bytes, uint64_t frame_bytes) {
  if (frame_bytes < kFrameSize || (frame_bytes & (frame_bytes - 1)) != 0)
    throw FramePoolError(fmt::format("frame size must be a power of two of at least 4 KiB, got {} bytes", frame_bytes));
  frame_shift_ = static_cast<unsigned>(__builtin_ctzll(frame_bytes));
  if (machine_bytes == 0 || machine_bytes % frame_bytes != 0)
    throw FramePoolError(fmt::format("machine memory must be a positive number of {} KiB frames, got {} bytes",
                                     frame_bytes >> 10, machine_bytes));
  total_frames_ = machine_bytes >> frame_shift_;
  if (total_frames_ > (uint64_t{1} << 32) - 1)
    throw FramePoolError(fmt::format("machine memory of {} bytes holds more frames than a frame pool can count",
                                     machine_bytes));
  // A sparse memfd: the host commits a page only when a guest touches it, and VM views can map
  // single frames of it at any address (MAP_SHARED aliases of the same machine memory).
  fd_ = memfd_create("nimbus-machine-memory", MFD_CLOEXEC);
  if (fd_ < 0) throw FramePoolError(fmt::format("cannot create machine memory: memfd_create: {}", std::strerror(errno)));
  if (ftruncate(fd_, static_cast<off_t>(machine_bytes)) != 0) {
    const int error = errno;
    close(fd_);
    throw FramePoolError(fmt::format("cannot size machine memory to {} bytes: {}", machine_bytes, std::strerror(error)));
  }
  void* mapping = mmap(nullptr, machine_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_, 0);
  if (mapping == MAP_FAILED) {
    const int error = errno;
    close(fd_);
    throw FramePoolError(fmt::format("cannot map {} bytes of machine memory: {}", machine_bytes, std::strerror(error)));
  }
  base_ = static_cast<uint8_t*>(mapping);
  mapped_bytes_ = machine_bytes;
  owner_.assign(total_frames_, kNoVm);
  owned_count_.push_back(0);   // kNoVm's slot, unused
}

FramePool::~FramePool() {
  munmap(base_, mapped_bytes_);
  close(fd_);
}

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
  // Punch the frame out of the memfd: it reads as zeros for the next owner (through every
  // mapping) and stops costing host memory. Fall back to clearing by hand if the kernel refuses.
  if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(frame_offset(frame)),
                static_cast<off_t>(frame_size())) != 0)
    std::memset(frame_data(frame), 0, frame_size());
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
