// Harts on two host threads at once, sharing RAM and one ReservationSet in parallel mode: AMOs
// and LR/SC loops increment one counter, and a Peterson lock (whose mutual exclusion needs FENCE
// rw,rw to order a store before a later load) guards a plain one. Lost increments mean an
// atomic was not atomic or a fence did not order, in the interpreter and with the JIT.

#include "hart_test_support.hpp"
#include "two_hart_threads.hpp"

namespace nimbus::test {
namespace {

using namespace as;

constexpr uint32_t kFenceRwRw = 0x0330000f;
constexpr uint64_t kIterations = 200000;
constexpr uint64_t kPetersonIterations = 20000; // each waits for the other: slow on a busy host

// The parameter interface first: the fixture holds a hart of over 1 MiB (its soft TLB), and UBSan
// refuses a vptr whose offset to the object's top is that large.
class HartParallelAtomicTest : public ::testing::WithParamInterface<bool>, public HartTest {
protected:
  static constexpr uint64_t kOtherCode = kRamBase + 0x20000;
  static constexpr uint64_t kCounter = kData;

  machine::Hart other{1, bus, clock, reservations};

  void SetUp() override {
    HartTest::SetUp();
    reservations.set_parallel(true);
    for (machine::Hart* h : {&hart, &other}) {
      h->set_csr(riscv::csr::kMtvec, kMachineTrap);
      h->set_jit(GetParam(), 2);
    }
  }
  void TearDown() override { reservations.set_parallel(false); }

  void load_program(uint64_t at, std::initializer_list<uint32_t> program) {
    cursor = at;
    emit(program);
  }
  // Power-on reset of both harts at their entry points (before their registers are set).
  void reset_both(uint64_t entry0, uint64_t entry1) {
    hart.reset(entry0);
    other.reset(entry1);
    for (machine::Hart* h : {&hart, &other}) h->set_csr(riscv::csr::kMtvec, kMachineTrap);
  }
  void run_both() { ASSERT_NO_FATAL_FAILURE(run_on_two_threads(hart, other, kMachineTrap)); }
  void set_loop(machine::Hart& h, uint64_t iterations = kIterations) {
    h.set_x(a1, kCounter);
    h.set_x(a2, 1);
    h.set_x(a3, iterations);
  }
};

// amoadd.d zero, a2, (a1); a3 -= 1; loop while a3 != 0.
constexpr std::initializer_list<uint32_t> kAmoLoop = {amo(kAmoAdd, true, zero, a1, a2), addi(a3, a3, -1),
                                                      bne(a3, zero, -8), ebreak()};
// lr.d a0, (a1); a0 += 1; sc.d a4, a0, (a1); retry on failure; a3 -= 1; loop while a3 != 0.
constexpr std::initializer_list<uint32_t> kLrScLoop = {amo(kLr, true, a0, a1, zero), addi(a0, a0, 1),
                                                       amo(kSc, true, a4, a1, a0), bne(a4, zero, -12),
                                                       addi(a3, a3, -1), bne(a3, zero, -20), ebreak()};

TEST_P(HartParallelAtomicTest, AmoAddsFromTwoThreadsAreNeverLost) {
  load_program(kCode, kAmoLoop);
  load_program(kOtherCode, kAmoLoop);
  reset_both(kCode, kOtherCode);
  set_loop(hart);
  set_loop(other);
  run_both();
  EXPECT_EQ(get64(kCounter), 2 * kIterations);
}

TEST_P(HartParallelAtomicTest, LrScIncrementsFromTwoThreadsAreNeverLost) {
  load_program(kCode, kLrScLoop);
  load_program(kOtherCode, kLrScLoop);
  reset_both(kCode, kOtherCode);
  set_loop(hart);
  set_loop(other);
  run_both();
  EXPECT_EQ(get64(kCounter), 2 * kIterations);
}

TEST_P(HartParallelAtomicTest, AnAmoBetweenLrAndScMakesTheScFail) {
  load_program(kCode, kLrScLoop);
  load_program(kOtherCode, kAmoLoop);
  reset_both(kCode, kOtherCode);
  set_loop(hart);
  set_loop(other);
  run_both();
  EXPECT_EQ(get64(kCounter), 2 * kIterations);
}

// Peterson's lock around a plain ld/addi/sd: flag[me] = 1; turn = other; fence rw,rw; wait while
// flag[other] && turn == other; counter += 1; fence rw,rw; flag[me] = 0.
TEST_P(HartParallelAtomicTest, FenceRwRwOrdersAStoreBeforeALaterLoad) {
  constexpr uint64_t kFlags = kData + 0x100, kTurn = kData + 0x200;
  const std::initializer_list<uint32_t> peterson = {
      sd(a2, t0, 0), sd(a5, t2, 0), kFenceRwRw,
      ld(a0, t1, 0), beq(a0, zero, 12), ld(a0, t2, 0), beq(a0, a5, -12),
      ld(a0, s0, 0), addi(a0, a0, 1), sd(a0, s0, 0), kFenceRwRw, sd(zero, t0, 0),
      addi(a3, a3, -1), bne(a3, zero, -52), ebreak()};
  load_program(kCode, peterson);
  load_program(kOtherCode, peterson);
  reset_both(kCode, kOtherCode);
  for (unsigned me = 0; me < 2; ++me) {
    machine::Hart& h = me == 0 ? hart : other;
    set_loop(h, kPetersonIterations);
    h.set_x(t0, kFlags + 8 * me);
    h.set_x(t1, kFlags + 8 * (1 - me));
    h.set_x(t2, kTurn);
    h.set_x(s0, kCounter);
    h.set_x(a5, 1 - me);
  }
  run_both();
  EXPECT_EQ(get64(kCounter), 2 * kPetersonIterations);
}

INSTANTIATE_TEST_SUITE_P(Tiers, HartParallelAtomicTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& tier) { return tier.param ? "Jit" : "Interpreter"; });

} // namespace
} // namespace nimbus::test
