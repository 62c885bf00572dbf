// FMIN/FMAX (2.2 semantics), FEQ/FLT/FLE (quiet versus signaling) and FCLASS.
#include "riscv/fp/fp.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace nimbus::riscv::fp {
namespace {

constexpr uint32_t kOne32 = 0x3f800000, kMinusOne32 = 0xbf800000, kNegZero32 = 0x80000000;
constexpr uint32_t kInf32 = 0x7f800000, kNegInf32 = 0xff800000, kMax32 = 0x7f7fffff;
constexpr uint32_t kQNaN32 = 0x7fc00000, kSNaN32 = 0x7f800001, kOddQNaN32 = 0xffc00abc;
constexpr uint64_t kOne64 = 0x3ff0000000000000, kNegZero64 = 0x8000000000000000;
constexpr uint64_t kQNaN64 = 0x7ff8000000000000, kSNaN64 = 0x7ff4000000000000;

struct Outcome {
    uint64_t value;
    int flags;
    bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& out, const Outcome& o) {
    return out << std::hex << "0x" << o.value << " flags " << std::dec << o.flags;
}

template <typename Op> Outcome run(Op op) {
    uint8_t flags = 0;
    const uint64_t value = uint64_t(op(flags));
    return {value, flags};
}
Outcome min32(uint32_t a, uint32_t b) { return run([=](uint8_t& f) { return f32_min(a, b, f); }); }
Outcome max32(uint32_t a, uint32_t b) { return run([=](uint8_t& f) { return f32_max(a, b, f); }); }
Outcome min64(uint64_t a, uint64_t b) { return run([=](uint8_t& f) { return f64_min(a, b, f); }); }
Outcome max64(uint64_t a, uint64_t b) { return run([=](uint8_t& f) { return f64_max(a, b, f); }); }
Outcome eq32(uint32_t a, uint32_t b) { return run([=](uint8_t& f) { return f32_eq(a, b, f); }); }
Outcome lt32(uint32_t a, uint32_t b) { return run([=](uint8_t& f) { return f32_lt(a, b, f); }); }
Outcome le32(uint32_t a, uint32_t b) { return run([=](uint8_t& f) { return f32_le(a, b, f); }); }
Outcome eq64(uint64_t a, uint64_t b) { return run([=](uint8_t& f) { return f64_eq(a, b, f); }); }
Outcome lt64(uint64_t a, uint64_t b) { return run([=](uint8_t& f) { return f64_lt(a, b, f); }); }
Outcome le64(uint64_t a, uint64_t b) { return run([=](uint8_t& f) { return f64_le(a, b, f); }); }

TEST(FpMinMax, SignedZerosAreOrdered) {
    EXPECT_EQ(min32(0, kNegZero32), (Outcome{kNegZero32, 0}));
    EXPECT_EQ(min32(kNegZero32, 0), (Outcome{kNegZero32, 0}));
    EXPECT_EQ(max32(kNegZero32, 0), (Outcome{0, 0}));
    EXPECT_EQ(max32(0, kNegZero32), (Outcome{0, 0}));
    EXPECT_EQ(min64(0, kNegZero64), (Outcome{kNegZero64, 0}));
    EXPECT_EQ(max64(kNegZero64, 0), (Outcome{0, 0}));
}

TEST(FpMinMax, OrdinaryValues) {
    EXPECT_EQ(min32(kOne32, kMinusOne32), (Outcome{kMinusOne32, 0}));
    EXPECT_EQ(max32(kOne32, kMinusOne32), (Outcome{kOne32, 0}));
    EXPECT_EQ(min32(kNegInf32, kMinusOne32), (Outcome{kNegInf32, 0}));
    EXPECT_EQ(max32(kInf32, kMax32), (Outcome{kInf32, 0}));
    EXPECT_EQ(min32(0xbf800001, kMinusOne32), (Outcome{0xbf800001, 0}));
    EXPECT_EQ(max32(0x00000001, 0x80000002), (Outcome{0x00000001, 0}));
    EXPECT_EQ(max64(kOne64, 0x3ff0000000000001), (Outcome{0x3ff0000000000001, 0}));
}

TEST(FpMinMax, NaNOperands) {
    // A quiet NaN loses to a number silently; a signaling NaN loses too but raises Invalid.
    EXPECT_EQ(min32(kQNaN32, kOne32), (Outcome{kOne32, 0}));
    EXPECT_EQ(max32(kOne32, kOddQNaN32), (Outcome{kOne32, 0}));
    EXPECT_EQ(min32(kSNaN32, kOne32), (Outcome{kOne32, Invalid}));
    EXPECT_EQ(max32(kNegInf32, kSNaN32), (Outcome{kNegInf32, Invalid}));
    // Two NaNs give the canonical NaN, whatever their payloads.
    EXPECT_EQ(min32(kOddQNaN32, kOddQNaN32), (Outcome{kQNaN32, 0}));
    EXPECT_EQ(max32(kOddQNaN32, kSNaN32), (Outcome{kQNaN32, Invalid}));
    EXPECT_EQ(min64(kQNaN64, kSNaN64), (Outcome{kQNaN64, Invalid}));
    EXPECT_EQ(max64(kSNaN64, kOne64), (Outcome{kOne64, Invalid}));
}

TEST(FpCompare, QuietEqualitySignalingOrder) {
    EXPECT_EQ(eq32(0, kNegZero32), (Outcome{1, 0}));
    EXPECT_EQ(le32(0, kNegZero32), (Outcome{1, 0}));
    EXPECT_EQ(lt32(kNegZero32, 0), (Outcome{0, 0}));
    EXPECT_EQ(lt32(kMinusOne32, kOne32), (Outcome{1, 0}));
    EXPECT_EQ(lt32(kOne32, kMinusOne32), (Outcome{0, 0}));
    EXPECT_EQ(lt32(kNegInf32, 0xff7fffff), (Outcome{1, 0}));
    EXPECT_EQ(le32(kInf32, kInf32), (Outcome{1, 0}));
    EXPECT_EQ(lt32(0x80000001, 0x80000000), (Outcome{1, 0}));
    EXPECT_EQ(eq32(kOne32, 0x3f800001), (Outcome{0, 0}));
    // FEQ is quiet: only a signaling NaN raises Invalid. FLT/FLE raise it for any NaN.
    EXPECT_EQ(eq32(kQNaN32, kQNaN32), (Outcome{0, 0}));
    EXPECT_EQ(eq32(kSNaN32, kOne32), (Outcome{0, Invalid}));
    EXPECT_EQ(lt32(kQNaN32, kOne32), (Outcome{0, Invalid}));
    EXPECT_EQ(le32(kOne32, kOddQNaN32), (Outcome{0, Invalid}));
    EXPECT_EQ(eq64(kNegZero64, 0), (Outcome{1, 0}));
    EXPECT_EQ(eq64(kQNaN64, kOne64), (Outcome{0, 0}));
    EXPECT_EQ(eq64(kOne64, kSNaN64), (Outcome{0, Invalid}));
    EXPECT_EQ(lt64(kQNaN64, kOne64), (Outcome{0, Invalid}));
    EXPECT_EQ(le64(0xbff0000000000000, 0xbff0000000000000), (Outcome{1, 0}));
    EXPECT_EQ(lt64(0xbff0000000000001, 0xbff0000000000000), (Outcome{1, 0}));
}

TEST(FpClassify, EveryClassOfBothFormats) {
    const std::pair<uint32_t, unsigned> cases32[] = {
        {kNegInf32, 0}, {kMinusOne32, 1}, {0x807fffff, 2}, {kNegZero32, 3}, {0, 4},
        {0x00000001, 5}, {kMax32, 6},     {kInf32, 7},     {kSNaN32, 8},    {kQNaN32, 9},
        {0xffbfffff, 8}, {kOddQNaN32, 9}, {0x00800000, 6}, {0x80800000, 1}};
    for (const auto& [bits, bit] : cases32) EXPECT_EQ(f32_classify(bits), uint64_t(1) << bit) << std::hex << bits;
    const std::pair<uint64_t, unsigned> cases64[] = {
        {0xfff0000000000000, 0}, {0xbff0000000000000, 1}, {0x800fffffffffffff, 2}, {kNegZero64, 3},
        {0, 4},                  {1, 5},                  {0x7fefffffffffffff, 6}, {0x7ff0000000000000, 7},
        {kSNaN64, 8},            {kQNaN64, 9},            {0xfff0000000000001, 8}, {0xffffffffffffffff, 9}};
    for (const auto& [bits, bit] : cases64) EXPECT_EQ(f64_classify(bits), uint64_t(1) << bit) << std::hex << bits;
}

} // namespace
} // namespace nimbus::riscv::fp
