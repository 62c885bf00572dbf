// H extension two-stage translation: G-stage alone (vsatp Bare), VS-stage alone (hgatp Bare),
// both, the guest-page faults of each stage (htval = GPA >> 2, tval = GVA, htinst for implicit
// accesses, GVA/MPV), A/D updates in both stages, SUM/MXR through vsstatus and mstatus, the
// x4 root and GPA width, and soft-TLB separation of host and guest contexts.
#include "h_extension_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
using namespace pte;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;

constexpr uint64_t kLoadPageFault = 13, kStorePageFault = 15;

class HTranslationTest : public HExtensionTest {
protected:
  // Runs one access in VS-mode (a1 = address, a2 = store value) then ebreak.
  Parked guest_access(uint32_t insn, uint64_t address, unsigned privilege = 1) {
    hart.set_x(a1, address);
    return run_guest({insn, ebreak()}, privilege);
  }
};

TEST_F(HTranslationTest, GStageAloneTranslatesGuestPhysicalAddresses) {
  use_g_stage();
  const uint64_t gpa = 0x40002000; // a guest "RAM" address far from the machine's
  const uint64_t slot = gmap(gpa, kTarget, V | R | W | U);
  put64(kTarget + 8, 0x1234);
  EXPECT_EQ(guest_access(ld(a0, a1, 8), gpa), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x1234u);
  EXPECT_EQ(get64(slot) & (A | D), A); // G-stage A set by the walk
  hart.set_x(a2, 0x99);
  EXPECT_EQ(guest_access(sd(a2, a1, 16), gpa), Parked::Machine);
  EXPECT_EQ(get64(kTarget + 16), 0x99u);
  EXPECT_EQ(get64(slot) & (A | D), A | D);
}

TEST_F(HTranslationTest, GStageFaultReportsGpaInMtval2AndGvaInMtval) {
  use_g_stage();
  EXPECT_EQ(guest_access(ld(a0, a1, 4), 0x40003000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  EXPECT_EQ(mtval(), 0x40003004u);
  EXPECT_EQ(csr(csr::kMtval2), 0x40003004u >> 2);
  EXPECT_EQ(csr(csr::kMtinst), 0u);
  EXPECT_EQ(mepc(), kCode);
  const uint64_t ms = csr(csr::kMstatus);
  EXPECT_TRUE(ms & mst::kMpv);
  EXPECT_TRUE(ms & mst::kGva);
  EXPECT_EQ((ms & mst::kMpp) >> mst::kMppShift, 1u);
  EXPECT_FALSE(hart.virtualization());
  EXPECT_EQ(guest_access(sd(a0, a1, 0), 0x40003000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kStoreGuestPageFault);
}

TEST_F(HTranslationTest, GStageLeavesWithoutUOrPermissionFault) {
  use_g_stage();
  gmap(0x40004000, kTarget, V | R | W); // no U: G-stage accesses are all user-level
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x40004000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  gmap(0x40005000, kTarget, V | R | U); // read-only
  EXPECT_EQ(guest_access(sd(a0, a1, 0), 0x40005000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kStoreGuestPageFault);
  EXPECT_EQ(csr(csr::kMtval2), 0x40005000u >> 2);
}

TEST_F(HTranslationTest, GStageFetchFaultIsCause20) {
  use_g_stage();
  hart.set_x(a1, 0x40006000);
  EXPECT_EQ(run_guest({jalr(ra, a1, 0)}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kInstructionGuestPageFault);
  EXPECT_EQ(mtval(), 0x40006000u);
  EXPECT_EQ(mepc(), 0x40006000u);
  EXPECT_EQ(csr(csr::kMtval2), 0x40006000u >> 2);
}

TEST_F(HTranslationTest, GuestPhysicalAddressBeyondSv39x4WidthFaults) {
  use_g_stage();
  const uint64_t gpa = 1ull << 41; // Sv39x4 covers 41 bits
  EXPECT_EQ(guest_access(ld(a0, a1, 0), gpa), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  EXPECT_EQ(csr(csr::kMtval2), gpa >> 2);
  // Just below the limit uses the top of the 16 KiB root (index 2047).
  const uint64_t top = (1ull << 41) - 0x1000;
  gmap(top, kTarget, V | R | U);
  put64(kTarget, 0x77);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), top), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x77u);
}

TEST_F(HTranslationTest, Sv48x4GStage) {
  use_g_stage(9, 4);
  const uint64_t gpa = (1ull << 49) + 0x5000; // needs the x4 root of Sv48x4 (50-bit GPAs)
  gmap(gpa, kTarget, V | R | U | A);
  put64(kTarget + 0x10, 0xabc);
  EXPECT_EQ(guest_access(ld(a0, a1, 0x10), gpa), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xabcu);
}

TEST_F(HTranslationTest, GStageMegapage) {
  use_g_stage();
  gmap(0x40200000, kRamBase + 0x600000, V | R | U | A, 1);
  put64(kRamBase + 0x600000 + 0x1238, 5);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x40201238), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 5u);
}

TEST_F(HTranslationTest, VsStageAloneUsesVsatpWithHgatpBare) {
  use_vs_stage();
  const uint64_t slot = vsmap(0x10000000, kTarget, V | R | W);
  put64(kTarget, 0x4242);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x4242u);
  EXPECT_EQ(get64(slot) & (A | D), A);
  // HS-mode's satp is not involved: it stays Bare and V=0 sees no translation.
  EXPECT_EQ(csr(csr::kSatp), 0u);
}

TEST_F(HTranslationTest, VsStagePageFaultIsARegularPageFaultWithGva) {
  use_vs_stage();
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10001000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  EXPECT_EQ(mtval(), 0x10001000u);
  EXPECT_EQ(csr(csr::kMtval2), 0u);
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kGva);
}

TEST_F(HTranslationTest, BothStagesAndImplicitPageTableAccessesGoThroughGStage) {
  use_g_stage();
  use_vs_stage();
  // GVA 0x10000000 -> GPA 0x40010000 -> PA kTarget.
  const uint64_t vs_slot = vsmap(0x10000000, 0x40010000, V | R | W);
  const uint64_t g_slot = gmap(0x40010000, kTarget, V | R | W | U);
  put64(kTarget + 0x20, 0x5151);
  EXPECT_EQ(guest_access(ld(a0, a1, 0x20), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x5151u);
  hart.set_x(a2, 0x6262);
  EXPECT_EQ(guest_access(sd(a2, a1, 0x28), 0x10000000), Parked::Machine);
  EXPECT_EQ(get64(kTarget + 0x28), 0x6262u);
  EXPECT_EQ(get64(vs_slot) & (A | D), A | D);
  EXPECT_EQ(get64(g_slot) & (A | D), A | D);
  // The final GPA unmapped in the G-stage: a guest-page fault for that GPA.
  vsmap(0x10001000, 0x40011000, V | R | W);
  EXPECT_EQ(guest_access(ld(a0, a1, 8), 0x10001000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  EXPECT_EQ(mtval(), 0x10001008u);
  EXPECT_EQ(csr(csr::kMtval2), 0x40011008u >> 2);
  EXPECT_EQ(csr(csr::kMtinst), 0u);
}

TEST_F(HTranslationTest, GStageFaultOnVsPageTableReadReportsPseudoinstruction) {
  use_g_stage();
  use_vs_stage();
  // A VS leaf table page whose GPA the G-stage does not map.
  const uint64_t unmapped_table_gpa = 0x40020000;
  put64(kVsRoot + 8 * 3, ((unmapped_table_gpa >> 12) << 10) | V); // GVA 3 GiB -> table at that GPA
  EXPECT_EQ(guest_access(sd(a0, a1, 0), 0xc0000000), Parked::Machine);
  // Reported for the original access type (a store), with the PTE's GPA and the read pseudoinstruction.
  EXPECT_EQ(csr(csr::kMcause), kStoreGuestPageFault);
  EXPECT_EQ(mtval(), 0xc0000000u);
  EXPECT_EQ(csr(csr::kMtval2), unmapped_table_gpa >> 2);
  EXPECT_EQ(csr(csr::kMtinst), 0x3000u);
}

TEST_F(HTranslationTest, VsAccessedBitUpdateNeedsGStageWrite) {
  use_g_stage();
  use_vs_stage();
  // A VS table page mapped read-only in the G-stage: reading it works, setting A in it does not.
  const uint64_t table_gpa = 0x40030000, table_pa = kVsTablesEnd; // outside the identity-mapped tables
  gmap(table_gpa, table_pa, V | R | U | A);
  put64(kVsRoot + 8 * 3, ((table_gpa >> 12) << 10) | V);               // GVA 3 GiB: L1 at table_gpa
  put64(table_pa, (((table_gpa + 0x1000) >> 12) << 10) | V);          // L0 at table_gpa + 4 KiB
  gmap(table_gpa + 0x1000, table_pa + 0x1000, V | R | U | A);
  put64(table_pa + 0x1000, ((0x40038000ull >> 12) << 10) | V | R);     // leaf without A
  gmap(0x40038000, kTarget, V | R | U | A);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0xc0000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  EXPECT_EQ(csr(csr::kMtval2), (table_gpa + 0x1000) >> 2);
  EXPECT_EQ(csr(csr::kMtinst), 0x3020u); // the write pseudoinstruction
  // With A already set no write is needed.
  put64(table_pa + 0x1000, ((0x40038000ull >> 12) << 10) | V | R | A);
  put64(kTarget, 0x31);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0xc0000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x31u);
}

TEST_F(HTranslationTest, SumComesFromVsstatusNotMstatus) {
  use_vs_stage();
  vsmap(0x10000000, kTarget, V | R | W | U | A | D);
  hart.set_csr(csr::kMstatus, mst::kSum);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  hart.set_csr(csr::kMstatus, 0);
  hart.set_csr(csr::kVsstatus, mst::kSum);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  // VU-mode may use U pages; not the others.
  vsmap(0x10001000, kTarget, V | R | W | A | D);
  vsmap(kCode, kCode, V | R | X | U | A);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10001000, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
}

TEST_F(HTranslationTest, MxrOfVsstatusCoversVsStageAndMxrOfMstatusBothStages) {
  use_g_stage();
  use_vs_stage();
  vsmap(0x10000000, 0x40040000, V | X | A);  // execute-only in the VS-stage
  gmap(0x40040000, kTarget, V | R | U | A);
  vsmap(0x10001000, 0x40041000, V | R | A);
  gmap(0x40041000, kTarget, V | X | U | A);  // execute-only in the G-stage
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  hart.set_csr(csr::kVsstatus, mst::kMxr);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10001000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault); // vsstatus.MXR does not reach the G-stage
  hart.set_csr(csr::kVsstatus, 0);
  hart.set_csr(csr::kMstatus, mst::kMxr);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10001000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
}

TEST_F(HTranslationTest, HostAndGuestTranslationsStayApartInTheSoftTlb) {
  // The same virtual page means different memory in HS (satp) and in VS (vsatp, hgatp).
  use_g_stage();
  use_vs_stage();
  vsmap(0x10000000, 0x40050000, V | R | W | A | D);
  gmap(0x40050000, kTarget, V | R | W | U | A | D);
  put64(kTarget, 111);
  put64(kTarget + 0x1000, 222);
  // HS satp: Sv39 with a gigapage identity map of RAM plus VA 0x10000000 -> kTarget + 4 KiB.
  const uint64_t host_root = kRamBase + 0x580000, host_l1 = host_root + 0x1000, host_l0 = host_root + 0x2000;
  put64(host_root + 8 * 2, ((kRamBase >> 12) << 10) | V | R | W | X | A | D); // 2 GiB gigapage
  put64(host_root + 0, ((host_l1 >> 12) << 10) | V);
  put64(host_l1 + 8 * 0x80, ((host_l0 >> 12) << 10) | V); // VA 0x10000000: L1 index 128
  put64(host_l0, (((kTarget + 0x1000) >> 12) << 10) | V | R | W | A | D);
  hart.set_csr(csr::kSatp, (8ull << 60) | (host_root >> 12));
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
    EXPECT_EQ(hart.x(a0), 111u);
    hart.set_x(a1, 0x10000000);
    EXPECT_EQ(run_host({ld(a0, a1, 0), ebreak()}), Parked::Machine);
    EXPECT_EQ(hart.x(a0), 222u);
  }
  // A new hgatp (another VM) drops the guest translations.
  gmap(0x40050000, kTarget + 0x2000, V | R | W | U | A | D);
  put64(kTarget + 0x2000, 333);
  hart.set_csr(csr::kHgatp, csr(csr::kHgatp) | (1ull << 44)); // VMID 1
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x10000000), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 333u);
}

TEST_F(HTranslationTest, MprvWithMpvTranslatesMachineModeAccessesAsTheGuest) {
  use_g_stage();
  gmap(0x40060000, kTarget, V | R | W | U | A | D);
  put64(kTarget, 0x606);
  hart.set_csr(csr::kMstatus, mst::kMprv | mst::kMpv | (1ull << mst::kMppShift));
  hart.set_x(a1, 0x40060000);
  EXPECT_EQ(run_host({ld(a0, a1, 0), ebreak()}, 3), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x606u);
  hart.set_csr(csr::kMstatus, mst::kMprv | mst::kMpv | (1ull << mst::kMppShift));
  hart.set_x(a1, 0x40070000);
  EXPECT_EQ(run_host({ld(a0, a1, 0), ebreak()}, 3), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  EXPECT_EQ(csr(csr::kMtval2), 0x40070000u >> 2);
}

TEST_F(HTranslationTest, Sv57x4GStageAndSv48VsStage) {
  use_g_stage(10, 5); // Sv57x4: 59-bit guest physical addresses
  use_vs_stage(9, 4); // Sv48 in the guest
  const uint64_t gpa = (1ull << 55) + 0x7000; // beyond Sv48x4 (50 bits); PTEs hold 56-bit addresses
  vsmap(0x7f0000000000ull, gpa, V | R | W | A | D);
  gmap(gpa, kTarget, V | R | W | U | A | D);
  put64(kTarget + 0x30, 0x5757);
  EXPECT_EQ(guest_access(ld(a0, a1, 0x30), 0x7f0000000000ull), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x5757u);
  // Sv48 guest addresses must be sign-extended from bit 47.
  EXPECT_EQ(guest_access(ld(a0, a1, 0), 0x0000800000000000ull), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
}

TEST_F(HTranslationTest, GuestInstructionCrossingAPageBoundaryFetchesBothHalves) {
  use_g_stage();
  use_vs_stage();
  // GVA 0x10000000..0x10001fff: two guest pages backed by non-adjacent machine pages.
  vsmap(0x10000000, 0x40090000, V | R | X | A);
  vsmap(0x10001000, 0x40091000, V | R | X | A);
  gmap(0x40090000, kTarget + 0x3000, V | R | X | U | A);
  gmap(0x40091000, kTarget + 0x1000, V | R | X | U | A);
  const uint32_t insn = addi(a0, zero, 0x123);
  put16(kTarget + 0x3ffe, static_cast<uint16_t>(insn));
  put16(kTarget + 0x1000, static_cast<uint16_t>(insn >> 16));
  put32(kTarget + 0x1002, ebreak());
  hart.set_x(a1, 0x10000ffe);
  EXPECT_EQ(run_guest({jalr(zero, a1, 0)}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x123u);
  // Unmapping the second guest page in the G-stage: an instruction guest-page fault at the
  // page boundary (the upper half's address).
  gmap(0x40091000, kTarget + 0x1000, 0);
  hart.set_csr(csr::kHgatp, csr(csr::kHgatp));
  hart.set_x(a1, 0x10000ffe);
  EXPECT_EQ(run_guest({jalr(zero, a1, 0)}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kInstructionGuestPageFault);
  EXPECT_EQ(mtval(), 0x10001000u);
  EXPECT_EQ(csr(csr::kMtval2), 0x40091000u >> 2);
}

} // namespace
} // namespace nimbus::test
