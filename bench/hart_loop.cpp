// Hart throughput on the hot paths of both tiers: each loop runs with the interpreter (jit:0:
// fetch TLB, block cache and chaining, direct-threaded handlers, block-boundary checks) and with
// the JIT (jit:1: native code, the inline soft-TLB path, linked exits, the lookup table of
// indirect jumps and returns, AMOs on locked host instructions). Reports MIPS (millions of
// retired guest instructions per second of CPU time).
// `build/release/bench/nimbus_microbench --benchmark_filter=Hart`.
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

  LoopMachine(const benchmark::State& state, std::initializer_list<uint32_t> program) {
    uint64_t at = kRamBase;
    for (const uint32_t insn : program) {
      bus.copy_to_ram(at, &insn, 4);
      at += 4;
    }
    hart.reset(kRamBase);
    hart.set_jit(state.range(0) != 0);
  }
};

void run_loop(benchmark::State& state, LoopMachine& m) {
  m.hart.run(100'000); // warm: blocks decoded and, with the JIT, translated and linked
  uint64_t retired = 0;
  for (auto _ : state) retired += m.hart.run(1'000'000);
  state.counters["MIPS"] = benchmark::Counter(static_cast<double>(retired) / 1e6, benchmark::Counter::kIsRate);
}

// x6 += 3; x7 ^= x6; x5 -= 1; bnez x5 (a 4-instruction block that branches to itself forever).
void BM_HartIntegerLoop(benchmark::State& state) {
  LoopMachine m(state, {i_type(kOpImm, 5, 0, 0, -1),              // li t0, -1 (never reaches 0)
                 i_type(kOpImm, 6, 0, 6, 3),                      // addi t1, t1, 3
                 r_type(kOp, 7, 4, 7, 6, 0),                      // xor t2, t2, t1
                 i_type(kOpImm, 5, 0, 5, -1),                     // addi t0, t0, -1
                 b_type(kBranch, 1, 5, 0, -12)});                 // bnez t0, -12
  run_loop(state, m);
}
BENCHMARK(BM_HartIntegerLoop)->ArgName("jit")->Arg(0)->Arg(1);

// A loop with loads and stores through the soft TLB (M-mode, bare).
void BM_HartMemoryLoop(benchmark::State& state) {
  LoopMachine m(state, {u_type(kAuipc, 10, 0x100000),             // auipc a0, 0x100 (data page)
                 i_type(kOpImm, 5, 0, 0, -1),                     // li t0, -1
                 i_type(kLoad, 6, 3, 10, 0),                      // ld t1, 0(a0)
                 i_type(kOpImm, 6, 0, 6, 1),                      // addi t1, t1, 1
                 s_type(kStore, 3, 10, 6, 0),                     // sd t1, 0(a0)
                 i_type(kOpImm, 5, 0, 5, -1),                     // addi t0, t0, -1
                 b_type(kBranch, 1, 5, 0, -16)});                 // bnez t0, -16
  run_loop(state, m);
}
BENCHMARK(BM_HartMemoryLoop)->ArgName("jit")->Arg(0)->Arg(1);

// A loop calling a small leaf function: the call is a direct jump, the return an indirect one
// (the JIT's lookup table; the interpreter's successor links).
void BM_HartCallReturn(benchmark::State& state) {
  LoopMachine m(state, {i_type(kOpImm, 5, 0, 0, -1),              // 0x00 li t0, -1
                        j_type(kJal, 1, 16),                      // 0x04 call leaf (0x14)
                        i_type(kOpImm, 5, 0, 5, -1),              // 0x08 addi t0, t0, -1
                        b_type(kBranch, 1, 5, 0, -8),             // 0x0c bnez t0, 0x04
                        0,                                        // 0x10 (never reached)
                        i_type(kOpImm, 6, 0, 6, 3),               // 0x14 leaf: addi t1, t1, 3
                        r_type(kOp, 7, 4, 7, 6, 0),               // 0x18 xor t2, t2, t1
                        i_type(kJalr, 0, 0, 1, 0)});              // 0x1c ret
  run_loop(state, m);
}
BENCHMARK(BM_HartCallReturn)->ArgName("jit")->Arg(0)->Arg(1);

// An atomic counter (a reference count, a statistics counter, a ticket): amoadd.d through the
// soft TLB's store entry, then the old value used.
void BM_HartAtomicCounter(benchmark::State& state) {
  LoopMachine m(state, {u_type(kAuipc, 10, 0x100000),             // auipc a0, 0x100 (data page)
                        i_type(kOpImm, 5, 0, 0, -1),              // li t0, -1
                        i_type(kOpImm, 7, 0, 0, 1),               // li t2, 1
                        r_type(kAmo, 6, 3, 10, 7, 0),             // amoadd.d t1, t2, (a0)
                        r_type(kOp, 11, 0, 11, 6, 0),             // add a1, a1, t1
                        i_type(kOpImm, 5, 0, 5, -1),              // addi t0, t0, -1
                        b_type(kBranch, 1, 5, 0, -12)});          // bnez t0, -12
  run_loop(state, m);
}
BENCHMARK(BM_HartAtomicCounter)->ArgName("jit")->Arg(0)->Arg(1);

// Pointer chasing: a ring of 512 nodes (i -> 5i + 1 mod 512 visits them all), one per 4 KiB
// page plus 64 bytes, so each load is a soft-TLB hit on another page than the last (a linked
// list's nodes, scattered).
void BM_HartPointerChase(benchmark::State& state) {
  constexpr uint64_t kNodes = kRamBase + 0x200000;
  constexpr unsigned kCount = 512;
  constexpr uint64_t kStride = 4096 + 64; // a page apart, and not at the same page offset
  LoopMachine m(state, {u_type(kAuipc, 10, static_cast<int32_t>(kNodes - kRamBase)), // 0x00 auipc a0: nodes
                        i_type(kLoad, 10, 3, 10, 0),              // 0x04 ld a0, 0(a0)
                        i_type(kLoad, 11, 3, 10, 8),              // 0x08 ld a1, 8(a0)
                        r_type(kOp, 12, 0, 12, 11, 0),            // 0x0c add a2, a2, a1
                        j_type(kJal, 0, -12)});                   // 0x10 j 0x04
  for (unsigned i = 0; i < kCount; ++i) {
    const uint64_t node = kNodes + i * kStride;
    const uint64_t next = kNodes + ((i * 5 + 1) % kCount) * kStride;
    const uint64_t value = i;
    m.bus.copy_to_ram(node, &next, 8);
    m.bus.copy_to_ram(node + 8, &value, 8);
  }
  run_loop(state, m);
}
BENCHMARK(BM_HartPointerChase)->ArgName("jit")->Arg(0)->Arg(1);

} // namespace
