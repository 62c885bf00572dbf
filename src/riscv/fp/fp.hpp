#pragma once
// IEEE 754 arithmetic with RISC-V F/D semantics, on raw bit patterns.
//
// Every operation takes an already-resolved rounding mode (never DYN) and ORs the IEEE exception
// flags it raises into `flags` (fflags layout). Results that are NaN are the RISC-V canonical NaN
// (0x7fc00000 / 0x7ff8000000000000). Tininess is detected after rounding, as RISC-V requires.
// The hart owns everything around these: NaN-boxing, fcsr, mstatus.FS, sign injection, moves.
#include <cstdint>

namespace nimbus::riscv::fp {

enum class Rounding : uint8_t { NearestEven = 0, TowardZero = 1, Down = 2, Up = 3, NearestMaxMagnitude = 4 };

enum Flag : uint8_t { Inexact = 1, Underflow = 2, Overflow = 4, DivideByZero = 8, Invalid = 16 };

inline constexpr uint32_t kCanonicalNaN32 = 0x7fc00000u;
inline constexpr uint64_t kCanonicalNaN64 = 0x7ff8000000000000ull;

// ---- single precision ----
uint32_t f32_add(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags);
uint32_t f32_sub(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags);
uint32_t f32_mul(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags);
uint32_t f32_div(uint32_t a, uint32_t b, Rounding rm, uint8_t& flags);
uint32_t f32_sqrt(uint32_t a, Rounding rm, uint8_t& flags);
// Fused a*b+c with a single rounding; the four RISC-V forms negate the product and/or addend.
uint32_t f32_fma(uint32_t a, uint32_t b, uint32_t c, bool negate_product, bool negate_addend, Rounding rm,
                 uint8_t& flags);
// FMIN/FMAX (RISC-V 2.2+: minimumNumber/maximumNumber, -0 < +0, signaling NaN raises Invalid).
uint32_t f32_min(uint32_t a, uint32_t b, uint8_t& flags);
uint32_t f32_max(uint32_t a, uint32_t b, uint8_t& flags);
// FEQ is quiet (Invalid only for signaling NaN); FLT/FLE are signaling (Invalid for any NaN).
bool f32_eq(uint32_t a, uint32_t b, uint8_t& flags);
bool f32_lt(uint32_t a, uint32_t b, uint8_t& flags);
bool f32_le(uint32_t a, uint32_t b, uint8_t& flags);
// FCLASS.S: the 10-bit one-hot mask of the spec.
uint64_t f32_classify(uint32_t a);
// FCVT to integers: saturating as the spec's table says, Invalid on NaN/out of range, Inexact otherwise when rounded.
// 32-bit results are returned sign-extended to 64 bits, as they land in an XLEN register.
uint64_t f32_to_i32(uint32_t a, Rounding rm, uint8_t& flags);
uint64_t f32_to_u32(uint32_t a, Rounding rm, uint8_t& flags);
uint64_t f32_to_i64(uint32_t a, Rounding rm, uint8_t& flags);
uint64_t f32_to_u64(uint32_t a, Rounding rm, uint8_t& flags);
uint32_t i32_to_f32(int32_t v, Rounding rm, uint8_t& flags);
uint32_t u32_to_f32(uint32_t v, Rounding rm, uint8_t& flags);
uint32_t i64_to_f32(int64_t v, Rounding rm, uint8_t& flags);
uint32_t u64_to_f32(uint64_t v, Rounding rm, uint8_t& flags);

// ---- double precision ----
uint64_t f64_add(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags);
uint64_t f64_sub(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags);
uint64_t f64_mul(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags);
uint64_t f64_div(uint64_t a, uint64_t b, Rounding rm, uint8_t& flags);
uint64_t f64_sqrt(uint64_t a, Rounding rm, uint8_t& flags);
uint64_t f64_fma(uint64_t a, uint64_t b, uint64_t c, bool negate_product, bool negate_addend, Rounding rm,
                 uint8_t& flags);
uint64_t f64_min(uint64_t a, uint64_t b, uint8_t& flags);
uint64_t f64_max(uint64_t a, uint64_t b, uint8_t& flags);
bool f64_eq(uint64_t a, uint64_t b, uint8_t& flags);
bool f64_lt(uint64_t a, uint64_t b, uint8_t& flags);
bool f64_le(uint64_t a, uint64_t b, uint8_t& flags);
uint64_t f64_classify(uint64_t a);
uint64_t f64_to_i32(uint64_t a, Rounding rm, uint8_t& flags);
uint64_t f64_to_u32(uint64_t a, Rounding rm, uint8_t& flags);
uint64_t f64_to_i64(uint64_t a, Rounding rm, uint8_t& flags);
uint64_t f64_to_u64(uint64_t a, Rounding rm, uint8_t& flags);
uint64_t i32_to_f64(int32_t v, Rounding rm, uint8_t& flags);
uint64_t u32_to_f64(uint32_t v, Rounding rm, uint8_t& flags);
uint64_t i64_to_f64(int64_t v, Rounding rm, uint8_t& flags);
uint64_t u64_to_f64(uint64_t v, Rounding rm, uint8_t& flags);

// ---- conversions between formats ----
uint64_t f32_to_f64(uint32_t a, uint8_t& flags);             // exact; Invalid for signaling NaN
uint32_t f64_to_f32(uint64_t a, Rounding rm, uint8_t& flags); // rounds

} // namespace nimbus::riscv::fp
