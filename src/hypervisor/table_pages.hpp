#pragma once
// 4 KiB page-table pages for one VM's VMM-built tables (G-stage tables in hw mode), carved out of
// machine frames that the VM itself owns, so a VM's tables count against its own memory, can
// never alias another VM's frames, and all go back to the pool with the VM. A cap bounds how much
// a guest can make the VMM allocate on its behalf.
#include <cstdint>
#include <optional>
#include <vector>

#include "hypervisor/frame_pool.hpp"

namespace nimbus::hypervisor {

class TablePages {
public:
  // `max_pages`: the most table pages this VM may hold at once.
  TablePages(FramePool& pool, VmId owner, uint64_t max_pages);
  ~TablePages();
  TablePages(const TablePages&) = delete;
  TablePages& operator=(const TablePages&) = delete;

  // A zeroed, `align`-byte aligned run of `count` pages (align a power of two, 4 KiB..frame
  // size; count * 4 KiB <= align); returns its machine address, or nullopt at the cap or when
  // the pool is exhausted.
  std::optional<uint64_t> allocate(unsigned count = 1, uint64_t align = 4096);
  // Returns every page (they are zeroed again before reuse).
  void release_all();

  uint64_t pages_in_use() const { return in_use_; }
  uint64_t frames_held() const { return frames_.size(); }
  // Host pointer for a machine address inside one of this VM's table pages, else nullptr.
  uint8_t* host(uint64_t machine) const;

private:
  FramePool& pool_;
  VmId owner_;
  uint64_t max_pages_;
  std::vector<FrameNumber> frames_;
  uint64_t cursor_ = 0;   // next free byte in the last frame
  uint64_t in_use_ = 0;
};

} // namespace nimbus::hypervisor
