#pragma once
// A tiny RV64GC assembler for hart tests: each function returns one instruction's encoding.
#include <cstdint>
#include <vector>

#include "riscv/encoding.hpp"

namespace nimbus::test::as {

using namespace riscv::encode;

// Integer register numbers used in tests.
enum : uint32_t { zero = 0, ra = 1, sp = 2, gp = 3, tp = 4, t0 = 5, t1 = 6, t2 = 7, s0 = 8, s1 = 9, a0 = 10,
                  a1 = 11, a2 = 12, a3 = 13, a4 = 14, a5 = 15 };

constexpr uint32_t lui(uint32_t rd, int32_t imm) { return u_type(kLui, rd, imm); }
constexpr uint32_t auipc(uint32_t rd, int32_t imm) { return u_type(kAuipc, rd, imm); }
constexpr uint32_t jal(uint32_t rd, int32_t offset) { return j_type(kJal, rd, offset); }
constexpr uint32_t jalr(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kJalr, rd, 0, rs1, imm); }
constexpr uint32_t beq(uint32_t a, uint32_t b, int32_t off) { return b_type(kBranch, 0, a, b, off); }
constexpr uint32_t bne(uint32_t a, uint32_t b, int32_t off) { return b_type(kBranch, 1, a, b, off); }
constexpr uint32_t blt(uint32_t a, uint32_t b, int32_t off) { return b_type(kBranch, 4, a, b, off); }
constexpr uint32_t bge(uint32_t a, uint32_t b, int32_t off) { return b_type(kBranch, 5, a, b, off); }
constexpr uint32_t bltu(uint32_t a, uint32_t b, int32_t off) { return b_type(kBranch, 6, a, b, off); }
constexpr uint32_t bgeu(uint32_t a, uint32_t b, int32_t off) { return b_type(kBranch, 7, a, b, off); }

constexpr uint32_t load(uint32_t funct3, uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kLoad, rd, funct3, rs1, imm); }
constexpr uint32_t lb(uint32_t rd, uint32_t rs1, int32_t imm) { return load(0, rd, rs1, imm); }
constexpr uint32_t lh(uint32_t rd, uint32_t rs1, int32_t imm) { return load(1, rd, rs1, imm); }
constexpr uint32_t lw(uint32_t rd, uint32_t rs1, int32_t imm) { return load(2, rd, rs1, imm); }
constexpr uint32_t ld(uint32_t rd, uint32_t rs1, int32_t imm) { return load(3, rd, rs1, imm); }
constexpr uint32_t lbu(uint32_t rd, uint32_t rs1, int32_t imm) { return load(4, rd, rs1, imm); }
constexpr uint32_t lhu(uint32_t rd, uint32_t rs1, int32_t imm) { return load(5, rd, rs1, imm); }
constexpr uint32_t lwu(uint32_t rd, uint32_t rs1, int32_t imm) { return load(6, rd, rs1, imm); }
constexpr uint32_t sb(uint32_t rs2, uint32_t rs1, int32_t imm) { return s_type(kStore, 0, rs1, rs2, imm); }
constexpr uint32_t sh(uint32_t rs2, uint32_t rs1, int32_t imm) { return s_type(kStore, 1, rs1, rs2, imm); }
constexpr uint32_t sw(uint32_t rs2, uint32_t rs1, int32_t imm) { return s_type(kStore, 2, rs1, rs2, imm); }
constexpr uint32_t sd(uint32_t rs2, uint32_t rs1, int32_t imm) { return s_type(kStore, 3, rs1, rs2, imm); }

constexpr uint32_t addi(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm, rd, 0, rs1, imm); }
constexpr uint32_t slti(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm, rd, 2, rs1, imm); }
constexpr uint32_t sltiu(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm, rd, 3, rs1, imm); }
constexpr uint32_t xori(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm, rd, 4, rs1, imm); }
constexpr uint32_t ori(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm, rd, 6, rs1, imm); }
constexpr uint32_t andi(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm, rd, 7, rs1, imm); }
constexpr uint32_t slli(uint32_t rd, uint32_t rs1, int32_t sh) { return i_type(kOpImm, rd, 1, rs1, sh); }
constexpr uint32_t srli(uint32_t rd, uint32_t rs1, int32_t sh) { return i_type(kOpImm, rd, 5, rs1, sh); }
constexpr uint32_t srai(uint32_t rd, uint32_t rs1, int32_t sh) { return i_type(kOpImm, rd, 5, rs1, sh | 0x400); }
constexpr uint32_t addiw(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kOpImm32, rd, 0, rs1, imm); }
constexpr uint32_t slliw(uint32_t rd, uint32_t rs1, int32_t sh) { return i_type(kOpImm32, rd, 1, rs1, sh); }
constexpr uint32_t srliw(uint32_t rd, uint32_t rs1, int32_t sh) { return i_type(kOpImm32, rd, 5, rs1, sh); }
constexpr uint32_t sraiw(uint32_t rd, uint32_t rs1, int32_t sh) { return i_type(kOpImm32, rd, 5, rs1, sh | 0x400); }

constexpr uint32_t op(uint32_t funct7, uint32_t funct3, uint32_t rd, uint32_t rs1, uint32_t rs2) {
  return r_type(kOp, rd, funct3, rs1, rs2, funct7);
}
constexpr uint32_t op32(uint32_t funct7, uint32_t funct3, uint32_t rd, uint32_t rs1, uint32_t rs2) {
  return r_type(kOp32, rd, funct3, rs1, rs2, funct7);
}
constexpr uint32_t add(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 0, rd, a, b); }
constexpr uint32_t sub(uint32_t rd, uint32_t a, uint32_t b) { return op(0x20, 0, rd, a, b); }
constexpr uint32_t sll(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 1, rd, a, b); }
constexpr uint32_t slt(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 2, rd, a, b); }
constexpr uint32_t sltu(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 3, rd, a, b); }
constexpr uint32_t xor_(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 4, rd, a, b); }
constexpr uint32_t srl(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 5, rd, a, b); }
constexpr uint32_t sra(uint32_t rd, uint32_t a, uint32_t b) { return op(0x20, 5, rd, a, b); }
constexpr uint32_t or_(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 6, rd, a, b); }
constexpr uint32_t and_(uint32_t rd, uint32_t a, uint32_t b) { return op(0, 7, rd, a, b); }
constexpr uint32_t addw(uint32_t rd, uint32_t a, uint32_t b) { return op32(0, 0, rd, a, b); }
constexpr uint32_t subw(uint32_t rd, uint32_t a, uint32_t b) { return op32(0x20, 0, rd, a, b); }
constexpr uint32_t sllw(uint32_t rd, uint32_t a, uint32_t b) { return op32(0, 1, rd, a, b); }
constexpr uint32_t srlw(uint32_t rd, uint32_t a, uint32_t b) { return op32(0, 5, rd, a, b); }
constexpr uint32_t sraw(uint32_t rd, uint32_t a, uint32_t b) { return op32(0x20, 5, rd, a, b); }
constexpr uint32_t mul(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 0, rd, a, b); }
constexpr uint32_t mulh(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 1, rd, a, b); }
constexpr uint32_t mulhsu(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 2, rd, a, b); }
constexpr uint32_t mulhu(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 3, rd, a, b); }
constexpr uint32_t div(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 4, rd, a, b); }
constexpr uint32_t divu(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 5, rd, a, b); }
constexpr uint32_t rem(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 6, rd, a, b); }
constexpr uint32_t remu(uint32_t rd, uint32_t a, uint32_t b) { return op(1, 7, rd, a, b); }
constexpr uint32_t mulw(uint32_t rd, uint32_t a, uint32_t b) { return op32(1, 0, rd, a, b); }
constexpr uint32_t divw(uint32_t rd, uint32_t a, uint32_t b) { return op32(1, 4, rd, a, b); }
constexpr uint32_t divuw(uint32_t rd, uint32_t a, uint32_t b) { return op32(1, 5, rd, a, b); }
constexpr uint32_t remw(uint32_t rd, uint32_t a, uint32_t b) { return op32(1, 6, rd, a, b); }
constexpr uint32_t remuw(uint32_t rd, uint32_t a, uint32_t b) { return op32(1, 7, rd, a, b); }

constexpr uint32_t ecall() { return 0x00000073; }
constexpr uint32_t ebreak() { return 0x00100073; }
constexpr uint32_t mret() { return 0x30200073; }
constexpr uint32_t sret() { return 0x10200073; }
constexpr uint32_t wfi() { return 0x10500073; }
constexpr uint32_t sfence_vma() { return 0x12000073; }
constexpr uint32_t sfence_vma(uint32_t rs1, uint32_t rs2) { return 0x12000073 | rs1 << 15 | rs2 << 20; }
constexpr uint32_t fence_i() { return 0x0000100f; }
constexpr uint32_t csrrw(uint32_t rd, uint32_t csr, uint32_t rs1) { return i_type(kSystem, rd, 1, rs1, static_cast<int32_t>(csr)); }
constexpr uint32_t csrrs(uint32_t rd, uint32_t csr, uint32_t rs1) { return i_type(kSystem, rd, 2, rs1, static_cast<int32_t>(csr)); }
constexpr uint32_t csrrc(uint32_t rd, uint32_t csr, uint32_t rs1) { return i_type(kSystem, rd, 3, rs1, static_cast<int32_t>(csr)); }
constexpr uint32_t csrrwi(uint32_t rd, uint32_t csr, uint32_t imm) { return i_type(kSystem, rd, 5, imm, static_cast<int32_t>(csr)); }
constexpr uint32_t csrrsi(uint32_t rd, uint32_t csr, uint32_t imm) { return i_type(kSystem, rd, 6, imm, static_cast<int32_t>(csr)); }
constexpr uint32_t csrrci(uint32_t rd, uint32_t csr, uint32_t imm) { return i_type(kSystem, rd, 7, imm, static_cast<int32_t>(csr)); }

// A extension: funct5 selects the operation; W (funct3 2) or D (funct3 3).
constexpr uint32_t amo(uint32_t funct5, bool d, uint32_t rd, uint32_t addr, uint32_t rs2) {
  return r_type(kAmo, rd, d ? 3 : 2, addr, rs2, funct5 << 2);
}
enum : uint32_t { kAmoAdd = 0x00, kAmoSwap = 0x01, kLr = 0x02, kSc = 0x03, kAmoXor = 0x04, kAmoOr = 0x08,
                  kAmoAnd = 0x0c, kAmoMin = 0x10, kAmoMax = 0x14, kAmoMinu = 0x18, kAmoMaxu = 0x1c };

// F/D.
constexpr uint32_t flw(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kLoadFp, rd, 2, rs1, imm); }
constexpr uint32_t fld(uint32_t rd, uint32_t rs1, int32_t imm) { return i_type(kLoadFp, rd, 3, rs1, imm); }
constexpr uint32_t fsw(uint32_t rs2, uint32_t rs1, int32_t imm) { return s_type(kStoreFp, 2, rs1, rs2, imm); }
constexpr uint32_t fsd(uint32_t rs2, uint32_t rs1, int32_t imm) { return s_type(kStoreFp, 3, rs1, rs2, imm); }
constexpr uint32_t fp_op(uint32_t funct7, uint32_t rm, uint32_t rd, uint32_t rs1, uint32_t rs2) {
  return r_type(kOpFp, rd, rm, rs1, rs2, funct7);
}
// FMADD/FMSUB/FNMSUB/FNMADD (opcode kMadd, kMsub, kNmsub or kNmadd; fmt 0 single, 1 double): rs1 * rs2 +- rs3.
constexpr uint32_t fused_op(uint32_t opcode, uint32_t fmt, uint32_t rm, uint32_t rd, uint32_t rs1, uint32_t rs2,
                            uint32_t rs3) {
  return r_type(opcode, rd, rm, rs1, rs2, rs3 << 2 | fmt);
}
constexpr uint32_t fadd_s(uint32_t rd, uint32_t a, uint32_t b, uint32_t rm = 7) { return fp_op(0x00, rm, rd, a, b); }
constexpr uint32_t fadd_d(uint32_t rd, uint32_t a, uint32_t b, uint32_t rm = 7) { return fp_op(0x01, rm, rd, a, b); }
constexpr uint32_t fsgnjn_d(uint32_t rd, uint32_t a, uint32_t b) { return fp_op(0x11, 1, rd, a, b); }
constexpr uint32_t fsgnj_s(uint32_t rd, uint32_t a, uint32_t b) { return fp_op(0x10, 0, rd, a, b); }
constexpr uint32_t fmv_x_w(uint32_t rd, uint32_t rs1) { return fp_op(0x70, 0, rd, rs1, 0); }
constexpr uint32_t fmv_w_x(uint32_t rd, uint32_t rs1) { return fp_op(0x78, 0, rd, rs1, 0); }
constexpr uint32_t fmv_d_x(uint32_t rd, uint32_t rs1) { return fp_op(0x79, 0, rd, rs1, 0); }
constexpr uint32_t feq_d(uint32_t rd, uint32_t a, uint32_t b) { return fp_op(0x51, 2, rd, a, b); }
constexpr uint32_t fcvt_w_d(uint32_t rd, uint32_t rs1, uint32_t rm) { return fp_op(0x61, rm, rd, rs1, 0); }
constexpr uint32_t fcvt_d_w(uint32_t rd, uint32_t rs1, uint32_t rm = 0) { return fp_op(0x69, rm, rd, rs1, 0); }

// Loads a 32-bit constant with lui + addiw (addiw sign-extends its 12 bits, lui compensates).
inline void li32(std::vector<uint32_t>& code, uint32_t rd, uint32_t value) {
  const int32_t low = static_cast<int32_t>(value << 20) >> 20;
  const uint32_t high = value - static_cast<uint32_t>(low);
  if (high != 0) {
    code.push_back(lui(rd, static_cast<int32_t>(high)));
    code.push_back(addiw(rd, rd, low));
  } else {
    code.push_back(addi(rd, zero, low));
  }
}

// The legacy SBI console putchar of a0 (a7 = 1, a6 = 0, ecall): how test guests print.
inline void sbi_putchar_a0(std::vector<uint32_t>& code) {
  li32(code, 17, 1);
  li32(code, 16, 0);
  code.push_back(ecall());
}

// Prints register `reg` as 16 letters 'a' + nibble (lowest first; clobbers t3 and a0), then
// shuts down through SBI SRST with no reason: how test guests report a checksum and end.
inline void sbi_print_letters_and_shutdown(std::vector<uint32_t>& code, uint32_t reg) {
  constexpr uint32_t t3 = 28, a6 = 16, a7 = 17;   // beyond the enum above
  for (int k = 0; k < 16; ++k) {
    code.push_back(srli(t3, reg, 4 * k));
    code.push_back(andi(t3, t3, 15));
    code.push_back(addi(a0, t3, 'a'));
    sbi_putchar_a0(code);
  }
  li32(code, a0, 0);
  li32(code, a1, 0);
  li32(code, a7, 0x53525354);
  li32(code, a6, 0);
  code.push_back(ecall());
}

} // namespace nimbus::test::as
