#include "machine/devices/virtqueue.hpp"

#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace nimbus::machine {
namespace {

struct Descriptor {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Descriptor) == Virtqueue::kDescSize);

// Callers have validated the ring, so paddr is in RAM.
uint16_t load16(Bus& bus, uint64_t paddr) {
  uint16_t v = 0;
  std::memcpy(&v, bus.ram_pointer(paddr, 2), 2);
  return v;
}

} // namespace

void Virtqueue::reset() {
  size = 0;
  ready = false;
  desc_addr = driver_addr = device_addr = 0;
  last_avail_ = used_index_ = 0;
}

bool Virtqueue::validate(const Bus& bus, uint32_t max_size, std::string& error) const {
  if (size == 0 || size > max_size || (size & (size - 1)) != 0) {
    error = fmt::format("queue size {} is not a power of two in 1..{}", size, max_size);
    return false;
  }
  const uint64_t desc_bytes = kDescSize * size;
  const uint64_t avail_bytes = 6 + 2ull * size; // flags, idx, ring[size], used_event
  const uint64_t used_bytes = 6 + 8ull * size;  // flags, idx, ring[size] of {id, len}, avail_event
  if (desc_addr % 16 || !bus.is_ram(desc_addr, desc_bytes)) {
    error = fmt::format("descriptor table at {:#x} is not 16-byte aligned guest RAM", desc_addr);
    return false;
  }
  if (driver_addr % 2 || !bus.is_ram(driver_addr, avail_bytes)) {
    error = fmt::format("available ring at {:#x} is not 2-byte aligned guest RAM", driver_addr);
    return false;
  }
  if (device_addr % 4 || !bus.is_ram(device_addr, used_bytes)) {
    error = fmt::format("used ring at {:#x} is not 4-byte aligned guest RAM", device_addr);
    return false;
  }
  return true;
}

Virtqueue::PopResult Virtqueue::pop(Bus& bus, DescriptorChain& chain, std::string& error, bool addresses_only) {
  if (!ready) return PopResult::kEmpty;
  std::atomic_thread_fence(std::memory_order_acquire); // read idx before the ring entries
  const uint16_t avail_idx = load16(bus, driver_addr + 2);
  const uint16_t outstanding = static_cast<uint16_t>(avail_idx - last_avail_);
  if (outstanding == 0) return PopResult::kEmpty;
  if (outstanding > size) {
    error = fmt::format("available index moved {} entries past a queue of {}", outstanding, size);
    return PopResult::kError;
  }
  const uint16_t head = load16(bus, driver_addr + 4 + 2ull * (last_avail_ % size));
  ++last_avail_;
  if (head >= size) {
    error = fmt::format("available ring names descriptor {} of a queue of {}", head, size);
    return PopResult::kError;
  }
  chain.reset(head);
  if (!walk(bus, desc_addr, size, head, true, addresses_only, chain, error)) return PopResult::kError;
  return PopResult::kChain;
}

bool Virtqueue::walk(Bus& bus, uint64_t table, uint32_t entries, uint16_t first, bool indirect_allowed,
                     bool addresses_only, DescriptorChain& chain, std::string& error) {
  uint32_t index = first;
  // A chain visits each descriptor at most once, so more steps than entries means a loop.
  for (uint32_t steps = 0;; ++steps) {
    if (steps >= entries) {
      error = fmt::format("descriptor chain at {} is longer than its table of {} (a loop?)", first, entries);
      return false;
    }
    Descriptor d{};
    if (!bus.is_ram(table + kDescSize * index, kDescSize)) {
      error = fmt::format("descriptor {} lies outside guest RAM", index);
      return false;
    }
    std::memcpy(&d, bus.ram_pointer(table + kDescSize * index, kDescSize), kDescSize);
    if (d.flags & kDescIndirect) {
      if (!indirect_allowed) {
        error = "indirect descriptor inside an indirect table";
        return false;
      }
      if (d.flags & kDescNext) {
        error = "indirect descriptor also has NEXT set";
        return false;
      }
      if (d.len == 0 || d.len % kDescSize != 0 || d.addr % 16 != 0 || !bus.is_ram(d.addr, d.len)) {
        error = fmt::format("indirect table at {:#x} of {} bytes is not an aligned table in guest RAM", d.addr, d.len);
        return false;
      }
      // The indirect table replaces the rest of the chain.
      return walk(bus, d.addr, d.len / static_cast<uint32_t>(kDescSize), 0, false, addresses_only, chain, error);
    }
    uint8_t* host = addresses_only ? nullptr : bus.ram_pointer(d.addr, d.len);
    if (addresses_only ? !bus.in_ram(d.addr, d.len) : !host) {
      error = fmt::format("buffer at {:#x} of {} bytes is not guest RAM", d.addr, d.len);
      return false;
    }
    if (chain.readable_bytes() + chain.writable_bytes() + d.len > kMaxChainBytes) {
      error = "descriptor chain exceeds the request size limit";
      return false;
    }
    if (d.flags & kDescWrite) {
      if (!addresses_only) bus.mark_dirty(d.addr, d.len);   // the device may write any of it
      chain.add_writable({host, d.len, d.addr});
    } else {
      if (!chain.writable().empty()) {
        error = "driver-readable descriptor after a device-writable one";
        return false;
      }
      chain.add_readable({host, d.len});
    }
    if (!(d.flags & kDescNext)) return true;
    if (d.next >= entries) {
      error = fmt::format("descriptor {} points to {} past a table of {}", index, d.next, entries);
      return false;
    }
    index = d.next;
  }
}

bool Virtqueue::push_used(Bus& bus, uint16_t head, uint32_t written, std::string& error) {
  const uint64_t slot = device_addr + 4 + 8ull * (used_index_ % size);
  uint8_t* elem = bus.ram_pointer(slot, 8);
  uint8_t* idx = bus.ram_pointer(device_addr + 2, 2);
  if (!elem || !idx) {
    error = "used ring is no longer in guest RAM";
    return false;
  }
  bus.mark_dirty(slot, 8);
  bus.mark_dirty(device_addr + 2, 2);
  const uint32_t id = head;
  std::memcpy(elem, &id, 4);
  std::memcpy(elem + 4, &written, 4);
  ++used_index_;
  std::atomic_thread_fence(std::memory_order_release); // the element before the index
  std::memcpy(idx, &used_index_, 2);
  return true; // the transport calls note_dma_write once per batch
}

} // namespace nimbus::machine
