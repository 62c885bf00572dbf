// Division: an integer quotient with more bits than the format keeps, the remainder as sticky bit.
#include "riscv/fp/host_fast_path.hpp"
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

// NaN, infinity or zero operands: no rounding needed. Kept out of line so the finite path stays lean.
template <class F> [[gnu::cold, gnu::noinline]] typename F::Bits divSpecial(typename F::Bits a, typename F::Bits b,
                                                                          uint8_t& flags) {
    const bool negative = signOf<F>(a) != signOf<F>(b);
    if (isNaN<F>(a) || isNaN<F>(b)) return propagateNaN<F>(a, b, flags);
    if ((isInf<F>(a) && isInf<F>(b)) || (isZero<F>(a) && isZero<F>(b))) {
        flags |= Invalid;
        return F::kCanonicalNaN;
    }
    if (isInf<F>(a)) return signedInfinity<F>(negative);
    if (isZero<F>(b)) {
        flags |= DivideByZero;
        return signedInfinity<F>(negative);
    }
    return signedZero<F>(negative); // 0 / x or x / inf
}

template <class F> typename F::Bits div(typename F::Bits a, typename F::Bits b, Rounding rm, uint8_t& flags) {
    if (fastPathApplies<F>(rm, a, b)) {
        typename F::Bits result;
        if (hostDiv<F>(a, b, result, flags)) return result;
    }
    if (isSpecial<F>(a) || isSpecial<F>(b) || isZero<F>(a) || isZero<F>(b)) [[unlikely]]
        return divSpecial<F>(a, b, flags);
    const bool negative = signOf<F>(a) != signOf<F>(b);
    const Unpacked x = unpackFinite<F>(a);
    const Unpacked y = unpackFinite<F>(b);
    // The dividend is shifted so the quotient (in (2^(s-1), 2^(s+1))) keeps at least kFracBits + 3 bits.
    if constexpr (F::kFracBits + 1 + 39 <= 63) {
        constexpr int kShift = 39;
        const uint64_t dividend = x.sig << kShift;
        const uint64_t quotient = dividend / y.sig;
        const uint64_t sticky = dividend % y.sig != 0;
        return packScaled<F>(negative, x.exp - y.exp - kShift, quotient | sticky, rm, flags);
    } else {
        constexpr int kShift = 62;
        const u128 dividend = u128(x.sig) << kShift;
        const uint64_t quotient = uint64_t(dividend / y.sig);
        const uint64_t sticky = dividend - u128(quotient) * y.sig != 0;
        return packScaled<F>(negative, x.exp - y.exp - kShift, quotient | sticky, rm, flags);
    }
}

} // namespace

uint32_t f32_div(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags) { return div<F32>(a, b, rm, flags); }
uint64_t f64_div(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags) { return div<F64>(a, b, rm, flags); }

} // namespace nimbus::riscv::fp
