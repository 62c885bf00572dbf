// FCVT.{S,D}.{W,WU,L,LU}: integers to floating point, rounded once (only 64-bit and large 32-bit to
// single precision can be inexact).
#include "riscv/fp/round_pack.hpp"

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

template <class F> typename F::Bits fromMagnitude(bool negative, uint64_t magnitude, Rounding rm, uint8_t& flags) {
    if (magnitude == 0) return 0; // integer zero converts to +0
    return packScaled<F>(negative, 0, magnitude, rm, flags);
}

// |v| as unsigned, correct for the most negative value too.
uint64_t magnitudeOf(int64_t v) { return v < 0 ? ~uint64_t(v) + 1 : uint64_t(v); }

} // namespace

uint32_t i32_to_f32(int32_t v, Rounding rm, uint8_t& flags) {
    return fromMagnitude<F32>(v < 0, magnitudeOf(v), rm, flags);
}
uint32_t u32_to_f32(uint32_t v, Rounding rm, uint8_t& flags) { return fromMagnitude<F32>(false, v, rm, flags); }
uint32_t i64_to_f32(int64_t v, Rounding rm, uint8_t& flags) {
    return fromMagnitude<F32>(v < 0, magnitudeOf(v), rm, flags);
}
uint32_t u64_to_f32(uint64_t v, Rounding rm, uint8_t& flags) { return fromMagnitude<F32>(false, v, rm, flags); }
uint64_t i32_to_f64(int32_t v, Rounding rm, uint8_t& flags) {
    return fromMagnitude<F64>(v < 0, magnitudeOf(v), rm, flags);
}
uint64_t u32_to_f64(uint32_t v, Rounding rm, uint8_t& flags) { return fromMagnitude<F64>(false, v, rm, flags); }
uint64_t i64_to_f64(int64_t v, Rounding rm, uint8_t& flags) {
    return fromMagnitude<F64>(v < 0, magnitudeOf(v), rm, flags);
}
uint64_t u64_to_f64(uint64_t v, Rounding rm, uint8_t& flags) { return fromMagnitude<F64>(false, v, rm, flags); }

} // namespace nimbus::riscv::fp
