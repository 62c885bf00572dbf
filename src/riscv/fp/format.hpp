#pragma once
// Internal to src/riscv/fp: the binary32/binary64 layouts as one template, plus the
// bit-level predicates and the unpacking every operation shares.
#include "riscv/fp/fp.hpp"

#include <bit>
#include <cstdint>

namespace nimbus::riscv::fp::detail {

__extension__ typedef unsigned __int128 u128;

template <typename B, int ExpBits, int FracBits> struct Format {
    using Bits = B;
    static constexpr int kWidth = int(sizeof(B) * 8);
    static constexpr int kFracBits = FracBits;
    static constexpr int kBias = (1 << (ExpBits - 1)) - 1;
    static constexpr int kMaxBiased = (1 << ExpBits) - 1; // the Inf/NaN exponent field
    static constexpr B kSignMask = B(1) << (kWidth - 1);
    static constexpr B kFracMask = (B(1) << FracBits) - 1;
    static constexpr B kExpMask = B(kMaxBiased) << FracBits;
    static constexpr B kQuietBit = B(1) << (FracBits - 1);
    static constexpr B kInfinity = kExpMask;
    static constexpr B kMaxFinite = kExpMask - 1;
    static constexpr B kCanonicalNaN = kExpMask | kQuietBit;
    // Significands are rounded from a uint64 whose leading one sits at bit 62 (bit 63 stays free for
    // a carry); everything below the format's last fraction bit is round bits.
    static constexpr int kRoundBits = 62 - FracBits;
};
using F32 = Format<uint32_t, 8, 23>;
using F64 = Format<uint64_t, 11, 52>;
static_assert(F32::kCanonicalNaN == kCanonicalNaN32 && F64::kCanonicalNaN == kCanonicalNaN64);

template <class F> constexpr bool signOf(typename F::Bits a) { return (a & F::kSignMask) != 0; }
template <class F> constexpr bool isNaN(typename F::Bits a) { return (a & ~F::kSignMask) > F::kExpMask; }
template <class F> constexpr bool isSignalingNaN(typename F::Bits a) {
    return isNaN<F>(a) && (a & F::kQuietBit) == 0;
}
template <class F> constexpr bool isInf(typename F::Bits a) { return (a & ~F::kSignMask) == F::kExpMask; }
template <class F> constexpr bool isZero(typename F::Bits a) { return (a & ~F::kSignMask) == 0; }
// True for NaN and infinity: the exponent field is all ones.
template <class F> constexpr bool isSpecial(typename F::Bits a) { return (a & F::kExpMask) == F::kExpMask; }
template <class F> constexpr typename F::Bits signedZero(bool negative) {
    return negative ? F::kSignMask : typename F::Bits(0);
}
template <class F> constexpr typename F::Bits signedInfinity(bool negative) {
    return signedZero<F>(negative) | F::kInfinity;
}

// A finite nonzero value as sig * 2^(exp - kFracBits), sig normalized to [2^kFracBits, 2^(kFracBits+1)).
struct Unpacked {
    bool negative;
    int32_t exp;
    uint64_t sig;
};

template <class F> inline Unpacked unpackFinite(typename F::Bits a) {
    const bool negative = signOf<F>(a);
    const int biased = int((a & F::kExpMask) >> F::kFracBits);
    const uint64_t frac = uint64_t(a & F::kFracMask);
    if (biased != 0) [[likely]]
        return {negative, biased - F::kBias, frac | (uint64_t(1) << F::kFracBits)};
    // Subnormal: shift the leading one up to the implicit-bit position.
    const int shift = std::countl_zero(frac) - (63 - F::kFracBits);
    return {negative, 1 - F::kBias - shift, frac << shift};
}

// Shift right, ORing every bit shifted out into bit 0 ("jamming"), so rounding still sees inexactness.
inline uint64_t shiftRightJam64(uint64_t v, int n) {
    if (n <= 0) return v;
    if (n >= 64) return v != 0;
    return (v >> n) | ((v << (64 - n)) != 0);
}
inline u128 shiftRightJam128(u128 v, int n) {
    if (n <= 0) return v;
    if (n >= 128) return v != 0;
    return (v >> n) | u128((v << (128 - n)) != 0);
}
inline uint64_t shiftRightJam(uint64_t v, int n) { return shiftRightJam64(v, n); }
inline u128 shiftRightJam(u128 v, int n) { return shiftRightJam128(v, n); }
inline int countLeadingZeros128(u128 v) {
    const uint64_t high = uint64_t(v >> 64);
    return high != 0 ? std::countl_zero(high) : 64 + std::countl_zero(uint64_t(v));
}

// A NaN result: canonical, with Invalid if any operand was signaling.
template <class F> inline typename F::Bits propagateNaN(typename F::Bits a, typename F::Bits b, uint8_t& flags) {
    if (isSignalingNaN<F>(a) || isSignalingNaN<F>(b)) flags |= Invalid;
    return F::kCanonicalNaN;
}

} // namespace nimbus::riscv::fp::detail
