// Multiplication: the exact significand product, rounded once.
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

template <class F> typename F::Bits mul(typename F::Bits a, typename F::Bits b, Rounding rm, uint8_t& flags) {
    const bool negative = signOf<F>(a) != signOf<F>(b);
    if (isSpecial<F>(a) || isSpecial<F>(b) || isZero<F>(a) || isZero<F>(b)) [[unlikely]] {
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
    const Unpacked x = unpackFinite<F>(a);
    const Unpacked y = unpackFinite<F>(b);
    const int32_t scale = x.exp + y.exp - 2 * F::kFracBits;
    if constexpr (2 * (F::kFracBits + 1) <= 64) {
        return packScaled<F>(negative, scale, x.sig * y.sig, rm, flags);
    } else {
        return packScaled128<F>(negative, scale, u128(x.sig) * y.sig, rm, flags);
    }
}

} // namespace

uint32_t f32_mul(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags) { return mul<F32>(a, b, rm, flags); }
uint64_t f64_mul(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags) { return mul<F64>(a, b, rm, flags); }

} // namespace nimbus::riscv::fp
