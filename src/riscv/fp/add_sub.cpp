// Addition and subtraction: align, add or subtract the significands, round once.
#include "riscv/fp/host_fast_path.hpp"
#include "riscv/fp/round_pack.hpp"

#include <utility>

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

// NaN, infinity or zero operands: no rounding needed. Kept out of line so the finite path stays lean.
template <class F> [[gnu::cold, gnu::noinline]] typename F::Bits addSpecial(typename F::Bits a, typename F::Bits b,
                                                                          bool signB, Rounding rm, uint8_t& flags) {
    using B = typename F::Bits;
    const bool signA = signOf<F>(a);
    if (isNaN<F>(a) || isNaN<F>(b)) return propagateNaN<F>(a, b, flags);
    if (isInf<F>(a)) {
        if (isInf<F>(b) && signA != signB) {
            flags |= Invalid; // inf - inf
            return F::kCanonicalNaN;
        }
        return a;
    }
    if (isInf<F>(b)) return signedInfinity<F>(signB);
    if (isZero<F>(a)) {
        if (isZero<F>(b)) return signedZero<F>(signA == signB ? signA : rm == Rounding::Down);
        return B(b & ~F::kSignMask) | signedZero<F>(signB);
    }
    return a; // x + 0 is exact
}

template <class F> typename F::Bits add(typename F::Bits a, typename F::Bits b, bool negateB, Rounding rm,
                                        uint8_t& flags) {
    if (fastPathApplies<F>(rm, a, b)) {
        typename F::Bits result;
        if (hostAdd<F>(a, b, negateB, result, flags)) return result;
    }
    const bool signB = signOf<F>(b) != negateB;
    if (isSpecial<F>(a) || isSpecial<F>(b) || isZero<F>(a) || isZero<F>(b)) [[unlikely]]
        return addSpecial<F>(a, b, signB, rm, flags);
    Unpacked x = unpackFinite<F>(a);
    Unpacked y = unpackFinite<F>(b);
    y.negative = signB;
    if (x.exp < y.exp) std::swap(x, y);
    // Leading ones at bit 62: value = sig * 2^(exp - 62).
    constexpr int kUp = 62 - F::kFracBits;
    const uint64_t big = x.sig << kUp;
    const uint64_t small = shiftRightJam64(y.sig << kUp, x.exp - y.exp);
    if (x.negative == y.negative) return packScaled<F>(x.negative, x.exp - 62, big + small, rm, flags);
    if (big == small) return signedZero<F>(rm == Rounding::Down);
    if (big > small) return packScaled<F>(x.negative, x.exp - 62, big - small, rm, flags);
    return packScaled<F>(y.negative, x.exp - 62, small - big, rm, flags);
}

} // namespace

uint32_t f32_add(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags) { return add<F32>(a, b, false, rm, flags); }
uint32_t f32_sub(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags) { return add<F32>(a, b, true, rm, flags); }
uint64_t f64_add(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags) { return add<F64>(a, b, false, rm, flags); }
uint64_t f64_sub(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags) { return add<F64>(a, b, true, rm, flags); }

} // namespace nimbus::riscv::fp
