#pragma once
// Instruction decoding for RV64IMAFDC + Zicsr + Zifencei. Pure ISA code: no machine state.
#include <cstdint>

#include "riscv/decoded_instruction.hpp"

namespace nimbus::riscv {

// Length in bytes of the instruction whose first 16-bit parcel is `low_parcel` (2 or 4).
constexpr unsigned instruction_length(uint16_t low_parcel) { return (low_parcel & 3) == 3 ? 4 : 2; }

// Decodes a 32-bit instruction. Unknown or reserved encodings give Op::Illegal.
DecodedInstruction decode32(uint32_t bits);
// Decodes a 16-bit compressed instruction by expanding it; reserved encodings give Op::Illegal.
DecodedInstruction decode16(uint16_t bits);
// Decodes either form; `bits` holds the whole instruction (upper half ignored when compressed).
DecodedInstruction decode(uint32_t bits);

// The 32-bit instruction a compressed one stands for, or 0 when the encoding is reserved/illegal.
uint32_t expand_compressed(uint16_t bits);

} // namespace nimbus::riscv
