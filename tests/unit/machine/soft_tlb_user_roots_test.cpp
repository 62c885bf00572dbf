// The soft TLB's U contexts per root (tlb.hpp, Hart::switch_user_root): a trap-mode VMM switches
// a U-mode hart between shadow roots without a flush, so each root's cached translations, block
// links and JIT lookups must stay its own, and every flush (one page, one root's data, all, a
// direct satp or MXR change) must reach the contexts of the roots not running. Each run loads a word from one
// virtual page and calls code at another (an indirect jump: the JIT's lookup table) that each
// root maps to pages of its own, in both tiers.
#include "hart_test_support.hpp"

#include <vector>

namespace nimbus::test {
namespace {

using namespace as;
namespace csr = riscv::csr;

constexpr uint64_t V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;
constexpr uint64_t kEcallFromU = 8, kLoadPageFault = 13;

// The parameter interface first: the fixture holds a hart of over 1 MiB (its soft TLB), and UBSan
// refuses a vptr whose offset to the object's top is that large.
class SoftTlbUserRootsTest : public ::testing::WithParamInterface<bool>, public HartTest {
protected:
  static constexpr uint64_t kCodeVa = 0x10000, kDataVa = 0x20000, kCallVa = 0x30000;
  static constexpr uint64_t kCodePage = kRamBase + 0x100000;
  static constexpr uint64_t kDataPages = kRamBase + 0x110000; // one per root, and spares
  static constexpr uint64_t kCallPages = kRamBase + 0x140000; // one per root
  static constexpr uint64_t kTables = kRamBase + 0x200000;
  static constexpr unsigned kRoots = 5; // one more than the soft TLB has U contexts
  uint64_t next_table_ = kTables;
  std::vector<uint64_t> roots_;

  void SetUp() override {
    HartTest::SetUp();
    hart.set_jit(GetParam(), 1);
    cursor = kCodePage;
    emit({ld(a0, a1, 0), jalr(ra, a2, 0), ecall()});
    for (unsigned i = 0; i < kRoots; ++i) {
      const uint64_t root = table();
      roots_.push_back((8ull << 60) | (root >> 12)); // Sv39
      map(root, kCodeVa, kCodePage, V | R | X | U | A);
      map(root, kDataVa, data_page(i), V | R | W | U | A | D);
      put64(data_page(i), value(i));
      map(root, kCallVa, kCallPages + 0x1000 * i, V | X | U | A); // execute-only
      cursor = kCallPages + 0x1000 * i;
      emit({addi(a3, zero, static_cast<int32_t>(i + 1)), jalr(zero, ra, 0)});
    }
    hart.set_vmm_exits(true);
    hart.set_privilege(0);
  }
  static uint64_t data_page(unsigned i) { return kDataPages + 0x1000 * i; }
  static uint64_t value(unsigned i) { return 0x1000 + i; }
  uint64_t table() {
    const uint64_t page = next_table_;
    next_table_ += 0x1000;
    for (unsigned i = 0; i < 512; ++i) put64(page + 8 * i, 0);
    return page;
  }
  // A 4 KiB leaf for va in the Sv39 table at `root`; returns the leaf's address.
  uint64_t map(uint64_t root, uint64_t va, uint64_t pa, uint64_t flags) {
    uint64_t t = root;
    for (int level = 2; level > 0; --level) {
      const uint64_t slot = t + ((va >> (12 + 9 * level)) & 0x1ff) * 8;
      uint64_t pte = get64(slot);
      if (!(pte & V)) {
        pte = ((table() >> 12) << 10) | V;
        put64(slot, pte);
      }
      t = (pte >> 10) << 12;
    }
    const uint64_t slot = t + ((va >> 12) & 0x1ff) * 8;
    put64(slot, ((pa >> 12) << 10) | flags);
    return slot;
  }
  uint64_t root_table(unsigned i) const { return (roots_[i] & ((1ull << 44) - 1)) << 12; }
  // Runs the program once on the hart's current satp; returns the exit cause (a0: the word
  // loaded, a3: the number of the call page that ran).
  uint64_t run_once() {
    hart.set_pc(kCodeVa);
    hart.set_x(a0, 0);
    hart.set_x(a3, 0);
    hart.set_x(a1, kDataVa);
    hart.set_x(a2, kCallVa);
    hart.run(100);
    const auto exit = hart.take_exit();
    return exit ? exit->cause : ~uint64_t{0};
  }
  // Switches to root i and checks the run loads root i's word and calls root i's code.
  void expect_root(unsigned i, uint64_t word) {
    hart.switch_user_root(roots_[i]);
    ASSERT_EQ(run_once(), kEcallFromU) << "root " << i;
    EXPECT_EQ(hart.x(a0), word) << "root " << i;
    EXPECT_EQ(hart.x(a3), i + 1) << "root " << i;
  }
};

TEST_P(SoftTlbUserRootsTest, EachRootKeepsItsOwnTranslationsAcrossSwitchesAndEvictions) {
  // Two roots back and forth (a system call), then all five in turns: more roots than contexts,
  // so each is evicted and later refilled, never from another root's entries.
  for (unsigned round = 0; round < 3; ++round)
    for (const unsigned i : {0u, 1u, 0u, 1u})
      expect_root(i, value(i));
  for (unsigned round = 0; round < 3; ++round)
    for (unsigned i = 0; i < kRoots; ++i) expect_root(i, value(i));
  for (const unsigned i : {4u, 2u, 4u, 0u, 3u, 1u, 3u}) expect_root(i, value(i));
}

TEST_P(SoftTlbUserRootsTest, OnePageFlushReachesTheRootsNotRunning) {
  expect_root(0, value(0));
  expect_root(1, value(1));
  // The VMM moves kDataVa to other pages in both roots (a shadow invalidation in every space)
  // while root 1 runs: the page's entries of root 0's context must go too.
  map(root_table(0), kDataVa, data_page(kRoots), V | R | U | A);
  map(root_table(1), kDataVa, data_page(kRoots + 1), V | R | U | A);
  put64(data_page(kRoots), 77);
  put64(data_page(kRoots + 1), 78);
  hart.flush_translation_page(kDataVa + 0x123);
  ASSERT_EQ(run_once(), kEcallFromU);
  EXPECT_EQ(hart.x(a0), 78u);
  expect_root(0, 77);
}

TEST_P(SoftTlbUserRootsTest, FullFlushReachesTheRootsNotRunning) {
  expect_root(0, value(0));
  expect_root(1, value(1));
  // As when the VMM frees every shadow and builds new tables at the same addresses.
  map(root_table(0), kDataVa, data_page(kRoots), V | R | U | A);
  map(root_table(0), kCallVa, kCallPages + 0x1000 * 2, V | X | U | A);
  put64(data_page(kRoots), 77);
  hart.flush_translations();
  expect_root(1, value(1));
  hart.switch_user_root(roots_[0]);
  ASSERT_EQ(run_once(), kEcallFromU);
  EXPECT_EQ(hart.x(a0), 77u);
  EXPECT_EQ(hart.x(a3), 3u); // root 2's call page, now mapped in root 0
}

TEST_P(SoftTlbUserRootsTest, DataFlushOfOneRootReachesItWhileAnotherRuns) {
  expect_root(0, value(0));
  expect_root(1, value(1));
  // The VMM drops data-only leaves of root 1 (trap mode: pages the guest kernel reached under
  // SUM) while root 0 runs.
  map(root_table(1), kDataVa, data_page(kRoots), V | R | U | A);
  put64(data_page(kRoots), 77);
  expect_root(0, value(0));
  hart.flush_user_root_data(roots_[1]);
  expect_root(0, value(0));
  expect_root(1, 77);
}

TEST_P(SoftTlbUserRootsTest, SatpWrittenDirectlyIsNotTakenForTheRootSwitchedToBefore) {
  expect_root(0, value(0));
  // satp changed by a CSR write, not a root switch: the context in use now fills through root 1.
  hart.set_csr(csr::kSatp, roots_[1]);
  ASSERT_EQ(run_once(), kEcallFromU);
  EXPECT_EQ(hart.x(a0), value(1));
  EXPECT_EQ(hart.x(a3), 2u);
  // Back to root 0 by a switch: its translations, not root 1's left under root 0's name.
  expect_root(0, value(0));
  expect_root(1, value(1));
}

TEST_P(SoftTlbUserRootsTest, MxrClearedDropsLoadsFromExecuteOnlyPagesInEveryRoot) {
  expect_root(0, value(0)); // root 1 gets a context of its own, not the first
  // kCallVa is execute-only: with MXR a load from it works and is cached in root 1's context.
  hart.set_csr(csr::kMstatus, hart.csr(csr::kMstatus) | csr::mstatus::kMxr);
  hart.switch_user_root(roots_[1]);
  cursor = kCodePage + 0x100;
  emit({ld(a0, a1, 0), ecall()});
  const auto load_call_page = [&] {
    hart.set_x(a1, kCallVa);
    hart.set_pc(kCodeVa + 0x100);
    hart.run(100);
    const auto exit = hart.take_exit();
    return exit ? exit->cause : ~uint64_t{0};
  };
  ASSERT_EQ(load_call_page(), kEcallFromU);
  EXPECT_EQ(hart.x(a0), get64(kCallPages + 0x1000));
  // Cleared while root 0 runs: root 1's context must forget that load.
  hart.switch_user_root(roots_[0]);
  hart.set_csr(csr::kMstatus, hart.csr(csr::kMstatus) & ~csr::mstatus::kMxr);
  hart.switch_user_root(roots_[1]);
  EXPECT_EQ(load_call_page(), kLoadPageFault);
}

INSTANTIATE_TEST_SUITE_P(Tiers, SoftTlbUserRootsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& tier) { return tier.param ? "Jit" : "Interpreter"; });

} // namespace
} // namespace nimbus::test
