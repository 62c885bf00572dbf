#include "hypervisor/dma_forward.hpp"

#include <vector>

namespace nimbus::hypervisor {

uint64_t forward_dma_writes(const machine::Bus& devices, uint64_t seen, const GuestMemory& ram, machine::Bus& machine_bus,
                            uint64_t machine_base) {
  const uint64_t now = devices.dma_generation();
  if (now == seen) return now;
  // Past this many pages one "anything" costs less than naming each (harts look at each page).
  constexpr uint64_t kMostPages = 256;
  thread_local std::vector<machine::Bus::DmaPages> written;
  bool precise = devices.dma_pages_since(seen, written);
  uint64_t pages = 0;
  for (const machine::Bus::DmaPages& d : written) pages += d.last - d.first + 1;
  if (!precise || pages > kMostPages) {
    machine_bus.note_dma_write();
    return now;
  }
  for (const machine::Bus::DmaPages& d : written)
    for (uint64_t page = d.first; page <= d.last; ++page) {
      uint64_t machine = 0;
      // An untouched page has no frame, so no code either (and asking would allocate one).
      if (ram.machine_address_if_backed(page << 12, machine)) machine_bus.note_dma_write(machine_base + machine, 4096);
    }
  return now;
}

} // namespace nimbus::hypervisor
