// FCVT.{W,WU,L,LU}.{S,D}: round to an integer, then saturate as the spec's table says.
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

struct IntegerRange {
    u128 maxPositive;  // largest representable value
    u128 maxNegative;  // magnitude of the most negative value (0 for unsigned)
    uint64_t atMax;    // register value when saturating high (and for NaN)
    uint64_t atMin;    // register value when saturating low
};

constexpr IntegerRange kI32{0x7fffffffu, 0x80000000u, 0x7fffffffu, 0xffffffff80000000ull};
constexpr IntegerRange kU32{0xffffffffu, 0, 0xffffffffffffffffull, 0}; // sign-extended 32-bit all-ones
constexpr IntegerRange kI64{0x7fffffffffffffffull, 0x8000000000000000ull, 0x7fffffffffffffffull,
                            0x8000000000000000ull};
constexpr IntegerRange kU64{0xffffffffffffffffull, 0, 0xffffffffffffffffull, 0};

// Whether rounding the magnitude `integer + fraction / 2^64` goes up by one.
bool roundsUp(Rounding rm, bool negative, u128 integer, uint64_t fraction) {
    constexpr uint64_t kHalf = uint64_t(1) << 63;
    switch (rm) {
    case Rounding::NearestEven: return fraction > kHalf || (fraction == kHalf && (integer & 1) != 0);
    case Rounding::NearestMaxMagnitude: return fraction >= kHalf;
    case Rounding::TowardZero: return false;
    case Rounding::Down: return negative && fraction != 0;
    case Rounding::Up: return !negative && fraction != 0;
    }
    return false;
}

template <class F> uint64_t toInteger(typename F::Bits a, const IntegerRange& range, bool is32Bit, Rounding rm,
                                      uint8_t& flags) {
    if (isNaN<F>(a)) {
        flags |= Invalid;
        return range.atMax;
    }
    if (isZero<F>(a)) return 0;
    const bool negative = signOf<F>(a);
    if (isInf<F>(a)) {
        flags |= Invalid;
        return negative ? range.atMin : range.atMax;
    }
    const Unpacked x = unpackFinite<F>(a);
    if (x.exp >= 64) { // |a| >= 2^64: out of every range
        flags |= Invalid;
        return negative ? range.atMin : range.atMax;
    }
    // |a| as fixed point with 64 fraction bits; sig < 2^(frac+1) and exp <= 63 keep it below 2^128.
    u128 integer = 0;
    uint64_t fraction;
    const int32_t shift = 64 + x.exp - F::kFracBits;
    if (shift >= 0) {
        const u128 fixed = u128(x.sig) << shift;
        integer = fixed >> 64;
        fraction = uint64_t(fixed);
    } else { // |a| < 2^-11: only a sticky fraction remains, never near a half
        fraction = shift <= -64 ? 1 : (x.sig >> -shift) | ((x.sig << (64 + shift)) != 0);
    }
    if (roundsUp(rm, negative, integer, fraction)) ++integer;
    const u128 limit = negative ? range.maxNegative : range.maxPositive;
    if (integer > limit) {
        flags |= Invalid;
        return negative ? range.atMin : range.atMax;
    }
    if (fraction != 0) flags |= Inexact;
    const uint64_t magnitude = uint64_t(integer);
    const uint64_t value = negative ? ~magnitude + 1 : magnitude;
    if (is32Bit) return uint64_t(int64_t(int32_t(uint32_t(value))));
    return value;
}

} // namespace

uint64_t f32_to_i32(uint32_t a, Rounding rm, uint8_t& flags) { return toInteger<F32>(a, kI32, true, rm, flags); }
uint64_t f32_to_u32(uint32_t a, Rounding rm, uint8_t& flags) { return toInteger<F32>(a, kU32, true, rm, flags); }
uint64_t f32_to_i64(uint32_t a, Rounding rm, uint8_t& flags) { return toInteger<F32>(a, kI64, false, rm, flags); }
uint64_t f32_to_u64(uint32_t a, Rounding rm, uint8_t& flags) { return toInteger<F32>(a, kU64, false, rm, flags); }
uint64_t f64_to_i32(uint64_t a, Rounding rm, uint8_t& flags) { return toInteger<F64>(a, kI32, true, rm, flags); }
uint64_t f64_to_u32(uint64_t a, Rounding rm, uint8_t& flags) { return toInteger<F64>(a, kU32, true, rm, flags); }
uint64_t f64_to_i64(uint64_t a, Rounding rm, uint8_t& flags) { return toInteger<F64>(a, kI64, false, rm, flags); }
uint64_t f64_to_u64(uint64_t a, Rounding rm, uint8_t& flags) { return toInteger<F64>(a, kU64, false, rm, flags); }

} // namespace nimbus::riscv::fp
