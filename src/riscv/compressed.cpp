// RVC (RV64C) expansion: every compressed instruction is rewritten to the 32-bit instruction it
// stands for, so the executor needs no separate compressed semantics.
#include "riscv/decoder.hpp"
#include "riscv/encoding.hpp"

namespace nimbus::riscv {
namespace {

using namespace encode;

uint32_t bit(uint32_t value, unsigned position) { return (value >> position) & 1; }
uint32_t bits(uint32_t value, unsigned high, unsigned low) { return (value >> low) & ((1u << (high - low + 1)) - 1); }
int32_t sign_extend(uint32_t value, unsigned width) {
  const uint32_t shift = 32 - width;
  return static_cast<int32_t>(value << shift) >> shift;
}
// The 3-bit register fields of the CIW/CL/CS/CB formats name x8..x15.
uint32_t reg3(uint32_t field) { return field + 8; }

uint32_t quadrant0(uint32_t c) {
  const uint32_t rd_p = reg3(bits(c, 4, 2));
  const uint32_t rs1_p = reg3(bits(c, 9, 7));
  const uint32_t offset_d = bits(c, 12, 10) << 3 | bits(c, 6, 5) << 6; // C.LD/C.SD/C.FLD/C.FSD
  const uint32_t offset_w = bits(c, 12, 10) << 3 | bit(c, 6) << 2 | bit(c, 5) << 6;
  switch (bits(c, 15, 13)) {
  case 0: { // C.ADDI4SPN
    const uint32_t imm = bits(c, 12, 11) << 4 | bits(c, 10, 7) << 6 | bit(c, 6) << 2 | bit(c, 5) << 3;
    if (imm == 0) return 0;
    return i_type(kOpImm, rd_p, 0, 2, static_cast<int32_t>(imm));
  }
  case 1: return i_type(kLoadFp, rd_p, 3, rs1_p, static_cast<int32_t>(offset_d));
  case 2: return i_type(kLoad, rd_p, 2, rs1_p, static_cast<int32_t>(offset_w));
  case 3: return i_type(kLoad, rd_p, 3, rs1_p, static_cast<int32_t>(offset_d));
  case 5: return s_type(kStoreFp, 3, rs1_p, rd_p, static_cast<int32_t>(offset_d));
  case 6: return s_type(kStore, 2, rs1_p, rd_p, static_cast<int32_t>(offset_w));
  case 7: return s_type(kStore, 3, rs1_p, rd_p, static_cast<int32_t>(offset_d));
  default: return 0; // 4 is reserved
  }
}

uint32_t quadrant1(uint32_t c) {
  const uint32_t rd = bits(c, 11, 7);
  const int32_t imm6 = sign_extend(bit(c, 12) << 5 | bits(c, 6, 2), 6);
  const uint32_t rd_p = reg3(bits(c, 9, 7));
  const uint32_t rs2_p = reg3(bits(c, 4, 2));
  switch (bits(c, 15, 13)) {
  case 0: return i_type(kOpImm, rd, 0, rd, imm6); // C.ADDI / C.NOP (hints expand harmlessly)
  case 1:
    if (rd == 0) return 0;
    return i_type(kOpImm32, rd, 0, rd, imm6); // C.ADDIW
  case 2: return i_type(kOpImm, rd, 0, 0, imm6); // C.LI
  case 3:
    if (rd == 2) { // C.ADDI16SP
      const uint32_t raw = bit(c, 12) << 9 | bit(c, 6) << 4 | bit(c, 5) << 6 | bits(c, 4, 3) << 7 | bit(c, 2) << 5;
      if (raw == 0) return 0;
      return i_type(kOpImm, 2, 0, 2, sign_extend(raw, 10));
    } else { // C.LUI
      const uint32_t raw = bit(c, 12) << 17 | bits(c, 6, 2) << 12;
      if (raw == 0) return 0;
      return u_type(kLui, rd, sign_extend(raw, 18));
    }
  case 4: {
    const uint32_t shamt = bit(c, 12) << 5 | bits(c, 6, 2);
    switch (bits(c, 11, 10)) {
    case 0: return i_type(kOpImm, rd_p, 5, rd_p, static_cast<int32_t>(shamt));          // C.SRLI
    case 1: return i_type(kOpImm, rd_p, 5, rd_p, static_cast<int32_t>(shamt | 0x400)); // C.SRAI
    case 2: return i_type(kOpImm, rd_p, 7, rd_p, imm6);                                 // C.ANDI
    default:
      if (bit(c, 12) == 0) {
        switch (bits(c, 6, 5)) {
        case 0: return r_type(kOp, rd_p, 0, rd_p, rs2_p, 0x20); // C.SUB
        case 1: return r_type(kOp, rd_p, 4, rd_p, rs2_p, 0);    // C.XOR
        case 2: return r_type(kOp, rd_p, 6, rd_p, rs2_p, 0);    // C.OR
        default: return r_type(kOp, rd_p, 7, rd_p, rs2_p, 0);   // C.AND
        }
      }
      switch (bits(c, 6, 5)) {
      case 0: return r_type(kOp32, rd_p, 0, rd_p, rs2_p, 0x20); // C.SUBW
      case 1: return r_type(kOp32, rd_p, 0, rd_p, rs2_p, 0);    // C.ADDW
      default: return 0;
      }
    }
  }
  case 5: { // C.J
    const uint32_t raw = bit(c, 12) << 11 | bit(c, 11) << 4 | bits(c, 10, 9) << 8 | bit(c, 8) << 10 | bit(c, 7) << 6 |
                         bit(c, 6) << 7 | bits(c, 5, 3) << 1 | bit(c, 2) << 5;
    return j_type(kJal, 0, sign_extend(raw, 12));
  }
  default: { // C.BEQZ / C.BNEZ
    const uint32_t raw =
        bit(c, 12) << 8 | bits(c, 11, 10) << 3 | bits(c, 6, 5) << 6 | bits(c, 4, 3) << 1 | bit(c, 2) << 5;
    return b_type(kBranch, bits(c, 15, 13) == 6 ? 0 : 1, rd_p, 0, sign_extend(raw, 9));
  }
  }
}

uint32_t quadrant2(uint32_t c) {
  const uint32_t rd = bits(c, 11, 7);
  const uint32_t rs2 = bits(c, 6, 2);
  const uint32_t offset_d = bit(c, 12) << 5 | bits(c, 6, 5) << 3 | bits(c, 4, 2) << 6;
  const uint32_t offset_w = bit(c, 12) << 5 | bits(c, 6, 4) << 2 | bits(c, 3, 2) << 6;
  const uint32_t store_d = bits(c, 12, 10) << 3 | bits(c, 9, 7) << 6;
  const uint32_t store_w = bits(c, 12, 9) << 2 | bits(c, 8, 7) << 6;
  switch (bits(c, 15, 13)) {
  case 0: return i_type(kOpImm, rd, 1, rd, static_cast<int32_t>(bit(c, 12) << 5 | rs2)); // C.SLLI
  case 1: return i_type(kLoadFp, rd, 3, 2, static_cast<int32_t>(offset_d));               // C.FLDSP
  case 2:
    if (rd == 0) return 0;
    return i_type(kLoad, rd, 2, 2, static_cast<int32_t>(offset_w)); // C.LWSP
  case 3:
    if (rd == 0) return 0;
    return i_type(kLoad, rd, 3, 2, static_cast<int32_t>(offset_d)); // C.LDSP
  case 4:
    if (bit(c, 12) == 0) {
      if (rs2 == 0) return rd == 0 ? 0 : i_type(kJalr, 0, 0, rd, 0); // C.JR
      return r_type(kOp, rd, 0, 0, rs2, 0);                           // C.MV
    }
    if (rs2 == 0) return rd == 0 ? 0x00100073u : i_type(kJalr, 1, 0, rd, 0); // C.EBREAK / C.JALR
    return r_type(kOp, rd, 0, rd, rs2, 0);                                    // C.ADD
  case 5: return s_type(kStoreFp, 3, 2, rs2, static_cast<int32_t>(store_d)); // C.FSDSP
  case 6: return s_type(kStore, 2, 2, rs2, static_cast<int32_t>(store_w));   // C.SWSP
  default: return s_type(kStore, 3, 2, rs2, static_cast<int32_t>(store_d));  // C.SDSP
  }
}

} // namespace

uint32_t expand_compressed(uint16_t raw) {
  const uint32_t c = raw;
  switch (c & 3) {
  case 0: return quadrant0(c);
  case 1: return quadrant1(c);
  case 2: return quadrant2(c);
  default: return 0;
  }
}

} // namespace nimbus::riscv
