// The "hw"-mode VMM hook: with set_vmm_exits_hs, a trap from V=1 that HS-mode would take stops
// run() and is handed over with what HS would have seen; the hart stays at the trap point.
#include "h_extension_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
using namespace pte;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;
namespace irq = riscv::csr::irq;

class HVmmExitTest : public HExtensionTest {
protected:
  void SetUp() override {
    HExtensionTest::SetUp();
    // What a VMM playing HS would set: everything HS may handle is delegated from M.
    hart.set_csr(csr::kMedeleg, ~uint64_t{0});
    hart.set_csr(csr::kMideleg, ~uint64_t{0});
    hart.set_vmm_exits_hs(true);
  }
  std::optional<machine::Hart::TrapExit> enter(std::initializer_list<uint32_t> code) {
    cursor = kCode;
    emit(code);
    hart.set_privilege(1);
    hart.set_virtualization(true);
    hart.set_pc(kCode);
    hart.run(1000);
    return hart.take_exit();
  }
};

TEST_F(HVmmExitTest, GuestPageFaultExitsWithWhatHsWouldSee) {
  use_g_stage();
  hart.set_x(a1, 0x40000000);
  const auto exit = enter({addi(a0, zero, 5), ld(a2, a1, 0x18), ebreak()});
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->cause, kLoadGuestPageFault);
  EXPECT_EQ(exit->tval, 0x40000018u);
  EXPECT_EQ(exit->htval, 0x40000018u >> 2);
  EXPECT_EQ(exit->htinst, 0u);
  EXPECT_EQ(exit->pc, kCode + 4);
  EXPECT_TRUE(exit->virt);
  EXPECT_TRUE(exit->gva);
  EXPECT_TRUE(exit->to_hs);
  EXPECT_FALSE(exit->interrupt);
  // The hart is left at the trap point: V=1, VS-mode, pc at the load, no HS state written.
  EXPECT_EQ(hart.pc(), kCode + 4);
  EXPECT_TRUE(hart.virtualization());
  EXPECT_EQ(hart.privilege(), 1u);
  EXPECT_EQ(hart.x(a0), 5u);
  EXPECT_EQ(csr(csr::kScause), 0u);
  EXPECT_EQ(csr(csr::kHtval), 0u);
  // The VMM maps the page and resumes the guest where it stopped.
  gmap(0x40000000, kTarget, V | R | W | U | A | D);
  put64(kTarget + 0x18, 0xfeed);
  hart.run(1000);
  const auto next = hart.take_exit();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->cause, kBreakpoint);
  EXPECT_EQ(hart.x(a2), 0xfeedu);
}

TEST_F(HVmmExitTest, ImplicitAccessFaultCarriesThePseudoinstruction) {
  use_g_stage();
  use_vs_stage();
  put64(kVsRoot + 8 * 3, ((0x40100000ull >> 12) << 10) | V); // a VS table the G-stage does not map
  hart.set_x(a1, 0xc0000000);
  const auto exit = enter({sd(a0, a1, 0)});
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->cause, kStoreGuestPageFault);
  EXPECT_EQ(exit->htval, 0x40100000u >> 2);
  EXPECT_EQ(exit->htinst, 0x3000u);
  EXPECT_EQ(exit->tval, 0xc0000000u);
}

TEST_F(HVmmExitTest, VirtualInstructionAndEcallExit) {
  auto exit = enter({csrrs(a0, csr::kHstatus, zero)});
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->cause, kVirtualInstruction);
  EXPECT_EQ(exit->tval, csrrs(a0, csr::kHstatus, zero));
  EXPECT_FALSE(exit->gva);
  exit = enter({ecall()});
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->cause, 10u); // SBI call from VS
  EXPECT_EQ(exit->pc, kCode);
}

TEST_F(HVmmExitTest, TrapsDelegatedToVsStayInTheGuest) {
  hart.set_csr(csr::kHedeleg, 1u << kBreakpoint);
  const auto exit = enter({ebreak()});
  EXPECT_FALSE(exit.has_value());
  EXPECT_EQ(hart.pc(), kGuestTrap);
  EXPECT_EQ(csr(csr::kVscause), kBreakpoint);
}

TEST_F(HVmmExitTest, HsInterruptDuringTheGuestExits) {
  hart.set_csr(csr::kMie, irq::kStip);
  hart.set_csr(csr::kMip, irq::kStip);
  const auto exit = enter({jal(zero, 0)});
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->interrupt);
  EXPECT_EQ(exit->cause, 5u);
  EXPECT_TRUE(exit->to_hs);
  EXPECT_EQ(hart.pc(), kCode); // not run further after the exit
  EXPECT_TRUE(hart.virtualization());
}

TEST_F(HVmmExitTest, UndelegatedTrapsStillGoToMachineOrItsExit) {
  hart.set_csr(csr::kMedeleg, 0);
  auto exit = enter({ebreak()});
  EXPECT_FALSE(exit.has_value()); // M takes it (no M exits requested)
  EXPECT_EQ(hart.pc(), kMachineTrap);
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kMpv);
  hart.set_vmm_exits(true);
  exit = enter({ebreak()});
  ASSERT_TRUE(exit.has_value());
  EXPECT_FALSE(exit->to_hs);
  EXPECT_TRUE(exit->virt);
  EXPECT_EQ(exit->cause, kBreakpoint);
}

TEST_F(HVmmExitTest, HsTrapsFromV0AreTakenNormally) {
  hart.set_csr(csr::kMedeleg, 1u << kBreakpoint);
  cursor = kCode;
  emit({ebreak()});
  hart.set_privilege(1);
  hart.set_virtualization(false);
  hart.set_pc(kCode);
  hart.run(100);
  EXPECT_FALSE(hart.take_exit().has_value());
  EXPECT_EQ(hart.pc(), kSupervisorTrap);
}

TEST_F(HVmmExitTest, SetVirtualizationIsIgnoredInMachineMode) {
  hart.set_privilege(3);
  hart.set_virtualization(true);
  EXPECT_FALSE(hart.virtualization());
  hart.set_privilege(0);
  hart.set_virtualization(true);
  EXPECT_TRUE(hart.virtualization());
  hart.set_privilege(3); // M-mode always has V=0
  EXPECT_FALSE(hart.virtualization());
}

} // namespace
} // namespace nimbus::test
