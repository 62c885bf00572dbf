#pragma once
// Builders for the six base instruction formats. The compressed expander uses them to produce
// the equivalent 32-bit instruction, and tests use them as a tiny assembler.
#include <cstdint>

namespace nimbus::riscv::encode {

constexpr uint32_t r_type(uint32_t opcode, uint32_t rd, uint32_t funct3, uint32_t rs1, uint32_t rs2,
                          uint32_t funct7) {
  return opcode | (rd & 31) << 7 | (funct3 & 7) << 12 | (rs1 & 31) << 15 | (rs2 & 31) << 20 | (funct7 & 127) << 25;
}
constexpr uint32_t r4_type(uint32_t opcode, uint32_t rd, uint32_t rm, uint32_t rs1, uint32_t rs2, uint32_t fmt,
                           uint32_t rs3) {
  return opcode | (rd & 31) << 7 | (rm & 7) << 12 | (rs1 & 31) << 15 | (rs2 & 31) << 20 | (fmt & 3) << 25 |
         (rs3 & 31) << 27;
}
constexpr uint32_t i_type(uint32_t opcode, uint32_t rd, uint32_t funct3, uint32_t rs1, int32_t imm) {
  return opcode | (rd & 31) << 7 | (funct3 & 7) << 12 | (rs1 & 31) << 15 | (static_cast<uint32_t>(imm) & 0xfff) << 20;
}
constexpr uint32_t s_type(uint32_t opcode, uint32_t funct3, uint32_t rs1, uint32_t rs2, int32_t imm) {
  const auto u = static_cast<uint32_t>(imm);
  return opcode | (u & 31) << 7 | (funct3 & 7) << 12 | (rs1 & 31) << 15 | (rs2 & 31) << 20 | ((u >> 5) & 127) << 25;
}
constexpr uint32_t b_type(uint32_t opcode, uint32_t funct3, uint32_t rs1, uint32_t rs2, int32_t imm) {
  const auto u = static_cast<uint32_t>(imm);
  return opcode | ((u >> 11) & 1) << 7 | ((u >> 1) & 15) << 8 | (funct3 & 7) << 12 | (rs1 & 31) << 15 |
         (rs2 & 31) << 20 | ((u >> 5) & 63) << 25 | ((u >> 12) & 1) << 31;
}
constexpr uint32_t u_type(uint32_t opcode, uint32_t rd, int32_t imm) {
  return opcode | (rd & 31) << 7 | (static_cast<uint32_t>(imm) & 0xfffff000u);
}
constexpr uint32_t j_type(uint32_t opcode, uint32_t rd, int32_t imm) {
  const auto u = static_cast<uint32_t>(imm);
  return opcode | (rd & 31) << 7 | ((u >> 12) & 255) << 12 | ((u >> 11) & 1) << 20 | ((u >> 1) & 1023) << 21 |
         ((u >> 20) & 1) << 31;
}

// Major opcodes (bits 6:0).
inline constexpr uint32_t kLoad = 0x03, kLoadFp = 0x07, kMiscMem = 0x0f, kOpImm = 0x13, kAuipc = 0x17,
                          kOpImm32 = 0x1b, kStore = 0x23, kStoreFp = 0x27, kAmo = 0x2f, kOp = 0x33, kLui = 0x37,
                          kOp32 = 0x3b, kMadd = 0x43, kMsub = 0x47, kNmsub = 0x4b, kNmadd = 0x4f, kOpFp = 0x53,
                          kBranch = 0x63, kJalr = 0x67, kJal = 0x6f, kSystem = 0x73;

} // namespace nimbus::riscv::encode
