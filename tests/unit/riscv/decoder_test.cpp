// Decoding of 32-bit instructions and expansion of compressed ones.
#include <gtest/gtest.h>

#include "riscv/decoder.hpp"
#include "riscv/encoding.hpp"

namespace nimbus::riscv {
namespace {

using namespace encode;

TEST(Decoder, ImmediatesOfEveryFormatAreSignExtended) {
  const auto i = decode32(i_type(kOpImm, 5, 0, 6, -2048));
  EXPECT_EQ(i.op, Op::Addi);
  EXPECT_EQ(i.imm, -2048);
  EXPECT_EQ(i.rd, 5);
  EXPECT_EQ(i.rs1, 6);
  const auto s = decode32(s_type(kStore, 3, 1, 2, -8));
  EXPECT_EQ(s.op, Op::Sd);
  EXPECT_EQ(s.imm, -8);
  const auto b = decode32(b_type(kBranch, 1, 1, 2, -4096));
  EXPECT_EQ(b.op, Op::Bne);
  EXPECT_EQ(b.imm, -4096);
  const auto b2 = decode32(b_type(kBranch, 0, 1, 2, 4094));
  EXPECT_EQ(b2.imm, 4094);
  const auto j = decode32(j_type(kJal, 1, -1048576));
  EXPECT_EQ(j.op, Op::Jal);
  EXPECT_EQ(j.imm, -1048576);
  const auto j2 = decode32(j_type(kJal, 1, 0x7fffe));
  EXPECT_EQ(j2.imm, 0x7fffe);
  const auto u = decode32(u_type(kLui, 3, static_cast<int32_t>(0xfffff000u)));
  EXPECT_EQ(u.op, Op::Lui);
  EXPECT_EQ(u.imm, -4096);
  const auto s2 = decode32(s_type(kStore, 2, 1, 2, 2047));
  EXPECT_EQ(s2.imm, 2047);
}

TEST(Decoder, ShiftImmediatesAndTheirReservedForms) {
  EXPECT_EQ(decode32(i_type(kOpImm, 1, 1, 1, 63)).op, Op::Slli);
  EXPECT_EQ(decode32(i_type(kOpImm, 1, 1, 1, 63)).imm, 63);
  EXPECT_EQ(decode32(i_type(kOpImm, 1, 5, 1, 0x400 | 7)).op, Op::Srai);
  EXPECT_EQ(decode32(i_type(kOpImm, 1, 5, 1, 0x400 | 7)).imm, 7);
  EXPECT_EQ(decode32(i_type(kOpImm, 1, 1, 1, 0x400)).op, Op::Illegal); // slli with funct6 != 0
  EXPECT_EQ(decode32(i_type(kOpImm32, 1, 1, 1, 32)).op, Op::Illegal); // slliw shamt[5] set
  EXPECT_EQ(decode32(i_type(kOpImm32, 1, 5, 1, 0x400 | 31)).op, Op::Sraiw);
}

TEST(Decoder, SystemAndCsrEncodings) {
  EXPECT_EQ(decode32(0x00000073).op, Op::Ecall);
  EXPECT_EQ(decode32(0x00100073).op, Op::Ebreak);
  EXPECT_EQ(decode32(0x30200073).op, Op::Mret);
  EXPECT_EQ(decode32(0x10200073).op, Op::Sret);
  EXPECT_EQ(decode32(0x10500073).op, Op::Wfi);
  EXPECT_EQ(decode32(0x12000073).op, Op::SfenceVma);
  EXPECT_EQ(decode32(0x00200073).op, Op::Illegal); // uret does not exist
  const auto csr = decode32(i_type(kSystem, 10, 2, 0, 0xc00));
  EXPECT_EQ(csr.op, Op::Csrrs);
  EXPECT_EQ(csr.imm, 0xc00); // CSR numbers are not sign-extended
  EXPECT_EQ(decode32(i_type(kSystem, 10, 4, 0, 0x300)).op, Op::Illegal);
}

TEST(Decoder, AtomicsRequireWordOrDoubleAndLrRs2Zero) {
  EXPECT_EQ(decode32(r_type(kAmo, 1, 2, 2, 0, 0x02 << 2)).op, Op::LrW);
  EXPECT_EQ(decode32(r_type(kAmo, 1, 3, 2, 0, 0x02 << 2)).op, Op::LrD);
  EXPECT_EQ(decode32(r_type(kAmo, 1, 3, 2, 5, 0x02 << 2)).op, Op::Illegal);
  EXPECT_EQ(decode32(r_type(kAmo, 1, 3, 2, 5, (0x1c << 2) | 3)).op, Op::AmomaxuD); // aq/rl ignored
  EXPECT_EQ(decode32(r_type(kAmo, 1, 1, 2, 5, 0)).op, Op::Illegal);
}

TEST(Decoder, FloatingPointFormatsAndReservedFields) {
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 7, 2, 3, 0x01)).op, Op::FaddD);
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 7, 2, 3, 0x02)).op, Op::Illegal); // half precision
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 0, 2, 1, 0x2d)).op, Op::Illegal); // fsqrt.d with rs2 != 0
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 0, 2, 0, 0x71)).op, Op::FmvXD);
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 1, 2, 0, 0x71)).op, Op::FclassD);
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 7, 2, 1, 0x20)).op, Op::FcvtSD);
  EXPECT_EQ(decode32(r_type(kOpFp, 1, 7, 2, 0, 0x21)).op, Op::FcvtDS);
  EXPECT_EQ(decode32(r4_type(kMadd, 1, 7, 2, 3, 1, 4)).op, Op::FmaddD);
  EXPECT_EQ(decode32(r4_type(kNmadd, 1, 7, 2, 3, 0, 4)).op, Op::FnmaddS);
  EXPECT_EQ(decode32(r4_type(kNmadd, 1, 7, 2, 3, 0, 4)).rs3, 4);
}

TEST(Decoder, UnknownOpcodesAreIllegal) {
  EXPECT_EQ(decode32(0xffffffff).op, Op::Illegal);
  EXPECT_EQ(decode32(0x0000007f).op, Op::Illegal);
  EXPECT_EQ(decode32(r_type(kOp, 1, 0, 2, 3, 0x10)).op, Op::Illegal);
  EXPECT_EQ(decode32(i_type(kLoad, 1, 7, 2, 0)).op, Op::Illegal);
  EXPECT_EQ(decode32(i_type(kMiscMem, 0, 2, 0, 0)).op, Op::Illegal);
}

// ---- compressed

TEST(Compressed, InstructionLength) {
  EXPECT_EQ(instruction_length(0x0001), 2u);
  EXPECT_EQ(instruction_length(0x0013), 4u);
}

TEST(Compressed, ReservedEncodingsAreIllegal) {
  EXPECT_EQ(expand_compressed(0x0000), 0u);           // all zero
  EXPECT_EQ(expand_compressed(0x0004), 0u);           // c.addi4spn with zero immediate
  EXPECT_EQ(expand_compressed(0x8000), 0u);           // quadrant 0 funct3 100
  EXPECT_EQ(expand_compressed(0x6101), 0u);           // c.addi16sp with zero immediate
  EXPECT_EQ(expand_compressed(0x6501), 0u);           // c.lui with zero immediate (rd = a0)
  EXPECT_EQ(expand_compressed(0x2001), 0u);           // c.addiw with rd = 0
  EXPECT_EQ(expand_compressed(0x4002), 0u);           // c.lwsp with rd = 0
  EXPECT_EQ(expand_compressed(0x6002), 0u);           // c.ldsp with rd = 0
  EXPECT_EQ(expand_compressed(0x8002), 0u);           // c.jr with rs1 = 0
  EXPECT_EQ(expand_compressed(0x9c41), 0u);           // quadrant 1 funct6 100111 with funct2 10: reserved
  EXPECT_EQ(decode16(0x0000).op, Op::Illegal);
  EXPECT_EQ(decode16(0x0000).length, 2);
}

TEST(Compressed, ExpandsToTheEquivalentInstruction) {
  EXPECT_EQ(expand_compressed(0x4515), i_type(kOpImm, 10, 0, 0, 5));         // c.li a0, 5
  EXPECT_EQ(expand_compressed(0x557d), i_type(kOpImm, 10, 0, 0, -1));        // c.li a0, -1
  EXPECT_EQ(expand_compressed(0x0505), i_type(kOpImm, 10, 0, 10, 1));        // c.addi a0, 1
  EXPECT_EQ(expand_compressed(0x0001), i_type(kOpImm, 0, 0, 0, 0));          // c.nop
  EXPECT_EQ(expand_compressed(0x2505), i_type(kOpImm32, 10, 0, 10, 1));      // c.addiw a0, 1
  EXPECT_EQ(expand_compressed(0x1141), i_type(kOpImm, 2, 0, 2, -16));        // c.addi16sp -16
  EXPECT_EQ(expand_compressed(0x0028), i_type(kOpImm, 10, 0, 2, 8));         // c.addi4spn a0, sp, 8
  EXPECT_EQ(expand_compressed(0x6505), u_type(kLui, 10, 0x1000));            // c.lui a0, 1
  EXPECT_EQ(expand_compressed(0x7579), u_type(kLui, 10, -8192));             // c.lui a0, 0xffffe
  EXPECT_EQ(expand_compressed(0x85aa), r_type(kOp, 11, 0, 0, 10, 0));        // c.mv a1, a0
  EXPECT_EQ(expand_compressed(0x95aa), r_type(kOp, 11, 0, 11, 10, 0));       // c.add a1, a0
  EXPECT_EQ(expand_compressed(0x8d89), r_type(kOp, 11, 0, 11, 10, 0x20));    // c.sub a1, a0
  EXPECT_EQ(expand_compressed(0x9d89), r_type(kOp32, 11, 0, 11, 10, 0x20));  // c.subw a1, a0
  EXPECT_EQ(expand_compressed(0x9da9), r_type(kOp32, 11, 0, 11, 10, 0));     // c.addw a1, a0
  EXPECT_EQ(expand_compressed(0x8d6d), r_type(kOp, 10, 7, 10, 11, 0));       // c.and a0, a1
  EXPECT_EQ(expand_compressed(0x8105), i_type(kOpImm, 10, 5, 10, 1));        // c.srli a0, 1
  EXPECT_EQ(expand_compressed(0x9501), i_type(kOpImm, 10, 5, 10, 0x400 | 32)); // c.srai a0, 32
  EXPECT_EQ(expand_compressed(0x997d), i_type(kOpImm, 10, 7, 10, -1));       // c.andi a0, -1
  EXPECT_EQ(expand_compressed(0x0506), i_type(kOpImm, 10, 1, 10, 1));        // c.slli a0, 1
  EXPECT_EQ(expand_compressed(0x6188), i_type(kLoad, 10, 3, 11, 0));         // c.ld a0, 0(a1)
  EXPECT_EQ(expand_compressed(0x41c8), i_type(kLoad, 10, 2, 11, 4));         // c.lw a0, 4(a1)
  EXPECT_EQ(expand_compressed(0xe188), s_type(kStore, 3, 11, 10, 0));        // c.sd a0, 0(a1)
  EXPECT_EQ(expand_compressed(0xc1c8), s_type(kStore, 2, 11, 10, 4));        // c.sw a0, 4(a1)
  EXPECT_EQ(expand_compressed(0x2188), i_type(kLoadFp, 10, 3, 11, 0));       // c.fld fa0, 0(a1)
  EXPECT_EQ(expand_compressed(0xa188), s_type(kStoreFp, 3, 11, 10, 0));      // c.fsd fa0, 0(a1)
  EXPECT_EQ(expand_compressed(0x6522), i_type(kLoad, 10, 3, 2, 8));          // c.ldsp a0, 8(sp)
  EXPECT_EQ(expand_compressed(0x4532), i_type(kLoad, 10, 2, 2, 12));         // c.lwsp a0, 12(sp)
  EXPECT_EQ(expand_compressed(0xe42a), s_type(kStore, 3, 2, 10, 8));         // c.sdsp a0, 8(sp)
  EXPECT_EQ(expand_compressed(0xc62a), s_type(kStore, 2, 2, 10, 12));        // c.swsp a0, 12(sp)
  EXPECT_EQ(expand_compressed(0x2522), i_type(kLoadFp, 10, 3, 2, 8));        // c.fldsp fa0, 8(sp)
  EXPECT_EQ(expand_compressed(0xa42a), s_type(kStoreFp, 3, 2, 10, 8));       // c.fsdsp fa0, 8(sp)
  EXPECT_EQ(expand_compressed(0x8502), i_type(kJalr, 0, 0, 10, 0));          // c.jr a0
  EXPECT_EQ(expand_compressed(0x9502), i_type(kJalr, 1, 0, 10, 0));          // c.jalr a0
  EXPECT_EQ(expand_compressed(0x9002), 0x00100073u);                         // c.ebreak
  EXPECT_EQ(expand_compressed(0xa001), j_type(kJal, 0, 0));                  // c.j .
  EXPECT_EQ(expand_compressed(0xbffd), j_type(kJal, 0, -2));                 // c.j -2
  EXPECT_EQ(expand_compressed(0xc111), b_type(kBranch, 0, 10, 0, 4));        // c.beqz a0, 4
  EXPECT_EQ(expand_compressed(0xfd75), b_type(kBranch, 1, 10, 0, -4));       // c.bnez a0, -4
}

} // namespace
} // namespace nimbus::riscv
