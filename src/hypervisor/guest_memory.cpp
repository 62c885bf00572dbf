#include "hypervisor/guest_memory.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace nimbus::hypervisor {

GuestMemory::GuestMemory(FramePool& pool, std::string vm_name, uint64_t ram_base, uint64_t ram_size)
    : pool_(pool), vm_name_(std::move(vm_name)), ram_base_(ram_base), ram_size_(ram_size) {
  if (ram_size == 0 || ram_size % kFrameSize != 0 || ram_base % kFrameSize != 0)
    throw FramePoolError(fmt::format("VM '{}': guest RAM 0x{:x}+0x{:x} must be a non-empty run of whole 4 KiB pages",
                                     vm_name_, ram_base, ram_size));
  if (ram_base + ram_size < ram_base)
    throw FramePoolError(fmt::format("VM '{}': guest RAM 0x{:x}+0x{:x} wraps past the end of the address space",
                                     vm_name_, ram_base, ram_size));
  pages_ = ram_size >> kFrameShift;
  page_frame_.reset(new std::atomic<FrameNumber>[pages_]);
  for (uint64_t i = 0; i < pages_; ++i) page_frame_[i].store(kNoFrame, std::memory_order_relaxed);
  id_ = pool_.register_vm();
}

GuestMemory::~GuestMemory() {
  for (uint64_t i = 0; i < pages_; ++i) {
    FrameNumber frame = page_frame_[i].load(std::memory_order_relaxed);
    if (frame != kNoFrame) pool_.release(frame, id_);
  }
}

GuestMemoryStatus GuestMemory::host_page(uint64_t gpa, uint8_t*& host) {
  if (!contains(gpa)) return GuestMemoryStatus::outside_ram;
  const uint64_t page = (gpa - ram_base_) >> kFrameShift;
  FrameNumber frame = page_frame_[page].load(std::memory_order_acquire);
  if (frame == kNoFrame) {
    std::lock_guard lock(fill_mutex_);
    frame = page_frame_[page].load(std::memory_order_relaxed);
    if (frame == kNoFrame) {
      auto fresh = pool_.allocate(id_);
      if (!fresh) return GuestMemoryStatus::frames_exhausted;
      frame = *fresh;
      page_frame_[page].store(frame, std::memory_order_release);
      resident_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  host = pool_.frame_data(frame) + (gpa & (kFrameSize - 1));
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::secure(uint64_t gpa, size_t len) {
  if (len == 0) return contains(gpa, 0) ? GuestMemoryStatus::ok : GuestMemoryStatus::outside_ram;
  if (!contains(gpa, len)) return GuestMemoryStatus::outside_ram;
  uint64_t first = gpa & ~(kFrameSize - 1);
  uint64_t last = (gpa + len - 1) & ~(kFrameSize - 1);
  for (uint64_t page = first;; page += kFrameSize) {
    uint8_t* unused = nullptr;
    GuestMemoryStatus status = host_page(page, unused);
    if (status != GuestMemoryStatus::ok) return status;
    if (page == last) break;
  }
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::read(uint64_t gpa, void* data, size_t len) {
  GuestMemoryStatus status = secure(gpa, len);
  if (status != GuestMemoryStatus::ok) return status;
  auto* out = static_cast<uint8_t*>(data);
  while (len > 0) {
    uint8_t* host;
    host_page(gpa, host);
    size_t chunk = std::min<uint64_t>(len, kFrameSize - (gpa & (kFrameSize - 1)));
    std::memcpy(out, host, chunk);
    out += chunk;
    gpa += chunk;
    len -= chunk;
  }
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::write(uint64_t gpa, const void* data, size_t len) {
  GuestMemoryStatus status = secure(gpa, len);
  if (status != GuestMemoryStatus::ok) return status;
  const auto* in = static_cast<const uint8_t*>(data);
  while (len > 0) {
    uint8_t* host;
    host_page(gpa, host);
    size_t chunk = std::min<uint64_t>(len, kFrameSize - (gpa & (kFrameSize - 1)));
    std::memcpy(host, in, chunk);
    in += chunk;
    gpa += chunk;
    len -= chunk;
  }
  return GuestMemoryStatus::ok;
}

std::string GuestMemory::describe(GuestMemoryStatus status, uint64_t gpa, size_t len) const {
  switch (status) {
  case GuestMemoryStatus::ok: return fmt::format("VM '{}': access to 0x{:x}+{} is fine", vm_name_, gpa, len);
  case GuestMemoryStatus::outside_ram:
    return fmt::format("VM '{}': guest-physical access 0x{:x}+{} lies outside its RAM [0x{:x}, 0x{:x})", vm_name_, gpa,
                       len, ram_base_, ram_base_ + ram_size_);
  case GuestMemoryStatus::frames_exhausted:
    return fmt::format("VM '{}': no machine frame left for guest-physical 0x{:x}: all {} frames of the machine pool "
                       "are in use ({} held by this VM)",
                       vm_name_, gpa, pool_.total_frames(), resident_pages());
  }
  return "unknown guest memory status";
}

std::vector<FrameNumber> GuestMemory::frames() const {
  std::vector<FrameNumber> held;
  for (uint64_t i = 0; i < pages_; ++i) {
    FrameNumber frame = page_frame_[i].load(std::memory_order_relaxed);
    if (frame != kNoFrame) held.push_back(frame);
  }
  return held;
}

} // namespace nimbus::hypervisor
