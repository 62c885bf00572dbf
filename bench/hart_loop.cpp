// Hart interpreter throughput: tight integer loops run through the whole execution path
// (fetch TLB, block cache and chaining, direct-threaded handlers, block-boundary checks).
// Reports MIPS (millions of retired guest instructions per second of CPU time).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <initializer_list>

#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "riscv/encoding.hpp"

namespace {

using namespace nimbus;
using namespace nimbus::riscv::encode;

constexpr uint64_t kRamBase = 0x80000000;

struct LoopMachine {
  machine::Bus bus{kRamBase, 16ull << 20};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  machine::Hart hart{0, bus, clock, reservations};

  explicit LoopMachine(std::initializer_list<uint32_t> program) {
    uint64_t at = kRamBase;
    for (const uint32_t insn : program) {
      bus.copy_to_ram(at, &insn, 4);
      at += 4;
    }
    hart.reset(kRamBase);
  }
};

void run_loop(benchmark::State& state, LoopMachine& m) {
  uint64_t retired = 0;
  for (auto _ : state) retired += m.hart.run(1'000'000);
  state.counters["MIPS"] = benchmark::Counter(static_cast<double>(retired) / 1e6, benchmark::Counter::kIsRate);
}

// x6 += 3; x7 ^= x6; x5 -= 1; bnez x5 (a 4-instruction block that branches to itself forever).
void BM_HartIntegerLoop(benchmark::State& state) {
  LoopMachine m({i_type(kOpImm, 5, 0, 0, -1),                     // li t0, -1 (never reaches 0)
                 i_type(kOpImm, 6, 0, 6, 3),                      // addi t1, t1, 3
                 r_type(kOp, 7, 4, 7, 6, 0),                      // xor t2, t2, t1
                 i_type(kOpImm, 5, 0, 5, -1),                     // addi t0, t0, -1
                 b_type(kBranch, 1, 5, 0, -12)});                 // bnez t0, -12
  run_loop(state, m);
}
BENCHMARK(BM_HartIntegerLoop);

// A loop with loads and stores through the soft TLB (M-mode, bare).
void BM_HartMemoryLoop(benchmark::State& state) {
  LoopMachine m({u_type(kAuipc, 10, 0x100000),                    // auipc a0, 0x100 (data page)
                 i_type(kOpImm, 5, 0, 0, -1),                     // li t0, -1
                 i_type(kLoad, 6, 3, 10, 0),                      // ld t1, 0(a0)
                 i_type(kOpImm, 6, 0, 6, 1),                      // addi t1, t1, 1
                 s_type(kStore, 3, 10, 6, 0),                     // sd t1, 0(a0)
                 i_type(kOpImm, 5, 0, 5, -1),                     // addi t0, t0, -1
                 b_type(kBranch, 1, 5, 0, -16)});                 // bnez t0, -16
  run_loop(state, m);
}
BENCHMARK(BM_HartMemoryLoop);

} // namespace
