// Trap mode with small bare-metal guest kernels: CSR emulation, SBI calls, virtual traps from
// guest user mode, FP state, WFI and virtual interrupts.
#include "trap_mode_test_support.hpp"

namespace nimbus::hypervisor::test {
namespace {

using namespace nimbus::test::as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;
constexpr uint32_t a7 = 17, t3 = 28;

TEST_F(TrapModeTest, SupervisorCsrsAreEmulatedAndEcallIsAnSbiCall) {
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrs(a0, csr::kStvec, 0), csrrwi(0, csr::kSscratch, 17),
                 csrrs(a1, csr::kSscratch, 0), csrrsi(a2, csr::kSscratch, 8), csrrs(a3, csr::kSscratch, 0),
                 addi(a7, 0, 0x10), ecall()});
  start();
  cpu->set_reg(t0, kHandler);
  const CpuExit exit = run();
  ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
  EXPECT_EQ(cpu->pc(), kKernel + 7 * 4);   // on the ECALL: the core advances it
  EXPECT_EQ(reg(a0), kHandler);
  EXPECT_EQ(reg(a1), 17u);
  EXPECT_EQ(reg(a2), 17u);
  EXPECT_EQ(reg(a3), 25u);
  EXPECT_EQ(reg(a7), 0x10u);
  EXPECT_EQ(cpu->supervisor_state().stvec, kHandler);
  EXPECT_EQ(cpu->stats().emulated, 6u);
  const VmCountersSnapshot snap = counters.snapshot();
  EXPECT_EQ(snap.exits_for(ExitReason::privileged_instruction), 6u);
  EXPECT_EQ(snap.emulated_privileged_instructions, 6u);
  EXPECT_EQ(exit.instructions, 1u); // only the ADDI ran natively
  EXPECT_EQ(cpu->hart().privilege(), 0u); // the hart never leaves U-mode
}

TEST_F(TrapModeTest, MachineCsrsAndUnknownCsrsAreIllegalForTheGuestKernel) {
  install_reporting_handler();
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrs(a3, csr::kMstatus, 0), ecall()});
  start();
  cpu->set_reg(t0, kHandler);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kCauseIllegal);
  EXPECT_EQ(reg(a1), csrrs(a3, csr::kMstatus, 0)); // stval holds the instruction
  EXPECT_EQ(reg(a2), kKernel + 4);
}

TEST_F(TrapModeTest, UserEcallIsDeliveredThroughStvecWithSretInBetween) {
  install_reporting_handler();
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrw(0, csr::kSepc, t1), csrrc(0, csr::kSstatus, t2),
                 csrrs(0, csr::kSstatus, t3), sret()});
  code(kUserCode, {addi(a3, 0, 7), ecall()});
  start();
  cpu->set_reg(t3, mst::kSpie); // SRET turns it into SIE for the user program
  cpu->set_reg(t0, kHandler);
  cpu->set_reg(t1, kUserCode);
  cpu->set_reg(t2, mst::kSpp);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kCauseEcallU);
  EXPECT_EQ(reg(a2), kUserCode + 4);
  EXPECT_EQ(reg(a3), 7u);
  const VirtualSupervisor& vs = cpu->supervisor_state();
  EXPECT_TRUE(vs.supervisor);
  EXPECT_EQ(vs.sstatus & mst::kSpp, 0u);      // came from U
  EXPECT_EQ(vs.sstatus & mst::kSie, 0u);      // traps disable interrupts
  EXPECT_NE(vs.sstatus & mst::kSpie, 0u);     // ... and remember they were on
  EXPECT_EQ(cpu->stats().virtual_traps, 1u);
}

TEST_F(TrapModeTest, PrivilegedInstructionsFromGuestUserModeAreIllegalInTheGuest) {
  install_reporting_handler();
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrw(0, csr::kSepc, t1), sret()});
  code(kUserCode, {csrrs(a3, csr::kSstatus, 0), ecall()});
  start();
  cpu->set_reg(t0, kHandler);
  cpu->set_reg(t1, kUserCode);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kCauseIllegal);
  EXPECT_EQ(reg(a1), csrrs(a3, csr::kSstatus, 0));
  EXPECT_EQ(reg(a2), kUserCode);
  // SRET and SFENCE.VMA from user mode too.
  code(kUserCode, {sret()});
  cpu->hart().set_pc(kKernel + 4);
  cpu->set_reg(t1, kUserCode);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kCauseIllegal);
  EXPECT_EQ(reg(a2), kUserCode);
}

TEST_F(TrapModeTest, FloatingPointFollowsTheGuestsFsField) {
  install_reporting_handler();
  // FS off: an FP instruction is illegal in the guest.
  code(kKernel, {csrrw(0, csr::kStvec, t0), fmv_d_x(1, t1), ecall()});
  start();
  cpu->set_reg(t0, kHandler);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kCauseIllegal);
  // FS initial: FP works, and sstatus then reads FS dirty with SD.
  code(kKernel + 0x100, {csrrs(0, csr::kSstatus, t2), fmv_d_x(1, t1), feq_d(a3, 1, 1), csrrs(a4, csr::kSstatus, 0),
                         ecall()});
  cpu->set_reg(t1, 0x4000000000000000ull); // 2.0
  cpu->set_reg(t2, uint64_t{1} << mst::kFsShift);
  ASSERT_EQ(resume(kKernel + 0x100).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 1u);
  EXPECT_EQ(reg(a4) & mst::kFs, mst::kFs);
  EXPECT_NE(reg(a4) & mst::kSd, 0u);
}

TEST_F(TrapModeTest, TimerInterruptIsDeliveredOnlyWhenEnabled) {
  install_reporting_handler();
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrs(0, csr::kSie, t1), jal(0, 0)});
  start();
  cpu->set_reg(t0, kHandler);
  cpu->set_reg(t1, riscv::csr::irq::kStip);
  cpu->set_timer(0); // already due
  EXPECT_EQ(run(5000).kind, CpuExit::Kind::budget); // SIE clear: the kernel spins
  EXPECT_EQ(cpu->stats().virtual_interrupts, 0u);
  code(kKernel + 0x100, {csrrsi(0, csr::kSstatus, 2), jal(0, 0)});
  cpu->hart().set_pc(kKernel + 0x100);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), riscv::kInterruptBit | 5);
  EXPECT_EQ(reg(a2), kKernel + 0x104);
  EXPECT_EQ(cpu->stats().virtual_interrupts, 1u);
}

TEST_F(TrapModeTest, WfiWaitsUntilAnInterruptIsPending) {
  install_reporting_handler();
  code(kKernel, {csrrs(0, csr::kSie, t1), wfi(), addi(a3, 0, 9), ecall()});
  start();
  cpu->set_reg(t1, riscv::csr::irq::kSsip);
  ASSERT_EQ(run().kind, CpuExit::Kind::wait);
  EXPECT_TRUE(cpu->waiting());
  EXPECT_EQ(cpu->timer_deadline(), ~uint64_t{0});
  EXPECT_EQ(run().kind, CpuExit::Kind::wait); // still nothing pending
  cpu->raise_software_interrupt();
  EXPECT_FALSE(cpu->waiting());
  // SIE is clear: WFI ends but no trap is taken.
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 9u);
  EXPECT_EQ(counters.snapshot().exits_for(ExitReason::wfi), 1u);
}

TEST_F(TrapModeTest, ThePlicLineRaisesTheExternalInterrupt) {
  install_reporting_handler();
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrs(0, csr::kSie, t1), csrrsi(0, csr::kSstatus, 2), jal(0, 0)});
  start();
  cpu->set_reg(t0, kHandler);
  cpu->set_reg(t1, riscv::csr::irq::kSeip);
  EXPECT_EQ(run(3000).kind, CpuExit::Kind::budget);
  cpu->pins().set(riscv::csr::irq::kSei, true);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), riscv::kInterruptBit | 9);
}

TEST_F(TrapModeTest, AGuestThatOnlyTrapsStillReturnsAtItsBudget) {
  code(kKernel, {csrrw(0, csr::kStvec, t0)}); // stvec = 0: every trap refetches from nowhere
  code(kKernel + 4, {csrrs(0, csr::kSstatus, 0), jal(0, -4)});
  start();
  const CpuExit exit = run(1000);
  EXPECT_EQ(exit.kind, CpuExit::Kind::budget);
}

} // namespace
} // namespace nimbus::hypervisor::test

namespace nimbus::hypervisor::test {
namespace {

TEST_F(TrapModeTest, ATrapHandlerThatFaultsOnItselfIsFatalForThisVcpuOnly) {
  using namespace nimbus::test::as;
  code(kKernel, {csrrw(0, riscv::csr::kStvec, t0), 0 /* illegal */});
  start();
  cpu->set_reg(t0, kRamBase + 0x5000); // zeros: illegal instructions
  const CpuExit exit = run();
  EXPECT_EQ(exit.kind, CpuExit::Kind::fatal);
  EXPECT_NE(exit.reason.find("faults on itself"), std::string::npos) << exit.reason;
  EXPECT_FALSE(cpu->running());
}

} // namespace
} // namespace nimbus::hypervisor::test

namespace nimbus::hypervisor::test {
namespace {

TEST_F(TrapModeTest, CodeRewrittenByDeviceDmaIsDecodedAgain) {
  using namespace nimbus::test::as;
  code(kKernel, {addi(a3, 0, 1), ecall()});
  start();
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 1u);
  // A device writes new code over it through the VM's bus (as virtio-blk reading a binary).
  const uint32_t replacement = addi(a3, 0, 2);
  ASSERT_TRUE(device_bus.copy_to_ram(kKernel, &replacement, 4));
  device_bus.note_dma_write();
  ASSERT_EQ(resume(kKernel).kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a3), 2u);
}

} // namespace
} // namespace nimbus::hypervisor::test
