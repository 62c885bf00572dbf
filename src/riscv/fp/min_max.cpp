// FMIN/FMAX as in RISC-V F/D 2.2: IEEE 754-2019 minimumNumber/maximumNumber with -0 < +0.
#include "riscv/fp/order_key.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

template <class F> typename F::Bits minMax(typename F::Bits a, typename F::Bits b, bool wantMax, uint8_t& flags) {
    const bool nanA = isNaN<F>(a);
    const bool nanB = isNaN<F>(b);
    if (nanA || nanB) [[unlikely]] {
        if (isSignalingNaN<F>(a) || isSignalingNaN<F>(b)) flags |= Invalid;
        if (nanA && nanB) return F::kCanonicalNaN;
        return nanA ? b : a; // a number beats a NaN
    }
    const bool aSmaller = orderKey<F>(a) < orderKey<F>(b);
    return aSmaller != wantMax ? a : b;
}

} // namespace

uint32_t f32_min(uint32_t a, uint32_t b, uint8_t& flags) { return minMax<F32>(a, b, false, flags); }
uint32_t f32_max(uint32_t a, uint32_t b, uint8_t& flags) { return minMax<F32>(a, b, true, flags); }
uint64_t f64_min(uint64_t a, uint64_t b, uint8_t& flags) { return minMax<F64>(a, b, false, flags); }
uint64_t f64_max(uint64_t a, uint64_t b, uint8_t& flags) { return minMax<F64>(a, b, true, flags); }

} // namespace nimbus::riscv::fp
