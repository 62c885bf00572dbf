// H extension CSRs: WARL masks, aliases (hip/hvip/mip, vsip/vsie through hideleg), the S -> VS
// substitution when V=1, and the virtual-instruction exceptions of CSR accesses.
#include "h_extension_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;

using HCsrTest = HExtensionTest;

TEST_F(HCsrTest, MisaReportsH) { EXPECT_TRUE(csr(csr::kMisa) & (1u << 7)); }

TEST_F(HCsrTest, HstatusWarl) {
  EXPECT_EQ(csr(csr::kHstatus), 2ull << 32); // VSXL = 64 at reset
  hart.set_csr(csr::kHstatus, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHstatus), (2ull << 32) | csr::hstatus::kWritable);
  EXPECT_EQ(csr(csr::kHstatus) & (0x3full << 12), 0u); // VGEIN: GEILEN = 0
  EXPECT_EQ(csr(csr::kHstatus) & (1u << 5), 0u);       // VSBE: little-endian only
}

TEST_F(HCsrTest, DelegationAndInterruptRegisterMasks) {
  hart.set_csr(csr::kHedeleg, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHedeleg), 0xb1ffu); // not 9-11 (ecalls from HS/VS/M) nor 20-23
  hart.set_csr(csr::kHideleg, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHideleg), 0x444u);
  hart.set_csr(csr::kHvip, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHvip), 0x444u);
  hart.set_csr(csr::kHie, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHie), 0x444u); // SGEIE read-only zero (GEILEN = 0)
  hart.set_csr(csr::kHgeie, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHgeie), 0u);
  EXPECT_EQ(csr(csr::kHgeip), 0u);
  EXPECT_EQ(csr(csr::kHip) & csr::irq::kSgeip, 0u); // SGEIP reads 0
  hart.set_csr(csr::kHcounteren, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHcounteren), 0xffffffffu);
}

TEST_F(HCsrTest, HvipHipAndMipAreOneSetOfBits) {
  hart.set_csr(csr::kHvip, csr::irq::kVstip);
  EXPECT_EQ(csr(csr::kHip), csr::irq::kVstip);
  EXPECT_EQ(csr(csr::kMip) & csr::irq::kVsBits, csr::irq::kVstip);
  hart.set_csr(csr::kHip, ~uint64_t{0}); // only VSSIP is writable through hip
  EXPECT_EQ(csr(csr::kHvip), csr::irq::kVstip | csr::irq::kVssip);
  hart.set_csr(csr::kMip, 0); // mip.VSSIP is the same bit; mip.VSTIP is not writable
  EXPECT_EQ(csr(csr::kHvip), csr::irq::kVstip);
  hart.set_csr(csr::kHie, csr::irq::kVseip);
  EXPECT_EQ(csr(csr::kMie) & csr::irq::kVsBits, csr::irq::kVseip);
}

TEST_F(HCsrTest, VsipAndVsieShowOnlyDelegatedBitsAtSupervisorPositions) {
  hart.set_csr(csr::kHvip, csr::irq::kVsBits);
  hart.set_csr(csr::kHie, csr::irq::kVsBits);
  EXPECT_EQ(csr(csr::kVsip), 0u);
  EXPECT_EQ(csr(csr::kVsie), 0u);
  hart.set_csr(csr::kHideleg, csr::irq::kVstip | csr::irq::kVssip);
  EXPECT_EQ(csr(csr::kVsip), csr::irq::kStip | csr::irq::kSsip);
  EXPECT_EQ(csr(csr::kVsie), csr::irq::kStip | csr::irq::kSsip);
  hart.set_csr(csr::kVsip, 0); // clears hvip.VSSIP; VSTIP is not writable through vsip
  EXPECT_EQ(csr(csr::kHvip), csr::irq::kVstip | csr::irq::kVseip);
  hart.set_csr(csr::kVsie, 0); // clears only the delegated enables
  EXPECT_EQ(csr(csr::kHie), csr::irq::kVseip);
}

TEST_F(HCsrTest, TranslationRegistersLegalizeTheirMode) {
  hart.set_csr(csr::kHgatp, (8ull << 60) | (0x3ull << 44) | 0x80403);
  EXPECT_EQ(csr(csr::kHgatp), (8ull << 60) | (0x3ull << 44) | 0x80400); // root is 16 KiB aligned
  // A reserved mode does not cancel the write (unlike satp): MODE legalizes to Bare.
  hart.set_csr(csr::kHgatp, (5ull << 60) | 0x1234);
  EXPECT_EQ(csr(csr::kHgatp), 0x1234u);
  hart.set_csr(csr::kHgatp, (10ull << 60) | 0x80400); // Sv57x4
  EXPECT_EQ(csr(csr::kHgatp) >> 60, 10u);
  hart.set_csr(csr::kVsatp, (9ull << 60) | (7ull << 44) | 0x80500);
  EXPECT_EQ(csr(csr::kVsatp), (9ull << 60) | (7ull << 44) | 0x80500);
  hart.set_csr(csr::kVsatp, 1ull << 60); // Sv32 is not an RV64 mode
  EXPECT_EQ(csr(csr::kVsatp) >> 60, 9u);
}

TEST_F(HCsrTest, VsRegistersKeepTheirValuesAndAlignment) {
  hart.set_csr(csr::kVstvec, kRamBase | 1);
  EXPECT_EQ(csr(csr::kVstvec), kRamBase | 1);
  hart.set_csr(csr::kVstvec, kRamBase | 2); // reserved mode: ignored
  EXPECT_EQ(csr(csr::kVstvec), kRamBase | 1);
  hart.set_csr(csr::kVsepc, 0x1235);
  EXPECT_EQ(csr(csr::kVsepc), 0x1234u);
  for (const uint16_t n : {csr::kVsscratch, csr::kVscause, csr::kVstval, csr::kHtval, csr::kHtinst, csr::kMtval2,
                           csr::kMtinst, csr::kHtimedelta, csr::kVstimecmp}) {
    hart.set_csr(n, 0x1122334455667788);
    EXPECT_EQ(csr(n), 0x1122334455667788u) << std::hex << n;
  }
}

TEST_F(HCsrTest, VsstatusWarlAndSd) {
  hart.set_csr(csr::kVsstatus, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kVsstatus), mst::kSstatusWritable | (2ull << 32) | mst::kSd);
  hart.set_csr(csr::kVsstatus, 0);
  EXPECT_EQ(csr(csr::kVsstatus), 2ull << 32); // UXL = 64
}

TEST_F(HCsrTest, MstatusMpvAndGvaAreWritable) {
  hart.set_csr(csr::kMstatus, mst::kMpv | mst::kGva);
  EXPECT_EQ(csr(csr::kMstatus) & (mst::kMpv | mst::kGva), mst::kMpv | mst::kGva);
}

TEST_F(HCsrTest, HenvcfgStceNeedsMenvcfgStce) {
  hart.set_csr(csr::kHenvcfg, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHenvcfg), csr::menvcfg::kFiom);
  hart.set_csr(csr::kMenvcfg, csr::menvcfg::kStce);
  hart.set_csr(csr::kHenvcfg, ~uint64_t{0});
  EXPECT_EQ(csr(csr::kHenvcfg), csr::menvcfg::kFiom | csr::menvcfg::kStce);
}

TEST_F(HCsrTest, VsModeSeesVsRegistersThroughSupervisorNumbers) {
  hart.set_csr(csr::kSscratch, 0x11);
  hart.set_csr(csr::kVsscratch, 0x22);
  hart.set_x(a1, 0x33);
  EXPECT_EQ(run_guest({csrrw(a0, csr::kSscratch, a1), csrrs(a2, csr::kSstatus, zero), csrrw(zero, csr::kStval, a1),
                       csrrs(a3, csr::kSepc, zero), ebreak()}),
            Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x22u);
  EXPECT_EQ(csr(csr::kVsscratch), 0x33u);
  EXPECT_EQ(csr(csr::kSscratch), 0x11u); // HS's copy untouched
  EXPECT_EQ(hart.x(a2), csr(csr::kVsstatus));
  EXPECT_EQ(csr(csr::kVstval), 0x33u);
  EXPECT_EQ(csr(csr::kStval), 0u);
}

TEST_F(HCsrTest, VsSatpWritesVsatpAndVtvmTraps) {
  use_vs_stage(); // the guest's code stays mapped when its satp write turns translation on
  hart.set_csr(csr::kVsatp, 0);
  hart.set_x(a1, (8ull << 60) | (kVsRoot >> 12));
  EXPECT_EQ(run_guest({csrrw(zero, csr::kSatp, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(csr(csr::kVsatp), hart.x(a1));
  EXPECT_EQ(csr(csr::kSatp), 0u);
  hart.set_csr(csr::kHstatus, csr::hstatus::kVtvm);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kSatp, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction);
  EXPECT_EQ(mtval(), csrrs(a0, csr::kSatp, zero)); // tval as for an illegal instruction
  // mstatus.TVM does not apply in VS-mode.
  hart.set_csr(csr::kHstatus, 0);
  hart.set_csr(csr::kMstatus, mst::kTvm);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kSatp, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
}

TEST_F(HCsrTest, HypervisorAndVsCsrsFromVsModeAreVirtualInstructions) {
  for (const uint16_t n : {csr::kHstatus, csr::kHgatp, csr::kHvip, csr::kVsstatus, csr::kVsatp}) {
    EXPECT_EQ(run_guest({csrrs(a0, n, zero), ebreak()}), Parked::Machine);
    EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction) << std::hex << n;
  }
  // Writing a read-only hypervisor CSR would be illegal in HS-mode too: illegal instruction.
  hart.set_x(a1, 1);
  EXPECT_EQ(run_guest({csrrw(zero, csr::kHgeip, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  // M-level CSRs are illegal from V=1.
  EXPECT_EQ(run_guest({csrrs(a0, csr::kMstatus, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  // A CSR that does not exist is illegal, not virtual.
  EXPECT_EQ(run_guest({csrrs(a0, 0x6ff, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
}

TEST_F(HCsrTest, SupervisorCsrsFromVuModeAreVirtualInstructions) {
  EXPECT_EQ(run_guest({csrrs(a0, csr::kSstatus, zero), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kHstatus, zero), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction);
  // U-mode (V=0) gets illegal instruction for the same access.
  EXPECT_EQ(run_host({csrrs(a0, csr::kSstatus, zero), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
}

TEST_F(HCsrTest, HsModeReachesHypervisorCsrsButNotWithTvmForHgatp) {
  hart.set_csr(csr::kHstatus, csr::hstatus::kHu);
  EXPECT_EQ(run_host({csrrs(a0, csr::kHstatus, zero), csrrs(a1, csr::kVsscratch, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), csr(csr::kHstatus));
  hart.set_csr(csr::kMstatus, mst::kTvm);
  EXPECT_EQ(run_host({csrrs(a0, csr::kHgatp, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  EXPECT_EQ(run_host({csrrs(a0, csr::kHstatus, zero), ebreak()}, 0), Parked::Machine); // U-mode
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
}

TEST_F(HCsrTest, CountersThroughHcounteren) {
  hart.set_csr(csr::kMcounteren, 7);
  hart.set_csr(csr::kScounteren, 7);
  hart.set_csr(csr::kHcounteren, 0);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kCycle, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction);
  hart.set_csr(csr::kHcounteren, 7);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kInstret, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  hart.set_csr(csr::kScounteren, 0); // VU also needs scounteren
  EXPECT_EQ(run_guest({csrrs(a0, csr::kCycle, zero), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction);
  hart.set_csr(csr::kMcounteren, 0); // mcounteren first: illegal
  EXPECT_EQ(run_guest({csrrs(a0, csr::kCycle, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
}

TEST_F(HCsrTest, GuestTimeAddsHtimedelta) {
  hart.set_csr(csr::kMcounteren, 7);
  hart.set_csr(csr::kHcounteren, 7);
  hart.set_csr(csr::kHtimedelta, 1ull << 40);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kTime, zero), ebreak()}), Parked::Machine);
  EXPECT_GE(hart.x(a0), 1ull << 40);
  EXPECT_LT(csr(csr::kTime), 1ull << 40); // with V=0 again (M-mode): no delta
}

TEST_F(HCsrTest, VstimecmpFromVsNeedsHenvcfgStceAndHcounterenTm) {
  hart.set_csr(csr::kMcounteren, 7);
  hart.set_csr(csr::kMenvcfg, csr::menvcfg::kStce);
  hart.set_csr(csr::kHcounteren, 7);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kStimecmp, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction); // henvcfg.STCE = 0
  hart.set_csr(csr::kHenvcfg, csr::menvcfg::kStce);
  hart.set_csr(csr::kVstimecmp, 1234);
  hart.set_x(a1, 999);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kStimecmp, zero), csrrw(zero, csr::kStimecmp, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 1234u);
  EXPECT_EQ(csr(csr::kVstimecmp), 999u);
  EXPECT_EQ(csr(csr::kStimecmp), ~uint64_t{0});
}

TEST_F(HCsrTest, FpNeedsVsstatusFsWhenVirtual) {
  hart.set_csr(csr::kMstatus, 1ull << mst::kFsShift);
  hart.set_csr(csr::kVsstatus, 0);
  EXPECT_EQ(run_guest({csrrs(a0, csr::kFcsr, zero), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  hart.set_csr(csr::kVsstatus, 1ull << mst::kFsShift);
  hart.set_x(a1, 1);
  EXPECT_EQ(run_guest({csrrw(zero, csr::kFflags, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(csr(csr::kVsstatus) & mst::kFs, mst::kFs); // both become dirty
  EXPECT_EQ(csr(csr::kMstatus) & mst::kFs, mst::kFs);
}

TEST_F(HCsrTest, DebugAccessReachesEveryHypervisorCsr) {
  for (const uint16_t n : {csr::kHstatus, csr::kHedeleg, csr::kHideleg, csr::kHie, csr::kHtimedelta,
                           csr::kHcounteren, csr::kHgeie, csr::kHenvcfg, csr::kHtval, csr::kHip, csr::kHvip,
                           csr::kHtinst, csr::kHgatp, csr::kHgeip, csr::kVsstatus, csr::kVsie, csr::kVstvec,
                           csr::kVsscratch, csr::kVsepc, csr::kVscause, csr::kVstval, csr::kVsip, csr::kVstimecmp,
                           csr::kVsatp, csr::kMtinst, csr::kMtval2}) {
    hart.set_csr(n, 0);
    (void)csr(n); // no crash; value checked in the WARL tests
  }
  hart.set_csr(csr::kHtval, 0x55);
  EXPECT_EQ(csr(csr::kHtval), 0x55u);
}

} // namespace
} // namespace nimbus::test
