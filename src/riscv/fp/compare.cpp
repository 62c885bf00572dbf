// FEQ (quiet), FLT and FLE (signaling): +0 equals -0, every comparison with NaN is false.
#include "riscv/fp/order_key.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

template <class F> bool equal(typename F::Bits a, typename F::Bits b, uint8_t& flags) {
    if (isNaN<F>(a) || isNaN<F>(b)) [[unlikely]] {
        if (isSignalingNaN<F>(a) || isSignalingNaN<F>(b)) flags |= Invalid;
        return false;
    }
    return a == b || (isZero<F>(a) && isZero<F>(b));
}

template <class F> bool less(typename F::Bits a, typename F::Bits b, bool orEqual, uint8_t& flags) {
    if (isNaN<F>(a) || isNaN<F>(b)) [[unlikely]] {
        flags |= Invalid;
        return false;
    }
    if (isZero<F>(a) && isZero<F>(b)) return orEqual;
    return orEqual ? orderKey<F>(a) <= orderKey<F>(b) : orderKey<F>(a) < orderKey<F>(b);
}

} // namespace

bool f32_eq(uint32_t a, uint32_t b, uint8_t& flags) { return equal<F32>(a, b, flags); }
bool f32_lt(uint32_t a, uint32_t b, uint8_t& flags) { return less<F32>(a, b, false, flags); }
bool f32_le(uint32_t a, uint32_t b, uint8_t& flags) { return less<F32>(a, b, true, flags); }
bool f64_eq(uint64_t a, uint64_t b, uint8_t& flags) { return equal<F64>(a, b, flags); }
bool f64_lt(uint64_t a, uint64_t b, uint8_t& flags) { return less<F64>(a, b, false, flags); }
bool f64_le(uint64_t a, uint64_t b, uint8_t& flags) { return less<F64>(a, b, true, flags); }

} // namespace nimbus::riscv::fp
