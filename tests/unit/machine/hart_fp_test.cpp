// The hart's side of F/D: enable state (mstatus.FS), NaN-boxing, fcsr, rounding-mode checks, moves.
#include <cstring>

#include "hart_test_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;

uint64_t bits_of(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  return bits;
}

class HartFpTest : public HartTest {
protected:
  void SetUp() override {
    HartTest::SetUp();
    hart.set_csr(csr::kMstatus, 1ull << mst::kFsShift); // Initial
  }
};

TEST_F(HartFpTest, FpInstructionsAreIllegalWhenFsIsOff) {
  hart.set_csr(csr::kMstatus, 0);
  const uint32_t insn = fadd_d(1, 2, 3);
  emit({insn});
  ASSERT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(mtval(), insn);
  cursor = kCode;
  hart.set_pc(kCode);
  emit({csrrs(a0, csr::kFcsr, zero)});
  EXPECT_EQ(run_to_trap(), kIllegal);
  cursor = kCode;
  hart.set_pc(kCode);
  hart.set_x(a1, kData);
  emit({fld(1, a1, 0)});
  EXPECT_EQ(run_to_trap(), kIllegal);
}

TEST_F(HartFpTest, ArithmeticSetsFsDirtyAndSd) {
  hart.set_x(a1, bits_of(1.5));
  hart.set_x(a2, bits_of(2.25));
  emit({fmv_d_x(1, a1), fmv_d_x(2, a2), fadd_d(3, 1, 2, 0), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.f(3), bits_of(3.75));
  EXPECT_EQ(hart.csr(csr::kMstatus) & mst::kFs, mst::kFs);
  EXPECT_NE(hart.csr(csr::kMstatus) & mst::kSd, 0u);
}

TEST_F(HartFpTest, SinglePrecisionResultsAreNanBoxed) {
  hart.set_x(a1, 0x3f800000); // 1.0f
  emit({fmv_w_x(1, a1), fadd_s(2, 1, 1, 0), fmv_x_w(a0, 2), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.f(2), 0xffffffff40000000u);
  EXPECT_EQ(hart.x(a0), 0x40000000u);
}

TEST_F(HartFpTest, ImproperlyBoxedSingleIsTheCanonicalNan) {
  hart.set_x(a1, 0x000000003f800000u); // not NaN-boxed
  emit({fmv_d_x(1, a1), fsgnj_s(2, 1, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.f(2), 0xffffffff7fc00000u);
}

TEST_F(HartFpTest, FmvXwSignExtendsWithoutUnboxing) {
  hart.set_x(a1, 0x00000000bf800000u);
  emit({fmv_d_x(1, a1), fmv_x_w(a0, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xffffffffbf800000u);
}

TEST_F(HartFpTest, FlwBoxesAndFswStoresLowWord) {
  put64(kData, 0x1122334440490fdbu);
  hart.set_x(a1, kData);
  emit({flw(1, a1, 0), fsw(1, a1, 8), fld(2, a1, 0), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.f(1), 0xffffffff40490fdbu);
  EXPECT_EQ(get32(kData + 8), 0x40490fdbu);
  EXPECT_EQ(hart.f(2), 0x1122334440490fdbu);
}

TEST_F(HartFpTest, SignInjection) {
  hart.set_x(a1, bits_of(2.0));
  emit({fmv_d_x(1, a1), fsgnjn_d(2, 1, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.f(2), bits_of(-2.0));
}

TEST_F(HartFpTest, FlagsAccumulateInFflags) {
  hart.set_x(a1, bits_of(1.0));
  hart.set_x(a2, bits_of(3.0));
  // 1/3 is inexact: fdiv.d f3, f1, f2 (rm = RNE)
  emit({fmv_d_x(1, a1), fmv_d_x(2, a2), fp_op(0x0d, 0, 3, 1, 2), csrrs(a0, csr::kFflags, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 1u); // NX
}

TEST_F(HartFpTest, DynamicRoundingUsesFrm) {
  hart.set_x(a1, bits_of(2.5));
  // frm = RTZ (1), then fcvt.w.d a0, f1, dyn -> 2; with RNE -> 2; with RUP (3) -> 3.
  emit({fmv_d_x(1, a1), csrrwi(zero, csr::kFrm, 3), fcvt_w_d(a0, 1, 7), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 3u);
}

TEST_F(HartFpTest, InvalidRoundingModesAreIllegal) {
  emit({fadd_d(1, 2, 3, 5)});
  EXPECT_EQ(run_to_trap(), kIllegal);
  cursor = kCode;
  hart.set_pc(kCode);
  hart.set_csr(csr::kFrm, 6);
  emit({fadd_d(1, 2, 3, 7)}); // DYN with an invalid frm
  EXPECT_EQ(run_to_trap(), kIllegal);
}

TEST_F(HartFpTest, FcsrPacksFrmAndFflags) {
  hart.set_x(a1, 0xff);
  emit({csrrw(zero, csr::kFcsr, a1), csrrs(a0, csr::kFrm, zero), csrrs(a2, csr::kFflags, zero),
        csrrs(a3, csr::kFcsr, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 7u);
  EXPECT_EQ(hart.x(a2), 0x1fu);
  EXPECT_EQ(hart.x(a3), 0xffu);
}

TEST_F(HartFpTest, ConvertAndCompare) {
  hart.set_x(a1, static_cast<uint64_t>(-7));
  emit({fcvt_d_w(1, a1), feq_d(a0, 1, 1), fmv_x_w(a2, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.f(1), bits_of(-7.0));
  EXPECT_EQ(hart.x(a0), 1u);
}

} // namespace
} // namespace nimbus::test
