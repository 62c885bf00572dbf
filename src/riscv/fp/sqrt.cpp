// Square root: an exact integer square root of the shifted significand, the remainder as sticky bit.
#include "riscv/fp/host_fast_path.hpp"
#include "riscv/fp/round_pack.hpp"

#include <cmath>

namespace nimbus::riscv::fp {
namespace {
using namespace detail;

// floor(sqrt(n)) for n < 2^63. The host estimate only seeds the search; the result is checked exactly,
// so it holds in any host rounding mode.
uint64_t integerSqrt64(uint64_t n) {
    uint64_t root = uint64_t(std::sqrt(double(n)));
    while (root * root > n) --root;
    while ((root + 1) * (root + 1) <= n) ++root;
    return root;
}

// Conversions to double from two 64-bit halves: inexact but cheap (no libgcc 128-bit calls), and only
// estimates depend on them.
double approximate(u128 v) { return double(uint64_t(v >> 64)) * 0x1p64 + double(uint64_t(v)); }
__extension__ typedef __int128 i128;
double approximate(i128 v) { return double(int64_t(v >> 64)) * 0x1p64 + double(uint64_t(v)); }

// floor(sqrt(n)) for n < 2^126: a host estimate, one Newton correction from the exact remainder, then
// exact unit steps.
uint64_t integerSqrt128(u128 n) {
    uint64_t root = uint64_t(std::sqrt(approximate(n)));
    if (root > uint64_t(INT64_MAX)) root = uint64_t(INT64_MAX); // an upward-rounded estimate of sqrt(2^126)
    const i128 remainder = i128(n) - i128(u128(root) * root);
    root = uint64_t(int64_t(root) + int64_t(approximate(remainder) / (2.0 * double(root))));
    while (u128(root) * root > n) --root;
    while (u128(root + 1) * (root + 1) <= n) ++root;
    return root;
}

template <class F> typename F::Bits sqrt(typename F::Bits a, Rounding rm, uint8_t& flags) {
    if (!signOf<F>(a) && fastPathApplies<F>(rm, a, a)) {
        typename F::Bits result;
        if (hostSqrt<F>(a, result, flags)) return result;
    }
    if (isSpecial<F>(a) || isZero<F>(a) || signOf<F>(a)) [[unlikely]] {
        if (isNaN<F>(a)) return propagateNaN<F>(a, a, flags);
        if (isZero<F>(a)) return a; // sqrt(-0) = -0
        if (signOf<F>(a)) {
            flags |= Invalid;
            return F::kCanonicalNaN;
        }
        return a; // +inf
    }
    Unpacked x = unpackFinite<F>(a);
    // value = sig * 2^e with e even, so the root is sqrt(sig << k) * 2^((e - k) / 2) for even k.
    int32_t e = x.exp - F::kFracBits;
    if (e & 1) {
        x.sig <<= 1;
        --e;
    }
    if constexpr (F::kFracBits + 2 + 38 <= 63) {
        constexpr int kShift = 38; // radicand < 2^63, root has at least 30 bits
        const uint64_t radicand = x.sig << kShift;
        const uint64_t root = integerSqrt64(radicand);
        const uint64_t sticky = root * root != radicand;
        return packScaled<F>(false, (e - kShift) / 2, root | sticky, rm, flags);
    } else {
        constexpr int kShift = 72; // radicand < 2^126, root has at least 62 bits
        const u128 radicand = u128(x.sig) << kShift;
        const uint64_t root = integerSqrt128(radicand);
        const uint64_t sticky = u128(root) * root != radicand;
        return packScaled<F>(false, (e - kShift) / 2, root | sticky, rm, flags);
    }
}

} // namespace

uint32_t f32_sqrt(uint32_t a, Rounding rm, uint8_t& flags) { return sqrt<F32>(a, rm, flags); }
uint64_t f64_sqrt(uint64_t a, Rounding rm, uint8_t& flags) { return sqrt<F64>(a, rm, flags); }

} // namespace nimbus::riscv::fp
