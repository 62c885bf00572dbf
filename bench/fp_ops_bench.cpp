// Cost of the software F/D arithmetic per operation (round to nearest even, normal operands, as in
// ordinary FP code), so interpreter FP throughput can be budgeted.
#include "riscv/fp/fp.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

namespace {
using namespace nimbus::riscv::fp;

constexpr size_t kOperands = 1024; // a power of two, small enough to stay in L1

// Random normal operands with exponents near 1.0, so results stay normal.
template <typename Bits, int FracBits, int Bias> std::vector<Bits> operands(uint64_t seed) {
    std::mt19937_64 engine(seed);
    std::vector<Bits> values(kOperands);
    for (Bits& v : values) {
        const uint64_t frac = engine() & ((uint64_t(1) << FracBits) - 1);
        const uint64_t exponent = uint64_t(Bias - 8 + int(engine() % 16));
        v = Bits((exponent << FracBits) | frac | ((engine() & 1) << (sizeof(Bits) * 8 - 1)));
    }
    return values;
}
const std::vector<uint32_t>& f32a() { static auto v = operands<uint32_t, 23, 127>(1); return v; }
const std::vector<uint32_t>& f32b() { static auto v = operands<uint32_t, 23, 127>(2); return v; }
const std::vector<uint64_t>& f64a() { static auto v = operands<uint64_t, 52, 1023>(3); return v; }
const std::vector<uint64_t>& f64b() { static auto v = operands<uint64_t, 52, 1023>(4); return v; }

template <typename Op> void runBinary(benchmark::State& state, const auto& a, const auto& b, Op op) {
    uint8_t flags = 0;
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(op(a[i], b[i], flags));
        i = (i + 1) & (kOperands - 1);
    }
    benchmark::DoNotOptimize(flags);
    state.SetItemsProcessed(int64_t(state.iterations()));
}

constexpr Rounding kRne = Rounding::NearestEven;

void BM_f32_add(benchmark::State& s) { runBinary(s, f32a(), f32b(), [](uint32_t x, uint32_t y, uint8_t& f) { return f32_add(x, y, kRne, f); }); }
void BM_f32_mul(benchmark::State& s) { runBinary(s, f32a(), f32b(), [](uint32_t x, uint32_t y, uint8_t& f) { return f32_mul(x, y, kRne, f); }); }
void BM_f32_div(benchmark::State& s) { runBinary(s, f32a(), f32b(), [](uint32_t x, uint32_t y, uint8_t& f) { return f32_div(x, y, kRne, f); }); }
void BM_f32_sqrt(benchmark::State& s) { runBinary(s, f32a(), f32b(), [](uint32_t x, uint32_t, uint8_t& f) { return f32_sqrt(x & 0x7fffffffu, kRne, f); }); }
void BM_f32_fma(benchmark::State& s) { runBinary(s, f32a(), f32b(), [](uint32_t x, uint32_t y, uint8_t& f) { return f32_fma(x, y, x ^ y, false, false, kRne, f); }); }
void BM_f64_add(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t y, uint8_t& f) { return f64_add(x, y, kRne, f); }); }
void BM_f64_add_rmm(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t y, uint8_t& f) { return f64_add(x, y, Rounding::NearestMaxMagnitude, f); }); }
void BM_f64_mul(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t y, uint8_t& f) { return f64_mul(x, y, kRne, f); }); }
void BM_f64_div(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t y, uint8_t& f) { return f64_div(x, y, kRne, f); }); }
void BM_f64_sqrt(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t, uint8_t& f) { return f64_sqrt(x & ~(uint64_t(1) << 63), kRne, f); }); }
void BM_f64_fma(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t y, uint8_t& f) { return f64_fma(x, y, x ^ y, false, false, kRne, f); }); }
void BM_f64_lt(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t y, uint8_t& f) { return f64_lt(x, y, f); }); }
void BM_f64_to_i64(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t, uint8_t& f) { return f64_to_i64(x, kRne, f); }); }
void BM_i64_to_f64(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t, uint8_t& f) { return i64_to_f64(int64_t(x), kRne, f); }); }
void BM_f64_to_f32(benchmark::State& s) { runBinary(s, f64a(), f64b(), [](uint64_t x, uint64_t, uint8_t& f) { return f64_to_f32(x, kRne, f); }); }

BENCHMARK(BM_f32_add);
BENCHMARK(BM_f32_mul);
BENCHMARK(BM_f32_div);
BENCHMARK(BM_f32_sqrt);
BENCHMARK(BM_f32_fma);
BENCHMARK(BM_f64_add);
BENCHMARK(BM_f64_add_rmm);
BENCHMARK(BM_f64_mul);
BENCHMARK(BM_f64_div);
BENCHMARK(BM_f64_sqrt);
BENCHMARK(BM_f64_fma);
BENCHMARK(BM_f64_lt);
BENCHMARK(BM_f64_to_i64);
BENCHMARK(BM_i64_to_f64);
BENCHMARK(BM_f64_to_f32);

} // namespace
