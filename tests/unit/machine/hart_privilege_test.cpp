// CSRs (WARL fields, access rules), traps, delegation, xRET, interrupts and WFI.
#include "hart_test_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;

class HartPrivilegeTest : public HartTest {
protected:
  void enter(unsigned privilege) { hart.set_privilege(privilege); }
};

TEST_F(HartPrivilegeTest, ResetState) {
  EXPECT_EQ(hart.privilege(), 3u);
  EXPECT_EQ(hart.csr(csr::kMisa), csr::kMisaValue);
  EXPECT_EQ(hart.csr(csr::kMhartid), 0u);
  EXPECT_EQ((hart.csr(csr::kMstatus) >> 32) & 0xf, 0xau); // UXL = SXL = 64
}

TEST_F(HartPrivilegeTest, MhartidIsTheConstructorId) {
  machine::Hart other{5, bus, clock, reservations};
  EXPECT_EQ(other.csr(csr::kMhartid), 5u);
  EXPECT_EQ(other.id(), 5u);
}

TEST_F(HartPrivilegeTest, MstatusWarlFields) {
  hart.set_csr(csr::kMstatus, ~uint64_t{0});
  const uint64_t value = hart.csr(csr::kMstatus);
  EXPECT_EQ((value >> 32) & 0xf, 0xau);            // UXL/SXL stay 64-bit
  EXPECT_EQ(value & mst::kXs, 0u);                  // no extension state
  EXPECT_NE(value & mst::kSd, 0u);                  // FS dirty -> SD
  EXPECT_EQ((value & mst::kMpp) >> mst::kMppShift, 3u);
  hart.set_csr(csr::kMstatus, 2ull << mst::kMppShift); // reserved MPP value
  EXPECT_EQ((hart.csr(csr::kMstatus) & mst::kMpp) >> mst::kMppShift, 0u);
  EXPECT_EQ(hart.csr(csr::kMstatus) & mst::kSd, 0u);
}

TEST_F(HartPrivilegeTest, SstatusIsAView) {
  hart.set_csr(csr::kMstatus, mst::kMie | mst::kSie | mst::kTvm);
  EXPECT_EQ(hart.csr(csr::kSstatus) & (mst::kMie | mst::kTvm), 0u);
  EXPECT_NE(hart.csr(csr::kSstatus) & mst::kSie, 0u);
  hart.set_csr(csr::kSstatus, 0);
  EXPECT_NE(hart.csr(csr::kMstatus) & mst::kMie, 0u); // M bits untouched by sstatus writes
  EXPECT_EQ(hart.csr(csr::kMstatus) & mst::kSie, 0u);
}

TEST_F(HartPrivilegeTest, DelegationRegistersHaveWarlMasks) {
  hart.set_csr(csr::kMedeleg, ~uint64_t{0});
  // ecall from M (11) and reserved causes not delegable; with H also ecall from VS (10), the
  // guest-page faults (20, 21, 23) and the virtual instruction (22).
  EXPECT_EQ(hart.csr(csr::kMedeleg), 0xb3ffu | (1u << 10) | (0xfu << 20));
  hart.set_csr(csr::kMideleg, ~uint64_t{0});
  // With H, the VS-level bits (2, 6, 10) are read-only one (SGEIP, 12, only if GEILEN > 0).
  EXPECT_EQ(hart.csr(csr::kMideleg), 0x222u | 0x444u);
  hart.set_csr(csr::kMie, ~uint64_t{0});
  EXPECT_EQ(hart.csr(csr::kMie), 0xaaau | 0x444u); // VSSIE/VSTIE/VSEIE; SGEIE is zero (GEILEN = 0)
  EXPECT_EQ(hart.csr(csr::kSie), 0x222u);
}

TEST_F(HartPrivilegeTest, TvecModesAndEpcAlignment) {
  hart.set_csr(csr::kMtvec, kRamBase | 1);
  EXPECT_EQ(hart.csr(csr::kMtvec), kRamBase | 1);
  hart.set_csr(csr::kMtvec, kRamBase | 2); // reserved mode: write ignored
  EXPECT_EQ(hart.csr(csr::kMtvec), kRamBase | 1);
  hart.set_csr(csr::kMepc, ~uint64_t{0});
  EXPECT_EQ(hart.csr(csr::kMepc), ~uint64_t{1});
}

TEST_F(HartPrivilegeTest, SatpIgnoresUnsupportedModes) {
  hart.set_csr(csr::kSatp, (8ull << 60) | 0x1234);
  EXPECT_EQ(hart.csr(csr::kSatp), (8ull << 60) | 0x1234);
  hart.set_csr(csr::kSatp, (11ull << 60) | 0x5678); // Sv64 is not supported
  EXPECT_EQ(hart.csr(csr::kSatp), (8ull << 60) | 0x1234);
}

TEST_F(HartPrivilegeTest, UnknownCsrIsIllegalWithInstructionInMtval) {
  const uint32_t insn = csrrs(a0, 0x7c0, zero);
  emit({insn});
  ASSERT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(mtval(), insn);
}

TEST_F(HartPrivilegeTest, WritingAReadOnlyCsrIsIllegal) {
  emit({csrrw(zero, csr::kMhartid, a0)});
  EXPECT_EQ(run_to_trap(), kIllegal);
}

TEST_F(HartPrivilegeTest, CsrSetWithX0DoesNotWrite) {
  emit({csrrs(a0, csr::kMhartid, zero), csrrsi(a1, csr::kMisa, 0), ebreak()});
  EXPECT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a1), csr::kMisaValue);
}

TEST_F(HartPrivilegeTest, CsrReadModifyWrite) {
  hart.set_x(a1, 0xf0);
  emit({csrrw(zero, csr::kMscratch, a1), csrrsi(a0, csr::kMscratch, 0x3), csrrci(a2, csr::kMscratch, 0x10),
        csrrs(a3, csr::kMscratch, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xf0u);
  EXPECT_EQ(hart.x(a2), 0xf3u);
  EXPECT_EQ(hart.x(a3), 0xe3u);
}

TEST_F(HartPrivilegeTest, SupervisorCannotTouchMachineCsrs) {
  enter(1);
  emit({csrrs(a0, csr::kMstatus, zero)});
  EXPECT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(hart.privilege(), 3u);
  EXPECT_EQ((hart.csr(csr::kMstatus) & mst::kMpp) >> mst::kMppShift, 1u);
}

TEST_F(HartPrivilegeTest, CountersObeyCounteren) {
  enter(0);
  emit({csrrs(a0, csr::kCycle, zero), ebreak()});
  EXPECT_EQ(run_to_trap(), kIllegal);
  hart.set_csr(csr::kMcounteren, 7);
  hart.set_csr(csr::kScounteren, 7);
  enter(0);
  hart.set_pc(kCode);
  EXPECT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(mepc(), kCode + 4);
}

TEST_F(HartPrivilegeTest, TimeCsrReadsTheClock) {
  clock.retire(1000); // deterministic: 100 ticks
  emit({csrrs(a0, csr::kTime, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 100u);
}

TEST_F(HartPrivilegeTest, EcallCausesDependOnPrivilege) {
  emit({ecall()});
  EXPECT_EQ(run_to_trap(), 11u);
  hart.set_pc(kCode);
  enter(1);
  EXPECT_EQ(run_to_trap(), 9u);
  hart.set_pc(kCode);
  enter(0);
  EXPECT_EQ(run_to_trap(), 8u);
}

TEST_F(HartPrivilegeTest, DelegatedExceptionGoesToSupervisor) {
  hart.set_csr(csr::kMedeleg, 1u << 8);
  hart.set_csr(csr::kMstatus, mst::kSie);
  enter(0);
  emit({ecall()});
  ASSERT_EQ(run_to_trap(), 8u);
  EXPECT_EQ(hart.pc(), kSupervisorTrap);
  EXPECT_EQ(hart.privilege(), 1u);
  EXPECT_EQ(hart.csr(csr::kSepc), kCode);
  const uint64_t status = hart.csr(csr::kMstatus);
  EXPECT_EQ(status & mst::kSpp, 0u);   // came from U
  EXPECT_NE(status & mst::kSpie, 0u);  // SIE saved
  EXPECT_EQ(status & mst::kSie, 0u);
  EXPECT_EQ(hart.csr(csr::kMcause), 0u); // M-mode saw nothing
}

TEST_F(HartPrivilegeTest, DelegationDoesNotApplyToMachineMode) {
  hart.set_csr(csr::kMedeleg, 1u << 2);
  emit({0xffffffffu});
  EXPECT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(hart.pc(), kMachineTrap);
}

TEST_F(HartPrivilegeTest, MretRestoresPrivilegeAndInterruptEnable) {
  hart.set_csr(csr::kMstatus, (1ull << mst::kMppShift) | mst::kMpie | mst::kMprv);
  hart.set_csr(csr::kMepc, kCode + 8);
  emit({mret(), ebreak(), ecall()});
  ASSERT_EQ(run_to_trap(), 9u); // ecall from S
  const uint64_t status = hart.csr(csr::kMstatus);
  EXPECT_EQ(status & mst::kMprv, 0u);                      // cleared when leaving M
  EXPECT_EQ((status & mst::kMpp) >> mst::kMppShift, 1u);   // set again by the ecall trap
  EXPECT_NE(status & mst::kMpie, 0u);
}

TEST_F(HartPrivilegeTest, SretIsIllegalInUserModeAndUnderTsr) {
  enter(0);
  emit({sret()});
  EXPECT_EQ(run_to_trap(), kIllegal);
  hart.set_csr(csr::kMstatus, mst::kTsr);
  enter(1);
  hart.set_pc(kCode);
  EXPECT_EQ(run_to_trap(), kIllegal);
}

TEST_F(HartPrivilegeTest, SretReturnsToUser) {
  hart.set_csr(csr::kSepc, kCode + 8);
  hart.set_csr(csr::kMstatus, mst::kSpie);
  enter(1);
  emit({sret(), ebreak(), ecall()});
  ASSERT_EQ(run_to_trap(), 8u);
  EXPECT_NE(hart.csr(csr::kMstatus) & mst::kSie, 0u);
}

TEST_F(HartPrivilegeTest, WfiRulesTwAndUserMode) {
  enter(0);
  emit({wfi()});
  EXPECT_EQ(run_to_trap(), kIllegal);
  hart.set_csr(csr::kMstatus, mst::kTw);
  enter(1);
  hart.set_pc(kCode);
  EXPECT_EQ(run_to_trap(), kIllegal);
}

TEST_F(HartPrivilegeTest, SfenceAndSatpTrapUnderTvm) {
  hart.set_csr(csr::kMstatus, mst::kTvm);
  enter(1);
  emit({sfence_vma()});
  EXPECT_EQ(run_to_trap(), kIllegal);
  hart.set_pc(kCode + 4);
  enter(1);
  emit({csrrs(a0, csr::kSatp, zero)});
  EXPECT_EQ(run_to_trap(), kIllegal);
}

TEST_F(HartPrivilegeTest, WfiWaitsUntilAnInterruptIsPending) {
  hart.set_csr(csr::kMie, riscv::csr::irq::kMtip);
  emit({wfi(), addi(a0, zero, 1), ebreak()});
  EXPECT_EQ(hart.run(100), 1u); // WFI itself retires, then the hart waits
  EXPECT_TRUE(hart.waiting());
  EXPECT_EQ(hart.run(100), 0u);
  hart.pins().set(riscv::csr::irq::kMti, true); // MIE=0: wakes but does not trap
  EXPECT_FALSE(hart.waiting());
  EXPECT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 1u);
}

TEST_F(HartPrivilegeTest, MachineTimerInterruptIsTakenWhenEnabled) {
  hart.set_csr(csr::kMie, riscv::csr::irq::kMtip);
  hart.set_csr(csr::kMstatus, mst::kMie);
  emit({jal(zero, 0)});
  hart.run(100);
  EXPECT_EQ(hart.pc(), kCode);
  hart.pins().set(riscv::csr::irq::kMti, true);
  hart.run(100);
  EXPECT_EQ(hart.pc(), kMachineTrap);
  EXPECT_EQ(hart.csr(csr::kMcause), riscv::kInterruptBit | 7);
  EXPECT_EQ(hart.csr(csr::kMepc), kCode);
  EXPECT_EQ(hart.csr(csr::kMstatus) & mst::kMie, 0u);
}

TEST_F(HartPrivilegeTest, InterruptPriorityMachineExternalFirst) {
  hart.set_csr(csr::kMie, riscv::csr::irq::kAll);
  hart.set_csr(csr::kMstatus, mst::kMie);
  hart.pins().set(riscv::csr::irq::kMti, true);
  hart.pins().set(riscv::csr::irq::kMsi, true);
  hart.pins().set(riscv::csr::irq::kMei, true);
  emit({jal(zero, 0)});
  hart.run(10);
  EXPECT_EQ(hart.csr(csr::kMcause), riscv::kInterruptBit | 11);
  hart.pins().set(riscv::csr::irq::kMei, false);
  hart.set_pc(kCode);
  hart.set_csr(csr::kMstatus, mst::kMie);
  hart.run(10);
  EXPECT_EQ(hart.csr(csr::kMcause), riscv::kInterruptBit | 3); // MSI before MTI
}

TEST_F(HartPrivilegeTest, VectoredSupervisorInterruptFromUser) {
  hart.set_csr(csr::kMideleg, riscv::csr::irq::kSsip);
  hart.set_csr(csr::kMie, riscv::csr::irq::kSsip);
  hart.set_csr(csr::kStvec, (kSupervisorTrap - 4) | 1); // vector base; SSI (1) lands at +4
  hart.set_csr(csr::kMip, riscv::csr::irq::kSsip);
  enter(0); // S interrupts are always enabled below S
  emit({jal(zero, 0)});
  hart.run(10);
  EXPECT_EQ(hart.pc(), kSupervisorTrap);
  EXPECT_EQ(hart.csr(csr::kScause), riscv::kInterruptBit | 1);
  EXPECT_EQ(hart.privilege(), 1u);
}

TEST_F(HartPrivilegeTest, SupervisorInterruptNotTakenInMachineMode) {
  hart.set_csr(csr::kMideleg, riscv::csr::irq::kSsip);
  hart.set_csr(csr::kMie, riscv::csr::irq::kSsip);
  hart.set_csr(csr::kMstatus, mst::kMie | mst::kSie);
  hart.set_csr(csr::kMip, riscv::csr::irq::kSsip);
  emit({addi(a0, zero, 1), ebreak()});
  EXPECT_EQ(run_to_trap(), kBreakpoint);
}

TEST_F(HartPrivilegeTest, SstcTimerRaisesStipAndReportsDeadline) {
  EXPECT_EQ(hart.timer_deadline(), ~uint64_t{0});
  hart.set_csr(csr::kMenvcfg, riscv::csr::menvcfg::kStce);
  hart.set_csr(csr::kStimecmp, 50);
  EXPECT_EQ(hart.timer_deadline(), 50u);
  EXPECT_EQ(hart.csr(csr::kMip) & riscv::csr::irq::kStip, 0u);
  clock.retire(600); // 60 ticks
  hart.set_csr(csr::kStimecmp, 50); // re-evaluated on write (and between blocks while running)
  EXPECT_NE(hart.csr(csr::kMip) & riscv::csr::irq::kStip, 0u);
  hart.set_csr(csr::kMip, 0); // STIP is read-only under Sstc
  EXPECT_NE(hart.csr(csr::kMip) & riscv::csr::irq::kStip, 0u);
}

TEST_F(HartPrivilegeTest, StimecmpFromSupervisorNeedsStceAndTm) {
  enter(1);
  emit({csrrs(a0, csr::kStimecmp, zero), ebreak()});
  EXPECT_EQ(run_to_trap(), kIllegal);
  hart.set_csr(csr::kMenvcfg, riscv::csr::menvcfg::kStce);
  hart.set_csr(csr::kMcounteren, riscv::csr::counteren::kTm);
  enter(1);
  hart.set_pc(kCode);
  EXPECT_EQ(run_to_trap(), kBreakpoint);
}

TEST_F(HartPrivilegeTest, MinstretCountsAndCanBeInhibited) {
  emit({addi(a0, zero, 1), addi(a0, a0, 1), csrrs(a1, csr::kMinstret, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a1), 2u);
  hart.set_csr(csr::kMcountinhibit, 5);
  const uint64_t before = hart.instret();
  hart.set_pc(kCode);
  hart.run(50);
  EXPECT_EQ(hart.instret(), before);
}

} // namespace
} // namespace nimbus::test

namespace nimbus::test {
namespace {

// OpenSBI injects S-mode IPIs with `csrs mip, SSIP` while a PLIC line may be up. The
// read-modify-write must use the software SEIP bit, or SEIP stays set after the line drops and
// the kernel takes external interrupts forever (seen as a hang with 2 harts and disk I/O).
TEST_F(HartTest, CsrSetOnMipDoesNotLatchTheExternalSeipLine) {
  namespace csr = riscv::csr;
  hart.pins().set(csr::irq::kSei, true);
  emit({as::addi(5, 0, 2),              // t0 = SSIP
        as::csrrs(0, csr::kMip, 5),     // csrs mip, t0 (reads SEIP = 1 from the line)
        as::ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_NE(hart.csr(csr::kMip) & csr::irq::kSsip, 0u);
  hart.pins().set(csr::irq::kSei, false);
  EXPECT_EQ(hart.csr(csr::kMip) & csr::irq::kSeip, 0u) << "SEIP latched into the software bit";
}

} // namespace
} // namespace nimbus::test
