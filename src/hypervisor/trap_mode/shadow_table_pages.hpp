#pragma once
// 4 KiB page-table pages for shadow tables, carved out of machine frames owned by one VM.
// Frames come from the machine-wide pool under the VM's id (never another VM's) and go back to
// it when this allocator dies; pages freed earlier are kept for reuse. A limit bounds how much
// machine memory one vCPU's shadows may take: at the limit allocate() fails and the caller
// drops its shadows (release_all) and starts over.
#include <cstdint>
#include <optional>
#include <vector>

#include "hypervisor/frame_pool.hpp"

namespace nimbus::hypervisor {

class ShadowTablePages {
public:
  static constexpr uint64_t kPageSize = 4096;

  ShadowTablePages(FramePool& pool, VmId owner, uint64_t limit_pages);
  ~ShadowTablePages();
  ShadowTablePages(const ShadowTablePages&) = delete;
  ShadowTablePages& operator=(const ShadowTablePages&) = delete;

  // Machine address of a zeroed table page; nullopt at the limit or when the pool is empty.
  std::optional<uint64_t> allocate();
  void release(uint64_t page);
  // Every page carved so far becomes free (the shadows that used them are all dropped).
  void release_all();

  // The eight-byte entries of the table page at machine address `page`.
  uint64_t* entries(uint64_t page) const { return reinterpret_cast<uint64_t*>(pool_.base() + page); }

  uint64_t in_use() const { return in_use_; }
  uint64_t limit() const { return limit_; }
  size_t frames_held() const { return frames_.size(); }

private:
  FramePool& pool_;
  VmId owner_;
  uint64_t limit_;
  std::vector<FrameNumber> frames_;   // returned to the pool in the destructor
  std::vector<uint64_t> carved_;      // every page ever carved (for release_all)
  std::vector<uint64_t> free_;        // carved pages not in use (contents stale: zeroed on reuse)
  uint64_t next_ = 0, end_ = 0;       // the uncarved rest of the newest frame (fresh: zero)
  uint64_t in_use_ = 0;
};

} // namespace nimbus::hypervisor
