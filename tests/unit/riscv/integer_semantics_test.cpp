// Integer semantics shared by the execution tiers: division, high multiplies, W ops.
#include <gtest/gtest.h>

#include "riscv/integer_semantics.hpp"

namespace nimbus::riscv::sem {
namespace {

constexpr uint64_t kMin = 0x8000000000000000u;
constexpr uint64_t kAllOnes = ~uint64_t{0};

TEST(IntegerSemantics, DivisionByZero) {
  EXPECT_EQ(div(5, 0), kAllOnes);
  EXPECT_EQ(divu(5, 0), kAllOnes);
  EXPECT_EQ(rem(5, 0), 5u);
  EXPECT_EQ(remu(5, 0), 5u);
  EXPECT_EQ(divw(5, 0), kAllOnes);
  EXPECT_EQ(divuw(5, 0), kAllOnes);
  EXPECT_EQ(remw(0xffffffff80000000u, 0), 0xffffffff80000000u);
  EXPECT_EQ(remuw(0x80000000u, 0), 0xffffffff80000000u);
}

TEST(IntegerSemantics, SignedOverflow) {
  EXPECT_EQ(div(kMin, kAllOnes), kMin);
  EXPECT_EQ(rem(kMin, kAllOnes), 0u);
  EXPECT_EQ(divw(0x80000000u, kAllOnes), 0xffffffff80000000u);
  EXPECT_EQ(remw(0x80000000u, kAllOnes), 0u);
}

TEST(IntegerSemantics, SignedDivisionRoundsTowardZero) {
  EXPECT_EQ(div(static_cast<uint64_t>(-7), 2), static_cast<uint64_t>(-3));
  EXPECT_EQ(rem(static_cast<uint64_t>(-7), 2), static_cast<uint64_t>(-1));
  EXPECT_EQ(divw(static_cast<uint64_t>(-7), 2), static_cast<uint64_t>(-3));
}

TEST(IntegerSemantics, HighMultiply) {
  EXPECT_EQ(mulh(kMin, kMin), 0x4000000000000000u);
  EXPECT_EQ(mulhu(kAllOnes, 2), 1u);
  EXPECT_EQ(mulhsu(kAllOnes, kAllOnes), kAllOnes); // -1 * (2^64-1): high word -1
  EXPECT_EQ(mulhsu(2, kAllOnes), 1u);
}

TEST(IntegerSemantics, WordOps) {
  EXPECT_EQ(addw(0x7fffffff, 1), 0xffffffff80000000u);
  EXPECT_EQ(sllw(1, 32), 1u); // shift amount uses 5 bits
  EXPECT_EQ(srlw(0x80000000u, 31), 1u);
  EXPECT_EQ(sraw(0x80000000u, 31), kAllOnes);
  EXPECT_EQ(mulw(0xffffffff, 0xffffffff), 1u);
  EXPECT_EQ(subw(0, 0x80000000u), 0xffffffff80000000u);
}

TEST(IntegerSemantics, AmoMinMaxCompareCorrectly) {
  EXPECT_EQ(amo_min(kAllOnes, 1), kAllOnes);
  EXPECT_EQ(amo_minu(kAllOnes, 1), 1u);
  EXPECT_EQ(amo_max(kAllOnes, 1), 1u);
  EXPECT_EQ(amo_maxu(kAllOnes, 1), kAllOnes);
}

} // namespace
} // namespace nimbus::riscv::sem
