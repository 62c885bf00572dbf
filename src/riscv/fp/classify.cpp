// FCLASS: the one-hot class mask of the F/D chapters (bit 0 = -inf ... bit 9 = quiet NaN).
#include "riscv/fp/format.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

template <class F> uint64_t classify(typename F::Bits a) {
    const bool negative = signOf<F>(a);
    if (isNaN<F>(a)) return isSignalingNaN<F>(a) ? 1u << 8 : 1u << 9;
    if (isInf<F>(a)) return negative ? 1u << 0 : 1u << 7;
    if (isZero<F>(a)) return negative ? 1u << 3 : 1u << 4;
    if ((a & F::kExpMask) == 0) return negative ? 1u << 2 : 1u << 5; // subnormal
    return negative ? 1u << 1 : 1u << 6;
}

} // namespace

uint64_t f32_classify(uint32_t a) { return classify<F32>(a); }
uint64_t f64_classify(uint64_t a) { return classify<F64>(a); }

} // namespace nimbus::riscv::fp
