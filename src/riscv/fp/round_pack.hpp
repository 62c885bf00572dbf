#pragma once
// Internal to src/riscv/fp: the single rounding step every arithmetic result goes through.
// Overflow, underflow (tininess after rounding), inexact and all five rounding modes live here only.
#include "riscv/fp/format.hpp"

namespace nimbus::riscv::fp::detail {

// Amount added to the round bits before truncation; RNE's tie-to-even fix-up happens afterwards.
[[gnu::always_inline]] inline uint64_t roundingIncrement(Rounding rm, bool negative, uint64_t roundMask, uint64_t half) {
    switch (rm) {
    case Rounding::NearestEven:
    case Rounding::NearestMaxMagnitude: return half;
    case Rounding::TowardZero: return 0;
    case Rounding::Down: return negative ? roundMask : 0;
    case Rounding::Up: return negative ? 0 : roundMask;
    }
    return half;
}

// Rounds (-1)^negative * sig * 2^(exp - 62) to format F. `sig` has its leading one at bit 62 and any
// lower-order nonzero bits already jammed into its low bits.
template <class F> [[gnu::always_inline]] inline typename F::Bits roundPack(bool negative, int32_t exp, uint64_t sig, Rounding rm,
                                                     uint8_t& flags) {
    using B = typename F::Bits;
    constexpr int kRound = F::kRoundBits;
    constexpr uint64_t kRoundMask = (uint64_t(1) << kRound) - 1;
    constexpr uint64_t kHalf = uint64_t(1) << (kRound - 1);
    constexpr uint64_t kCarry = uint64_t(1) << 63;
    const uint64_t increment = roundingIncrement(rm, negative, kRoundMask, kHalf);
    int32_t biased = exp + F::kBias;
    if (biased <= 0 || biased >= F::kMaxBiased - 1) [[unlikely]] {
        if (biased <= 0) {
            // Tiny if even an unbounded exponent range would round below the smallest normal.
            const bool tiny = biased < 0 || sig + increment < kCarry;
            sig = shiftRightJam64(sig, 1 - biased);
            biased = 1; // a subnormal's fraction is packed under exponent field 0 (= biased - 1)
            if (tiny && (sig & kRoundMask) != 0) flags |= Underflow;
        } else if (biased > F::kMaxBiased - 1 || sig + increment >= kCarry) {
            flags |= Overflow | Inexact;
            return signedZero<F>(negative) | (increment != 0 ? F::kInfinity : F::kMaxFinite);
        }
    }
    const uint64_t roundBits = sig & kRoundMask;
    if (roundBits != 0) flags |= Inexact;
    uint64_t mantissa = (sig + increment) >> kRound;
    if (rm == Rounding::NearestEven && roundBits == kHalf) mantissa &= ~uint64_t(1);
    // The implicit bit adds one to the exponent field, and a rounding carry adds one more.
    return signedZero<F>(negative) + (B(biased - 1) << F::kFracBits) + B(mantissa);
}

// Rounds (-1)^negative * value * 2^scale for any nonzero value.
template <class F> [[gnu::always_inline]] inline typename F::Bits packScaled(bool negative, int32_t scale, uint64_t value, Rounding rm,
                                                      uint8_t& flags) {
    const int lead = 63 - std::countl_zero(value);
    const uint64_t sig = lead == 63 ? (value >> 1) | (value & 1) : value << (62 - lead);
    return roundPack<F>(negative, scale + lead, sig, rm, flags);
}

template <class F> [[gnu::always_inline]] inline typename F::Bits packScaled128(bool negative, int32_t scale, u128 value, Rounding rm,
                                                         uint8_t& flags) {
    const int lead = 127 - countLeadingZeros128(value);
    if (lead <= 62) return roundPack<F>(negative, scale + lead, uint64_t(value) << (62 - lead), rm, flags);
    return roundPack<F>(negative, scale + lead, uint64_t(shiftRightJam128(value, lead - 62)), rm, flags);
}

} // namespace nimbus::riscv::fp::detail
