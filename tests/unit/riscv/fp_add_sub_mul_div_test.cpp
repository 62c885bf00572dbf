// Corner cases of add, sub, mul and div in every rounding mode: signed zeros, halfway cases,
// overflow to infinity versus the largest finite value, subnormal results with and without Underflow,
// NaN canonicalization and signaling-NaN Invalid.
#include "riscv/fp/fp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace nimbus::riscv::fp {
namespace {

constexpr uint8_t NX = Inexact, UF = Underflow, OF = Overflow, DZ = DivideByZero, NV = Invalid;

struct Expect {
    uint64_t value;
    uint8_t flags;
};
// Expected outcome per rounding mode, in encoding order: RNE, RTZ, RDN, RUP, RMM.
using PerMode = std::array<Expect, 5>;
constexpr const char* kModeNames[] = {"RNE", "RTZ", "RDN", "RUP", "RMM"};

template <typename Op> void expectPerMode(Op op, const PerMode& want) {
    for (int mode = 0; mode < 5; ++mode) {
        uint8_t flags = 0;
        const uint64_t got = op(Rounding(mode), flags);
        EXPECT_EQ(got, want[mode].value) << "in " << kModeNames[mode];
        EXPECT_EQ(int(flags), int(want[mode].flags)) << "flags in " << kModeNames[mode];
    }
}
PerMode same(uint64_t value, uint8_t flags) { return {{{value, flags}, {value, flags}, {value, flags}, {value, flags}, {value, flags}}}; }

auto add32(uint32_t a, uint32_t b) { return [=](Rounding rm, uint8_t& f) { return uint64_t(f32_add(a, b, rm, f)); }; }
auto sub32(uint32_t a, uint32_t b) { return [=](Rounding rm, uint8_t& f) { return uint64_t(f32_sub(a, b, rm, f)); }; }
auto mul32(uint32_t a, uint32_t b) { return [=](Rounding rm, uint8_t& f) { return uint64_t(f32_mul(a, b, rm, f)); }; }
auto div32(uint32_t a, uint32_t b) { return [=](Rounding rm, uint8_t& f) { return uint64_t(f32_div(a, b, rm, f)); }; }
auto add64(uint64_t a, uint64_t b) { return [=](Rounding rm, uint8_t& f) { return f64_add(a, b, rm, f); }; }
auto sub64(uint64_t a, uint64_t b) { return [=](Rounding rm, uint8_t& f) { return f64_sub(a, b, rm, f); }; }
auto mul64(uint64_t a, uint64_t b) { return [=](Rounding rm, uint8_t& f) { return f64_mul(a, b, rm, f); }; }
auto div64(uint64_t a, uint64_t b) { return [=](Rounding rm, uint8_t& f) { return f64_div(a, b, rm, f); }; }

constexpr uint32_t kOne32 = 0x3f800000, kMinusOne32 = 0xbf800000, kTwo32 = 0x40000000, kHalf32 = 0x3f000000;
constexpr uint32_t kMax32 = 0x7f7fffff, kMinNormal32 = 0x00800000, kMinSub32 = 0x00000001;
constexpr uint32_t kInf32 = 0x7f800000, kNegInf32 = 0xff800000, kNegZero32 = 0x80000000;
constexpr uint32_t kQNaN32 = 0x7fc00000, kSNaN32 = 0x7f800001, kNegQNaNPayload32 = 0xffc12345;
constexpr uint64_t kOne64 = 0x3ff0000000000000, kMax64 = 0x7fefffffffffffff, kInf64 = 0x7ff0000000000000;
constexpr uint64_t kNegZero64 = 0x8000000000000000, kMinSub64 = 1, kSNaN64 = 0x7ff0000000000001;

TEST(FpAddSub, ExactCancellationIsPlusZeroExceptRoundingDown) {
    const PerMode want{{{0, 0}, {0, 0}, {kNegZero32, 0}, {0, 0}, {0, 0}}};
    expectPerMode(add32(kOne32, kMinusOne32), want);
    expectPerMode(sub32(kOne32, kOne32), want);
    const PerMode want64{{{0, 0}, {0, 0}, {kNegZero64, 0}, {0, 0}, {0, 0}}};
    expectPerMode(sub64(kMax64, kMax64), want64);
}

TEST(FpAddSub, SignedZeroSums) {
    expectPerMode(add32(kNegZero32, kNegZero32), same(kNegZero32, 0));
    expectPerMode(add32(0, kNegZero32), {{{0, 0}, {0, 0}, {kNegZero32, 0}, {0, 0}, {0, 0}}});
    expectPerMode(sub32(kNegZero32, 0), same(kNegZero32, 0));
    expectPerMode(sub32(0, 0), {{{0, 0}, {0, 0}, {kNegZero32, 0}, {0, 0}, {0, 0}}});
    // x + 0 keeps x, including a negative subnormal.
    expectPerMode(add32(0x80000003, 0), same(0x80000003, 0));
}

TEST(FpAddSub, HalfwayCasesInEveryMode) {
    // 1 + 2^-24 is halfway between 1 (even) and 1 + 2^-23.
    expectPerMode(add32(kOne32, 0x33800000),
                  {{{kOne32, NX}, {kOne32, NX}, {kOne32, NX}, {0x3f800001, NX}, {0x3f800001, NX}}});
    // (1 + 2^-23) + 2^-24 is halfway between an odd and an even significand.
    expectPerMode(add32(0x3f800001, 0x33800000),
                  {{{0x3f800002, NX}, {0x3f800001, NX}, {0x3f800001, NX}, {0x3f800002, NX}, {0x3f800002, NX}}});
    // The same ties, negative: directed modes swap.
    expectPerMode(add32(kMinusOne32, 0xb3800000),
                  {{{kMinusOne32, NX}, {kMinusOne32, NX}, {0xbf800001, NX}, {kMinusOne32, NX}, {0xbf800001, NX}}});
    // Below and above the halfway point.
    expectPerMode(add32(kOne32, 0x33000000),
                  {{{kOne32, NX}, {kOne32, NX}, {kOne32, NX}, {0x3f800001, NX}, {kOne32, NX}}});
    expectPerMode(add32(kOne32, 0x33c00000),
                  {{{0x3f800001, NX}, {kOne32, NX}, {kOne32, NX}, {0x3f800001, NX}, {0x3f800001, NX}}});
    // Double: 1 + 2^-53 ties to 1; subtraction that borrows: 1 - 2^-54 rounds back to 1 only when nearest.
    expectPerMode(add64(kOne64, 0x3ca0000000000000),
                  {{{kOne64, NX}, {kOne64, NX}, {kOne64, NX}, {0x3ff0000000000001, NX}, {0x3ff0000000000001, NX}}});
    expectPerMode(sub64(kOne64, 0x3c90000000000000),
                  {{{kOne64, NX}, {0x3fefffffffffffff, NX}, {0x3fefffffffffffff, NX}, {kOne64, NX}, {kOne64, NX}}});
}

TEST(FpAddSub, OverflowGoesToInfinityOrMaxFinitePerMode) {
    expectPerMode(add32(kMax32, kMax32),
                  {{{kInf32, OF | NX}, {kMax32, OF | NX}, {kMax32, OF | NX}, {kInf32, OF | NX}, {kInf32, OF | NX}}});
    expectPerMode(add32(0xff7fffff, 0xff7fffff), {{{kNegInf32, OF | NX},
                                                   {0xff7fffff, OF | NX},
                                                   {kNegInf32, OF | NX},
                                                   {0xff7fffff, OF | NX},
                                                   {kNegInf32, OF | NX}}});
    // max + half an ulp (2^103) is a tie: nearest modes overflow; truncating ones are merely inexact.
    expectPerMode(add32(kMax32, 0x73000000),
                  {{{kInf32, OF | NX}, {kMax32, NX}, {kMax32, NX}, {kInf32, OF | NX}, {kInf32, OF | NX}}});
    // A quarter ulp only overflows when rounding up.
    expectPerMode(add32(kMax32, 0x72800000),
                  {{{kMax32, NX}, {kMax32, NX}, {kMax32, NX}, {kInf32, OF | NX}, {kMax32, NX}}});
    expectPerMode(add64(kMax64, kMax64), {{{kInf64, OF | NX}, {kMax64, OF | NX}, {kMax64, OF | NX},
                                           {kInf64, OF | NX}, {kInf64, OF | NX}}});
}

TEST(FpAddSub, SubnormalsInAndOutAreExact) {
    expectPerMode(add32(kMinSub32, kMinSub32), same(0x00000002, 0));
    expectPerMode(add32(0x00400000, 0x00400000), same(kMinNormal32, 0));
    expectPerMode(sub32(kMinNormal32, kMinSub32), same(0x007fffff, 0));
    expectPerMode(sub64(0x0010000000000000, kMinSub64), same(0x000fffffffffffff, 0));
}

TEST(FpAddSub, InfinitiesAndNaNs) {
    expectPerMode(sub32(kInf32, kInf32), same(kQNaN32, NV));
    expectPerMode(add32(kInf32, kNegInf32), same(kQNaN32, NV));
    expectPerMode(add32(kInf32, kInf32), same(kInf32, 0));
    expectPerMode(sub32(kOne32, kInf32), same(kNegInf32, 0));
    expectPerMode(add32(kNegQNaNPayload32, kOne32), same(kQNaN32, 0));
    expectPerMode(add32(kOne32, kSNaN32), same(kQNaN32, NV));
    expectPerMode(add32(kQNaN32, kSNaN32), same(kQNaN32, NV));
    expectPerMode(add32(kSNaN32, kInf32), same(kQNaN32, NV));
    expectPerMode(add64(kSNaN64, kOne64), same(kCanonicalNaN64, NV));
    expectPerMode(add64(0xfff8000000000abc, kInf64), same(kCanonicalNaN64, 0));
}

TEST(FpMul, SignsZerosAndInfinities) {
    expectPerMode(mul32(kNegZero32, kOne32), same(kNegZero32, 0));
    expectPerMode(mul32(kNegZero32, kMinusOne32), same(0, 0));
    expectPerMode(mul32(kInf32, 0), same(kQNaN32, NV));
    expectPerMode(mul32(kNegZero32, kNegInf32), same(kQNaN32, NV));
    expectPerMode(mul32(kNegInf32, kMinSub32), same(kNegInf32, 0));
    expectPerMode(mul32(kSNaN32, 0), same(kQNaN32, NV));
    expectPerMode(mul64(kInf64, 0), same(kCanonicalNaN64, NV));
}

TEST(FpMul, OverflowPerMode) {
    expectPerMode(mul32(kMax32, kTwo32),
                  {{{kInf32, OF | NX}, {kMax32, OF | NX}, {kMax32, OF | NX}, {kInf32, OF | NX}, {kInf32, OF | NX}}});
    expectPerMode(mul64(0xffefffffffffffff, 0x4000000000000000), {{{0xfff0000000000000, OF | NX},
                                                                    {0xffefffffffffffff, OF | NX},
                                                                    {0xfff0000000000000, OF | NX},
                                                                    {0xffefffffffffffff, OF | NX},
                                                                    {0xfff0000000000000, OF | NX}}});
}

TEST(FpMul, UnderflowWithAndWithoutInexact) {
    // An exact subnormal result raises nothing.
    expectPerMode(mul32(kMinNormal32, kHalf32), same(0x00400000, 0));
    expectPerMode(mul32(0x00000006, kHalf32), same(0x00000003, 0));
    // Half of the smallest subnormal is a tie between 0 and it.
    expectPerMode(mul32(kMinSub32, kHalf32),
                  {{{0, UF | NX}, {0, UF | NX}, {0, UF | NX}, {kMinSub32, UF | NX}, {kMinSub32, UF | NX}}});
    expectPerMode(mul32(0x80000001, kHalf32), {{{kNegZero32, UF | NX},
                                                {kNegZero32, UF | NX},
                                                {0x80000001, UF | NX},
                                                {kNegZero32, UF | NX},
                                                {0x80000001, UF | NX}}});
    // 3 * 2^-150 = 1.5 * 2^-149: nearest rounds to 2 * 2^-149 (even), RMM too.
    expectPerMode(mul32(0x00000003, kHalf32),
                  {{{0x00000002, UF | NX}, {kMinSub32, UF | NX}, {kMinSub32, UF | NX}, {0x00000002, UF | NX},
                    {0x00000002, UF | NX}}});
    // Far below the subnormal range everything rounds to zero or the smallest subnormal.
    expectPerMode(mul64(kMinSub64, kMinSub64),
                  {{{0, UF | NX}, {0, UF | NX}, {0, UF | NX}, {kMinSub64, UF | NX}, {0, UF | NX}}});
}

TEST(FpMul, TininessIsDetectedAfterRounding) {
    // (1 - 2^-24) * 2^-126 is below the smallest normal even with an unbounded exponent: tiny, so
    // rounding up to the smallest normal still raises Underflow.
    expectPerMode(mul32(0x3f7fffff, kMinNormal32), {{{kMinNormal32, UF | NX},
                                                     {0x007fffff, UF | NX},
                                                     {0x007fffff, UF | NX},
                                                     {kMinNormal32, UF | NX},
                                                     {kMinNormal32, UF | NX}}});
    // (2 - 2^-51)(1 + 2^-52) * 2^-1023 = (2 - 2^-103) * 2^-1023 rounds to 2^-1022 with an unbounded
    // exponent when rounding to nearest or up: not tiny, so only Inexact. Truncation stays tiny.
    expectPerMode(mul64(0x3bcffffffffffffe, 0x0430000000000001), {{{0x0010000000000000, NX},
                                                                       {0x000fffffffffffff, UF | NX},
                                                                       {0x000fffffffffffff, UF | NX},
                                                                       {0x0010000000000000, NX},
                                                                       {0x0010000000000000, NX}}});
}

TEST(FpDiv, SpecialOperands) {
    expectPerMode(div32(kOne32, 0), same(kInf32, DZ));
    expectPerMode(div32(kOne32, kNegZero32), same(kNegInf32, DZ));
    expectPerMode(div32(0, 0), same(kQNaN32, NV));
    expectPerMode(div32(kInf32, kNegInf32), same(kQNaN32, NV));
    expectPerMode(div32(kInf32, 0), same(kInf32, 0));
    expectPerMode(div32(kMinusOne32, kInf32), same(kNegZero32, 0));
    expectPerMode(div32(0, kMinusOne32), same(kNegZero32, 0));
    expectPerMode(div32(kSNaN32, 0), same(kQNaN32, NV));
    expectPerMode(div64(0, 0), same(kCanonicalNaN64, NV));
    expectPerMode(div64(kNegZero64, kOne64), same(kNegZero64, 0));
}

TEST(FpDiv, RoundingOfOneThird) {
    // 1/3 = 0x3eaaaaaa.aaa... : the tail (0.10101...) is above half, so nearest rounds up.
    expectPerMode(div32(kOne32, 0x40400000),
                  {{{0x3eaaaaab, NX}, {0x3eaaaaaa, NX}, {0x3eaaaaaa, NX}, {0x3eaaaaab, NX}, {0x3eaaaaab, NX}}});
    // -1/3 in double has a tail below half: nearest truncates, only rounding down grows the magnitude.
    expectPerMode(div64(0xbff0000000000000, 0x4008000000000000), {{{0xbfd5555555555555, NX},
                                                                   {0xbfd5555555555555, NX},
                                                                   {0xbfd5555555555556, NX},
                                                                   {0xbfd5555555555555, NX},
                                                                   {0xbfd5555555555555, NX}}});
    expectPerMode(div32(0x40c00000, 0x40400000), same(kTwo32, 0));
}

TEST(FpDiv, OverflowAndUnderflow) {
    expectPerMode(div32(kMax32, kHalf32),
                  {{{kInf32, OF | NX}, {kMax32, OF | NX}, {kMax32, OF | NX}, {kInf32, OF | NX}, {kInf32, OF | NX}}});
    expectPerMode(div32(kMinSub32, kTwo32),
                  {{{0, UF | NX}, {0, UF | NX}, {0, UF | NX}, {kMinSub32, UF | NX}, {kMinSub32, UF | NX}}});
    expectPerMode(div32(kMinNormal32, kTwo32), same(0x00400000, 0));
}

} // namespace
} // namespace nimbus::riscv::fp
