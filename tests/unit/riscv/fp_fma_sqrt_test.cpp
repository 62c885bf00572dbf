// Fused multiply-add (one rounding, the four sign forms, RISC-V's 0*inf+qNaN Invalid) and square root.
#include "riscv/fp/fp.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace nimbus::riscv::fp {
namespace {

constexpr uint8_t NX = Inexact, UF = Underflow, NV = Invalid;

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

auto fma32(uint32_t a, uint32_t b, uint32_t c, bool negateProduct = false, bool negateAddend = false) {
    return [=](Rounding rm, uint8_t& f) { return uint64_t(f32_fma(a, b, c, negateProduct, negateAddend, rm, f)); };
}
auto fma64(uint64_t a, uint64_t b, uint64_t c, bool negateProduct = false, bool negateAddend = false) {
    return [=](Rounding rm, uint8_t& f) { return f64_fma(a, b, c, negateProduct, negateAddend, rm, f); };
}
auto sqrt32(uint32_t a) { return [=](Rounding rm, uint8_t& f) { return uint64_t(f32_sqrt(a, rm, f)); }; }
auto sqrt64(uint64_t a) { return [=](Rounding rm, uint8_t& f) { return f64_sqrt(a, rm, f); }; }

constexpr uint32_t kOne32 = 0x3f800000, kMinusOne32 = 0xbf800000, kTwo32 = 0x40000000, kThree32 = 0x40400000;
constexpr uint32_t kMax32 = 0x7f7fffff, kMinSub32 = 0x00000001, kInf32 = 0x7f800000, kNegInf32 = 0xff800000;
constexpr uint32_t kNegZero32 = 0x80000000, kQNaN32 = 0x7fc00000, kSNaN32 = 0x7f800001;
constexpr uint64_t kOne64 = 0x3ff0000000000000, kMinusOne64 = 0xbff0000000000000;

TEST(FpFma, RoundsOnceWhereMulThenAddRoundsTwice) {
    // a = 1 + 2^-12: a*a - 1 = 2^-11 + 2^-24 exactly, but a*a alone rounds away the 2^-24.
    const uint32_t a = 0x3f800800;
    expectPerMode(fma32(a, a, kMinusOne32), same(0x3a000400, 0));
    uint8_t flags = 0;
    const uint32_t product = f32_mul(a, a, Rounding::NearestEven, flags);
    EXPECT_EQ(f32_add(product, kMinusOne32, Rounding::NearestEven, flags), 0x3a000000u);
    EXPECT_EQ(int(flags), int(NX));
    // Double: a = 1 + 2^-27, a*a - 1 = 2^-26 + 2^-54.
    expectPerMode(fma64(0x3ff0000002000000, 0x3ff0000002000000, kMinusOne64), same(0x3e50000001000000, 0));
    // The exact rounding error of a product: (1 + 2^-23)^2 - round(...) = 2^-46.
    expectPerMode(fma32(0x3f800001, 0x3f800001, 0xbf800002), same(0x28800000, 0));
    // max * 2 - max is exactly max: the intermediate product does not overflow.
    expectPerMode(fma32(kMax32, kTwo32, 0xff7fffff), same(kMax32, 0));
}

TEST(FpFma, FourSignForms) {
    expectPerMode(fma32(kTwo32, kThree32, kOne32), same(0x40e00000, 0));             // FMADD  2*3+1
    expectPerMode(fma32(kTwo32, kThree32, kOne32, false, true), same(0x40a00000, 0)); // FMSUB  2*3-1
    expectPerMode(fma32(kTwo32, kThree32, kOne32, true, false), same(0xc0a00000, 0)); // FNMSUB -(2*3)+1
    expectPerMode(fma32(kTwo32, kThree32, kOne32, true, true), same(0xc0e00000, 0));  // FNMADD -(2*3)-1
}

TEST(FpFma, InvalidCases) {
    // RISC-V requires Invalid for inf * 0 even when the addend is a quiet NaN.
    expectPerMode(fma32(kInf32, 0, kQNaN32), same(kQNaN32, NV));
    expectPerMode(fma32(kNegZero32, kNegInf32, kQNaN32), same(kQNaN32, NV));
    expectPerMode(fma64(0, 0xfff0000000000000, 0x7ff8000000000000), same(kCanonicalNaN64, NV));
    expectPerMode(fma32(kInf32, 0, kOne32), same(kQNaN32, NV));
    expectPerMode(fma32(kInf32, kOne32, kNegInf32), same(kQNaN32, NV));
    expectPerMode(fma32(kInf32, kOne32, kInf32, false, true), same(kQNaN32, NV));
    expectPerMode(fma32(kOne32, kOne32, kSNaN32), same(kQNaN32, NV));
    expectPerMode(fma32(kSNaN32, kOne32, kQNaN32), same(kQNaN32, NV));
    // Quiet NaNs propagate canonically and silently.
    expectPerMode(fma32(0xffc00001, kOne32, kOne32), same(kQNaN32, 0));
    expectPerMode(fma32(kOne32, kOne32, kQNaN32), same(kQNaN32, 0));
}

TEST(FpFma, InfinitiesAndZeros) {
    expectPerMode(fma32(kInf32, kOne32, kInf32), same(kInf32, 0));
    expectPerMode(fma32(kOne32, kOne32, kNegInf32), same(kNegInf32, 0));
    expectPerMode(fma32(kNegInf32, kOne32, kMax32), same(kNegInf32, 0));
    expectPerMode(fma32(kInf32, kOne32, kOne32, true, false), same(kNegInf32, 0));
    const PerMode plusZeroUnlessDown{{{0, 0}, {0, 0}, {kNegZero32, 0}, {0, 0}, {0, 0}}};
    expectPerMode(fma32(0, kOne32, kNegZero32), plusZeroUnlessDown);
    expectPerMode(fma32(kOne32, kOne32, kMinusOne32), plusZeroUnlessDown);
    expectPerMode(fma32(kNegZero32, kOne32, kNegZero32), same(kNegZero32, 0));
    expectPerMode(fma32(0, kOne32, 0, true, true), same(kNegZero32, 0));
    // 0 * x + c is exactly c, even for a subnormal c.
    expectPerMode(fma32(0, kMax32, 0x80000005), same(0x80000005, 0));
    // A nonzero product that underflows keeps its sign against a zero addend.
    expectPerMode(fma32(0x0d800000, 0x0d800000, kNegZero32),
                  {{{0, UF | NX}, {0, UF | NX}, {0, UF | NX}, {kMinSub32, UF | NX}, {0, UF | NX}}});
}

TEST(FpFma, TinyProductBesideALargeAddend) {
    expectPerMode(fma32(kMinSub32, kMinSub32, kOne32),
                  {{{kOne32, NX}, {kOne32, NX}, {kOne32, NX}, {0x3f800001, NX}, {kOne32, NX}}});
    expectPerMode(fma32(kMinSub32, kMinSub32, kMinusOne32),
                  {{{kMinusOne32, NX}, {0xbf7fffff, NX}, {kMinusOne32, NX}, {0xbf7fffff, NX}, {kMinusOne32, NX}}});
    expectPerMode(fma64(1, 1, kOne64, true, false), {{{kOne64, NX},
                                                      {0x3fefffffffffffff, NX},
                                                      {0x3fefffffffffffff, NX},
                                                      {kOne64, NX},
                                                      {kOne64, NX}}});
}

TEST(FpSqrt, SpecialOperands) {
    expectPerMode(sqrt32(kNegZero32), same(kNegZero32, 0));
    expectPerMode(sqrt32(0), same(0, 0));
    expectPerMode(sqrt32(kInf32), same(kInf32, 0));
    expectPerMode(sqrt32(kNegInf32), same(kQNaN32, NV));
    expectPerMode(sqrt32(kMinusOne32), same(kQNaN32, NV));
    expectPerMode(sqrt32(0x80000001), same(kQNaN32, NV));
    expectPerMode(sqrt32(0xffc00000), same(kQNaN32, 0));
    expectPerMode(sqrt32(kSNaN32), same(kQNaN32, NV));
    expectPerMode(sqrt64(0x7ff0000000000001), same(kCanonicalNaN64, NV));
    expectPerMode(sqrt64(kMinusOne64), same(kCanonicalNaN64, NV));
}

TEST(FpSqrt, ExactAndRoundedRoots) {
    expectPerMode(sqrt32(0x40800000), same(kTwo32, 0));
    expectPerMode(sqrt32(0x00000002), same(0x1a800000, 0)); // sqrt(2^-148) = 2^-74
    expectPerMode(sqrt64(1), same(0x1e60000000000000, 0));                             // sqrt(2^-1074) = 2^-537
    expectPerMode(sqrt32(kTwo32),
                  {{{0x3fb504f3, NX}, {0x3fb504f3, NX}, {0x3fb504f3, NX}, {0x3fb504f4, NX}, {0x3fb504f3, NX}}});
    expectPerMode(sqrt64(0x4000000000000000), {{{0x3ff6a09e667f3bcd, NX},
                                                {0x3ff6a09e667f3bcc, NX},
                                                {0x3ff6a09e667f3bcc, NX},
                                                {0x3ff6a09e667f3bcd, NX},
                                                {0x3ff6a09e667f3bcd, NX}}});
    // sqrt(max) lies a hair closer to the largest value below 2^512 than to 2^512.
    expectPerMode(sqrt64(0x7fefffffffffffff), {{{0x5fefffffffffffff, NX},
                                                {0x5fefffffffffffff, NX},
                                                {0x5fefffffffffffff, NX},
                                                {0x5ff0000000000000, NX},
                                                {0x5fefffffffffffff, NX}}});
}

} // namespace
} // namespace nimbus::riscv::fp
