#include "hypervisor/fault_report.hpp"

#include <fmt/format.h>

#include <cctype>

#include "riscv/decoder.hpp"
#include "riscv/opcode.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

std::string exception_name(uint64_t cause) {
  using riscv::Exception;
  switch (static_cast<Exception>(cause)) {
  case Exception::InstructionMisaligned: return "instruction address misaligned";
  case Exception::InstructionAccessFault: return "instruction access fault";
  case Exception::IllegalInstruction: return "illegal instruction";
  case Exception::Breakpoint: return "breakpoint";
  case Exception::LoadMisaligned: return "load address misaligned";
  case Exception::LoadAccessFault: return "load access fault";
  case Exception::StoreMisaligned: return "store/AMO address misaligned";
  case Exception::StoreAccessFault: return "store/AMO access fault";
  case Exception::EcallFromU: return "ecall from U-mode";
  case Exception::EcallFromS: return "ecall from S-mode";
  case Exception::EcallFromVS: return "ecall from VS-mode";
  case Exception::EcallFromM: return "ecall from M-mode";
  case Exception::InstructionPageFault: return "instruction page fault";
  case Exception::LoadPageFault: return "load page fault";
  case Exception::StorePageFault: return "store/AMO page fault";
  case Exception::InstructionGuestPageFault: return "instruction guest-page fault";
  case Exception::LoadGuestPageFault: return "load guest-page fault";
  case Exception::VirtualInstruction: return "virtual instruction";
  case Exception::StoreGuestPageFault: return "store/AMO guest-page fault";
  }
  return fmt::format("exception {}", cause);
}

namespace {

const char* machine_csr_name(int64_t csr) {
  switch (csr) {
  case 0xf11: return " mvendorid";
  case 0xf12: return " marchid";
  case 0xf13: return " mimpid";
  case 0xf14: return " mhartid";
  case 0x300: return " mstatus";
  case 0x301: return " misa";
  case 0x302: return " medeleg";
  case 0x303: return " mideleg";
  case 0x304: return " mie";
  case 0x305: return " mtvec";
  case 0x340: return " mscratch";
  case 0x341: return " mepc";
  case 0x342: return " mcause";
  case 0x343: return " mtval";
  case 0x344: return " mip";
  case 0x3a0: return " pmpcfg0";
  case 0x3b0: return " pmpaddr0";
  default: return "";
  }
}

std::string describe_instruction(uint32_t bits) {
  const riscv::DecodedInstruction d = riscv::decode(bits);
  const std::string hex = (bits & 3) == 3 ? fmt::format("{:#010x}", bits) : fmt::format("{:#06x}", bits & 0xffff);
  if (d.op == riscv::Op::Illegal) return fmt::format("{} (not a valid instruction)", hex);
  std::string name = riscv::op_name(d.op);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string text = fmt::format("{} ({}", hex, name);
  switch (d.op) {
  case riscv::Op::Csrrw:
  case riscv::Op::Csrrs:
  case riscv::Op::Csrrc:
  case riscv::Op::Csrrwi:
  case riscv::Op::Csrrsi:
  case riscv::Op::Csrrci:
    text += fmt::format(", CSR {:#x}{}", static_cast<uint64_t>(d.imm) & 0xfff, machine_csr_name(d.imm & 0xfff));
    break;
  default: break;
  }
  return text + ")";
}

} // namespace

std::string describe_fault(const machine::Hart::FaultRecord& fault) {
  std::string text = fmt::format("{} (cause {}) at pc={:#x} in {}{}-mode, tval={:#x}", exception_name(fault.cause),
                                 fault.cause, fault.pc, fault.virt ? "V" : "", "US?M"[fault.privilege & 3],
                                 fault.tval);
  if (fault.have_instruction) text += ", instruction " + describe_instruction(fault.instruction);
  if (fault.nested > 0)
    text += fmt::format("; {} more exception{} followed without a return from the handler", fault.nested,
                        fault.nested == 1 ? "" : "s");
  return text;
}

std::string death_report(const std::optional<machine::Hart::FaultRecord>& first, const std::string& ending) {
  if (!first) return ending;
  return fmt::format("first fault: {}; it ended with: {}", describe_fault(*first), ending);
}

} // namespace nimbus::hypervisor
