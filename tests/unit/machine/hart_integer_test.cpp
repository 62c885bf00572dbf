// RV64I and M instructions executed by the hart, with their edge cases.
#include "hart_test_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;

class HartIntegerTest : public HartTest {
protected:
  // Runs one R-type instruction a0 = op(a1, a2) and returns a0.
  uint64_t binary(uint32_t instruction, uint64_t a, uint64_t b) {
    hart.set_x(a1, a);
    hart.set_x(a2, b);
    emit({instruction, ebreak()});
    EXPECT_EQ(run_to_trap(), kBreakpoint);
    return hart.x(a0);
  }
};

TEST_F(HartIntegerTest, AddiAndLuiBuildConstants) {
  emit({lui(a0, 0x12345000), addi(a0, a0, 0x678), addi(a1, zero, -1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x12345678u);
  EXPECT_EQ(hart.x(a1), ~uint64_t{0});
  EXPECT_EQ(mepc(), kCode + 12);
}

TEST_F(HartIntegerTest, LuiSignExtendsToSixtyFourBits) {
  emit({lui(a0, static_cast<int32_t>(0x80000000u)), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xffffffff80000000u);
}

TEST_F(HartIntegerTest, WritesToX0AreDiscarded) {
  emit({addi(zero, zero, 5), add(a0, zero, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(0), 0u);
  EXPECT_EQ(hart.x(a0), 0u);
}

TEST_F(HartIntegerTest, AuipcIsRelativeToItsOwnAddress) {
  emit({addi(a1, zero, 1), auipc(a0, 0x1000), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), kCode + 4 + 0x1000);
}

TEST_F(HartIntegerTest, SetLessThanSignedAndUnsigned) {
  EXPECT_EQ(binary(slt(a0, a1, a2), ~uint64_t{0}, 1), 1u);
  cursor = kCode;
  hart.set_pc(kCode);
  EXPECT_EQ(binary(sltu(a0, a1, a2), ~uint64_t{0}, 1), 0u);
}

TEST_F(HartIntegerTest, ShiftsUseSixBitAmounts) {
  EXPECT_EQ(binary(sll(a0, a1, a2), 1, 65), 2u);
  cursor = kCode;
  hart.set_pc(kCode);
  EXPECT_EQ(binary(sra(a0, a1, a2), 0x8000000000000000u, 63), ~uint64_t{0});
}

TEST_F(HartIntegerTest, WordOpsSignExtendTheirResult) {
  emit({addiw(a0, a1, 1), addw(a2, a1, a1), subw(a3, zero, a4), ebreak()});
  hart.set_x(a1, 0x7fffffff);
  hart.set_x(a4, 1);
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xffffffff80000000u);
  EXPECT_EQ(hart.x(a2), 0xfffffffffffffffeu);
  EXPECT_EQ(hart.x(a3), ~uint64_t{0});
}

TEST_F(HartIntegerTest, WordShiftsUseFiveBitAmountsAndSignExtend) {
  emit({sllw(a0, a1, a2), srlw(a3, a4, a2), sraw(a5, a4, a2), slliw(t0, a1, 31), sraiw(t1, a4, 4), srliw(t2, a4, 0),
        ebreak()});
  hart.set_x(a1, 1);
  hart.set_x(a2, 33); // only the low 5 bits count: shift by 1
  hart.set_x(a4, 0xffffffff80000000u);
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 2u);
  EXPECT_EQ(hart.x(a3), 0x40000000u);
  EXPECT_EQ(hart.x(a5), 0xffffffffc0000000u);
  EXPECT_EQ(hart.x(t0), 0xffffffff80000000u);
  EXPECT_EQ(hart.x(t1), 0xfffffffff8000000u);
  EXPECT_EQ(hart.x(t2), 0xffffffff80000000u); // srliw by 0 still sign-extends bit 31
}

TEST_F(HartIntegerTest, DivisionByZeroFollowsTheSpec) {
  EXPECT_EQ(binary(div(a0, a1, a2), 7, 0), ~uint64_t{0});
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(divu(a0, a1, a2), 7, 0), ~uint64_t{0});
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(rem(a0, a1, a2), 7, 0), 7u);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(remuw(a0, a1, a2), 0x80000007u, 0), 0xffffffff80000007u);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(divw(a0, a1, a2), 7, 0), ~uint64_t{0});
}

TEST_F(HartIntegerTest, SignedOverflowDivision) {
  EXPECT_EQ(binary(div(a0, a1, a2), 0x8000000000000000u, ~uint64_t{0}), 0x8000000000000000u);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(rem(a0, a1, a2), 0x8000000000000000u, ~uint64_t{0}), 0u);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(divw(a0, a1, a2), 0x80000000u, ~uint64_t{0}), 0xffffffff80000000u);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(remw(a0, a1, a2), 0x80000000u, ~uint64_t{0}), 0u);
}

TEST_F(HartIntegerTest, HighMultiplies) {
  EXPECT_EQ(binary(mulh(a0, a1, a2), ~uint64_t{0}, ~uint64_t{0}), 0u);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(mulhu(a0, a1, a2), ~uint64_t{0}, ~uint64_t{0}), 0xfffffffffffffffeu);
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(mulhsu(a0, a1, a2), ~uint64_t{0}, 2), ~uint64_t{0}); // -1 * 2 = -2: high = -1
  cursor = kCode; hart.set_pc(kCode);
  EXPECT_EQ(binary(mulw(a0, a1, a2), 0x10000, 0x8000), 0xffffffff80000000u);
}

TEST_F(HartIntegerTest, LoadsSignOrZeroExtend) {
  put64(kData, 0x80c0e0f08090a0b0u);
  hart.set_x(a1, kData);
  emit({lb(a0, a1, 0), lbu(a2, a1, 0), lh(a3, a1, 6), lhu(a4, a1, 6), lw(a5, a1, 4), lwu(t0, a1, 4), ld(t1, a1, 0),
        ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xffffffffffffffb0u);
  EXPECT_EQ(hart.x(a2), 0xb0u);
  EXPECT_EQ(hart.x(a3), 0xffffffffffff80c0u);
  EXPECT_EQ(hart.x(a4), 0x80c0u);
  EXPECT_EQ(hart.x(a5), 0xffffffff80c0e0f0u);
  EXPECT_EQ(hart.x(t0), 0x80c0e0f0u);
  EXPECT_EQ(hart.x(t1), 0x80c0e0f08090a0b0u);
}

TEST_F(HartIntegerTest, StoresWriteOnlyTheirWidth) {
  put64(kData, 0);
  hart.set_x(a1, kData);
  hart.set_x(a2, 0x1122334455667788u);
  emit({sb(a2, a1, 0), sh(a2, a1, 2), sw(a2, a1, 4), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(get64(kData), 0x5566778877880088u);
}

TEST_F(HartIntegerTest, BranchesAndLoops) {
  // a0 = sum of 1..10 with a counted loop.
  emit({addi(a1, zero, 10), addi(a0, zero, 0), add(a0, a0, a1), addi(a1, a1, -1), bne(a1, zero, -8),
        csrrs(a5, riscv::csr::kMinstret, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 55u);
  EXPECT_EQ(hart.x(a5), 2u + 30u); // instructions retired before the csrr
}

TEST_F(HartIntegerTest, SignedAndUnsignedBranchConditions) {
  hart.set_x(a1, ~uint64_t{0});
  hart.set_x(a2, 1);
  // blt taken (skips addi a0), bltu not taken (runs addi a3), bge not taken, bgeu taken.
  emit({blt(a1, a2, 8), addi(a0, zero, 1), bltu(a1, a2, 8), addi(a3, zero, 1), bge(a1, a2, 8), addi(a4, zero, 1),
        bgeu(a1, a2, 8), addi(a5, zero, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0u);
  EXPECT_EQ(hart.x(a3), 1u);
  EXPECT_EQ(hart.x(a4), 1u);
  EXPECT_EQ(hart.x(a5), 0u);
}

TEST_F(HartIntegerTest, JalAndJalrLinkAndClearBitZero) {
  hart.set_x(a1, kCode + 13); // odd target: JALR clears bit 0 -> kCode + 12
  emit({jal(ra, 8), ebreak(), jalr(t0, a1, 0), ebreak(), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(ra), kCode + 4);
  EXPECT_EQ(hart.x(t0), kCode + 12);
  EXPECT_EQ(mepc(), kCode + 12);
}

TEST_F(HartIntegerTest, JalrWithSameSourceAndDestination) {
  hart.set_x(a1, kCode + 8);
  emit({jalr(a1, a1, 0), ebreak(), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(mepc(), kCode + 8);
  EXPECT_EQ(hart.x(a1), kCode + 4);
}

TEST_F(HartIntegerTest, CompressedInstructionsExecute) {
  emit16(0x4515);  // c.li a0, 5
  emit16(0x0505);  // c.addi a0, 1
  emit16(0x85aa);  // c.mv a1, a0
  emit16(0x95aa);  // c.add a1, a0
  emit16(0x9002);  // c.ebreak
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 6u);
  EXPECT_EQ(hart.x(a1), 12u);
  EXPECT_EQ(mepc(), kCode + 8);
}

TEST_F(HartIntegerTest, IllegalInstructionReportsItsBits) {
  emit({0xffffffffu});
  ASSERT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(mtval(), 0xffffffffu);
  EXPECT_EQ(mepc(), kCode);
}

TEST_F(HartIntegerTest, IllegalCompressedReportsSixteenBits) {
  emit16(0x0000); // the all-zero parcel is defined illegal
  emit16(0x0000);
  ASSERT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(mtval(), 0u);
  cursor = kCode;
  hart.set_pc(kCode);
  emit16(0x8002); // c.jr x0 is reserved
  ASSERT_EQ(run_to_trap(), kIllegal);
  EXPECT_EQ(mtval(), 0x8002u);
}

TEST_F(HartIntegerTest, InstructionCrossingAPageBoundaryExecutes) {
  const uint64_t start = kCode + 0xffe;
  hart.set_pc(start);
  const uint32_t insn = addi(a0, zero, 42);
  put16(start, static_cast<uint16_t>(insn));
  put16(start + 2, static_cast<uint16_t>(insn >> 16));
  put32(start + 4, ebreak());
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 42u);
  EXPECT_EQ(mepc(), start + 4);
}

TEST_F(HartIntegerTest, FetchFromNothingIsAnInstructionAccessFault) {
  hart.set_x(a1, 0x1000);
  emit({jalr(ra, a1, 0)});
  ASSERT_EQ(run_to_trap(), 1u);
  EXPECT_EQ(mepc(), 0x1000u);
  EXPECT_EQ(mtval(), 0x1000u);
}

// Device regions hold no code (their PMA is not executable): a jump into one is an instruction
// access fault at the target, and the device sees no read (a fetch must not pop a FIFO). QEMU
// 7.2 executes the device's bytes instead (its UART reads as an illegal instruction); the spec
// follows the platform's PMAs, which for the virt board's devices are not executable. Both tiers.
class ReadCountingDevice : public machine::MmioDevice {
public:
  int reads = 0;
  std::string_view name() const override { return "counting"; }
  bool read(uint64_t, unsigned, uint64_t& value) override {
    ++reads;
    value = 0x13;   // would decode as an instruction (addi x0, x0, 0) if fetched
    return true;
  }
  bool write(uint64_t, unsigned, uint64_t) override { return true; }
};

TEST_F(HartIntegerTest, FetchFromADeviceIsAnInstructionAccessFaultInBothTiers) {
  for (const bool jit : {false, true}) {
    SCOPED_TRACE(jit ? "JIT" : "interpreter");
    ReadCountingDevice device;
    machine::Bus device_bus{kRamBase, kRamSize};
    device_bus.map(0x10000000, 0x1000, &device);
    machine::ReservationSet device_reservations;
    machine::Hart device_hart{0, device_bus, clock, device_reservations};
    device_hart.set_jit(jit, 1);
    const uint64_t trap = kRamBase + 0x7000;
    const uint32_t park = as::jal(0, 0);
    ASSERT_TRUE(device_bus.copy_to_ram(trap, &park, 4));
    const uint32_t program[] = {as::jalr(ra, a1, 0)};
    ASSERT_TRUE(device_bus.copy_to_ram(kCode, program, sizeof(program)));
    for (int pass = 0; pass < 3; ++pass) {   // again, once the JIT has translated the jump
      device_hart.reset(kCode);
      device_hart.set_csr(riscv::csr::kMtvec, trap);
      device_hart.set_x(a1, 0x10000000);
      for (int i = 0; i < 100 && device_hart.pc() != trap; ++i) device_hart.run(16);
      ASSERT_EQ(device_hart.pc(), trap);
      EXPECT_EQ(device_hart.csr(riscv::csr::kMcause), 1u);
      EXPECT_EQ(device_hart.csr(riscv::csr::kMepc), 0x10000000u);
      EXPECT_EQ(device_hart.csr(riscv::csr::kMtval), 0x10000000u);
      EXPECT_EQ(device_hart.x(ra), kCode + 4);
    }
    EXPECT_EQ(device.reads, 0);
  }
}

TEST_F(HartIntegerTest, LoadAndStoreToNothingAreAccessFaults) {
  hart.set_x(a1, 0x1000);
  emit({ld(a0, a1, 0)});
  ASSERT_EQ(run_to_trap(), 5u);
  EXPECT_EQ(mtval(), 0x1000u);
  cursor = kCode;
  hart.set_pc(kCode);
  emit({sd(a0, a1, 8)});
  ASSERT_EQ(run_to_trap(), 7u);
  EXPECT_EQ(mtval(), 0x1008u);
}

TEST_F(HartIntegerTest, MisalignedAccessesWorkIncludingAcrossPages) {
  const uint64_t address = kData + 0xffd; // crosses into the next page
  hart.set_x(a1, address);
  hart.set_x(a2, 0x0102030405060708u);
  emit({sd(a2, a1, 0), ld(a0, a1, 0), lw(a3, a1, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0x0102030405060708u);
  EXPECT_EQ(hart.x(a3), 0x04050607u);
  uint8_t bytes[8];
  ASSERT_TRUE(bus.copy_from_ram(address, bytes, 8));
  EXPECT_EQ(bytes[0], 0x08);
  EXPECT_EQ(bytes[7], 0x01);
}

TEST_F(HartIntegerTest, SelfModifyingCodeIsSeenAfterTheStore) {
  // The loop body is executed (decoded), then overwritten by a store, then executed again.
  const uint32_t replacement = addi(a0, a0, 100);
  hart.set_x(a2, replacement);
  hart.set_x(a3, kCode + 8);
  emit({addi(a4, zero, 2),         // 0: two iterations
        addi(a1, zero, 0),         // 4
        addi(a0, a0, 1),           // 8: patched to addi a0, a0, 100
        sw(a2, a3, 0),             // 12
        addi(a4, a4, -1),          // 16
        bne(a4, zero, -12),        // 20: back to 8
        ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 101u);
}

TEST_F(HartIntegerTest, FenceIMakesExternallyWrittenCodeVisible) {
  emit({addi(a0, zero, 1), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 1u);
  // Rewrite the code behind the hart's back (as a DMA write) and run again.
  put32(kCode, addi(a0, zero, 2));
  hart.set_pc(kCode);
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 2u);
}

// A device that asks the hart to stop when written, as a power-off register would.
class StopDevice : public machine::MmioDevice {
public:
  machine::Hart* hart = nullptr;
  std::string_view name() const override { return "stop"; }
  bool read(uint64_t, unsigned, uint64_t& value) override {
    value = 0;
    return true;
  }
  bool write(uint64_t, unsigned, uint64_t) override {
    hart->request_exit();
    return true;
  }
};

TEST_F(HartIntegerTest, DeviceWriteCanStopTheRunAtTheBlockBoundary) {
  StopDevice device;
  device.hart = &hart;
  bus.map(0x10000000, 0x1000, &device);
  hart.set_x(a1, 0x10000000);
  emit({sw(zero, a1, 0), addi(a0, a0, 1), jal(zero, -8)});
  const uint64_t retired = hart.run(100000);
  EXPECT_EQ(retired, 3u); // the block with the store finishes, then run() returns
  EXPECT_EQ(hart.x(a0), 1u);
}

TEST_F(HartIntegerTest, MisalignedDeviceAccessIsSplitIntoBytes) {
  StopDevice device;
  device.hart = &hart;
  bus.map(0x10000000, 0x1000, &device);
  hart.set_x(a1, 0x10000001);
  emit({lw(a0, a1, 0), ebreak()});
  EXPECT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0u);
}

TEST_F(HartIntegerTest, RunReturnsRetiredCountAndStopsOnRequest) {
  emit({addi(a0, a0, 1), jal(zero, -4)});
  const uint64_t retired = hart.run(1000);
  EXPECT_GE(retired, 1000u);
  EXPECT_LT(retired, 1000u + 64u);
  EXPECT_EQ(hart.instret(), retired);
  hart.request_exit();
  EXPECT_EQ(hart.run(1000), 0u);
}

} // namespace
} // namespace nimbus::test
