#pragma once
// The machine's memory as one pool of frames (sized by --machine-mem), shared by all VMs.
// Frames are 4 KiB by default; the VMM uses 2 MiB frames, as huge pages are used under KVM, so a
// VM's view of its RAM needs few host mappings (host memory is still committed per 4 KiB page
// touched). Frames are handed out one at a time when a guest first touches a page and come back
// when the VM is destroyed. Each frame records its owner, so a frame can never be in two VMs at once and a
// VM can only return frames it holds. Host memory behind a frame is committed only when touched
// (the pool is one sparse memfd: machine memory that VM views map frame by frame, and that
// harts in trap and hw mode address directly as machine-physical memory), and a returned frame is zeroed before anyone sees it
// again, so no VM ever reads another VM's bytes. Thread-safe: vCPUs of different VMs fault in
// pages concurrently.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

namespace nimbus::hypervisor {

inline constexpr uint64_t kFrameSize = 4096;
inline constexpr unsigned kFrameShift = 12;

using FrameNumber = uint32_t;   // 2^32 frames of 4 KiB = 16 TiB, far beyond any host we target
using VmId = uint32_t;          // 0 means "no owner" (a free frame)
inline constexpr VmId kNoVm = 0;

class FramePoolError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class FramePool {
public:
  // Throws FramePoolError if the size is zero, not whole frames, too large, or cannot be mapped,
  // or if frame_bytes is not a power of two of at least 4 KiB.
  explicit FramePool(uint64_t machine_bytes, uint64_t frame_bytes = kFrameSize);
  ~FramePool();
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;

  // A new owner identity for a VM (never kNoVm, never reused while the pool lives).
  VmId register_vm();

  // One zero-filled frame for `owner`, or nullopt when every frame is in use.
  std::optional<FrameNumber> allocate(VmId owner);

  // Gives a frame back. Throws FramePoolError if `owner` does not hold it (a VMM bug we must
  // not paper over: it would let one VM free another's memory).
  void release(FrameNumber frame, VmId owner);

  // Host address of a frame's bytes. Only its owner's GuestMemory hands this out.
  uint8_t* frame_data(FrameNumber frame) const { return base_ + (uint64_t{frame} << frame_shift_); }
  // Machine-physical offset of a frame (its byte offset in machine memory).
  uint64_t frame_offset(FrameNumber frame) const { return uint64_t{frame} << frame_shift_; }

  uint64_t frame_size() const { return uint64_t{1} << frame_shift_; }
  unsigned frame_shift() const { return frame_shift_; }
  // The whole of machine memory: host address, size, and the memfd behind it (for views).
  uint8_t* base() const { return base_; }
  uint64_t bytes() const { return mapped_bytes_; }
  int fd() const { return fd_; }

  uint64_t total_frames() const { return total_frames_; }
  uint64_t free_frames() const;
  uint64_t frames_owned_by(VmId owner) const;
  VmId owner_of(FrameNumber frame) const;

private:
  int fd_ = -1;
  unsigned frame_shift_ = kFrameShift;
  uint8_t* base_ = nullptr;
  uint64_t mapped_bytes_ = 0;
  uint64_t total_frames_ = 0;
  mutable std::mutex mutex_;
  std::vector<VmId> owner_;              // per frame
  std::vector<FrameNumber> free_list_;   // returned frames, reused first (already zeroed)
  uint64_t never_used_ = 0;              // frames [never_used_, total) were never handed out
  uint64_t in_use_ = 0;
  std::vector<uint64_t> owned_count_;    // per VmId
};

} // namespace nimbus::hypervisor
