#pragma once
// A guest load or store that hit a device page the VMM keeps unmapped (trap and hw mode): the
// trapped instruction decoded into what the device access must be, and its execution on the
// VM's device bus. Only integer loads and stores reach devices (as under KVM, an FP, atomic or
// LR/SC access to MMIO is a guest error, reported as an access fault).
#include <cstdint>
#include <optional>

#include "machine/bus.hpp"

namespace nimbus::hypervisor {

struct MmioAccess {
  bool write = false;
  unsigned size = 0;          // 1, 2, 4 or 8 bytes
  bool sign_extend = false;   // loads: LB/LH/LW
  unsigned reg = 0;           // rd for loads, rs2 for stores
  unsigned length = 4;        // instruction bytes (2 when compressed)
};

// Decodes a 16- or 32-bit instruction; nullopt if it is not an integer load or store.
std::optional<MmioAccess> decode_mmio_access(uint32_t bits);

// Performs a load (returns the value to write into rd, sign-extended as the instruction says)
// or a store of `store_value`. nullopt if no device accepts the access (an access fault).
std::optional<uint64_t> perform_mmio(machine::Bus& devices, uint64_t gpa, const MmioAccess& access,
                                     uint64_t store_value);

} // namespace nimbus::hypervisor
