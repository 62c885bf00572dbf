// Harts on two host threads walking one page table at once. The spec makes the A/D update of a
// walk an atomic compare-and-set on the PTE (privileged spec 4.3.2): a hart that sets A for a load
// must not write back a PTE it read before another hart set D for a store, or the D bit is lost
// and the OS will drop the page's data instead of writing it back; nor may it write A/D into a PTE
// another hart has cleared meanwhile.

#include "hart_test_support.hpp"
#include "two_hart_threads.hpp"

namespace nimbus::test {
namespace {

using namespace as;
namespace csr = riscv::csr;

constexpr uint64_t V = 1, R = 2, W = 4, X = 8, A = 64, D = 128;
constexpr uint64_t kWriterIterations = 60000;
// Short ones: the interpreter runs 400 000 in about 180 ms, the JIT in about 15 ms, where too few
// of the reader's walks overlapped them (an atomic OR went unnoticed in 4 of 6 runs): the JIT's
// writer runs eight times as many.
constexpr uint64_t kUnmapIterations = 400000;
constexpr uint64_t kJitUnmapIterations = 8 * kUnmapIterations;

class HartParallelPageWalkTest : public ::testing::WithParamInterface<bool>, public HartTest {
protected:
  static constexpr uint64_t kOtherCode = kRamBase + 0x20000;
  static constexpr uint64_t kTables = kRamBase + 0x200000; // Sv39 root, then level 1 and level 0
  static constexpr uint64_t kLeafSlot = kTables + 0x2000 + 8;
  static constexpr uint64_t kPage = kRamBase + 0x300000;
  static constexpr uint64_t kVirtual = 0x40001000;
  static constexpr uint64_t kCleanPte = ((kPage >> 12) << 10) | V | R | W; // no A, no D
  static constexpr uint64_t kDone = kData + 0x100;

  machine::Hart other{1, bus, clock, reservations};

  void SetUp() override {
    HartTest::SetUp();
    reservations.set_parallel(true);
    // RAM identity-mapped by a gigapage (A and D set), kVirtual through two tables to kPage.
    put64(kTables + 2 * 8, ((kRamBase >> 12) << 10) | V | R | W | X | A | D);
    put64(kTables + 1 * 8, (((kTables + 0x1000) >> 12) << 10) | V);
    put64(kTables + 0x1000, (((kTables + 0x2000) >> 12) << 10) | V);
    put64(kLeafSlot, kCleanPte);
  }
  void TearDown() override { reservations.set_parallel(false); }

  void start(machine::Hart& h, uint64_t entry, std::initializer_list<uint32_t> program) {
    cursor = entry;
    emit(program);
    h.reset(entry);
    h.set_csr(csr::kMtvec, kMachineTrap);
    h.set_csr(csr::kSatp, (uint64_t{8} << 60) | (kTables >> 12));
    h.set_privilege(1);
    h.set_jit(GetParam(), 2);
  }
  // The writer (this hart): t0 the leaf PTE's address, t1 the clean PTE, a1 kVirtual, a3 its
  // iterations; at the end it stores a2 (non-zero) to kDone. The reader (the other): a1 kVirtual,
  // and it loops until kDone is set.
  void start_writer(std::initializer_list<uint32_t> program, uint64_t iterations) {
    start(hart, kCode, program);
    hart.set_x(t0, kLeafSlot);
    hart.set_x(t1, kCleanPte);
    hart.set_x(a1, kVirtual);
    hart.set_x(a2, 1);
    hart.set_x(a3, iterations);
    hart.set_x(s0, kDone);
  }
  void start_reader(std::initializer_list<uint32_t> program) {
    start(other, kOtherCode, program);
    other.set_x(a1, kVirtual);
    other.set_x(s0, kDone);
  }
  void run_both() { ASSERT_NO_FATAL_FAILURE(run_on_two_threads(hart, other, kMachineTrap)); }
};

TEST_P(HartParallelPageWalkTest, ALoadsAccessedBitNeverErasesAStoresDirtyBit) {
  // Writer: sd clean PTE; sfence.vma; sd through it; s1 += (PTE has no D); a3 times; then done.
  start_writer({sd(t1, t0, 0), sfence_vma(), sd(a2, a1, 0), ld(a0, t0, 0), andi(a0, a0, static_cast<int32_t>(D)),
                bne(a0, zero, 8), addi(s1, s1, 1), addi(a3, a3, -1), bne(a3, zero, -32), sd(a2, s0, 0), ebreak()},
               kWriterIterations);
  // Reader: sfence.vma; ld through the PTE; s1 += 1; until the writer is done.
  start_reader({sfence_vma(), ld(a0, a1, 0), addi(s1, s1, 1), ld(a4, s0, 0), beq(a4, zero, -16), ebreak()});

  run_both();
  EXPECT_EQ(hart.x(s1), 0u) << "stores whose D bit a concurrent walk erased, of " << kWriterIterations;
  EXPECT_EQ(get64(kLeafSlot), kCleanPte | A | D);
  EXPECT_GT(other.x(s1), 0u);
}

// The compare-and-set half of the rule: the update must also fail when the PTE changed to
// something invalid. An atomic OR into whatever the PTE holds by then would put A (and D) into a
// PTE the other hart has just cleared, or into a swap entry (Linux keeps the swap type in bits
// 7-11 of an invalid PTE). The writer maps, unmaps (zero) and maps again by AMOSWAP, counting
// the unmapped PTEs that came back non-zero; the reader's loads skip their page faults.
TEST_P(HartParallelPageWalkTest, NoWalkWritesIntoAPteAnotherHartCleared) {
  constexpr uint64_t kSkip = kOtherCode + 0x100; // the reader's S-mode trap handler
  start_writer({sd(t1, t0, 0), addi(t2, zero, 16), addi(t2, t2, -1), bne(t2, zero, -4),
                sd(zero, t0, 0), addi(t2, zero, 16), addi(t2, t2, -1), bne(t2, zero, -4),
                amo(kAmoSwap, true, a0, t0, t1), beq(a0, zero, 8), addi(s1, s1, 1),
                addi(a3, a3, -1), bne(a3, zero, -48), sd(a2, s0, 0), ebreak()},
               GetParam() ? kJitUnmapIterations : kUnmapIterations);
  // Reader: sfence.vma; sd through the PTE (its walk sets A and D); s1 += 1; until the writer is
  // done. A page fault goes to kSkip: sepc += 4; sret.
  start_reader({sfence_vma(), sd(a2, a1, 0), addi(s1, s1, 1), ld(a4, s0, 0), beq(a4, zero, -16), ebreak()});
  cursor = kSkip;
  emit({csrrs(t0, csr::kSepc, zero), addi(t0, t0, 4), csrrw(zero, csr::kSepc, t0), sret()});
  other.set_csr(csr::kMedeleg, uint64_t{1} << 15); // store page faults to S-mode
  other.set_csr(csr::kStvec, kSkip);
  other.set_x(a2, 7);

  run_both();
  EXPECT_EQ(hart.x(s1), 0u) << "unmapped PTEs a concurrent walk wrote A/D into";
  EXPECT_EQ(get64(kLeafSlot) & ~(A | D), kCleanPte);
  EXPECT_GT(other.x(s1), 0u);
}

INSTANTIATE_TEST_SUITE_P(Tiers, HartParallelPageWalkTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& tier) { return tier.param ? "Jit" : "Interpreter"; });

} // namespace
} // namespace nimbus::test
