// Sv39/Sv48/Sv57 translation, A/D updates, every page-fault case, MPRV and PMP.
#include "hart_test_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;

constexpr uint64_t V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;
constexpr uint64_t kLoadPageFault = 13, kStorePageFault = 15, kFetchPageFault = 12;

class HartMmuTest : public HartTest {
protected:
  static constexpr uint64_t kTables = kRamBase + 0x200000;
  static constexpr uint64_t kPage = kRamBase + 0x300000; // target physical page
  uint64_t next_table_ = kTables + 0x1000;
  int levels_ = 3;

  void use_mode(uint64_t mode, int levels) {
    levels_ = levels;
    hart.set_csr(csr::kSatp, (mode << 60) | (kTables >> 12));
  }
  // Maps va -> pa with a leaf at `leaf_level` (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB...).
  uint64_t map(uint64_t va, uint64_t pa, uint64_t flags, int leaf_level = 0) {
    uint64_t table = kTables;
    for (int level = levels_ - 1; level > leaf_level; --level) {
      const uint64_t slot = table + ((va >> (12 + 9 * level)) & 0x1ff) * 8;
      uint64_t pte = get64(slot);
      if (!(pte & V)) {
        pte = ((next_table_ >> 12) << 10) | V;
        next_table_ += 0x1000;
        put64(slot, pte);
      }
      table = ((pte >> 10) << 12);
    }
    const uint64_t slot = table + ((va >> (12 + 9 * leaf_level)) & 0x1ff) * 8;
    put64(slot, ((pa >> 12) << 10) | flags);
    return slot;
  }
  // Runs `insn` in S-mode (code identity-mapped) with a1 = va; returns the trap cause.
  uint64_t access(uint32_t insn, uint64_t va, unsigned privilege = 1) {
    map(kCode, kCode, V | R | X | A | (privilege == 0 ? U : 0));
    hart.set_x(a1, va);
    return run_code({insn, ecall()}, privilege);
  }
  uint64_t ecall_cause(unsigned privilege) const { return privilege == 0 ? 8 : 9; }
};

TEST_F(HartMmuTest, Sv39LoadStoreAndAccessedDirtyUpdates) {
  use_mode(8, 3);
  const uint64_t va = 0x40001000;
  const uint64_t pte_slot = map(va, kPage, V | R | W);
  put64(kPage + 8, 0xabcdef);
  EXPECT_EQ(access(ld(a0, a1, 8), va), 9u);
  EXPECT_EQ(hart.x(a0), 0xabcdefu);
  EXPECT_EQ(get64(pte_slot) & (A | D), A);
  hart.set_x(a2, 77);
  EXPECT_EQ(access(sd(a2, a1, 16), va), 9u);
  EXPECT_EQ(get64(kPage + 16), 77u);
  EXPECT_EQ(get64(pte_slot) & (A | D), A | D);
}

TEST_F(HartMmuTest, UnmappedAddressIsAPageFaultWithTval) {
  use_mode(8, 3);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x50000000), kLoadPageFault);
  EXPECT_EQ(mtval(), 0x50000000u);
  EXPECT_EQ(mepc(), kCode);
  EXPECT_EQ(access(sd(a0, a1, 0), 0x50000000), kStorePageFault);
}

TEST_F(HartMmuTest, PageFaultsDelegateToSupervisor) {
  use_mode(8, 3);
  hart.set_csr(csr::kMedeleg, 1u << kLoadPageFault);
  map(kSupervisorTrap & ~uint64_t{0xfff}, kSupervisorTrap & ~uint64_t{0xfff}, V | R | X | A);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x50000000), kLoadPageFault);
  EXPECT_EQ(hart.pc(), kSupervisorTrap);
  EXPECT_EQ(hart.csr(csr::kStval), 0x50000000u);
}

TEST_F(HartMmuTest, WriteWithoutReadIsReserved) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | W | A | D);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault);
}

TEST_F(HartMmuTest, StoreToReadOnlyPageFaults) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A | D);
  EXPECT_EQ(access(sd(a0, a1, 0), 0x40000000), kStorePageFault);
}

TEST_F(HartMmuTest, ReservedHighBitsFault) {
  use_mode(8, 3);
  const uint64_t slot = map(0x40000000, kPage, V | R | A);
  put64(slot, get64(slot) | (1ull << 63)); // Svnapot not implemented
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault);
  put64(slot, (get64(slot) & ~(1ull << 63)) | (1ull << 61)); // Svpbmt not implemented
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault);
}

TEST_F(HartMmuTest, NonLeafWithAccessedBitFaults) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A);
  put64(kTables + 1 * 8, get64(kTables + 1 * 8) | A); // the root entry for VA 0x40000000
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault);
}

TEST_F(HartMmuTest, LeafAtLevelZeroIsRequiredEventually) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A);
  // Turn the level-0 leaf into a pointer: walking past level 0 is a page fault.
  const uint64_t l1 = ((get64(kTables + 8) >> 10) << 12);
  const uint64_t l0 = ((get64(l1) >> 10) << 12);
  put64(l0, ((kPage >> 12) << 10) | V);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault);
}

TEST_F(HartMmuTest, MisalignedSuperpageFaults) {
  use_mode(8, 3);
  map(0x40200000, kRamBase + 0x1000, V | R | A, 1); // 2 MiB leaf pointing at a 4 KiB-aligned address
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40200000), kLoadPageFault);
}

TEST_F(HartMmuTest, MegapageAndGigapageTranslate) {
  use_mode(8, 3);
  map(0x40200000, kRamBase + 0x200000 * 2, V | R | A, 1);
  put64(kRamBase + 0x400000 + 0x1238, 5);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40201238), 9u);
  EXPECT_EQ(hart.x(a0), 5u);
  map(0xc0000000, kRamBase, V | R | A, 2);
  put64(kRamBase + 0x400000 + 0x10, 6);
  EXPECT_EQ(access(ld(a0, a1, 0), 0xc0400010), 9u);
  EXPECT_EQ(hart.x(a0), 6u);
}

TEST_F(HartMmuTest, NonCanonicalAddressFaults) {
  use_mode(8, 3);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x0000008000000000u), kLoadPageFault); // bit 39 set, upper clear
  EXPECT_EQ(mtval(), 0x0000008000000000u);
}

TEST_F(HartMmuTest, UserPagesAndSum) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | W | A | D | U);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault); // S touching U page without SUM
  hart.set_csr(csr::kMstatus, mst::kSum);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), 9u);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000, 0), 8u); // user may
}

// Clearing SUM must drop the S-mode translations of user pages cached while it was set (the
// soft TLB drops just those: Linux clears SUM after every user copy) and keep the kernel's own.
// Loads and stores, interpreted and translated (every block at its first run), and more user
// pages than the TLB notes one by one (70), where it drops the whole S context instead.
class HartSumClearTest : public HartMmuTest, public ::testing::WithParamInterface<bool> {
protected:
  static constexpr uint64_t kUser = 0x40000000, kKernel = 0x60100000; // soft-TLB slots 0-69 and 256
  void SetUp() override {
    HartMmuTest::SetUp();
    if (GetParam()) hart.set_jit(true, 1);
    use_mode(8, 3);
    map(kCode, kCode, V | R | X | A);
    for (uint64_t i = 0; i < 70; ++i) map(kUser + 0x1000 * i, kPage + 0x1000 * (i % 4), V | R | W | A | D | U);
    map(kKernel, kPage + 0x8000, V | R | W | A | D);
    put64(kPage, 5);
    put64(kPage + 0x8000, 6);
    hart.set_csr(csr::kMstatus, mst::kSum);
    hart.set_x(a1, kUser);
    hart.set_x(a3, kKernel);
    hart.set_x(a4, mst::kSum);
    hart.set_x(s1, 0x1000);
  }
};

TEST_P(HartSumClearTest, LoadFromAUserPageFaultsOnceSumIsCleared) {
  EXPECT_EQ(run_code({ld(a0, a1, 0), ld(a2, a3, 0), csrrc(zero, csr::kSstatus, a4), ld(a5, a3, 0), ld(a0, a1, 0),
                      ecall()},
                     1),
            kLoadPageFault);
  EXPECT_EQ(hart.x(a0), 5u);
  EXPECT_EQ(hart.x(a5), 6u); // the kernel's page still reads
  EXPECT_EQ(mepc(), kCode + 16);
  EXPECT_EQ(mtval(), kUser);
}

TEST_P(HartSumClearTest, StoreToAUserPageFaultsOnceSumIsCleared) {
  EXPECT_EQ(run_code({sd(s1, a1, 8), sd(s1, a3, 8), csrrc(zero, csr::kSstatus, a4), sd(a4, a3, 8), sd(a4, a1, 8),
                      ecall()},
                     1),
            kStorePageFault);
  EXPECT_EQ(get64(kPage + 8), 0x1000u);
  EXPECT_EQ(get64(kPage + 0x8008), mst::kSum);
  EXPECT_EQ(mepc(), kCode + 16);
}

// 70 user pages loaded under SUM, then SUM cleared: the first and the last must both fault.
TEST_P(HartSumClearTest, EveryOfManyUserPagesFaultsOnceSumIsCleared) {
  for (const uint64_t last : {uint64_t{0}, uint64_t{69}}) {
    hart.set_csr(csr::kMstatus, mst::kSum);
    hart.set_x(t0, 70);
    hart.set_x(t1, kUser);
    hart.set_x(t2, kUser + 0x1000 * last);
    EXPECT_EQ(run_code({ld(a0, t1, 0), add(t1, t1, s1), addi(t0, t0, -1), bne(t0, zero, -12),
                        csrrc(zero, csr::kSstatus, a4), ld(a5, a3, 0), ld(a0, t2, 0), ecall()},
                       1),
              kLoadPageFault)
        << "page " << last;
    EXPECT_EQ(mtval(), kUser + 0x1000 * last);
    EXPECT_EQ(hart.x(a5), 6u);
  }
}

INSTANTIATE_TEST_SUITE_P(Tiers, HartSumClearTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Jit" : "Interpreter"; });

TEST_F(HartMmuTest, SupervisorNeverExecutesUserPages) {
  use_mode(8, 3);
  hart.set_csr(csr::kMstatus, mst::kSum);
  map(0x40000000, kPage, V | R | X | A | U);
  put32(kPage, ecall());
  map(kCode, kCode, V | R | X | A);
  hart.set_x(a1, 0x40000000);
  emit({jalr(zero, a1, 0)});
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), kFetchPageFault);
  EXPECT_EQ(mtval(), 0x40000000u);
}

TEST_F(HartMmuTest, UserCannotTouchSupervisorPages) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000, 0), kLoadPageFault);
}

TEST_F(HartMmuTest, MxrMakesExecutablePagesReadable) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | X | A);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), kLoadPageFault);
  hart.set_csr(csr::kMstatus, mst::kMxr);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), 9u);
}

TEST_F(HartMmuTest, FetchThroughMappingAndPageFaultTval) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | X | A);
  put32(kPage, addi(a0, zero, 9));
  put32(kPage + 4, ecall());
  hart.set_pc(0x40000000);
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), 9u);
  EXPECT_EQ(hart.x(a0), 9u);
  EXPECT_EQ(mepc(), 0x40000004u);
  hart.set_pc(0x40001000); // unmapped
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), kFetchPageFault);
  EXPECT_EQ(mtval(), 0x40001000u);
}

TEST_F(HartMmuTest, SatpChangeTakesEffectAfterwards) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A);
  put64(kPage, 1);
  put64(kPage + 0x1000, 2);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000000), 9u);
  EXPECT_EQ(hart.x(a0), 1u);
  map(0x40000000, kPage + 0x1000, V | R | A);
  // Without SFENCE.VMA the old translation may be used; after it, the new one must be.
  map(kCode, kCode, V | R | X | A);
  EXPECT_EQ(run_code({sfence_vma(), ld(a0, a1, 0), ecall()}, 1), 9u);
  EXPECT_EQ(hart.x(a0), 2u);
}

// SFENCE.VMA with the address of another 4 KiB page of a megapage orders that megapage's leaf:
// the page used before (its own soft-TLB entry) must see the new leaf too.
TEST_F(HartMmuTest, OneAddressFenceInAMegapageDropsItsOtherPages) {
  use_mode(8, 3);
  const uint64_t leaf = map(0x40200000, kRamBase + 0x400000, V | R | A, 1);
  put64(kRamBase + 0x400000 + 0x1238, 5);
  put64(kRamBase + 0x600000 + 0x1238, 6);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40201238), 9u);
  EXPECT_EQ(hart.x(a0), 5u);
  put64(leaf, ((kRamBase + 0x600000) >> 12) << 10 | V | R | A);
  hart.set_x(a2, 0x40345000); // another page of the same megapage
  EXPECT_EQ(run_code({sfence_vma(a2, zero), ld(a0, a1, 0), ecall()}, 1), 9u);
  EXPECT_EQ(hart.x(a0), 6u);
}

// Two address spaces (ASIDs 1 and 2) share a global kernel page and map one user address to
// different pages: after each satp switch the user address reads its own space's page, and the
// kernel page reads the same; SFENCE.VMA with an ASID and no address drops the non-global ones.
TEST_F(HartMmuTest, SatpSwitchKeepsGlobalMappingsOnly) {
  constexpr uint64_t G = 32;
  use_mode(8, 3);
  const uint64_t root1 = kTables, root2 = kRamBase + 0x280000;
  map(kCode, kCode, V | R | X | A | G);
  map(0xc0000000, kPage, V | R | A | G);             // the kernel page, global
  const uint64_t user1 = map(0x40000000, kPage + 0x1000, V | R | A); // root 1's user page
  // Root 2: a copy of root 1's top level (the same next-level tables: the kernel half), then its
  // own user mapping.
  for (uint64_t i = 0; i < 512; ++i) put64(root2 + 8 * i, get64(root1 + 8 * i));
  const uint64_t user2_table = next_table_;
  next_table_ += 0x2000;
  put64(root2 + ((0x40000000 >> 30) & 0x1ff) * 8, ((user2_table >> 12) << 10) | V);
  put64(user2_table, (((user2_table + 0x1000) >> 12) << 10) | V);
  put64(user2_table + 0x1000, (((kPage + 0x2000) >> 12) << 10) | V | R | A);
  put64(kPage, 7);
  put64(kPage + 0x1000, 1);
  put64(kPage + 0x2000, 2);
  const uint64_t satp1 = (uint64_t{8} << 60) | (uint64_t{1} << 44) | (root1 >> 12);
  const uint64_t satp2 = (uint64_t{8} << 60) | (uint64_t{2} << 44) | (root2 >> 12);
  hart.set_x(a1, 0x40000000);
  hart.set_x(a2, 0xc0000000);
  hart.set_x(a4, satp2);
  hart.set_x(a5, satp1);
  hart.set_csr(csr::kSatp, satp1);
  // s0..: user, kernel in space 1; user, kernel in space 2; user in space 1 again.
  ASSERT_EQ(run_code({ld(s0, a1, 0), ld(s1, a2, 0), csrrw(zero, csr::kSatp, a4), ld(t0, a1, 0), ld(t1, a2, 0),
                      csrrw(zero, csr::kSatp, a5), ld(t2, a1, 0), ecall()},
                     1),
            9u);
  EXPECT_EQ(hart.x(s0), 1u);
  EXPECT_EQ(hart.x(s1), 7u);
  EXPECT_EQ(hart.x(t0), 2u);
  EXPECT_EQ(hart.x(t1), 7u);
  EXPECT_EQ(hart.x(t2), 1u);
  // Root 1's user page moves; SFENCE.VMA x0, asid (no address) must drop the old translation.
  put64(user1, (((kPage + 0x2000) >> 12) << 10) | V | R | A);
  hart.set_x(a3, 1);
  ASSERT_EQ(run_code({ld(s0, a1, 0), sfence_vma(zero, a3), ld(s1, a1, 0), ecall()}, 1), 9u);
  EXPECT_EQ(hart.x(s1), 2u);
}

// A global mapping does not outlive a change of translation mode (Sv39 to Bare).
TEST_F(HartMmuTest, ModeChangeDropsGlobalMappings) {
  constexpr uint64_t G = 32;
  use_mode(8, 3);
  map(kCode, kCode, V | R | X | A | G);
  map(kRamBase + 0x500000, kPage, V | R | A | G); // a global page whose address is also physical
  put64(kPage, 7);
  put64(kRamBase + 0x500000, 9);
  hart.set_x(a1, kRamBase + 0x500000);
  ASSERT_EQ(run_code({ld(s0, a1, 0), csrrw(zero, csr::kSatp, zero), ld(s1, a1, 0), ecall()}, 1), 9u);
  EXPECT_EQ(hart.x(s0), 7u);
  EXPECT_EQ(hart.x(s1), 9u);
}

TEST_F(HartMmuTest, Sv48TranslatesAndChecksCanonicalForm) {
  use_mode(9, 4);
  map(0x0000400000000000u, kPage, V | R | A);
  put64(kPage, 48);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x0000400000000000u), 9u);
  EXPECT_EQ(hart.x(a0), 48u);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x0000800000000000u), kLoadPageFault);
}

TEST_F(HartMmuTest, Sv57TranslatesAndChecksCanonicalForm) {
  use_mode(10, 5);
  map(0x0080000000000000u, kPage, V | R | A);
  put64(kPage, 57);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x0080000000000000u), 9u);
  EXPECT_EQ(hart.x(a0), 57u);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x0100000000000000u), kLoadPageFault);
  EXPECT_EQ(access(ld(a0, a1, 0), 0xff80000000000000u), kLoadPageFault); // canonical but unmapped
}

TEST_F(HartMmuTest, PageTableInNothingIsAnAccessFault) {
  hart.set_csr(csr::kSatp, (8ull << 60) | (0x1000 >> 12));
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), 1u); // the fetch's walk reads from nothing
}

TEST_F(HartMmuTest, MprvTranslatesMachineLoads) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A);
  put64(kPage, 0x77);
  hart.set_csr(csr::kMstatus, mst::kMprv | (1ull << mst::kMppShift));
  hart.set_x(a1, 0x40000000);
  emit({ld(a0, a1, 0), ebreak()});
  EXPECT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x77u);
}

TEST_F(HartMmuTest, MisalignedLoadAcrossPagesFaultsOnTheSecondPage) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | A);
  EXPECT_EQ(access(ld(a0, a1, 0), 0x40000ffc), kLoadPageFault);
  EXPECT_EQ(mtval(), 0x40001000u);
}

TEST_F(HartMmuTest, InstructionStraddlingIntoAnUnmappedPageFaultsOnItsSecondHalf) {
  use_mode(8, 3);
  map(0x40000000, kPage, V | R | X | A);
  const uint32_t insn = addi(a0, zero, 1);
  put16(kPage + 0xffe, static_cast<uint16_t>(insn));
  hart.set_pc(0x40000ffe);
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), kFetchPageFault);
  EXPECT_EQ(mepc(), 0x40000ffeu);
  EXPECT_EQ(mtval(), 0x40001000u);
}

// The upper half of a page-straddling instruction is fetched through the fetch TLB like any
// fetch from its page: run again it uses the same translation, and after its page is remapped
// and fenced, the new one.
TEST_F(HartMmuTest, InstructionStraddlingPagesFetchesItsUpperHalfThroughTheCurrentMapping) {
  use_mode(8, 3);
  map(kCode, kCode, V | R | X | A);
  map(0x40000000, kPage, V | R | X | A);
  map(0x40001000, kPage + 0x1000, V | R | X | A);
  const uint32_t one = addi(a0, zero, 1), two = addi(a0, zero, 2);
  ASSERT_EQ(one & 0xffff, two & 0xffff); // the immediate is all in the upper half
  put16(kPage + 0xffe, static_cast<uint16_t>(one));
  put16(kPage + 0x1000, static_cast<uint16_t>(one >> 16));
  put32(kPage + 0x1002, ecall());
  put16(kPage + 0x2000, static_cast<uint16_t>(two >> 16));
  put32(kPage + 0x2002, ecall());
  for (int run = 0; run < 3; ++run) {
    hart.set_x(a0, 0);
    hart.set_pc(0x40000ffe);
    hart.set_privilege(1);
    EXPECT_EQ(run_to_trap(), 9u);
    EXPECT_EQ(hart.x(a0), 1u) << "run " << run;
  }
  map(0x40001000, kPage + 0x2000, V | R | X | A);
  EXPECT_EQ(run_code({sfence_vma(), ecall()}, 1), 9u);
  hart.set_pc(0x40000ffe);
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), 9u);
  EXPECT_EQ(hart.x(a0), 2u);
  EXPECT_EQ(mepc(), 0x40001002u);
  // Its block is cached by the lower half's page: with the upper page unmapped and fenced, the
  // next run faults on the upper half, at the instruction.
  map(0x40001000, 0, 0);
  EXPECT_EQ(run_code({sfence_vma(), ecall()}, 1), 9u);
  hart.set_pc(0x40000ffe);
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), kFetchPageFault);
  EXPECT_EQ(mepc(), 0x40000ffeu);
  EXPECT_EQ(mtval(), 0x40001000u);
}

// ---- PMP

class HartPmpTest : public HartTest {
protected:
  static constexpr uint8_t kR = 1, kW = 2, kX = 4, kTor = 1 << 3, kNa4 = 2 << 3, kNapot = 3 << 3, kL = 0x80;
  uint64_t napot(uint64_t base, uint64_t size) { return (base >> 2) | ((size >> 3) - 1); }
  uint64_t run_in(unsigned privilege, uint32_t insn) { return run_code({insn, ecall()}, privilege); }
};

TEST_F(HartPmpTest, SupervisorNeedsAMatchingEntryOnceAnyIsActive) {
  // Entry 0: code region RX (NAPOT 64 KiB). Data at kData is not covered.
  hart.set_csr(csr::kPmpaddr0, napot(kRamBase, 0x10000));
  hart.set_csr(csr::kPmpcfg0, kNapot | kR | kX);
  hart.set_x(a1, kData);
  EXPECT_EQ(run_in(1, ld(a0, a1, 0)), 5u);
  EXPECT_EQ(mtval(), kData);
  EXPECT_EQ(run_in(3, ld(a0, a1, 0)), 11u); // M-mode is not checked against unlocked entries
}

TEST_F(HartPmpTest, TorRangeGrantsReadButNotWrite) {
  hart.set_csr(csr::kPmpaddr0, kRamBase >> 2);
  hart.set_csr(csr::kPmpaddr0 + 1, (kRamBase + 0x20000) >> 2);
  hart.set_csr(csr::kPmpcfg0, uint64_t{kTor | kR | kX} << 8);
  hart.set_x(a1, kData);
  EXPECT_EQ(run_in(1, ld(a0, a1, 0)), 9u);
  EXPECT_EQ(run_in(1, sd(a0, a1, 0)), 7u);
}

TEST_F(HartPmpTest, Na4CoversFourBytesOnly) {
  hart.set_csr(csr::kPmpaddr0, kData >> 2);
  hart.set_csr(csr::kPmpaddr0 + 1, napot(kRamBase, 0x1000000));
  hart.set_csr(csr::kPmpcfg0, (kNa4 | kR) | (uint64_t{kNapot | kR | kW | kX} << 8));
  hart.set_x(a1, kData);
  EXPECT_EQ(run_in(1, sd(a0, a1, 0)), 7u);  // entry 0 matches first and has no W
  EXPECT_EQ(run_in(1, sd(a0, a1, 4)), 9u);  // beyond the 4 bytes: entry 1
  EXPECT_EQ(run_in(1, ld(a0, a1, 0)), 5u);  // 8-byte load only partly inside entry 0: fails
  EXPECT_EQ(run_in(1, lw(a0, a1, 0)), 9u);
}

TEST_F(HartPmpTest, LockedEntriesBindMachineModeAndIgnoreWrites) {
  hart.set_csr(csr::kPmpaddr0, kData >> 2);
  hart.set_csr(csr::kPmpcfg0, kNa4 | kR | kL);
  hart.set_x(a1, kData);
  EXPECT_EQ(run_in(3, sw(a0, a1, 0)), 7u);
  hart.set_csr(csr::kPmpcfg0, 0);
  hart.set_csr(csr::kPmpaddr0, 0);
  EXPECT_EQ(hart.csr(csr::kPmpcfg0) & 0xff, uint64_t{kNa4 | kR | kL});
  EXPECT_EQ(hart.csr(csr::kPmpaddr0), kData >> 2);
}

TEST_F(HartPmpTest, WriteOnlyEncodingIsRejected) {
  hart.set_csr(csr::kPmpcfg0, kNapot | kW);
  EXPECT_EQ(hart.csr(csr::kPmpcfg0), 0u);
}

TEST_F(HartPmpTest, FetchNeedsExecutePermission) {
  hart.set_csr(csr::kPmpaddr0, napot(kRamBase, 0x1000000));
  hart.set_csr(csr::kPmpcfg0, kNapot | kR | kW);
  hart.set_privilege(1);
  EXPECT_EQ(run_to_trap(), 1u);
}

TEST_F(HartPmpTest, OddPmpcfgRegistersDoNotExist) {
  emit({csrrs(a0, 0x3a1, zero)});
  EXPECT_EQ(run_to_trap(), kIllegal);
}

} // namespace
} // namespace nimbus::test
