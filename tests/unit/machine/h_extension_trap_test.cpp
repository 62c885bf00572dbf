// H extension traps: delegation medeleg -> hedeleg (to VS) and mideleg -> hideleg, the state each
// level's trap entry saves (SPV/SPVP/GVA, MPV, vsstatus), SRET/MRET with V, and VS-level
// interrupts (hvip, vstimecmp) with their enables and priorities.
#include "h_extension_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
using namespace pte;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;
namespace hst = riscv::csr::hstatus;
namespace irq = riscv::csr::irq;

constexpr uint64_t kInterrupt = 1ull << 63;

using HTrapTest = HExtensionTest;

TEST_F(HTrapTest, EcallFromVsDelegatedToHs) {
  hart.set_csr(csr::kMedeleg, 1u << 10);
  EXPECT_EQ(run_guest({addi(a0, zero, 1), ecall()}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), 10u);
  EXPECT_EQ(csr(csr::kSepc), kCode + 4);
  const uint64_t h = csr(csr::kHstatus);
  EXPECT_TRUE(h & hst::kSpv);
  EXPECT_TRUE(h & hst::kSpvp);
  EXPECT_FALSE(h & hst::kGva);
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kSpp);
  EXPECT_FALSE(hart.virtualization());
  EXPECT_EQ(hart.privilege(), 1u);
}

TEST_F(HTrapTest, ExceptionFromVuDelegatedToVs) {
  hart.set_csr(csr::kMedeleg, 1u << 8);
  hart.set_csr(csr::kHedeleg, 1u << 8);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  EXPECT_EQ(run_guest({ecall()}, 0), Parked::Guest);
  EXPECT_EQ(csr(csr::kVscause), 8u);
  EXPECT_EQ(csr(csr::kVsepc), kCode);
  EXPECT_EQ(csr(csr::kScause), 0u); // HS untouched
  const uint64_t vs = csr(csr::kVsstatus);
  EXPECT_FALSE(vs & mst::kSpp);
  EXPECT_TRUE(vs & mst::kSpie);
  EXPECT_FALSE(vs & mst::kSie);
  EXPECT_TRUE(hart.virtualization());
  EXPECT_EQ(hart.privilege(), 1u);
}

TEST_F(HTrapTest, HedelegAloneDoesNotDelegate) {
  hart.set_csr(csr::kHedeleg, 1u << 8); // medeleg clear: M takes it
  EXPECT_EQ(run_guest({ecall()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 8u);
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kMpv);
}

TEST_F(HTrapTest, SretFromHsEntersTheGuestAndSretFromVsReturnsWithinIt) {
  hart.set_csr(csr::kHstatus, hst::kSpv);
  hart.set_csr(csr::kMstatus, mst::kSpp | mst::kSpie);
  hart.set_csr(csr::kSepc, kCode + 0x100);
  put32(kCode + 0x100, ebreak());
  EXPECT_EQ(run_host({sret()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kMpv); // the ebreak ran at V=1
  EXPECT_EQ((csr(csr::kMstatus) & mst::kMpp) >> mst::kMppShift, 1u);
  EXPECT_FALSE(csr(csr::kHstatus) & hst::kSpv); // SRET clears SPV
  // In VS-mode SRET uses vsstatus/vsepc and stays at V=1 (here: into VU).
  hart.set_csr(csr::kVsepc, kCode + 0x200);
  hart.set_csr(csr::kVsstatus, mst::kSpie);
  put32(kCode + 0x200, ecall());
  EXPECT_EQ(run_guest({sret()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 8u); // ecall from VU
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kMpv);
  EXPECT_TRUE(csr(csr::kVsstatus) & mst::kSie);
}

TEST_F(HTrapTest, MretWithMpvEntersTheGuest) {
  hart.set_csr(csr::kMstatus, mst::kMpv | (1ull << mst::kMppShift));
  hart.set_csr(csr::kMepc, kCode + 0x100);
  put32(kCode + 0x100, ecall());
  EXPECT_EQ(run_host({mret()}, 3), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 10u); // ecall from VS
  // MPV was cleared by MRET, then set again by the trap from V=1.
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kMpv);
  // MRET to M with MPV set stays at V=0.
  hart.set_csr(csr::kMstatus, mst::kMpv | (3ull << mst::kMppShift));
  EXPECT_EQ(run_host({mret()}, 3), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 11u); // the ecall ran in M-mode
  EXPECT_FALSE(csr(csr::kMstatus) & mst::kMpv);
  EXPECT_FALSE(hart.virtualization());
}

TEST_F(HTrapTest, VsInterruptDeliveredToVsAsSupervisorCode) {
  hart.set_csr(csr::kHideleg, irq::kVstip);
  hart.set_csr(csr::kHie, irq::kVstip);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  hart.set_csr(csr::kHvip, irq::kVstip);
  EXPECT_EQ(run_guest({addi(a0, zero, 1), jal(zero, 0)}), Parked::Guest);
  EXPECT_EQ(csr(csr::kVscause), kInterrupt | 5); // VSTI arrives as STI
  EXPECT_EQ(csr(csr::kVsip), irq::kStip);
}

TEST_F(HTrapTest, VsInterruptVectoredUsesTheSupervisorCode) {
  hart.set_csr(csr::kHideleg, irq::kVssip);
  hart.set_csr(csr::kHie, irq::kVssip);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  hart.set_csr(csr::kVstvec, (kGuestTrap - 4) | 1); // vector for code 1 lands on kGuestTrap
  hart.set_csr(csr::kHvip, irq::kVssip);
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Guest);
  EXPECT_EQ(csr(csr::kVscause), kInterrupt | 1);
}

TEST_F(HTrapTest, VsInterruptWaitsForVsstatusSieButNotInVu) {
  hart.set_csr(csr::kHideleg, irq::kVseip);
  hart.set_csr(csr::kHie, irq::kVseip);
  hart.set_csr(csr::kHvip, irq::kVseip);
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Nowhere); // SIE = 0 in VS
  EXPECT_EQ(run_guest({jal(zero, 0)}, 0), Parked::Guest); // always enabled in VU
  EXPECT_EQ(csr(csr::kVscause), kInterrupt | 9);
}

TEST_F(HTrapTest, VsInterruptsAreNotTakenAtV0) {
  hart.set_csr(csr::kHideleg, irq::kVstip);
  hart.set_csr(csr::kHie, irq::kVstip);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  hart.set_csr(csr::kMstatus, mst::kSie);
  hart.set_csr(csr::kHvip, irq::kVstip);
  EXPECT_EQ(run_host({jal(zero, 0)}), Parked::Nowhere);
  EXPECT_EQ(run_host({jal(zero, 0)}, 0), Parked::Nowhere);
}

TEST_F(HTrapTest, UndelegatedVsInterruptGoesToHsWithItsOwnCode) {
  hart.set_csr(csr::kHie, irq::kVstip);
  hart.set_csr(csr::kHvip, irq::kVstip); // hideleg clear: HS handles it (mideleg bit is one)
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), kInterrupt | 6);
  EXPECT_TRUE(csr(csr::kHstatus) & hst::kSpv);
  // In HS-mode it needs sstatus.SIE like any S-level interrupt.
  EXPECT_EQ(run_host({jal(zero, 0)}), Parked::Nowhere);
  hart.set_csr(csr::kMstatus, mst::kSie);
  EXPECT_EQ(run_host({jal(zero, 0)}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), kInterrupt | 6);
}

TEST_F(HTrapTest, VsInterruptPriorityIsExternalSoftwareTimer) {
  hart.set_csr(csr::kHideleg, irq::kVsBits);
  hart.set_csr(csr::kHie, irq::kVsBits);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  hart.set_csr(csr::kHvip, irq::kVsBits);
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Guest);
  EXPECT_EQ(csr(csr::kVscause), kInterrupt | 9);
  hart.set_csr(csr::kHvip, irq::kVssip | irq::kVstip);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Guest);
  EXPECT_EQ(csr(csr::kVscause), kInterrupt | 1);
}

TEST_F(HTrapTest, HsInterruptsPreemptTheGuest) {
  // An S-level interrupt for HS is taken in V=1 whatever sstatus.SIE says.
  hart.set_csr(csr::kMideleg, irq::kSsip);
  hart.set_csr(csr::kMie, irq::kSsip);
  hart.set_csr(csr::kMip, irq::kSsip);
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), kInterrupt | 1);
}

TEST_F(HTrapTest, VstimecmpRaisesVstipAgainstGuestTime) {
  hart.set_csr(csr::kMenvcfg, csr::menvcfg::kStce);
  hart.set_csr(csr::kHenvcfg, csr::menvcfg::kStce);
  hart.set_csr(csr::kHideleg, irq::kVstip);
  hart.set_csr(csr::kHie, irq::kVstip);
  hart.set_csr(csr::kVsstatus, mst::kSie);
  hart.set_csr(csr::kHtimedelta, 1000000);
  hart.set_csr(csr::kVstimecmp, 1000000); // already due in guest time
  EXPECT_TRUE(csr(csr::kHip) & irq::kVstip);
  EXPECT_EQ(run_guest({jal(zero, 0)}), Parked::Guest);
  EXPECT_EQ(csr(csr::kVscause), kInterrupt | 5);
  hart.set_csr(csr::kVstimecmp, ~uint64_t{0});
  EXPECT_FALSE(csr(csr::kHip) & irq::kVstip);
  hart.set_csr(csr::kHenvcfg, 0); // without henvcfg.STCE the comparator does nothing
  hart.set_csr(csr::kVstimecmp, 0);
  EXPECT_FALSE(csr(csr::kHip) & irq::kVstip);
}

TEST_F(HTrapTest, GuestPageFaultDelegatedToHsSetsHtvalAndGva) {
  use_g_stage();
  hart.set_csr(csr::kMedeleg, 1u << kStoreGuestPageFault);
  hart.set_csr(csr::kHedeleg, ~uint64_t{0}); // cannot delegate guest-page faults to VS
  hart.set_x(a1, 0x40000000);
  EXPECT_EQ(run_guest({sd(a0, a1, 8)}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), kStoreGuestPageFault);
  EXPECT_EQ(csr(csr::kStval), 0x40000008u);
  EXPECT_EQ(csr(csr::kHtval), 0x40000008u >> 2);
  EXPECT_EQ(csr(csr::kHtinst), 0u);
  const uint64_t h = csr(csr::kHstatus);
  EXPECT_TRUE(h & hst::kGva);
  EXPECT_TRUE(h & hst::kSpv);
}

TEST_F(HTrapTest, VirtualInstructionDelegatesToHs) {
  hart.set_csr(csr::kMedeleg, 1u << kVirtualInstruction);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kHstatus, zero)}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), kVirtualInstruction);
  EXPECT_EQ(csr(csr::kStval), csrrs(a0, csr::kHstatus, zero));
  EXPECT_FALSE(csr(csr::kHstatus) & hst::kGva);
}

} // namespace
} // namespace nimbus::test
