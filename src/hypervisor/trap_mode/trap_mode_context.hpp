#pragma once
// What the VMM core hands a trap-mode vCPU: the VM's memory and devices, its clock, and limits.
#include <cstdint>

#include "hypervisor/frame_pool.hpp"
#include "hypervisor/guest_memory.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart_reservation_set.hpp"

namespace nimbus::hypervisor {

struct TrapModeContext {
  FramePool& pool;             // machine memory: the hart runs on it, shadow tables are carved from it
  GuestMemory& memory;         // this VM's guest-physical RAM (frames of `pool` owned by the VM)
  machine::Bus& device_bus;    // this VM's guest-physical bus: MMIO to its devices goes here
  machine::Clock& clock;       // the VM clock (time CSR, timer deadlines)
  unsigned hart_id = 0;        // the guest's hart id (a0 at start)
  // LR/SC reservations shared by the VM's harts (null: the vCPU keeps its own).
  machine::ReservationSet* reservations = nullptr;
  // Shadow page-table pages this vCPU may hold (4 KiB each); at the limit every shadow of the
  // vCPU is dropped and rebuilt on demand.
  uint64_t shadow_table_limit = 4096;
  // Guest address spaces (satp values) whose shadows are kept at once; the least recently used
  // one is dropped beyond that.
  unsigned shadow_spaces = 16;
};

} // namespace nimbus::hypervisor
