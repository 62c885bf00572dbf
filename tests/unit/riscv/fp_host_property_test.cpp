// Randomized property test: the F/D arithmetic must agree bit for bit, flags included, with the
// host's IEEE unit in the four rounding modes the host has, both through the library's RNE host
// shortcut and through its pure software path. x86-64 detects tininess after rounding,
// like RISC-V, so even the underflow flag must match there.
#include "riscv/fp/fp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <random>
#include <string>

namespace nimbus::riscv::fp {
namespace {

constexpr int kIterations = 40000;

struct HostMode {
    Rounding rm;
    int host;
    const char* name;
};
constexpr HostMode kModes[] = {{Rounding::NearestEven, FE_TONEAREST, "RNE"},
                               {Rounding::TowardZero, FE_TOWARDZERO, "RTZ"},
                               {Rounding::Down, FE_DOWNWARD, "RDN"},
                               {Rounding::Up, FE_UPWARD, "RUP"}};

uint8_t hostFlags() {
    const int raised = std::fetestexcept(FE_ALL_EXCEPT);
    uint8_t flags = 0;
    if (raised & FE_INEXACT) flags |= Inexact;
    if (raised & FE_UNDERFLOW) flags |= Underflow;
    if (raised & FE_OVERFLOW) flags |= Overflow;
    if (raised & FE_DIVBYZERO) flags |= DivideByZero;
    if (raised & FE_INVALID) flags |= Invalid;
    return flags;
}

// Random normal operands, biased toward the cases where rounding bugs hide: significands with few
// significant bits (exact results and ties), all-ones tails (carries), and nearby exponents
// (cancellation), across the whole exponent range so results overflow and go subnormal too.
template <typename Bits, int ExpBits, int FracBits> class OperandSource {
public:
    explicit OperandSource(uint64_t seed) : engine_(seed) {}

    Bits normal() {
        constexpr int kMaxBiased = (1 << ExpBits) - 2;
        const int biased = std::uniform_int_distribution<int>(1, kMaxBiased)(engine_);
        return compose(biased);
    }
    // An operand whose exponent is within a few steps of `other`'s.
    Bits near(Bits other) {
        constexpr int kMaxBiased = (1 << ExpBits) - 2;
        int biased = int((other >> FracBits) & ((1u << ExpBits) - 1));
        biased += std::uniform_int_distribution<int>(-3, 3)(engine_);
        biased = std::clamp(biased, 1, kMaxBiased);
        return compose(biased);
    }
    // Exponents near the middle, so products and quotients stay mostly in range.
    Bits moderate(int spread) {
        constexpr int kBias = (1 << (ExpBits - 1)) - 1;
        return compose(kBias + std::uniform_int_distribution<int>(-spread, spread)(engine_));
    }
    // An operand with a given biased exponent (clamped to the normal range).
    Bits withExponent(int biased) {
        constexpr int kMaxBiased = (1 << ExpBits) - 2;
        return compose(std::clamp(biased, 1, kMaxBiased));
    }
    bool coin() { return (engine_() & 1) != 0; }
    // Significands just below 2 and just above 1: their products sit just beside a power of two,
    // where a rounding carry changes the exponent.
    Bits justBelowTwo(int biased) {
        constexpr uint64_t kFracMask = (uint64_t(1) << FracBits) - 1;
        const uint64_t frac = kFracMask & ~(engine_() >> std::uniform_int_distribution<int>(64 - 8, 63)(engine_));
        return assemble(biased, frac);
    }
    Bits justAboveOne(int biased) {
        return assemble(biased, engine_() >> std::uniform_int_distribution<int>(64 - 8, 63)(engine_));
    }

private:
    Bits assemble(int biased, uint64_t frac) {
        constexpr int kMaxBiased = (1 << ExpBits) - 2;
        const uint64_t sign = engine_() & 1;
        return Bits((sign << (ExpBits + FracBits)) | (uint64_t(std::clamp(biased, 1, kMaxBiased)) << FracBits) | frac);
    }
    Bits compose(int biased) {
        constexpr uint64_t kFracMask = (uint64_t(1) << FracBits) - 1;
        uint64_t frac = engine_() & kFracMask;
        switch (engine_() % 4) {
        case 0: frac &= ~(kFracMask >> std::uniform_int_distribution<int>(1, FracBits)(engine_)); break;
        case 1: frac |= kFracMask >> std::uniform_int_distribution<int>(1, FracBits)(engine_); break;
        default: break;
        }
        const uint64_t sign = engine_() & 1;
        return Bits((sign << (ExpBits + FracBits)) | (uint64_t(biased) << FracBits) | frac);
    }
    std::mt19937_64 engine_;
};

using Source32 = OperandSource<uint32_t, 8, 23>;
using Source64 = OperandSource<uint64_t, 11, 52>;

// Runs `host` under the host rounding mode with cleared flags. Volatile operands and result keep the
// compiler from moving the arithmetic outside the fenv calls.
template <typename T, typename Op> T runOnHost(int mode, Op host, uint8_t& flags) {
    std::fesetround(mode);
    std::feclearexcept(FE_ALL_EXCEPT);
    volatile T result = host();
    flags = hostFlags();
    std::fesetround(FE_TONEAREST);
    return result;
}

template <typename Bits> std::string hex(Bits v) {
    char text[24];
    std::snprintf(text, sizeof text, "%0*llx", int(sizeof(Bits) * 2), static_cast<unsigned long long>(v));
    return text;
}

template <typename Float, typename Bits> Bits expectedBits(Float host) {
    if (std::isnan(host)) return sizeof(Bits) == 4 ? Bits(kCanonicalNaN32) : Bits(kCanonicalNaN64);
    return std::bit_cast<Bits>(host);
}

// Compares one operation over many random operand triples; stops at the first few mismatches.
template <typename Float, typename Bits, typename Make, typename Soft, typename Host>
void compareWithHost(const char* name, Make makeOperands, Soft soft, Host host) {
#if !defined(__x86_64__)
    GTEST_SKIP() << "host tininess detection may differ from RISC-V";
#endif
    int failures = 0;
    for (const HostMode& mode : kModes) {
        for (int i = 0; i < kIterations && failures < 5; ++i) {
            Bits a, b, c;
            makeOperands(a, b, c);
            uint8_t softFlags = 0;
            const Bits got = soft(a, b, c, mode.rm, softFlags);
            // The same operation with the host in a different rounding mode: the library's host
            // shortcut for RNE refuses a non-default host state, so this runs the pure software path
            // (and shows the result does not depend on the host mode).
            uint8_t softwareFlags = 0;
            std::fesetround(mode.host == FE_UPWARD ? FE_TOWARDZERO : FE_UPWARD);
            const Bits gotSoftware = soft(a, b, c, mode.rm, softwareFlags);
            std::fesetround(FE_TONEAREST);
            uint8_t wantFlags = 0;
            using HostResult = decltype(host(Float(), Float(), Float()));
            const HostResult hostResult = runOnHost<HostResult>(
                mode.host,
                [&] {
                    volatile Float x = std::bit_cast<Float>(a), y = std::bit_cast<Float>(b),
                                   z = std::bit_cast<Float>(c);
                    return host(Float(x), Float(y), Float(z));
                },
                wantFlags);
            Bits want;
            if constexpr (std::is_floating_point_v<HostResult>)
                want = expectedBits<Float, Bits>(hostResult);
            else
                want = Bits(hostResult);
            if (got != want || softFlags != wantFlags || gotSoftware != want || softwareFlags != wantFlags) {
                ++failures;
                ADD_FAILURE() << name << " " << mode.name << " a=" << hex(a) << " b=" << hex(b) << " c=" << hex(c)
                              << " got " << hex(got) << " flags " << int(softFlags) << ", software path "
                              << hex(gotSoftware) << " flags " << int(softwareFlags) << ", host " << hex(want)
                              << " flags " << int(wantFlags);
            }
        }
    }
}

TEST(FpHostProperty, F32AddSub) {
    Source32 source(1);
    auto make = [&](uint32_t& a, uint32_t& b, uint32_t& c) {
        a = source.normal();
        b = source.coin() ? source.near(a) : source.normal();
        c = 0;
    };
    compareWithHost<float, uint32_t>("f32_add", make,
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) { return f32_add(a, b, rm, f); },
        [](float x, float y, float) { return x + y; });
    compareWithHost<float, uint32_t>("f32_sub", make,
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) { return f32_sub(a, b, rm, f); },
        [](float x, float y, float) { return x - y; });
}

TEST(FpHostProperty, F64AddSub) {
    Source64 source(2);
    auto make = [&](uint64_t& a, uint64_t& b, uint64_t& c) {
        a = source.normal();
        b = source.coin() ? source.near(a) : source.normal();
        c = 0;
    };
    compareWithHost<double, uint64_t>("f64_add", make,
        [](uint64_t a, uint64_t b, uint64_t, Rounding rm, uint8_t& f) { return f64_add(a, b, rm, f); },
        [](double x, double y, double) { return x + y; });
    compareWithHost<double, uint64_t>("f64_sub", make,
        [](uint64_t a, uint64_t b, uint64_t, Rounding rm, uint8_t& f) { return f64_sub(a, b, rm, f); },
        [](double x, double y, double) { return x - y; });
}

TEST(FpHostProperty, F32MulDiv) {
    Source32 source(3);
    auto make = [&](uint32_t& a, uint32_t& b, uint32_t& c) {
        a = source.normal();
        b = source.normal();
        c = 0;
    };
    compareWithHost<float, uint32_t>("f32_mul", make,
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) { return f32_mul(a, b, rm, f); },
        [](float x, float y, float) { return x * y; });
    compareWithHost<float, uint32_t>("f32_div", make,
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) { return f32_div(a, b, rm, f); },
        [](float x, float y, float) { return x / y; });
}

TEST(FpHostProperty, F64MulDiv) {
    Source64 source(4);
    auto make = [&](uint64_t& a, uint64_t& b, uint64_t& c) {
        a = source.normal();
        b = source.normal();
        c = 0;
    };
    compareWithHost<double, uint64_t>("f64_mul", make,
        [](uint64_t a, uint64_t b, uint64_t, Rounding rm, uint8_t& f) { return f64_mul(a, b, rm, f); },
        [](double x, double y, double) { return x * y; });
    compareWithHost<double, uint64_t>("f64_div", make,
        [](uint64_t a, uint64_t b, uint64_t, Rounding rm, uint8_t& f) { return f64_div(a, b, rm, f); },
        [](double x, double y, double) { return x / y; });
}

// Products and quotients that land right at the smallest normal, where tininess after rounding
// differs from tininess before rounding.
TEST(FpHostProperty, ResultsAtTheUnderflowBoundary) {
    Source32 source32(12);
    auto make32 = [&](bool forDivision) {
        return [&source32, forDivision](uint32_t& a, uint32_t& b, uint32_t& c) {
            const int exponentA = int(source32.moderate(40) >> 23 & 0xff) - 127;
            const int wanted = -127;
            const int exponentB = forDivision ? exponentA - wanted : wanted - exponentA;
            if (forDivision || source32.coin()) {
                a = source32.withExponent(127 + exponentA);
                b = source32.withExponent(127 + exponentB);
            } else {
                a = source32.justBelowTwo(127 + exponentA);
                b = source32.justAboveOne(127 + exponentB);
            }
            c = 0;
        };
    };
    compareWithHost<float, uint32_t>("f32_mul", make32(false),
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) { return f32_mul(a, b, rm, f); },
        [](float x, float y, float) { return x * y; });
    compareWithHost<float, uint32_t>("f32_div", make32(true),
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) { return f32_div(a, b, rm, f); },
        [](float x, float y, float) { return x / y; });
    Source64 source64(13);
    auto make64 = [&](bool forDivision) {
        return [&source64, forDivision](uint64_t& a, uint64_t& b, uint64_t& c) {
            const int exponentA = int(source64.moderate(300) >> 52 & 0x7ff) - 1023;
            const int wanted = -1023;
            const int exponentB = forDivision ? exponentA - wanted : wanted - exponentA;
            if (forDivision || source64.coin()) {
                a = source64.withExponent(1023 + exponentA);
                b = source64.withExponent(1023 + exponentB);
            } else {
                a = source64.justBelowTwo(1023 + exponentA);
                b = source64.justAboveOne(1023 + exponentB);
            }
            c = 0;
        };
    };
    compareWithHost<double, uint64_t>("f64_mul", make64(false),
        [](uint64_t a, uint64_t b, uint64_t, Rounding rm, uint8_t& f) { return f64_mul(a, b, rm, f); },
        [](double x, double y, double) { return x * y; });
    compareWithHost<double, uint64_t>("f64_div", make64(true),
        [](uint64_t a, uint64_t b, uint64_t, Rounding rm, uint8_t& f) { return f64_div(a, b, rm, f); },
        [](double x, double y, double) { return x / y; });
    compareWithHost<double, uint64_t>("f64_fma", [&](uint64_t& a, uint64_t& b, uint64_t& c) {
            make64(false)(a, b, c);
            c = source64.withExponent(int(source64.coin()) + int(source64.coin())) ^ (uint64_t(1) << 63);
        },
        [](uint64_t a, uint64_t b, uint64_t c, Rounding rm, uint8_t& f) { return f64_fma(a, b, c, false, false, rm, f); },
        [](double x, double y, double z) { return std::fma(x, y, z); });
}

TEST(FpHostProperty, Sqrt) {
    Source32 source32(5);
    compareWithHost<float, uint32_t>("f32_sqrt",
        [&](uint32_t& a, uint32_t& b, uint32_t& c) { a = source32.normal() & 0x7fffffffu, b = c = 0; },
        [](uint32_t a, uint32_t, uint32_t, Rounding rm, uint8_t& f) { return f32_sqrt(a, rm, f); },
        [](float x, float, float) { return std::sqrt(x); });
    Source64 source64(6);
    compareWithHost<double, uint64_t>("f64_sqrt",
        [&](uint64_t& a, uint64_t& b, uint64_t& c) { a = source64.normal() & ~(uint64_t(1) << 63), b = c = 0; },
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return f64_sqrt(a, rm, f); },
        [](double x, double, double) { return std::sqrt(x); });
}

// The addend is drawn near the product's magnitude half the time, so cancellation is exercised.
TEST(FpHostProperty, F32Fma) {
    Source32 source(7);
    compareWithHost<float, uint32_t>("f32_fma",
        [&](uint32_t& a, uint32_t& b, uint32_t& c) {
            a = source.moderate(70);
            b = source.moderate(70);
            const float product = std::bit_cast<float>(a) * std::bit_cast<float>(b);
            const uint32_t productBits = std::bit_cast<uint32_t>(product);
            c = source.coin() && std::isnormal(product) ? source.near(productBits) : source.normal();
        },
        [](uint32_t a, uint32_t b, uint32_t c, Rounding rm, uint8_t& f) {
            return f32_fma(a, b, c, false, false, rm, f);
        },
        [](float x, float y, float z) { return std::fma(x, y, z); });
}

TEST(FpHostProperty, F64Fma) {
    Source64 source(8);
    compareWithHost<double, uint64_t>("f64_fma",
        [&](uint64_t& a, uint64_t& b, uint64_t& c) {
            a = source.moderate(600);
            b = source.moderate(600);
            const double product = std::bit_cast<double>(a) * std::bit_cast<double>(b);
            const uint64_t productBits = std::bit_cast<uint64_t>(product);
            c = source.coin() && std::isnormal(product) ? source.near(productBits) : source.normal();
        },
        [](uint64_t a, uint64_t b, uint64_t c, Rounding rm, uint8_t& f) {
            return f64_fma(a, b, c, false, false, rm, f);
        },
        [](double x, double y, double z) { return std::fma(x, y, z); });
}

TEST(FpHostProperty, NarrowF64ToF32) {
    Source64 source(9);
    compareWithHost<float, uint32_t>("f64_to_f32",
        [&](uint32_t& a, uint32_t& b, uint32_t& c) {
            // Carry the binary64 operand in a and b's bits (high and low halves).
            const uint64_t d = source.moderate(180);
            a = uint32_t(d >> 32), b = uint32_t(d), c = 0;
        },
        [](uint32_t a, uint32_t b, uint32_t, Rounding rm, uint8_t& f) {
            return f64_to_f32((uint64_t(a) << 32) | b, rm, f);
        },
        [](float x, float y, float) {
            const uint64_t d = (uint64_t(std::bit_cast<uint32_t>(x)) << 32) | std::bit_cast<uint32_t>(y);
            volatile double wide = std::bit_cast<double>(d);
            return float(wide);
        });
}

TEST(FpHostProperty, Int64ToFloat) {
    std::mt19937_64 engine(10);
    auto make = [&](uint64_t& a, uint64_t& b, uint64_t& c) {
        a = engine() >> (engine() % 64), b = c = 0;
        if (engine() & 1) a = ~a + 1;
    };
    compareWithHost<double, uint64_t>("i64_to_f64", make,
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return i64_to_f64(int64_t(a), rm, f); },
        [](double x, double, double) { return double(std::bit_cast<int64_t>(x)); });
    compareWithHost<double, uint64_t>("u64_to_f64", make,
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return u64_to_f64(a, rm, f); },
        [](double x, double, double) { return double(std::bit_cast<uint64_t>(x)); });
}

TEST(FpHostProperty, Int64ToFloat32) {
    std::mt19937_64 engine(16);
    compareWithHost<double, uint64_t>("i64_to_f32",
        [&](uint64_t& a, uint64_t& b, uint64_t& c) {
            a = engine() >> (engine() % 64), b = c = 0;
            if (engine() & 1) a = ~a + 1;
        },
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return uint64_t(i64_to_f32(int64_t(a), rm, f)); },
        [](double x, double, double) { return uint64_t(std::bit_cast<uint32_t>(float(std::bit_cast<int64_t>(x)))); });
    compareWithHost<double, uint64_t>("u64_to_f32",
        [&](uint64_t& a, uint64_t& b, uint64_t& c) { a = engine() >> (engine() % 64), b = c = 0; },
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return uint64_t(u64_to_f32(a, rm, f)); },
        [](double x, double, double) { return uint64_t(std::bit_cast<uint32_t>(float(std::bit_cast<uint64_t>(x)))); });
}

// lrintf/llrintf agree with FCVT.W.S/FCVT.L.S wherever the result is in range.
TEST(FpHostProperty, F32ToIntInRange) {
    Source32 source(17);
    compareWithHost<float, uint32_t>("f32_to_i32",
        [&](uint32_t& a, uint32_t& b, uint32_t& c) {
            do a = source.moderate(40);
            while (((a >> 23) & 0xff) >= 127 + 31);
            b = c = 0;
        },
        [](uint32_t a, uint32_t, uint32_t, Rounding rm, uint8_t& f) { return uint32_t(f32_to_i32(a, rm, f)); },
        [](float x, float, float) { return uint32_t(int32_t(std::lrint(x))); });
    compareWithHost<double, uint64_t>("f32_to_i64",
        [&](uint64_t& a, uint64_t& b, uint64_t& c) {
            uint32_t single;
            do single = source.moderate(70);
            while (((single >> 23) & 0xff) >= 127 + 63);
            a = single, b = c = 0;
        },
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return f32_to_i64(uint32_t(a), rm, f); },
        [](double x, double, double) {
            return uint64_t(std::llrint(std::bit_cast<float>(uint32_t(std::bit_cast<uint64_t>(x)))));
        });
}

// llrint rounds in the current host mode and agrees with FCVT.L.D wherever the result is in range.
TEST(FpHostProperty, F64ToInt64InRange) {
    Source64 source(11);
    compareWithHost<double, uint64_t>("f64_to_i64",
        [&](uint64_t& a, uint64_t& b, uint64_t& c) {
            constexpr int kBias = 1023;
            do a = source.moderate(70);
            while (((a >> 52) & 0x7ff) >= kBias + 63);
            b = c = 0;
        },
        [](uint64_t a, uint64_t, uint64_t, Rounding rm, uint8_t& f) { return f64_to_i64(a, rm, f); },
        [](double x, double, double) { return uint64_t(std::llrint(x)); });
}

// Flush-to-zero and denormals-are-zero in the host's MXCSR must not change any result or flag: the
// library may use the host unit for speed, but never where those modes could matter.
TEST(FpHostProperty, HostFlushModesDoNotChangeResults) {
#if !defined(__x86_64__)
    GTEST_SKIP() << "MXCSR is x86-only";
#else
    Source32 source32(14);
    Source64 source64(15);
    constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
    int failures = 0;
    for (int i = 0; i < kIterations && failures < 5; ++i) {
        const uint32_t a32 = source32.normal(), b32 = source32.coin() ? source32.near(a32) : source32.normal();
        const uint64_t a64 = source64.normal(), b64 = source64.coin() ? source64.near(a64) : source64.normal();
        // Each operation's result and its own flags (flags OR-ed over several operations would hide one).
        auto runAll = [&] {
            const Rounding rne = Rounding::NearestEven;
            std::array<std::pair<uint64_t, uint8_t>, 10> r{};
            r[0].first = f32_add(a32, b32, rne, r[0].second);
            r[1].first = f32_mul(a32, b32, rne, r[1].second);
            r[2].first = f32_div(a32, b32, rne, r[2].second);
            r[3].first = f32_sqrt(a32 & 0x7fffffffu, rne, r[3].second);
            r[4].first = f32_sub(a32, b32, rne, r[4].second);
            r[5].first = f64_add(a64, b64, rne, r[5].second);
            r[6].first = f64_mul(a64, b64, rne, r[6].second);
            r[7].first = f64_div(a64, b64, rne, r[7].second);
            r[8].first = f64_sqrt(a64 & ~(uint64_t(1) << 63), rne, r[8].second);
            r[9].first = f64_fma(a64, b64, a64, false, true, rne, r[9].second);
            return r;
        };
        const auto expected = runAll();
        const unsigned saved = _mm_getcsr();
        _mm_setcsr(saved | kFlushToZero | kDenormalsAreZero);
        const auto flushed = runAll();
        _mm_setcsr(saved);
        if (expected != flushed) {
            ++failures;
            ADD_FAILURE() << "FTZ/DAZ changed a result for a32=" << hex(a32) << " b32=" << hex(b32)
                          << " a64=" << hex(a64) << " b64=" << hex(b64);
        }
    }
#endif
}

} // namespace
} // namespace nimbus::riscv::fp
