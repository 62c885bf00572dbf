// Fused multiply-add: the exact 128-bit product plus the aligned addend, rounded once.
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

template <class F> typename F::Bits fma(typename F::Bits a, typename F::Bits b, typename F::Bits c,
                                        bool negateProduct, bool negateAddend, Rounding rm, uint8_t& flags) {
    using B = typename F::Bits;
    const bool productNegative = (signOf<F>(a) != signOf<F>(b)) != negateProduct;
    const bool addendNegative = signOf<F>(c) != negateAddend;
    const bool productZero = isZero<F>(a) || isZero<F>(b);
    if (isSpecial<F>(a) || isSpecial<F>(b) || isSpecial<F>(c) || productZero || isZero<F>(c)) [[unlikely]] {
        // RISC-V: inf * 0 raises Invalid even when the addend is a quiet NaN.
        if ((isInf<F>(a) && isZero<F>(b)) || (isZero<F>(a) && isInf<F>(b))) {
            flags |= Invalid;
            return F::kCanonicalNaN;
        }
        if (isNaN<F>(a) || isNaN<F>(b) || isNaN<F>(c)) {
            if (isSignalingNaN<F>(a) || isSignalingNaN<F>(b) || isSignalingNaN<F>(c)) flags |= Invalid;
            return F::kCanonicalNaN;
        }
        if (isInf<F>(a) || isInf<F>(b)) {
            if (isInf<F>(c) && addendNegative != productNegative) {
                flags |= Invalid; // inf - inf
                return F::kCanonicalNaN;
            }
            return signedInfinity<F>(productNegative);
        }
        if (isInf<F>(c)) return signedInfinity<F>(addendNegative);
        if (productZero) {
            if (isZero<F>(c))
                return signedZero<F>(productNegative == addendNegative ? productNegative : rm == Rounding::Down);
            return B(c & ~F::kSignMask) | signedZero<F>(addendNegative); // 0 + c is exactly c
        }
        if (isZero<F>(c)) {
            // Only the product remains; round it once (the sign of an exact zero sum cannot arise).
            const Unpacked x = unpackFinite<F>(a);
            const Unpacked y = unpackFinite<F>(b);
            return packScaled128<F>(productNegative, x.exp + y.exp - 2 * F::kFracBits, u128(x.sig) * y.sig, rm,
                                    flags);
        }
    }
    const Unpacked x = unpackFinite<F>(a);
    const Unpacked y = unpackFinite<F>(b);
    const Unpacked z = unpackFinite<F>(c);
    // Both terms get their leading one at bit 125 (bit 126 is room for the carry); bit 0 of each is worth
    // 2^scale. The low bits of both stay zero, which keeps jamming the smaller one exact for rounding.
    u128 product = u128(x.sig) * y.sig;
    const int productLead = 127 - countLeadingZeros128(product);
    product <<= 125 - productLead;
    int32_t productScale = x.exp + y.exp - 2 * F::kFracBits - (125 - productLead);
    u128 addend = u128(z.sig) << (125 - F::kFracBits);
    int32_t addendScale = z.exp - 125;
    int32_t scale;
    if (productScale >= addendScale) {
        addend = shiftRightJam128(addend, productScale - addendScale);
        scale = productScale;
    } else {
        product = shiftRightJam128(product, addendScale - productScale);
        scale = addendScale;
    }
    if (productNegative == addendNegative)
        return packScaled128<F>(productNegative, scale, product + addend, rm, flags);
    if (product == addend) return signedZero<F>(rm == Rounding::Down);
    if (product > addend) return packScaled128<F>(productNegative, scale, product - addend, rm, flags);
    return packScaled128<F>(addendNegative, scale, addend - product, rm, flags);
}

} // namespace

uint32_t f32_fma(uint32_t a, uint32_t b, uint32_t c, bool negate_product, bool negate_addend, Rounding rm,
                 uint8_t& flags) {
    return fma<F32>(a, b, c, negate_product, negate_addend, rm, flags);
}
uint64_t f64_fma(uint64_t a, uint64_t b, uint64_t c, bool negate_product, bool negate_addend, Rounding rm,
                 uint8_t& flags) {
    return fma<F64>(a, b, c, negate_product, negate_addend, rm, flags);
}

} // namespace nimbus::riscv::fp
