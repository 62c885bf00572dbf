#include "machine/bus.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nimbus::machine {

namespace {
std::unique_ptr<std::atomic<uint64_t>[]> code_page_bits(uint64_t ram_size) {
  return std::make_unique<std::atomic<uint64_t>[]>(((ram_size + 4095) / 4096 + 63) / 64); // value-initialised: zero
}
} // namespace

Bus::Bus(uint64_t ram_base, uint64_t ram_size)
    : ram_base_(ram_base), ram_size_(ram_size),
      // Zero pages that only cost host memory once the guest touches them.
      own_ram_(std::make_unique<SharedRam>(ram_size)),
      ram_(static_cast<uint8_t*>(own_ram_->data())), code_pages_(code_page_bits(ram_size)) {}

Bus::Bus(uint64_t ram_base, uint64_t ram_size, RamBacking& backing)
    : ram_base_(ram_base), ram_size_(ram_size), ram_(backing.view()), backing_(&backing),
      code_pages_(code_page_bits(ram_size)) {}

void Bus::map(uint64_t base, uint64_t size, MmioDevice* device) {
  const auto overlaps = [&](uint64_t b, uint64_t s) { return base < b + s && b < base + size; };
  if (size == 0 || overlaps(ram_base_, ram_size_))
    throw std::invalid_argument("device window overlaps RAM: " + std::string(device->name()));
  for (const auto& w : windows_)
    if (overlaps(w.base, w.size))
      throw std::invalid_argument("device window of " + std::string(device->name()) + " overlaps " +
                                  std::string(w.device->name()));
  windows_.push_back({base, size, device});
  std::sort(windows_.begin(), windows_.end(), [](const Window& a, const Window& b) { return a.base < b.base; });
}

MmioDevice* Bus::device_at(uint64_t paddr, uint64_t* base) const {
  auto it = std::upper_bound(windows_.begin(), windows_.end(), paddr,
                             [](uint64_t addr, const Window& w) { return addr < w.base; });
  if (it == windows_.begin()) return nullptr;
  --it;
  if (paddr - it->base >= it->size) return nullptr;
  if (base) *base = it->base;
  return it->device;
}

const uint8_t* Bus::code_pointer(uint64_t paddr, uint64_t len) {
  if (uint8_t* p = ram_pointer(paddr, len)) return p;
  uint64_t base = 0;
  MmioDevice* dev = device_at(paddr, &base);
  if (!dev || device_at(paddr + len - 1) != dev) return nullptr;
  return dev->code_pointer(paddr - base, len);
}

bool Bus::read(uint64_t paddr, unsigned size, uint64_t& value) {
  if (uint8_t* p = ram_pointer(paddr, size)) {
    value = load_le(p, size); // host is little-endian like RISC-V
    return true;
  }
  uint64_t base = 0;
  MmioDevice* dev = device_at(paddr, &base);
  if (!dev || device_at(paddr + size - 1) != dev) return false;
  value = 0;
  return dev->read(paddr - base, size, value);
}

bool Bus::write(uint64_t paddr, unsigned size, uint64_t value) {
  if (uint8_t* p = ram_pointer(paddr, size)) {
    store_le(p, size, value);
    mark_dirty(paddr, size);
    return true;
  }
  uint64_t base = 0;
  MmioDevice* dev = device_at(paddr, &base);
  if (!dev || device_at(paddr + size - 1) != dev) return false;
  if (size < 8) value &= (uint64_t{1} << (8 * size)) - 1;
  return dev->write(paddr - base, size, value);
}

bool Bus::copy_to_ram(uint64_t paddr, const void* data, size_t len) {
  uint8_t* p = ram_pointer(paddr, len);
  if (!p) return false;
  if (len == 0) return true; // nothing written (and `data` may be null: an empty frame's)
  std::memcpy(p, data, len);
  mark_dirty(paddr, len);
  note_dma_write(paddr, len);
  return true;
}

bool Bus::discard_ram(uint64_t paddr, uint64_t len) {
  if (len == 0 || paddr % 4096 != 0 || len % 4096 != 0 || !in_ram(paddr, len)) return false;
  const uint64_t offset = paddr - ram_base_;
  bool released = false;
  if (backing_ != nullptr) {
    released = backing_->discard(offset, len);
  } else {
    // Our own memory: the pages go back and read as zeros, through every view.
    released = own_ram_->discard(offset, len);
  }
  if (!released) {
    // Cannot release (or a backing without the means): at least the guest reads zeros, as it
    // would from a released page. Only pages the host already holds are written.
    if (backing_ == nullptr || backing_->commit(offset, len)) std::memset(ram_ + offset, 0, len);
  }
  mark_dirty(paddr, len);
  note_dma_write(paddr, len);
  return true;
}

void Bus::note_dma_range(uint64_t first_page, uint64_t last_page) {
  // The marks count pages from ram_base_; they match page numbers when RAM starts on a page
  // (every board here). A partial last page, or pages outside RAM, are always logged.
  const uint64_t ram_first = ram_base_ >> 12, ram_end = (ram_base_ + ram_size_) >> 12;
  if (watch_code_.load(std::memory_order_relaxed) && ram_base_ % 4096 == 0 && first_page >= ram_first &&
      last_page < ram_end) {
    // The bytes are written: now look at the marks (the fence pairs with note_code_page's).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint64_t code_first = ~uint64_t{0}, code_last = 0;
    for (uint64_t page = first_page - ram_first; page <= last_page - ram_first;) {
      const uint64_t shift = page % 64;
      const uint64_t count = std::min<uint64_t>(64 - shift, last_page - ram_first - page + 1);
      const uint64_t mask = (count == 64 ? ~uint64_t{0} : ((uint64_t{1} << count) - 1)) << shift;
      std::atomic<uint64_t>& word = code_pages_[page / 64];
      if (word.load(std::memory_order_relaxed) & mask) {
        const uint64_t hit = word.fetch_and(~mask, std::memory_order_seq_cst) & mask;
        if (hit != 0) {
          const uint64_t base = page - shift + ram_first;
          code_first = std::min<uint64_t>(code_first, base + static_cast<uint64_t>(__builtin_ctzll(hit)));
          code_last = std::max<uint64_t>(code_last, base + 63 - static_cast<uint64_t>(__builtin_clzll(hit)));
        }
      }
      page += count;
    }
    if (code_first == ~uint64_t{0}) return; // no hart holds code there: nothing to drop
    first_page = code_first;
    last_page = code_last;
  }
  std::lock_guard lock(dma_mutex_);
  const uint64_t generation = dma_generation_.load(std::memory_order_relaxed) + 1;
  dma_log_[generation % kDmaLogEntries] = DmaPages{first_page, last_page};
  dma_generation_.store(generation, std::memory_order_release);
}

bool Bus::dma_pages_since(uint64_t seen, std::vector<DmaPages>& out) const {
  out.clear();
  std::lock_guard lock(dma_mutex_);
  const uint64_t generation = dma_generation_.load(std::memory_order_relaxed);
  if (generation - seen >= kDmaLogEntries) return false; // older entries are overwritten
  for (uint64_t g = seen + 1; g <= generation; ++g) {
    const DmaPages& d = dma_log_[g % kDmaLogEntries];
    if (d.first == 0 && d.last == ~uint64_t{0}) return false;
    out.push_back(d);
  }
  return true;
}

bool Bus::copy_from_ram(uint64_t paddr, void* data, size_t len) {
  const uint8_t* p = ram_pointer(paddr, len);
  if (!p) return false;
  std::memcpy(data, p, len);
  return true;
}

} // namespace nimbus::machine
