// Trap mode: a guest load or store to a guest-physical address that is not RAM (one of the VM's
// devices) is never shadow-mapped; its page-fault exit lands here and is performed on the VM's
// device bus from the decoded instruction.
#include "hypervisor/trap_mode/trapped_cpu.hpp"
#include "hypervisor/mmio_access.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

TrappedCpu::Step TrappedCpu::emulate_mmio(uint64_t va, uint64_t gpa, GuestAccess access) {
  const uint64_t pc = hart_.pc();
  const uint64_t fault = static_cast<uint64_t>(access == GuestAccess::load ? riscv::Exception::LoadAccessFault
                                                                           : riscv::Exception::StoreAccessFault);
  uint32_t bits = 0;
  // Nothing there (past RAM, between devices): an access fault, as on the board.
  if (ctx_.device_bus.device_at(gpa) == nullptr || !hart_.fetch_instruction(pc, bits)) {
    count(ExitReason::guest_page_fault); // a guest-visible fault, not a device access
    deliver_trap(fault, va, false, pc);
    return Step::resume;
  }
  const auto shape = decode_mmio_access(bits);
  // AMOs, LR/SC and FP accesses to devices are access faults, as on boards without them.
  if (!shape || shape->write != (access == GuestAccess::store)) {
    count(ExitReason::guest_page_fault);
    deliver_trap(fault, va, false, pc);
    return Step::resume;
  }
  count(ExitReason::mmio);
  ++stats_.mmio;
  const auto value = perform_mmio(ctx_.device_bus, gpa, *shape, shape->write ? hart_.x(shape->reg) : 0);
  if (!value) {
    deliver_trap(fault, va, false, pc);
    return Step::resume;
  }
  if (!shape->write) hart_.set_x(shape->reg, *value);
  hart_.set_pc(pc + shape->length);
  return Step::resume;
}

} // namespace nimbus::hypervisor
