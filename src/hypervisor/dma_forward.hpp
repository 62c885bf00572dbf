#pragma once
// Devices write guest RAM through the VM's bus, by guest-physical address; the hart of a trap or
// hw mode vCPU decodes (and translates) code from machine memory through a bus of its own. This
// tells the hart's bus which machine pages the devices wrote since `seen`, so it drops the
// decoded code of exactly those pages (docs/jit.md): a virtio transfer no longer throws away
// every translated block. When the device bus no longer knows the pages (too many since
// `seen`, or a write of "anything"), the hart's bus hears "anything may have changed".
#include <cstdint>

#include "hypervisor/guest_memory.hpp"
#include "machine/bus.hpp"

namespace nimbus::hypervisor {

// `machine_base`: where machine memory starts on `machine_bus`. Returns the generation seen now.
uint64_t forward_dma_writes(const machine::Bus& devices, uint64_t seen, const GuestMemory& ram, machine::Bus& machine_bus,
                            uint64_t machine_base);

} // namespace nimbus::hypervisor
