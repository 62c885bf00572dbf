// Trap mode with the guest's own Sv39 tables: shadow fills, virtual page faults, A/D bits, SUM,
// SFENCE.VMA after a remap, the address-space cache, the table limit, MMIO, and escape attempts.
#include "trap_mode_test_support.hpp"

namespace nimbus::hypervisor::test {
namespace {

using namespace nimbus::test::as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;
constexpr uint32_t t3 = 28;
constexpr uint64_t kVa = 0x4000'0000;       // a kernel data page
constexpr uint64_t kUserVa = 0x2'0000;      // a user data page

class ShadowPagingTest : public TrapModeTest {
protected:
  // Kernel prologue: stvec = t0, satp = t6 (x31); the code continues at kKernel + 8.
  void prologue(std::initializer_list<uint32_t> body) {
    install_reporting_handler();
    map_kernel();
    code(kKernel, {csrrw(0, csr::kStvec, t0), csrrw(0, csr::kSatp, 31)});
    code(kKernel + 8, body);
    start();
    cpu->set_reg(t0, kHandler);
    cpu->set_reg(31, sv39());
  }
};

TEST_F(ShadowPagingTest, KernelAccessesGoThroughShadowsAndSetAccessedAndDirty) {
  const uint64_t pte = map(kVa, kDataA, V | R | W);
  put64(kDataA + 8, 0x1234);
  prologue({ld(a3, t1, 8), sd(t2, t1, 16), ld(a4, t1, 16), ecall()});
  cpu->set_reg(t1, kVa);
  cpu->set_reg(t2, 0x77);
  const CpuExit exit = run();
  ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
  EXPECT_EQ(reg(a3), 0x1234u);
  EXPECT_EQ(reg(a4), 0x77u);
  EXPECT_EQ(get64(kDataA + 16), 0x77u); // the store reached the guest's page
  EXPECT_EQ(get64(pte) & (A | D), A | D);
  // Code pages, the data page read-only first (D was clear), then writable: three fills or more.
  EXPECT_GE(cpu->stats().shadow_fills, 3u);
  EXPECT_EQ(cpu->stats().virtual_page_faults, 0u);
  const VmCountersSnapshot snap = counters.snapshot();
  EXPECT_EQ(snap.shadow_page_faults, cpu->stats().shadow_fills);
  EXPECT_EQ(snap.exits_for(ExitReason::guest_page_fault), cpu->stats().shadow_fills);
  // Every shadow leaf is a U-mode page pointing at a machine address of this VM's frame.
  const uint64_t leaf = cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kVa);
  uint64_t machine = 0;
  ASSERT_EQ(memory.machine_address(kDataA, machine), GuestMemoryStatus::ok);
  EXPECT_EQ((leaf >> 10) << 12, machine);
  EXPECT_NE(leaf & U, 0u);
  EXPECT_EQ(pool.owner_of(static_cast<FrameNumber>(machine >> pool.frame_shift())), memory.vm_id());
}

TEST_F(ShadowPagingTest, UnmappedAddressIsAPageFaultDeliveredToTheGuest) {
  prologue({ld(a3, t1, 0), ecall()});
  cpu->set_reg(t1, 0x5000'0000);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kLoadPageFault);
  EXPECT_EQ(reg(a1), 0x5000'0000u);
  EXPECT_EQ(reg(a2), kKernel + 8);
  EXPECT_EQ(cpu->stats().virtual_page_faults, 1u);
  // A store to a read-only page is a store page fault in the guest.
  map(kVa, kDataA, V | R | A | D);
  code(kKernel + 0x100, {sd(t2, t1, 0), ecall()});
  cpu->set_reg(t1, kVa);
  ASSERT_EQ(resume(kKernel + 0x100).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kStorePageFault);
  EXPECT_EQ(reg(a1), kVa);
}

TEST_F(ShadowPagingTest, UserProgramSeesOnlyUserPagesAndItsFaultsReachTheKernel) {
  map(0x1'0000, kUserCode, V | R | X | U | A);
  map(kUserVa, kDataA, V | R | W | U | A | D);
  map(kVa, kDataB, V | R | W | A | D); // kernel-only
  put64(kDataA, 0xabc);
  code(kUserCode, {ld(a3, t1, 0), ld(a4, t2, 0), ecall()});
  prologue({csrrw(0, csr::kSepc, t3), sret()});
  cpu->set_reg(t1, kUserVa);
  cpu->set_reg(t2, kVa);
  cpu->set_reg(t3, 0x1'0000);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 0xabcu);
  EXPECT_EQ(reg(a0), kLoadPageFault); // the kernel page is not the user's
  EXPECT_EQ(reg(a1), kVa);
  EXPECT_EQ(reg(a2), 0x1'0004u);
  EXPECT_TRUE(cpu->supervisor_state().supervisor);
}

TEST_F(ShadowPagingTest, SumGatesKernelAccessToUserPagesAndNeverMakesThemExecutable) {
  map(kUserVa, kDataA, V | R | W | X | U | A | D);
  put64(kDataA, 0x5a5a);
  prologue({ld(a3, t1, 0), ecall()});
  cpu->set_reg(t1, kUserVa);
  cpu->set_reg(t2, mst::kSum);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kLoadPageFault); // SUM clear
  // With SUM the kernel reads it.
  code(kKernel + 0x100, {csrrs(0, csr::kSstatus, t2), ld(a3, t1, 0), ecall()});
  ASSERT_EQ(resume(kKernel + 0x100).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 0x5a5au);
  EXPECT_NE(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kUserVa), 0u);
  // Clearing SUM takes the page away again, although the shadow had it.
  code(kKernel + 0x200, {csrrc(0, csr::kSstatus, t2), ld(a4, t1, 0), ecall()});
  cpu->set_reg(a0, 0);
  ASSERT_EQ(resume(kKernel + 0x200).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kLoadPageFault);
  EXPECT_EQ(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kUserVa), 0u);
  // Even with SUM the kernel cannot execute a user page.
  code(kKernel + 0x300, {csrrs(0, csr::kSstatus, t2), jalr(0, t1, 0)});
  ASSERT_EQ(resume(kKernel + 0x300).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kFetchPageFault);
  EXPECT_EQ(reg(a1), kUserVa);
}

TEST_F(ShadowPagingTest, SfenceVmaAfterARemapShowsTheNewPage) {
  map(kVa, kDataA, V | R | W | A | D);
  put64(kDataA, 0xaaaa);
  put64(kDataB, 0xbbbb);
  prologue({ld(a3, t1, 0), ecall()});
  cpu->set_reg(t1, kVa);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 0xaaaau);
  map(kVa, kDataB, V | R | W | A | D); // the guest rewrites its PTE...
  code(kKernel + 0x100, {ld(a4, t1, 0), ecall()});
  ASSERT_EQ(resume(kKernel + 0x100).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a4), 0xaaaau); // ...and until it fences, the old translation may stay (it does)
  code(kKernel + 0x200, {sfence_vma(), ld(a5, t1, 0), ecall()});
  ASSERT_EQ(resume(kKernel + 0x200).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a5), 0xbbbbu);
  // By address: sfence.vma t1, zero.
  map(kVa, kDataA, V | R | W | A | D);
  const uint32_t sfence_t1 = sfence_vma() | (t1 << 15);
  code(kKernel + 0x300, {sfence_t1, ld(a5, t1, 0), ecall()});
  ASSERT_EQ(resume(kKernel + 0x300).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a5), 0xaaaau);
  EXPECT_EQ(counters.snapshot().tlb_flushes, 2u);
}

TEST_F(ShadowPagingTest, AddressSpacesAreCachedPerSatpAndAsidFencesSpareGlobalPages) {
  // Two address spaces (ASIDs 1 and 2) share a global kernel page and map kUserVa differently.
  map(kVa, kDataA, V | R | W | G | A | D);
  map_kernel(); // before the copy: both roots share every table below them
  const uint64_t second_root = kRamBase + 0x40000;
  std::vector<uint8_t> copy(0x1000);
  ASSERT_EQ(memory.read(kTables, copy.data(), copy.size()), GuestMemoryStatus::ok);
  ASSERT_EQ(memory.write(second_root, copy.data(), copy.size()), GuestMemoryStatus::ok);
  const uint64_t satp1 = sv39() | (uint64_t{1} << 44);
  const uint64_t satp2 = (uint64_t{8} << 60) | (uint64_t{2} << 44) | (second_root >> 12);
  put64(kDataA, 1);
  prologue({ld(a3, t1, 0), csrrw(0, csr::kSatp, t2), ld(a4, t1, 0), csrrw(0, csr::kSatp, t3), ld(a5, t1, 0),
            ecall()});
  cpu->set_reg(31, satp1);
  cpu->set_reg(t1, kVa);
  cpu->set_reg(t2, satp2);
  cpu->set_reg(t3, satp1);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3) + reg(a4) + reg(a5), 3u);
  EXPECT_EQ(cpu->shadows().spaces(), 3u); // bare (boot) + two address spaces
  const uint64_t fills = cpu->stats().shadow_fills;
  // Switching back to a known space costs no new fills.
  code(kKernel + 0x100, {csrrw(0, csr::kSatp, t2), ld(a4, t1, 0), csrrw(0, csr::kSatp, t3), ld(a5, t1, 0), ecall()});
  ASSERT_EQ(resume(kKernel + 0x100).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(cpu->stats().shadow_fills, fills);
  // sfence.vma zero, t3 (ASID 1): the global page stays shadowed.
  const uint32_t sfence_asid = sfence_vma() | (t3 << 20);
  code(kKernel + 0x200, {sfence_asid, ecall()});
  cpu->set_reg(t3, 1);
  ASSERT_EQ(resume(kKernel + 0x200).kind, CpuExit::Kind::sbi_call);
  EXPECT_NE(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kVa), 0u);
}

TEST_F(ShadowPagingTest, TheTableLimitDropsEveryShadowAndStartsOver) {
  make_cpu(6); // root + L1 + code table + data tables: far fewer than ten 2 MiB regions need
  for (uint64_t i = 0; i < 10; ++i) {
    map(kVa + i * 0x20'0000, kDataA + i * 0x1000, V | R | A | D);
    put64(kDataA + i * 0x1000, i + 1);
  }
  // t3 = 10 iterations: a4 += *(t1); t1 += 2 MiB.
  prologue({ld(a3, t1, 0), add(a4, a4, a3), add(t1, t1, t2), addi(t3, t3, -1), bne(t3, 0, -16), ecall()});
  cpu->set_reg(t1, kVa);
  cpu->set_reg(t2, 0x20'0000);
  cpu->set_reg(t3, 10);
  const CpuExit exit = run();
  ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
  EXPECT_EQ(reg(a4), 55u);
  EXPECT_GT(cpu->stats().shadow_resets, 0u);
  EXPECT_LE(cpu->shadows().table_pages(), 6u);
}

TEST_F(ShadowPagingTest, MmioToADeviceIsEmulatedOnTheDeviceBus) {
  map(kVa, kDevice, V | R | W | A | D);
  prologue({sw(t2, t1, 8), lw(a3, t1, 16), lb(a4, t1, 0x77), ld(a5, t1, 0), ecall()});
  cpu->set_reg(t1, kVa);
  cpu->set_reg(t2, 0xfeed);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(device.last_offset, 8u);
  EXPECT_EQ(device.last_size, 4u);
  EXPECT_EQ(device.last_value, 0xfeedu);
  EXPECT_EQ(reg(a3), 0x44332221u);
  EXPECT_EQ(reg(a4), 0xffffffffffffff88ull); // sign-extended byte
  EXPECT_EQ(reg(a5), 0x8877665544332211ull);
  EXPECT_EQ(counters.snapshot().exits_for(ExitReason::mmio), 4u);
  EXPECT_EQ(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kVa), 0u); // never shadowed
}

TEST_F(ShadowPagingTest, PagesOutsideGuestRamAreAccessFaultsNeverOtherMemory) {
  // Another VM's secret sits in the same machine memory.
  GuestMemory other(pool, "other", kRamBase, kRamSize);
  const uint64_t secret = 0x5ec2e7;
  for (uint64_t at = kRamBase; at < kRamBase + 0x40000; at += 0x1000)
    ASSERT_EQ(other.write(at, &secret, 8), GuestMemoryStatus::ok);
  // Leaves just past this VM's RAM, far beyond it, and a table pointer outside RAM.
  map(kVa, kRamBase + kRamSize, V | R | W | A | D);
  map(kVa + 0x1000, uint64_t{1} << 50, V | R | W | A | D);
  put64(kTables + 8 * 3, ((uint64_t{0x4'0000'0000} >> 12) << 10) | V); // va 3 GiB region -> table at 16 GiB
  prologue({ld(a3, t1, 0), ecall()});
  for (const uint64_t va : {kVa, kVa + 0x1000, uint64_t{0xc000'0000} + 0x123000}) {
    if (va != kVa) cpu->hart().set_pc(kKernel + 8); // again after the prologue
    cpu->set_reg(t1, va);
    cpu->set_reg(a3, 0);
    const CpuExit exit = run();
    ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << std::hex << va << " " << cpu->describe();
    EXPECT_EQ(reg(a0), kLoadAccessFault) << std::hex << va;
    EXPECT_EQ(reg(a1), va);
    EXPECT_EQ(reg(a3), 0u);
  }
  EXPECT_EQ(cpu->stats().mmio, 0u);
}

TEST_F(ShadowPagingTest, ShadowTablePagesAreTheVmsFramesAndGoBackWithTheVcpu) {
  map(kVa, kDataA, V | R | W | A | D);
  prologue({ld(a3, t1, 0), ecall()});
  cpu->set_reg(t1, kVa);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_GT(pool.frames_owned_by(memory.vm_id()), memory.resident_pages()); // tables are frames of the VM
  cpu.reset();
  EXPECT_EQ(pool.frames_owned_by(memory.vm_id()), memory.resident_pages());
}

} // namespace
} // namespace nimbus::hypervisor::test
