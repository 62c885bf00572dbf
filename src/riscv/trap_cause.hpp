#pragma once
// Synchronous exception codes (mcause with the interrupt bit clear).
#include <cstdint>

namespace nimbus::riscv {

enum class Exception : uint8_t {
  InstructionMisaligned = 0,
  InstructionAccessFault = 1,
  IllegalInstruction = 2,
  Breakpoint = 3,
  LoadMisaligned = 4,
  LoadAccessFault = 5,
  StoreMisaligned = 6,
  StoreAccessFault = 7,
  EcallFromU = 8,
  EcallFromS = 9, // from HS-mode when V=0
  EcallFromVS = 10,
  EcallFromM = 11,
  InstructionPageFault = 12,
  LoadPageFault = 13,
  StorePageFault = 15,
  InstructionGuestPageFault = 20,
  LoadGuestPageFault = 21,
  VirtualInstruction = 22,
  StoreGuestPageFault = 23,
};

inline constexpr uint64_t kInterruptBit = 1ull << 63;

} // namespace nimbus::riscv
