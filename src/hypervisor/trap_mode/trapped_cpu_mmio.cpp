// Trap mode: a guest load or store to a guest-physical address that is not RAM (one of the VM's
// devices) is never shadow-mapped; its page-fault exit lands here and is performed on the VM's
// device bus from the decoded instruction.
#include "hypervisor/trap_mode/trapped_cpu.hpp"
#include "riscv/decoder.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

using riscv::Op;

namespace {
struct MmioShape {
  unsigned size = 0; // 0: not a plain integer load or store
  bool load = false;
  bool sign = false;
};
MmioShape shape_of(Op op) {
  switch (op) {
  case Op::Lb: return {1, true, true};
  case Op::Lh: return {2, true, true};
  case Op::Lw: return {4, true, true};
  case Op::Ld: return {8, true, false};
  case Op::Lbu: return {1, true, false};
  case Op::Lhu: return {2, true, false};
  case Op::Lwu: return {4, true, false};
  case Op::Sb: return {1, false, false};
  case Op::Sh: return {2, false, false};
  case Op::Sw: return {4, false, false};
  case Op::Sd: return {8, false, false};
  default: return {};
  }
}
} // namespace

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
  const riscv::DecodedInstruction d = riscv::decode(bits);
  const MmioShape shape = shape_of(d.op);
  // AMOs, LR/SC and FP accesses to devices are access faults, as on boards without them.
  if (shape.size == 0 || shape.load != (access == GuestAccess::load)) {
    count(ExitReason::guest_page_fault);
    deliver_trap(fault, va, false, pc);
    return Step::resume;
  }
  count(ExitReason::mmio);
  ++stats_.mmio;
  if (shape.load) {
    uint64_t value = 0;
    if (!ctx_.device_bus.read(gpa, shape.size, value)) {
      deliver_trap(fault, va, false, pc);
      return Step::resume;
    }
    if (shape.sign && shape.size < 8) {
      const unsigned shift = 64 - 8 * shape.size;
      value = static_cast<uint64_t>(static_cast<int64_t>(value << shift) >> shift);
    }
    hart_.set_x(d.rd, value);
  } else if (!ctx_.device_bus.write(gpa, shape.size, hart_.x(d.rs2))) {
    deliver_trap(fault, va, false, pc);
    return Step::resume;
  }
  hart_.set_pc(pc + d.length);
  return Step::resume;
}

} // namespace nimbus::hypervisor
