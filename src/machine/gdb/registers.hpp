#pragma once
// The register file a debugger sees and its numbering: the target description (XML in gdb's
// riscv features: org.gnu.gdb.riscv.cpu, .fpu, .csr, .virtual) and reads and writes by number.
//
// Numbering (the "regnum" of the XML, used by p/P and the order of g/G):
//   0-31 x0-x31 (ABI names), 32 pc, 33-64 f0-f31, 65 fflags, 66 frm, 67 fcsr,
//   68.. the CSRs of kCsrs in order, then priv (the privilege level, 0 U, 1 S, 3 M).
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace nimbus::machine {
class Hart;
}

namespace nimbus::machine::gdb {

inline constexpr unsigned kPc = 32;
inline constexpr unsigned kFirstFpr = 33;
inline constexpr unsigned kFflags = 65, kFrm = 66, kFcsr = 67;
inline constexpr unsigned kFirstCsr = 68;
// Registers in a g packet: x0-x31 and pc (gdb asks for the rest with p).
inline constexpr unsigned kGeneralRegisters = 33;

struct CsrName {
  uint16_t number;
  const char* name;
};
// The CSRs the debugger sees (those gdb knows by name; all readable on this hart).
std::span<const CsrName> debug_csrs();
unsigned register_count(); // every numbered register, priv included
unsigned priv_register();

// The description returned for qXfer:features:read:target.xml.
const std::string& target_description();

// nullopt for a number that names no register.
std::optional<uint64_t> read_register(const Hart& hart, unsigned number);
// False for a number that names no register. CSR writes go through the CSR's write rules
// (read-only bits stay as they are) without privilege checks.
bool write_register(Hart& hart, unsigned number, uint64_t value);

} // namespace nimbus::machine::gdb
