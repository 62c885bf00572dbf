// Decoding of the H extension instructions. The encodings are what GNU as 2.40 produces for
// `-march=rv64gc_h` (hlv.b a0,(a1) ... hfence.gvma a1,a2).
#include <gtest/gtest.h>

#include "riscv/decoder.hpp"
#include "riscv/opcode.hpp"

namespace nimbus::riscv {
namespace {

TEST(HExtensionDecoder, HypervisorLoadsAndStores) {
  const struct {
    uint32_t bits;
    Op op;
  } cases[] = {
      {0x6005c573, Op::HlvB},   {0x6015c573, Op::HlvBu}, {0x6405c573, Op::HlvH},   {0x6415c573, Op::HlvHu},
      {0x6435c573, Op::HlvxHu}, {0x6805c573, Op::HlvW},  {0x6815c573, Op::HlvWu},  {0x6835c573, Op::HlvxWu},
      {0x6c05c573, Op::HlvD},   {0x62c5c073, Op::HsvB},  {0x66c5c073, Op::HsvH},   {0x6ac5c073, Op::HsvW},
      {0x6ec5c073, Op::HsvD},   {0x22c58073, Op::HfenceVvma}, {0x62c58073, Op::HfenceGvma},
      {0x22000073, Op::HfenceVvma},
  };
  for (const auto& c : cases) {
    const DecodedInstruction d = decode32(c.bits);
    EXPECT_EQ(d.op, c.op) << std::hex << c.bits;
  }
  const DecodedInstruction hlv = decode32(0x6c05c573);
  EXPECT_EQ(hlv.rd, 10u);
  EXPECT_EQ(hlv.rs1, 11u);
  const DecodedInstruction hsv = decode32(0x6ec5c073);
  EXPECT_EQ(hsv.rs1, 11u);
  EXPECT_EQ(hsv.rs2, 12u);
}

TEST(HExtensionDecoder, ReservedVariantsAreIllegal) {
  EXPECT_EQ(decode32(0x6025c573).op, Op::Illegal); // hlv.b with rs2 = 2
  EXPECT_EQ(decode32(0x6035c573).op, Op::Illegal); // no hlvx.bu
  EXPECT_EQ(decode32(0x6c15c573).op, Op::Illegal); // no hlv.du
  EXPECT_EQ(decode32(0x6c35c573).op, Op::Illegal); // no hlvx.d
  EXPECT_EQ(decode32(0x6ec5c0f3).op, Op::Illegal); // hsv.d with rd != 0
  EXPECT_EQ(decode32(0x22c580f3).op, Op::Illegal); // hfence.vvma with rd != 0
  EXPECT_EQ(decode32(0x22c59073).op, Op::Csrrw);   // funct3 1 is a CSR instruction, not HFENCE
}

TEST(HExtensionDecoder, HfenceEndsABlock) {
  EXPECT_TRUE(ends_block(Op::HfenceVvma));
  EXPECT_TRUE(ends_block(Op::HfenceGvma));
  EXPECT_TRUE(writes_integer_rd(Op::HlvD));
}

} // namespace
} // namespace nimbus::riscv
