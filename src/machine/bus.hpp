#pragma once
// The physical address space: one contiguous RAM region plus MMIO device windows.
// Harts translate a RAM address to a host pointer once (ram_pointer) and cache it in their soft
// TLB; MMIO accesses always go through read/write, which dispatch to the owning device.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "machine/dirty_log.hpp"
#include "machine/mmio_device.hpp"
#include "machine/shared_ram.hpp"

namespace nimbus::machine {

// Little-endian loads and stores of 1, 2, 4 or 8 bytes at a host pointer. A switch over the
// sizes lets the compiler emit one move each; a memcpy of a run-time size is a library call.
inline uint64_t load_le(const uint8_t* p, unsigned size) {
  switch (size) {
  case 1: return *p;
  case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
  case 4: { uint32_t v; std::memcpy(&v, p, 4); return v; }
  default: { uint64_t v; std::memcpy(&v, p, 8); return v; }
  }
}
inline void store_le(uint8_t* p, unsigned size, uint64_t value) {
  switch (size) {
  case 1: *p = static_cast<uint8_t>(value); return;
  case 2: { const auto v = static_cast<uint16_t>(value); std::memcpy(p, &v, 2); return; }
  case 4: { const auto v = static_cast<uint32_t>(value); std::memcpy(p, &v, 4); return; }
  default: std::memcpy(p, &value, 8); return;
  }
}

// RAM the bus does not own: a contiguous host view of [ram_base, ram_base + ram_size) whose
// pages the backing makes usable on demand (a VM's guest memory, backed by frames of the
// machine-wide pool). The bus asks before it hands out a pointer.
class RamBacking {
public:
  virtual ~RamBacking() = default;
  virtual uint8_t* view() = 0;
  // Makes [offset, offset + len) of the view readable and writable; false if it cannot be
  // backed (the frame pool is exhausted), which the bus reports as an access fault.
  virtual bool commit(uint64_t offset, uint64_t len) = 0;
  // Gives the host memory behind [offset, offset + len) (whole 4 KiB pages) back: afterwards
  // the range reads as zeros, and a later touch commits fresh memory. Returns false if the
  // backing cannot release memory (the bus then writes zeros itself).
  virtual bool discard(uint64_t offset, uint64_t len) { (void)offset; (void)len; return false; }
};

class Bus {
public:
  // RAM of its own: shared anonymous memory (shared_ram.hpp), committed by the host kernel on
  // first touch.
  Bus(uint64_t ram_base, uint64_t ram_size);
  // RAM provided by `backing` (which must outlive the bus).
  Bus(uint64_t ram_base, uint64_t ram_size, RamBacking& backing);
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  uint64_t ram_base() const { return ram_base_; }
  uint64_t ram_size() const { return ram_size_; }
  uint8_t* ram() { return ram_; }
  // Whether ram() is the bus's own, whose pages a hart may map again (host_window.hpp); a
  // backing's RAM (a VM's, a view of the VMM's frames) is not.
  bool ram_aliasable() const { return own_ram_ != nullptr; }

  // True if [paddr, paddr + len) lies entirely in RAM (and, with a backing, is backed: after a
  // true answer ram_pointer for the same range cannot fail).
  bool is_ram(uint64_t paddr, uint64_t len = 1) const {
    const bool inside = paddr >= ram_base_ && len <= ram_size_ && paddr - ram_base_ <= ram_size_ - len;
    return inside && (backing_ == nullptr || backing_->commit(paddr - ram_base_, len));
  }
  // Whether [paddr, paddr + len) lies entirely in RAM, without backing it (a balloon names pages
  // it must never make the host commit).
  bool in_ram(uint64_t paddr, uint64_t len) const {
    return paddr >= ram_base_ && len <= ram_size_ && paddr - ram_base_ <= ram_size_ - len;
  }
  // Memory the guest gave back (virtio-balloon): [paddr, paddr + len), whole 4 KiB pages inside
  // RAM, is released to the host and reads as zeros from now on. The dirty log hears of it (a
  // migration sends the zeros) and harts drop decoded code on those pages. False (nothing done)
  // for a range that is not page aligned or not inside RAM.
  bool discard_ram(uint64_t paddr, uint64_t len);

  // Host pointer to [paddr, paddr + len) if it lies entirely in RAM, else nullptr.
  uint8_t* ram_pointer(uint64_t paddr, uint64_t len = 1) {
    return is_ram(paddr, len) ? ram_ + (paddr - ram_base_) : nullptr;
  }

  // Host pointer for instruction fetch: RAM, or a device window that exposes read-only code
  // (the boot ROM). nullptr means an instruction access fault.
  const uint8_t* code_pointer(uint64_t paddr, uint64_t len);

  // Maps a device window; windows must not overlap RAM or each other (throws std::invalid_argument).
  void map(uint64_t base, uint64_t size, MmioDevice* device);
  // The device whose window holds paddr (and its base), or nullptr.
  MmioDevice* device_at(uint64_t paddr, uint64_t* base = nullptr) const;

  // Little-endian access of 1, 2, 4 or 8 bytes to RAM or a device. False means access fault
  // (nothing there, a window boundary crossed, or the device refused).
  bool read(uint64_t paddr, unsigned size, uint64_t& value);
  bool write(uint64_t paddr, unsigned size, uint64_t value);

  // Bulk copies for loaders and DMA; false if any byte falls outside RAM.
  bool copy_to_ram(uint64_t paddr, const void* data, size_t len);
  bool copy_from_ram(uint64_t paddr, void* data, size_t len);

  // Bumped whenever something other than a hart's own store path writes RAM (loaders, device
  // DMA), so harts can drop decoded code that may be stale. note_dma_write() says "anything may
  // have changed" (harts drop all their code); note_dma_write(paddr, len) names the bytes, so
  // harts drop only code on those pages (a network device writes thousands of frames a second
  // into buffers that never hold code).
  uint64_t dma_generation() const { return dma_generation_.load(std::memory_order_acquire); }
  void note_dma_write() { note_dma_range(0, ~uint64_t{0}); }
  void note_dma_write(uint64_t paddr, uint64_t len) {
    if (len != 0) note_dma_range(paddr >> 12, (paddr + len - 1) >> 12);
  }
  // Code watch: once a hart runs on this bus (watch_code_pages), a notice that names only RAM
  // pages no hart decoded code from is not logged at all, so the generation stays put and harts
  // (and their native code, which checks the generation at every block) carry on. A hart marks a
  // page (note_code_page) before it reads instructions from it; a notice that names a marked page
  // logs it and clears the mark, because every hart then drops its code there. Without a hart
  // (a VM's device bus in trap and hw modes, which the VMM forwards) every notice is logged.
  // Marking is a fenced read-modify-write and the notice fences between the data and the marks,
  // so either the notice sees the mark or the hart reads the new bytes.
  void watch_code_pages() { watch_code_.store(true, std::memory_order_seq_cst); }
  void note_code_page(uint64_t paddr) {
    if (paddr - ram_base_ >= ram_size_) return; // only RAM is written by DMA
    const uint64_t page = (paddr - ram_base_) >> 12;
    std::atomic<uint64_t>& word = code_pages_[page / 64];
    const uint64_t bit = uint64_t{1} << (page % 64);
    if ((word.load(std::memory_order_relaxed) & bit) == 0) word.fetch_or(bit, std::memory_order_seq_cst);
  }
  bool page_may_hold_code(uint64_t paddr) const {
    if (paddr - ram_base_ >= ram_size_) return true;
    const uint64_t page = (paddr - ram_base_) >> 12;
    return (code_pages_[page / 64].load(std::memory_order_relaxed) >> (page % 64)) & 1;
  }
  // The 4 KiB pages (first, last page number) written since generation `seen`, oldest first;
  // false when they are no longer all known (too many since, or one was "anything"): then
  // the caller drops everything.
  struct DmaPages {
    uint64_t first, last;
  };
  bool dma_pages_since(uint64_t seen, std::vector<DmaPages>& out) const;
  // For generated code (an aligned 64-bit load is atomic on x86-64).
  const uint64_t* dma_generation_address() const { return reinterpret_cast<const uint64_t*>(&dma_generation_); }

  // Live migration (dirty_log.hpp): while a log is set, every write path that reaches RAM
  // through the bus or a host pointer from it calls mark_dirty. Set and cleared on the VM's
  // thread between two rounds of its vCPUs.
  void set_dirty_log(DirtyLog* log) { dirty_log_ = log; }
  DirtyLog* dirty_log() const { return dirty_log_; }
  void mark_dirty(uint64_t paddr, uint64_t len) {
    if (dirty_log_ != nullptr && paddr >= ram_base_) dirty_log_->mark(paddr - ram_base_, len);
  }

private:
  struct Window {
    uint64_t base;
    uint64_t size;
    MmioDevice* device;
  };
  uint64_t ram_base_;
  uint64_t ram_size_;
  std::unique_ptr<SharedRam> own_ram_; // RAM of its own (no backing)
  uint8_t* ram_ = nullptr;
  RamBacking* backing_ = nullptr; // null: ram_ is own_ram_
  std::vector<Window> windows_; // sorted by base
  void note_dma_range(uint64_t first_page, uint64_t last_page);
  static constexpr size_t kDmaLogEntries = 256;
  // Devices on several threads (harts' MMIO, network threads) write RAM: the log is written and
  // read under dma_mutex_, and the generation is published after its entry.
  mutable std::mutex dma_mutex_;
  std::atomic<uint64_t> dma_generation_{0};
  static_assert(sizeof(std::atomic<uint64_t>) == sizeof(uint64_t) && std::atomic<uint64_t>::is_always_lock_free);
  DmaPages dma_log_[kDmaLogEntries] = {}; // entry of generation g at g % kDmaLogEntries
  std::atomic<bool> watch_code_{false};
  std::unique_ptr<std::atomic<uint64_t>[]> code_pages_; // one bit per RAM page (watch_code_pages)
  DirtyLog* dirty_log_ = nullptr;
};

} // namespace nimbus::machine
