#pragma once
// The guest's own page tables (Sv39/Sv48/Sv57, or bare), walked by the VMM as the guest's MMU
// would: in guest-physical memory, with the guest's permission rules for its virtual privilege
// (U bit, SUM, MXR), setting A (and D on a write) in the guest PTE as hardware would.
#include <cstdint>

#include "hypervisor/guest_memory.hpp"

namespace nimbus::hypervisor {

enum class GuestAccess : uint8_t { fetch, load, store };

struct GuestWalkRequest {
  uint64_t satp = 0;       // the guest's satp (mode, ASID, root PPN)
  bool user = false;       // the access is made by virtual U-mode
  bool sum = false;        // sstatus.SUM of the guest
  bool mxr = false;        // sstatus.MXR of the guest
};

struct GuestTranslation {
  enum class Status : uint8_t { ok, page_fault, access_fault };
  Status status = Status::page_fault;
  uint64_t gpa = 0;        // guest-physical address of the accessed byte
  uint64_t pte = 0;        // the leaf as the guest now has it (bare: R|W|X|A|D)
  bool global = false;     // G on the leaf or any table above it
};

// Walks for one access. A PTE outside guest RAM is an access fault (as a PMA violation would
// be); nothing outside the VM's RAM is ever read.
GuestTranslation walk_guest(GuestMemory& memory, const GuestWalkRequest& request, uint64_t va, GuestAccess access);

// PTE bits (privileged spec, Sv39).
namespace pte {
inline constexpr uint64_t kV = 1, kR = 2, kW = 4, kX = 8, kU = 16, kG = 32, kA = 64, kD = 128;
inline constexpr uint64_t kPpnMask = (uint64_t{1} << 44) - 1;
} // namespace pte

} // namespace nimbus::hypervisor
