// H extension instructions: HLV/HLVX/HSV (widths, extension, SPVP, HU, HLVX execute permission,
// faults with GVA), HFENCE.VVMA/GVMA, and the V-mode rules of SRET, WFI, SFENCE.VMA and ECALL.
#include "h_extension_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
using namespace pte;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;
namespace hst = riscv::csr::hstatus;

constexpr uint64_t kLoadPageFault = 13;

class HInstructionTest : public HExtensionTest {
protected:
  static constexpr uint64_t kGva = 0x10000000, kGpa = 0x40080000;
  void SetUp() override {
    HExtensionTest::SetUp();
    use_g_stage();
    use_vs_stage();
    vsmap(kGva, kGpa, V | R | W | A | D);               // a supervisor page of the guest
    vsmap(kGva + 0x1000, kGpa + 0x1000, V | R | W | U | A | D); // a user page
    vsmap(kGva + 0x2000, kGpa + 0x2000, V | X | A);      // execute-only
    gmap(kGpa, kTarget, V | R | W | U | A | D);
    gmap(kGpa + 0x1000, kTarget + 0x1000, V | R | W | U | A | D);
    gmap(kGpa + 0x2000, kTarget + 0x2000, V | R | X | U | A);
    put64(kTarget, 0x8899aabbccddeeffull);
    put64(kTarget + 0x1000, 0x0102030405060708ull);
    put64(kTarget + 0x2000, 0xfedcba9876543210ull);
    hart.set_csr(csr::kHstatus, hst::kSpvp); // as VS-mode
  }
  Parked hs(std::initializer_list<uint32_t> code, unsigned privilege = 1) { return run_host(code, privilege); }
};

TEST_F(HInstructionTest, HlvWidthsAndExtension) {
  hart.set_x(a1, kGva);
  EXPECT_EQ(hs({hlv_b(a0, a1), hlv_bu(a2, a1), hlv_h(a3, a1), hlv_hu(a4, a1), hlv_w(a5, a1), hlv_wu(t0, a1),
                hlv_d(t1, a1), ebreak()}),
            Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xffffffffffffffffull);
  EXPECT_EQ(hart.x(a2), 0xffu);
  EXPECT_EQ(hart.x(a3), 0xffffffffffffeeffull);
  EXPECT_EQ(hart.x(a4), 0xeeffu);
  EXPECT_EQ(hart.x(a5), 0xffffffffccddeeffull);
  EXPECT_EQ(hart.x(t0), 0xccddeeffu);
  EXPECT_EQ(hart.x(t1), 0x8899aabbccddeeffull);
  EXPECT_FALSE(hart.virtualization()); // HLV does not change V
}

TEST_F(HInstructionTest, HsvWidths) {
  hart.set_x(a1, kGva + 0x100);
  hart.set_x(a2, 0x1122334455667788);
  EXPECT_EQ(hs({hsv_d(a2, a1), addi(a1, a1, 8), hsv_w(a2, a1), addi(a1, a1, 8), hsv_h(a2, a1), addi(a1, a1, 8),
                hsv_b(a2, a1), ebreak()}),
            Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(get64(kTarget + 0x100), 0x1122334455667788u);
  EXPECT_EQ(get64(kTarget + 0x108), 0x55667788u);
  EXPECT_EQ(get64(kTarget + 0x110), 0x7788u);
  EXPECT_EQ(get64(kTarget + 0x118), 0x88u);
}

TEST_F(HInstructionTest, SpvpSelectsVsOrVuPermissions) {
  hart.set_x(a1, kGva); // a supervisor page
  hart.set_csr(csr::kHstatus, 0); // as VU-mode
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  EXPECT_EQ(mtval(), kGva);
  EXPECT_TRUE(csr(csr::kMstatus) & mst::kGva); // a guest virtual address, though V was 0
  EXPECT_FALSE(csr(csr::kMstatus) & mst::kMpv);
  hart.set_x(a1, kGva + 0x1000); // a user page: fine for VU, needs vsstatus.SUM for VS
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 0x0102030405060708u);
  hart.set_csr(csr::kHstatus, hst::kSpvp);
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  hart.set_csr(csr::kVsstatus, mst::kSum);
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
}

TEST_F(HInstructionTest, HlvxNeedsExecuteNotRead) {
  hart.set_x(a1, kGva + 0x2000); // execute-only in the VS-stage
  EXPECT_EQ(hs({hlvx_wu(a0, a1), hlvx_hu(a2, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x76543210u);
  EXPECT_EQ(hart.x(a2), 0x3210u);
  EXPECT_EQ(hs({hlv_w(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  hart.set_x(a1, kGva); // readable but not executable: HLVX faults (as a load)
  EXPECT_EQ(hs({hlvx_wu(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadPageFault);
  // G-stage execute permission is needed too.
  gmap(kGpa + 0x2000, kTarget + 0x2000, V | R | U | A);
  hart.set_csr(csr::kHgatp, csr(csr::kHgatp)); // flush
  hart.set_x(a1, kGva + 0x2000);
  EXPECT_EQ(hs({hlvx_wu(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kLoadGuestPageFault);
  EXPECT_EQ(csr(csr::kMtval2), (kGpa + 0x2000) >> 2);
}

TEST_F(HInstructionTest, HlvGuestPageFaultGoesToHsWithGvaAndHtval) {
  hart.set_csr(csr::kMedeleg, 1u << kLoadGuestPageFault);
  vsmap(kGva + 0x3000, kGpa + 0x3000, V | R | A);
  hart.set_x(a1, kGva + 0x3008);
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}), Parked::Hypervisor);
  EXPECT_EQ(csr(csr::kScause), kLoadGuestPageFault);
  EXPECT_EQ(csr(csr::kStval), kGva + 0x3008);
  EXPECT_EQ(csr(csr::kHtval), (kGpa + 0x3008) >> 2);
  EXPECT_TRUE(csr(csr::kHstatus) & hst::kGva);
  EXPECT_FALSE(csr(csr::kHstatus) & hst::kSpv); // taken from V=0
}

TEST_F(HInstructionTest, HlvFromUserNeedsHu) {
  hart.set_x(a1, kGva + 0x1000);
  hart.set_csr(csr::kHstatus, 0);
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  hart.set_csr(csr::kHstatus, hst::kHu);
  EXPECT_EQ(hs({hlv_d(a0, a1), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x0102030405060708u);
}

TEST_F(HInstructionTest, HypervisorInstructionsFromVirtualModesAreVirtualInstructions) {
  hart.set_csr(csr::kVsatp, 0); // Bare: VS and VU both run the code page
  for (const uint32_t insn : {hlv_d(a0, a1), hsv_w(a0, a1), hlvx_wu(a0, a1), hfence_vvma(), hfence_gvma()}) {
    for (const unsigned privilege : {1u, 0u}) {
      EXPECT_EQ(run_guest({insn, ebreak()}, privilege), Parked::Machine);
      EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction) << std::hex << insn;
      EXPECT_EQ(mtval(), insn);
    }
  }
}

TEST_F(HInstructionTest, HfenceRules) {
  EXPECT_EQ(hs({hfence_vvma(), hfence_gvma(), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hs({hfence_vvma(), ebreak()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  hart.set_csr(csr::kMstatus, mst::kTvm);
  EXPECT_EQ(hs({hfence_vvma(), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint); // TVM traps only HFENCE.GVMA
  EXPECT_EQ(hs({hfence_gvma(), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
}

TEST_F(HInstructionTest, HfenceVvmaDropsStaleGuestTranslations) {
  hart.set_x(a1, kGva);
  EXPECT_EQ(run_guest({ld(a0, a1, 0), ebreak()}), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 0x8899aabbccddeeffull);
  gmap(kGpa, kTarget + 0x1000, V | R | W | U | A | D); // the VMM remaps the guest page
  hart.set_x(a1, kGva);
  EXPECT_EQ(hs({hfence_gvma(), ebreak()}), Parked::Machine);
  hart.set_x(a1, kGva);
  EXPECT_EQ(run_guest({ld(a0, a1, 0), ebreak()}), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 0x0102030405060708u);
}

// The hart's cache of G-stage read translations must not outlive a remap that HFENCE.GVMA
// announces (nothing else flushes between the three runs, unlike run_guest/run_host). The page
// is one whose cache slot no VS table of the walks shares (kVsRoot + 0 to 4: slots 0-4).
TEST_F(HInstructionTest, HfenceGvmaDropsCachedGStageTranslations) {
  const auto run_from_code = [this](std::initializer_list<uint32_t> code, bool virt) {
    cursor = kCode;
    emit(code);
    hart.set_pc(kCode);
    hart.set_privilege(1);
    hart.set_virtualization(virt);
    return run_parked();
  };
  vsmap(kGva + 0x5000, kGpa + 0x5000, V | R | W | A | D);
  gmap(kGpa + 0x5000, kTarget + 0x1000, V | R | W | U | A | D);
  hart.set_x(a1, kGva + 0x5000);
  EXPECT_EQ(run_guest({ld(a0, a1, 0), ebreak()}), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 0x0102030405060708u);
  gmap(kGpa + 0x5000, kTarget, V | R | W | U | A | D); // the VMM remaps the guest page
  EXPECT_EQ(run_from_code({hfence_gvma(), ebreak()}, false), Parked::Machine);
  hart.set_x(a1, kGva + 0x5000);
  EXPECT_EQ(run_from_code({ld(a0, a1, 0), ebreak()}, true), Parked::Machine);
  EXPECT_EQ(hart.x(a0), 0x8899aabbccddeeffull);
}

TEST_F(HInstructionTest, SretWfiSfenceInVirtualModes) {
  // VTSR, VTW, VTVM: virtual instruction in VS-mode.
  hart.set_csr(csr::kHstatus, hst::kVtsr | hst::kVtw | hst::kVtvm);
  for (const uint32_t insn : {sret(), wfi(), sfence_vma()}) {
    EXPECT_EQ(run_guest({insn, ebreak()}), Parked::Machine);
    EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction) << std::hex << insn;
  }
  // From VU-mode all three are virtual instructions whatever hstatus says.
  hart.set_csr(csr::kHstatus, 0);
  hart.set_csr(csr::kVsatp, 0); // Bare: VU runs the code page
  for (const uint32_t insn : {sret(), wfi(), sfence_vma()}) {
    EXPECT_EQ(run_guest({insn, ebreak()}, 0), Parked::Machine);
    EXPECT_EQ(csr(csr::kMcause), kVirtualInstruction) << std::hex << insn;
  }
  // mstatus.TW wins over VTW (illegal instruction); mstatus.TSR/TVM do not affect VS-mode.
  hart.set_csr(csr::kMstatus, mst::kTw | mst::kTsr | mst::kTvm);
  EXPECT_EQ(run_guest({wfi(), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kIllegal);
  EXPECT_EQ(run_guest({sfence_vma(), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
}

TEST_F(HInstructionTest, EcallCauses) {
  hart.set_csr(csr::kVsatp, 0);
  EXPECT_EQ(run_guest({ecall()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 10u); // from VS
  EXPECT_EQ(run_guest({ecall()}, 0), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 8u); // from VU: as from U
  EXPECT_EQ(hs({ecall()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), 9u); // from HS
}

TEST_F(HInstructionTest, MisalignedHlvAndHsvAcrossPages) {
  vsmap(kGva + 0x5000, kGpa + 0x5000, V | R | W | A | D);
  vsmap(kGva + 0x6000, kGpa + 0x6000, V | R | W | A | D);
  gmap(kGpa + 0x5000, kTarget + 0x5000, V | R | W | U | A | D);
  gmap(kGpa + 0x6000, kTarget + 0x3000, V | R | W | U | A | D); // not adjacent in machine memory
  hart.set_x(a1, kGva + 0x5ffc);
  hart.set_x(a2, 0x1122334455667788);
  EXPECT_EQ(hs({hsv_d(a2, a1), hlv_d(a0, a1), ebreak()}), Parked::Machine);
  EXPECT_EQ(csr(csr::kMcause), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x1122334455667788u);
  EXPECT_EQ(get32(kTarget + 0x5ffc), 0x55667788u);
  EXPECT_EQ(get32(kTarget + 0x3000), 0x11223344u);
}

} // namespace
} // namespace nimbus::test
