// Fused multiply-add: the exact product plus the aligned addend, rounded once.
#include "riscv/fp/round_pack.hpp"

#include <type_traits>

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
    // Exact sum in a word W wide enough for the product: uint64 for binary32, 128 bits for binary64. The
    // addend's leading one goes to bit kTop, the product's (2f+1 or 2f+2 bits) to kTop-1 or kTop, leaving
    // the top bit free for a carry; bit 0 of each is worth 2^scale. Both have many zero low bits: the
    // alignment shift only drops nonzero bits when it exceeds them, and then the unshifted term is far
    // larger, so the jammed bit stays below the rounding position (the usual sticky-bit argument).
    using W = std::conditional_t<2 * (F::kFracBits + 1) <= 62, uint64_t, u128>;
    constexpr int kTop = int(sizeof(W) * 8) - 3;
    constexpr int kProductUp = kTop - 1 - 2 * F::kFracBits;
    constexpr int kAddendUp = kTop - F::kFracBits;
    W product = W(W(x.sig) * y.sig) << kProductUp;
    W addend = W(z.sig) << kAddendUp;
    const int32_t productScale = x.exp + y.exp - 2 * F::kFracBits - kProductUp;
    const int32_t addendScale = z.exp - F::kFracBits - kAddendUp;
    int32_t scale;
    if (productScale >= addendScale) {
        addend = shiftRightJam(addend, productScale - addendScale);
        scale = productScale;
    } else {
        product = shiftRightJam(product, addendScale - productScale);
        scale = addendScale;
    }
    auto pack = [&](bool negative, W value) {
        if constexpr (sizeof(W) == 8)
            return packScaled<F>(negative, scale, value, rm, flags);
        else
            return packScaled128<F>(negative, scale, value, rm, flags);
    };
    if (productNegative == addendNegative) return pack(productNegative, product + addend);
    if (product == addend) return signedZero<F>(rm == Rounding::Down);
    if (product > addend) return pack(productNegative, product - addend);
    return pack(addendNegative, addend - product);
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
