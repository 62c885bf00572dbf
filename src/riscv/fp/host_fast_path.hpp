#pragma once
// Internal to src/riscv/fp: the round-to-nearest-even shortcut through the host's SSE unit.
//
// Only taken when (1) the instruction rounds to nearest even, (2) every operand is a normal number
// away from both ends of the exponent range, (3) the host SSE unit currently rounds to nearest even,
// and (4) the host result is finite and a normal number strictly above the smallest normal. Then the host result is the IEEE result, and the only flag the
// operation can raise is Inexact (no Invalid: no NaN or infinity operands; no Overflow: finite
// result; no Underflow: an exact value below 2^emin rounds to at most 2^emin, so a result above it
// means the exact value was not tiny). Inexact is decided exactly, without host flags: by Knuth's
// TwoSum error term for add/sub, and by integer identities on the significands for mul/div/sqrt.
// Every other case falls through to the software path, which handles all modes and flags.
#include "riscv/fp/format.hpp"

#include <bit>
#include <cmath>

#if defined(__FAST_MATH__)
#error "the host fast path relies on strict IEEE evaluation (TwoSum); do not build src/riscv/fp with -ffast-math"
#endif

namespace nimbus::riscv::fp::detail {

#if defined(__x86_64__)
inline constexpr bool kHostFastPath = true;
// Whether the live SSE rounding mode is nearest-even: 1 + 3/4 ulp must round up and -(1 + 3/4 ulp)
// away from zero; RTZ, RDN and RUP each fail one of the two. Two additions cost far less than reading
// MXCSR (stmxcsr measured ~6 ns here). The empty asm hides the operands so they are added at run time.
// FTZ/DAZ need no check: operands are normal and results above the smallest normal, and the operand
// range below keeps TwoSum's intermediates normal too. FP exceptions must stay masked (the default).
inline bool hostIsDefaultNearestEven() {
    double one = 1.0, threeQuarterUlp = 0x1.8p-53;
    __asm__("" : "+x"(one), "+x"(threeQuarterUlp));
    const double up = one + threeQuarterUlp;
    const double down = -one - threeQuarterUlp;
    return up == 1.0 + 0x1p-52 && down == -1.0 - 0x1p-52;
}
#else
inline constexpr bool kHostFastPath = false;
inline bool hostIsDefaultNearestEven() { return false; }
#endif

template <class F> struct HostType;
template <> struct HostType<F32> { using type = float; };
template <> struct HostType<F64> { using type = double; };

template <class F> constexpr int biasedExponent(typename F::Bits a) { return int((a & F::kExpMask) >> F::kFracBits); }

// Normal, below the top binade so that no intermediate of TwoSum can overflow, and at least
// 2^(kFracBits+2) above the smallest normal so that every nonzero TwoSum intermediate (a multiple of the
// smaller operand's ulp) is normal, whatever FTZ/DAZ say.
template <class F> constexpr bool isModerateNormal(typename F::Bits a) {
    constexpr int kLowest = F::kFracBits + 3;
    return unsigned(biasedExponent<F>(a) - kLowest) < unsigned(F::kMaxBiased - 1 - kLowest);
}
// A host result that needs no rounding fix-ups: finite, normal, above the smallest normal.
template <class F> constexpr bool isSafeResult(typename F::Bits r) {
    const typename F::Bits magnitude = r & ~F::kSignMask;
    return magnitude > (typename F::Bits(1) << F::kFracBits) && magnitude < F::kInfinity;
}
template <class F> constexpr uint64_t significand(typename F::Bits a) {
    return uint64_t(a & F::kFracMask) | (uint64_t(1) << F::kFracBits);
}
template <class F> bool fastPathApplies(Rounding rm, typename F::Bits a, typename F::Bits b) {
    return kHostFastPath && rm == Rounding::NearestEven && isModerateNormal<F>(a) && isModerateNormal<F>(b) &&
           hostIsDefaultNearestEven();
}

template <class F> bool hostAdd(typename F::Bits a, typename F::Bits b, bool negateB, typename F::Bits& result,
                                uint8_t& flags) {
    using H = typename HostType<F>::type;
    const H x = std::bit_cast<H>(a);
    const H y = std::bit_cast<H>(negateB ? typename F::Bits(b ^ F::kSignMask) : b);
    const H sum = x + y;
    result = std::bit_cast<typename F::Bits>(sum);
    if (!isSafeResult<F>(result)) return false;
    // TwoSum: error = (x + y) - sum exactly, so the sum was exact iff it is zero.
    const H yPart = sum - x;
    const H xPart = sum - yPart;
    const H error = (x - xPart) + (y - yPart);
    if (error != H(0)) flags |= Inexact;
    return true;
}

template <class F> bool hostMul(typename F::Bits a, typename F::Bits b, typename F::Bits& result, uint8_t& flags) {
    using H = typename HostType<F>::type;
    result = std::bit_cast<typename F::Bits>(std::bit_cast<H>(a) * std::bit_cast<H>(b));
    if (!isSafeResult<F>(result)) return false;
    // The significand product P has 2*kFracBits+1 or +2 bits; the result keeps the top kFracBits+1, so
    // it is exact iff the dropped low bits are zero, and those lie within the low 64 bits of P. A result
    // exponent one above ea+eb means the wider product (or a rounding carry, which implies inexact and
    // checking one more bit keeps it detected).
    const int carry = biasedExponent<F>(result) - biasedExponent<F>(a) - biasedExponent<F>(b) + F::kBias;
    const uint64_t low = significand<F>(a) * significand<F>(b); // P mod 2^64
    const uint64_t dropped = (uint64_t(1) << (F::kFracBits + (carry > 0 ? 1 : 0))) - 1;
    if ((low & dropped) != 0) flags |= Inexact;
    return true;
}

template <class F> bool hostDiv(typename F::Bits a, typename F::Bits b, typename F::Bits& result, uint8_t& flags) {
    using H = typename HostType<F>::type;
    result = std::bit_cast<typename F::Bits>(std::bit_cast<H>(a) / std::bit_cast<H>(b));
    if (!isSafeResult<F>(result)) return false;
    // Exact iff a == q * b, i.e. sigA * 2^shift == sigQ * sigB with the exponents folded into shift.
    const int shift = biasedExponent<F>(a) - biasedExponent<F>(result) - biasedExponent<F>(b) + F::kBias +
                      F::kFracBits;
    if (shift < 0 || u128(significand<F>(a)) << shift != u128(significand<F>(result)) * significand<F>(b))
        flags |= Inexact;
    return true;
}

template <class F> bool hostSqrt(typename F::Bits a, typename F::Bits& result, uint8_t& flags) {
    using H = typename HostType<F>::type;
    result = std::bit_cast<typename F::Bits>(std::sqrt(std::bit_cast<H>(a)));
    if (!isSafeResult<F>(result)) return false;
    // Exact iff r * r == a, i.e. sigR^2 == sigA * 2^shift.
    const int shift = biasedExponent<F>(a) + F::kBias + F::kFracBits - 2 * biasedExponent<F>(result);
    const u128 root = significand<F>(result);
    if (shift < 0 || u128(significand<F>(a)) << shift != root * root) flags |= Inexact;
    return true;
}

} // namespace nimbus::riscv::fp::detail
