// FCVT.D.S (exact widening) and FCVT.S.D (narrowing, rounded once with full overflow/underflow flags).
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
using namespace detail;

uint64_t f32_to_f64(uint32_t a, uint8_t& flags) {
    if (isNaN<F32>(a)) {
        if (isSignalingNaN<F32>(a)) flags |= Invalid;
        return kCanonicalNaN64;
    }
    const bool negative = signOf<F32>(a);
    if (isInf<F32>(a)) return signedInfinity<F64>(negative);
    if (isZero<F32>(a)) return signedZero<F64>(negative);
    const Unpacked x = unpackFinite<F32>(a);
    // Every binary32 value is a binary64 normal: place the 24-bit significand under the 52-bit fraction.
    return signedZero<F64>(negative) + (uint64_t(x.exp + F64::kBias - 1) << 52) + (x.sig << (52 - 23));
}

uint32_t f64_to_f32(uint64_t a, Rounding rm, uint8_t& flags) {
    if (isNaN<F64>(a)) {
        if (isSignalingNaN<F64>(a)) flags |= Invalid;
        return kCanonicalNaN32;
    }
    const bool negative = signOf<F64>(a);
    if (isInf<F64>(a)) return signedInfinity<F32>(negative);
    if (isZero<F64>(a)) return signedZero<F32>(negative);
    const Unpacked x = unpackFinite<F64>(a);
    return packScaled<F32>(negative, x.exp - F64::kFracBits, x.sig, rm, flags);
}

} // namespace nimbus::riscv::fp
