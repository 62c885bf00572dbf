#include "hypervisor/trap_mode/guest_page_walk.hpp"

#include <atomic>

#include "riscv/csr.hpp"

namespace nimbus::hypervisor {

namespace satp = riscv::csr::satp;

GuestTranslation walk_guest(GuestMemory& memory, const GuestWalkRequest& request, uint64_t va, GuestAccess access) {
  using Status = GuestTranslation::Status;
  GuestTranslation result;
  const uint64_t mode = request.satp >> satp::kModeShift;
  if (mode == satp::kModeBare) {
    result.status = Status::ok;
    result.gpa = va;
    result.pte = pte::kV | pte::kR | pte::kW | pte::kX | pte::kA | pte::kD;
    return result;
  }
  const int levels = mode == satp::kModeSv39 ? 3 : mode == satp::kModeSv48 ? 4 : 5;
  const unsigned va_bits = 12 + 9 * static_cast<unsigned>(levels);
  const int64_t upper = static_cast<int64_t>(va) >> (va_bits - 1);
  if (upper != 0 && upper != -1) return result; // not canonical: page fault

restart: // another vCPU changed the PTE this walk was about to update: walk again
  uint64_t table = (request.satp & satp::kPpnMask) << 12;
  bool global = false;
  for (int level = levels - 1; level >= 0; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level);
    const uint64_t pte_gpa = table + ((va >> shift) & 0x1ff) * 8;
    uint8_t* host = nullptr;
    if (memory.host_page(pte_gpa, host) != GuestMemoryStatus::ok || !memory.contains(pte_gpa, 8)) {
      result.status = Status::access_fault;
      return result;
    }
    // Other vCPUs of the VM may update the same PTE concurrently.
    std::atomic_ref<uint64_t> slot(*reinterpret_cast<uint64_t*>(host));
    uint64_t entry = slot.load(std::memory_order_acquire);
    if (!(entry & pte::kV) || (!(entry & pte::kR) && (entry & pte::kW))) return result;
    if (entry >> 54) return result; // reserved bits; no Svpbmt or Svnapot
    global = global || (entry & pte::kG);
    const uint64_t ppn = (entry >> 10) & pte::kPpnMask;
    if (!(entry & (pte::kR | pte::kX))) {
      if (entry & (pte::kD | pte::kA | pte::kU)) return result;
      table = ppn << 12;
      continue;
    }
    if (ppn & ((uint64_t{1} << (shift - 12)) - 1)) return result; // misaligned superpage
    if (entry & pte::kU) {
      if (!request.user && (access == GuestAccess::fetch || !request.sum)) return result;
    } else if (request.user) {
      return result;
    }
    bool permitted = false;
    switch (access) {
    case GuestAccess::fetch: permitted = entry & pte::kX; break;
    case GuestAccess::load: permitted = (entry & pte::kR) || (request.mxr && (entry & pte::kX)); break;
    case GuestAccess::store: permitted = entry & pte::kW; break;
    }
    if (!permitted) return result;
    const uint64_t wanted = pte::kA | (access == GuestAccess::store ? pte::kD : 0);
    if ((entry & wanted) != wanted) {
      // Atomically with the checks above, as the spec asks: only the PTE this walk read gets the
      // bits. An OR into whatever is there now could set A and D in a PTE another vCPU has just
      // cleared or made a swap entry (Linux keeps the swap type in bits 7-11 of an invalid PTE).
      if (!slot.compare_exchange_strong(entry, entry | wanted, std::memory_order_acq_rel)) goto restart;
      entry |= wanted;
      memory.mark_dirty(pte_gpa, 8);   // written through a host pointer: live migration must hear of it
    }
    const uint64_t offset_mask = (uint64_t{1} << shift) - 1;
    result.status = Status::ok;
    result.gpa = ((ppn << 12) & ~offset_mask) | (va & offset_mask);
    result.pte = entry;
    result.global = global;
    return result;
  }
  return result;
}

} // namespace nimbus::hypervisor
