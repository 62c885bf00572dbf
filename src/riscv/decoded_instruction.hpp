#pragma once
// One instruction after decoding: the operation and its operands, independent of how it will be
// executed (interpreter handler table today, a JIT later).
#include <cstdint>

#include "riscv/opcode.hpp"

namespace nimbus::riscv {

struct DecodedInstruction {
  Op op = Op::Illegal;
  uint8_t rd = 0;
  uint8_t rs1 = 0;
  uint8_t rs2 = 0;
  uint8_t rs3 = 0;
  uint8_t rm = 0;      // funct3 of FP ops (rounding mode) and AMO ordering bits are not needed
  uint8_t length = 4;  // 2 for compressed
  int64_t imm = 0;     // sign-extended immediate; CSR number for CSR ops; shift amount for shifts
  uint32_t bits = 0;   // the raw instruction (16 bits for compressed), reported in mtval when illegal
};

} // namespace nimbus::riscv
