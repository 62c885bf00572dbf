#pragma once
// A dead guest kernel: its trap handler faults on its own first instruction (stvec unset, or
// pointing at nothing executable), so every trap re-enters the handler forever without retiring
// anything. The VMM stops such a VM instead of spinning on it.
#include <cstdint>

#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

// pc, tvec, epc and cause as the guest kernel's supervisor CSRs hold them right now.
inline bool trap_handler_faults_on_itself(uint64_t pc, uint64_t tvec, uint64_t epc, uint64_t cause) {
  using riscv::Exception;
  const uint64_t handler = tvec & ~uint64_t{3};
  if (pc != handler || epc != handler) return false;
  return cause == static_cast<uint64_t>(Exception::InstructionAccessFault) ||
         cause == static_cast<uint64_t>(Exception::IllegalInstruction) ||
         cause == static_cast<uint64_t>(Exception::InstructionPageFault) ||
         cause == static_cast<uint64_t>(Exception::InstructionMisaligned);
}

} // namespace nimbus::hypervisor
