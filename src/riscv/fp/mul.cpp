// Multiplication: the exact significand product, rounded once.
#include "riscv/fp/host_fast_path.hpp"
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

// NaN, infinity or zero operands: no rounding needed. Kept out of line so the finite path stays lean.
template <class F> [[gnu::cold, gnu::noinline]] typename F::Bits mulSpecial(typename F::Bits a, typename F::Bits b,
                                                                          uint8_t& flags) {
    const bool negative = signOf<F>(a) != signOf<F>(b);
    if (isNaN<F>(a) || isNaN<F>(b)) return propagateNaN<F>(a, b, flags);
    if (isInf<F>(a) || isInf<F>(b)) {
        if (isZero<F>(a) || isZero<F>(b)) {
            flags |= Invalid; // inf * 0
            return F::kCanonicalNaN;
        }
        return signedInfinity<F>(negative);
    }
    return signedZero<F>(negative);
}

template <class F> typename F::Bits mul(typename F::Bits a, typename F::Bits b, Rounding rm, uint8_t& flags) {
    if (fastPathApplies<F>(rm, a, b)) {
        typename F::Bits result;
        if (hostMul<F>(a, b, result, flags)) return result;
    }
    if (isSpecial<F>(a) || isSpecial<F>(b) || isZero<F>(a) || isZero<F>(b)) [[unlikely]]
        return mulSpecial<F>(a, b, flags);
    const bool negative = signOf<F>(a) != signOf<F>(b);
    const Unpacked x = unpackFinite<F>(a);
    const Unpacked y = unpackFinite<F>(b);
    const int32_t scale = x.exp + y.exp - 2 * F::kFracBits;
    if constexpr (2 * (F::kFracBits + 1) <= 64) {
        return packScaled<F>(negative, scale, x.sig * y.sig, rm, flags);
    } else {
        // Pre-shift both significands so the product's high half holds its leading one at bit 61 or 62;
        // the low half only matters as a sticky bit.
        constexpr int kUpX = 62 - F::kFracBits, kUpY = 63 - F::kFracBits;
        const u128 product = u128(x.sig << kUpX) * (y.sig << kUpY);
        const uint64_t high = uint64_t(product >> 64) | (uint64_t(product) != 0);
        return packScaled<F>(negative, scale - (kUpX + kUpY) + 64, high, rm, flags);
    }
}

} // namespace

uint32_t f32_mul(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags) { return mul<F32>(a, b, rm, flags); }
uint64_t f64_mul(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags) { return mul<F64>(a, b, rm, flags); }

} // namespace nimbus::riscv::fp
