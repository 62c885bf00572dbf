// Conversions: float to integer (rounding, the saturation table, sign extension of 32-bit results),
// integer to float, and between single and double precision.
#include "riscv/fp/fp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace nimbus::riscv::fp {
namespace {

constexpr uint8_t NX = Inexact, UF = Underflow, OF = Overflow, NV = Invalid;

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

template <auto Convert, typename Input> auto with(Input a) {
    return [=](Rounding rm, uint8_t& f) { return uint64_t(Convert(a, rm, f)); };
}

constexpr uint64_t kI32Max = 0x7fffffff, kI32Min = 0xffffffff80000000, kAllOnes = ~uint64_t(0);
constexpr uint64_t kI64Max = 0x7fffffffffffffff, kI64Min = 0x8000000000000000;
constexpr uint64_t kInf64 = 0x7ff0000000000000, kNegInf64 = 0xfff0000000000000, kQNaN64 = 0x7ff8000000000000;
constexpr uint64_t kNegQNaN64 = 0xfff8000000000000, kSNaN64 = 0x7ff0000000000001;
constexpr uint64_t kMinus0_9 = 0xbfeccccccccccccd, kMinusHalf = 0xbfe0000000000000;

TEST(FpToInt, NaNAndInfinitiesSaturate) {
    for (uint64_t nan : {kQNaN64, kNegQNaN64, kSNaN64}) {
        expectPerMode(with<f64_to_i32>(nan), same(kI32Max, NV));
        expectPerMode(with<f64_to_u32>(nan), same(kAllOnes, NV)); // 2^32-1 sign-extended
        expectPerMode(with<f64_to_i64>(nan), same(kI64Max, NV));
        expectPerMode(with<f64_to_u64>(nan), same(kAllOnes, NV));
    }
    expectPerMode(with<f64_to_i32>(kInf64), same(kI32Max, NV));
    expectPerMode(with<f64_to_i32>(kNegInf64), same(kI32Min, NV));
    expectPerMode(with<f64_to_u32>(kNegInf64), same(0, NV));
    expectPerMode(with<f64_to_i64>(kNegInf64), same(kI64Min, NV));
    expectPerMode(with<f64_to_u64>(kInf64), same(kAllOnes, NV));
    expectPerMode(with<f32_to_i32>(0x7fc00000), same(kI32Max, NV));
    expectPerMode(with<f32_to_u64>(0xff800000), same(0, NV));
}

TEST(FpToInt, ThirtyTwoBitBoundaries) {
    // 2^31 - 0.5 rounds to 2^31 (out of range) unless rounding toward zero or down.
    expectPerMode(with<f64_to_i32>(0x41dfffffffe00000),
                  {{{kI32Max, NV}, {kI32Max, NX}, {kI32Max, NX}, {kI32Max, NV}, {kI32Max, NV}}});
    // -2^31 - 0.5: a tie between -2^31 (even) and -2^31 - 1.
    expectPerMode(with<f64_to_i32>(0xc1e0000000100000),
                  {{{kI32Min, NX}, {kI32Min, NX}, {kI32Min, NV}, {kI32Min, NX}, {kI32Min, NV}}});
    expectPerMode(with<f64_to_i32>(0xc1e0000000000000), same(kI32Min, 0)); // -2^31 exactly
    expectPerMode(with<f64_to_i32>(0x41e0000000000000), same(kI32Max, NV)); // 2^31
    expectPerMode(with<f64_to_u32>(0x41efffffffe00000),                     // 2^32 - 1 exactly
                  same(kAllOnes, 0));
    expectPerMode(with<f64_to_u32>(0x41f0000000000000), same(kAllOnes, NV)); // 2^32
    // FCVT.WU results are sign-extended from bit 31: 3e9 -> 0xffffffffb2d05e00.
    expectPerMode(with<f64_to_u32>(0x41e65a0bc0000000), same(0xffffffffb2d05e00, 0));
    expectPerMode(with<f32_to_i32>(0xcf000000), same(kI32Min, 0));  // -2^31
    expectPerMode(with<f32_to_i32>(0x4f000000), same(kI32Max, NV)); // 2^31
}

TEST(FpToInt, SixtyFourBitBoundaries) {
    expectPerMode(with<f64_to_i64>(0xc3e0000000000000), same(kI64Min, 0));     // -2^63
    expectPerMode(with<f32_to_i64>(0xdf000000), same(kI64Min, 0));             // -2^63
    expectPerMode(with<f64_to_i64>(0x43e0000000000000), same(kI64Max, NV));    // 2^63
    expectPerMode(with<f64_to_i64>(0xc3e0000000000001), same(kI64Min, NV));    // below -2^63
    expectPerMode(with<f64_to_u64>(0x43e0000000000000), same(kI64Min, 0));     // 2^63 fits unsigned
    expectPerMode(with<f64_to_u64>(0x43efffffffffffff), same(0xfffffffffffff800, 0));
    expectPerMode(with<f64_to_u64>(0x43f0000000000000), same(kAllOnes, NV));   // 2^64
    expectPerMode(with<f32_to_u64>(0x5f800000), same(kAllOnes, NV));           // 2^64
    expectPerMode(with<f64_to_i64>(0x7fefffffffffffff), same(kI64Max, NV));
}

TEST(FpToInt, NegativeFractionsToUnsigned) {
    // -0.9 is -1 (invalid, 0) when rounding to nearest or down, and 0 (inexact) otherwise.
    const PerMode minus0_9{{{0, NV}, {0, NX}, {0, NV}, {0, NX}, {0, NV}}};
    expectPerMode(with<f64_to_u32>(kMinus0_9), minus0_9);
    expectPerMode(with<f64_to_u64>(kMinus0_9), minus0_9);
    expectPerMode(with<f32_to_u32>(0xbf666666), minus0_9);
    // -0.5 ties to -0 under RNE (fine) but to -1 under RMM.
    expectPerMode(with<f64_to_u64>(kMinusHalf), {{{0, NX}, {0, NX}, {0, NV}, {0, NX}, {0, NV}}});
    expectPerMode(with<f64_to_u32>(0x8000000000000000), same(0, 0));
    expectPerMode(with<f64_to_i32>(kMinus0_9),
                  {{{kAllOnes, NX}, {0, NX}, {kAllOnes, NX}, {0, NX}, {kAllOnes, NX}}});
}

TEST(FpToInt, TiesAndTinyValues) {
    expectPerMode(with<f64_to_i64>(0x4004000000000000), {{{2, NX}, {2, NX}, {2, NX}, {3, NX}, {3, NX}}});  // 2.5
    expectPerMode(with<f64_to_i64>(0xc004000000000000),                                                    // -2.5
                  {{{uint64_t(-2), NX}, {uint64_t(-2), NX}, {uint64_t(-3), NX}, {uint64_t(-2), NX}, {uint64_t(-3), NX}}});
    expectPerMode(with<f32_to_i32>(0x3fc00000), {{{2, NX}, {1, NX}, {1, NX}, {2, NX}, {2, NX}}});          // 1.5
    expectPerMode(with<f32_to_i32>(0x3f000000), {{{0, NX}, {0, NX}, {0, NX}, {1, NX}, {1, NX}}});          // 0.5
    expectPerMode(with<f64_to_i32>(1), {{{0, NX}, {0, NX}, {0, NX}, {1, NX}, {0, NX}}});                   // 2^-1074
    expectPerMode(with<f64_to_i32>(0x8000000000000001), {{{0, NX}, {0, NX}, {kAllOnes, NX}, {0, NX}, {0, NX}}});
    expectPerMode(with<f32_to_u32>(0x4f7fffff), same(0xffffffffffffff00, 0)); // 2^32 - 256
}

TEST(FpFromInt, RoundsLargeIntegers) {
    // 2^24 + 1 is a tie between 2^24 (even) and 2^24 + 2.
    expectPerMode(with<i32_to_f32>(int32_t(0x01000001)),
                  {{{0x4b800000, NX}, {0x4b800000, NX}, {0x4b800000, NX}, {0x4b800001, NX}, {0x4b800001, NX}}});
    expectPerMode(with<i32_to_f32>(int32_t(-0x01000001)),
                  {{{0xcb800000, NX}, {0xcb800000, NX}, {0xcb800001, NX}, {0xcb800000, NX}, {0xcb800001, NX}}});
    expectPerMode(with<i64_to_f32>(INT64_MAX),
                  {{{0x5f000000, NX}, {0x5effffff, NX}, {0x5effffff, NX}, {0x5f000000, NX}, {0x5f000000, NX}}});
    expectPerMode(with<u64_to_f64>(UINT64_MAX), {{{0x43f0000000000000, NX},
                                                  {0x43efffffffffffff, NX},
                                                  {0x43efffffffffffff, NX},
                                                  {0x43f0000000000000, NX},
                                                  {0x43f0000000000000, NX}}});
    expectPerMode(with<u32_to_f32>(UINT32_MAX),
                  {{{0x4f800000, NX}, {0x4f7fffff, NX}, {0x4f7fffff, NX}, {0x4f800000, NX}, {0x4f800000, NX}}});
}

TEST(FpFromInt, ExactConversions) {
    expectPerMode(with<i64_to_f64>(INT64_MIN), same(0xc3e0000000000000, 0));
    expectPerMode(with<i32_to_f64>(INT32_MIN), same(0xc1e0000000000000, 0));
    expectPerMode(with<u32_to_f64>(UINT32_MAX), same(0x41efffffffe00000, 0));
    expectPerMode(with<i32_to_f32>(0), same(0, 0)); // +0, never -0
    expectPerMode(with<i64_to_f64>(0), same(0, 0));
    expectPerMode(with<i32_to_f32>(-1), same(0xbf800000, 0));
    expectPerMode(with<u64_to_f32>(uint64_t(1) << 63), same(0x5f000000, 0));
}

TEST(FpNarrow, RoundsOverflowsAndUnderflows) {
    expectPerMode(with<f64_to_f32>(uint64_t(0x7fefffffffffffff)),
                  {{{0x7f800000, OF | NX}, {0x7f7fffff, OF | NX}, {0x7f7fffff, OF | NX}, {0x7f800000, OF | NX},
                    {0x7f800000, OF | NX}}});
    expectPerMode(with<f64_to_f32>(uint64_t(0xc7effffff0000000)), // -(max32 + half ulp): a tie
                  {{{0xff800000, OF | NX}, {0xff7fffff, NX}, {0xff800000, OF | NX}, {0xff7fffff, NX},
                    {0xff800000, OF | NX}}});
    expectPerMode(with<f64_to_f32>(uint64_t(0x358dee7a4ad4b81f)), // 1e-50
                  {{{0, UF | NX}, {0, UF | NX}, {0, UF | NX}, {1, UF | NX}, {0, UF | NX}}});
    expectPerMode(with<f64_to_f32>(uint64_t(0x3730000000000000)), same(0x00000200, 0)); // 2^-140, exact subnormal
    // 2^-126 - 2^-150: tiny even after rounding, though nearest rounds it up to 2^-126.
    expectPerMode(with<f64_to_f32>(uint64_t(0x380fffffe0000000)),
                  {{{0x00800000, UF | NX}, {0x007fffff, UF | NX}, {0x007fffff, UF | NX}, {0x00800000, UF | NX},
                    {0x00800000, UF | NX}}});
    // 2^-126 - 2^-151 rounds to 2^-126 with an unbounded exponent when rounding to nearest or up:
    // not tiny after rounding, so only Inexact (tininess before rounding would add Underflow).
    expectPerMode(with<f64_to_f32>(uint64_t(0x380ffffff0000000)),
                  {{{0x00800000, NX}, {0x007fffff, UF | NX}, {0x007fffff, UF | NX}, {0x00800000, NX},
                    {0x00800000, NX}}});
    expectPerMode(with<f64_to_f32>(uint64_t(0x8000000000000000)), same(0x80000000, 0));
    expectPerMode(with<f64_to_f32>(kNegInf64), same(0xff800000, 0));
    expectPerMode(with<f64_to_f32>(kSNaN64), same(kCanonicalNaN32, NV));
    expectPerMode(with<f64_to_f32>(uint64_t(0xfff8000000000123)), same(kCanonicalNaN32, 0));
    expectPerMode(with<f64_to_f32>(uint64_t(0x3ff0000010000000)), // 1 + 2^-24: a tie
                  {{{0x3f800000, NX}, {0x3f800000, NX}, {0x3f800000, NX}, {0x3f800001, NX}, {0x3f800001, NX}}});
}

TEST(FpWiden, IsExact) {
    uint8_t flags = 0;
    EXPECT_EQ(f32_to_f64(0x00000001, flags), 0x36a0000000000000u); // 2^-149 becomes a normal double
    EXPECT_EQ(f32_to_f64(0x807fffff, flags), 0xb80fffffc0000000u);
    EXPECT_EQ(f32_to_f64(0x3f800000, flags), 0x3ff0000000000000u);
    EXPECT_EQ(f32_to_f64(0x7f7fffff, flags), 0x47efffffe0000000u);
    EXPECT_EQ(f32_to_f64(0xff800000, flags), kNegInf64);
    EXPECT_EQ(f32_to_f64(0x80000000, flags), 0x8000000000000000u);
    EXPECT_EQ(f32_to_f64(0xffc00001, flags), kQNaN64);
    EXPECT_EQ(int(flags), 0);
    EXPECT_EQ(f32_to_f64(0x7f800001, flags), kQNaN64);
    EXPECT_EQ(int(flags), int(NV));
}

} // namespace
} // namespace nimbus::riscv::fp
