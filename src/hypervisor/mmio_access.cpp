#include "hypervisor/mmio_access.hpp"

#include "riscv/decoder.hpp"

namespace nimbus::hypervisor {

std::optional<MmioAccess> decode_mmio_access(uint32_t bits) {
  const riscv::DecodedInstruction d = riscv::decode(bits);
  MmioAccess a;
  a.length = d.length;
  using riscv::Op;
  switch (d.op) {
  case Op::Lb: a.size = 1; a.sign_extend = true; break;
  case Op::Lh: a.size = 2; a.sign_extend = true; break;
  case Op::Lw: a.size = 4; a.sign_extend = true; break;
  case Op::Ld: a.size = 8; break;
  case Op::Lbu: a.size = 1; break;
  case Op::Lhu: a.size = 2; break;
  case Op::Lwu: a.size = 4; break;
  case Op::Sb: a.size = 1; a.write = true; break;
  case Op::Sh: a.size = 2; a.write = true; break;
  case Op::Sw: a.size = 4; a.write = true; break;
  case Op::Sd: a.size = 8; a.write = true; break;
  default: return std::nullopt;
  }
  a.reg = a.write ? d.rs2 : d.rd;
  return a;
}

std::optional<uint64_t> perform_mmio(machine::Bus& devices, uint64_t gpa, const MmioAccess& access,
                                     uint64_t store_value) {
  if (access.write) {
    if (!devices.write(gpa, access.size, store_value)) return std::nullopt;
    return 0;
  }
  uint64_t value = 0;
  if (!devices.read(gpa, access.size, value)) return std::nullopt;
  if (access.size < 8) {   // a device may answer with more bits than were asked for
    const unsigned shift = 64 - 8 * access.size;
    value = access.sign_extend ? static_cast<uint64_t>(static_cast<int64_t>(value << shift) >> shift)
                               : (value << shift) >> shift;
  }
  return value;
}

} // namespace nimbus::hypervisor
