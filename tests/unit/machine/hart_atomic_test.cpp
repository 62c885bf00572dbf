// LR/SC reservations (including across harts sharing one ReservationSet) and AMOs.
#include "hart_test_support.hpp"

namespace nimbus::test {
namespace {

using namespace as;

class HartAtomicTest : public HartTest {
protected:
  uint64_t amo_result(uint32_t funct5, bool d, uint64_t memory, uint64_t operand, uint64_t& new_memory) {
    put64(kData, memory);
    hart.set_x(a1, kData);
    hart.set_x(a2, operand);
    cursor = kCode;
    emit({amo(funct5, d, a0, a1, a2), ebreak()});
    hart.set_pc(kCode);
    EXPECT_EQ(run_to_trap(), kBreakpoint);
    new_memory = get64(kData);
    return hart.x(a0);
  }
};

TEST_F(HartAtomicTest, LrScSucceedsOnAnIntactReservation) {
  put64(kData, 5);
  hart.set_x(a1, kData);
  hart.set_x(a2, 9);
  emit({amo(kLr, true, a0, a1, zero), amo(kSc, true, a3, a1, a2), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 5u);
  EXPECT_EQ(hart.x(a3), 0u);
  EXPECT_EQ(get64(kData), 9u);
}

TEST_F(HartAtomicTest, ScWithoutReservationFailsAndDoesNotStore) {
  put64(kData, 5);
  hart.set_x(a1, kData);
  hart.set_x(a2, 9);
  emit({amo(kSc, true, a3, a1, a2), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a3), 1u);
  EXPECT_EQ(get64(kData), 5u);
}

TEST_F(HartAtomicTest, ScToAnotherAddressFailsAndClearsTheReservation) {
  hart.set_x(a1, kData);
  hart.set_x(a4, kData + 8);
  emit({amo(kLr, true, a0, a1, zero), amo(kSc, true, a3, a4, a2), amo(kSc, true, a5, a1, a2), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a3), 1u);
  EXPECT_EQ(hart.x(a5), 1u);
}

TEST_F(HartAtomicTest, ReservationSurvivesSlicesOfTheSameHart) {
  hart.set_x(a1, kData);
  hart.set_x(a2, 1);
  emit({amo(kLr, true, a0, a1, zero), jal(zero, 0), amo(kSc, true, a3, a1, a2), ebreak()});
  hart.run(10); // LR, then spinning at kCode + 4
  EXPECT_TRUE(reservations.valid());
  hart.set_pc(kCode + 8);
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a3), 0u);
  EXPECT_EQ(get64(kData), 1u);
}

TEST_F(HartAtomicTest, AnotherHartRunningBreaksTheReservation) {
  machine::Hart other{1, bus, clock, reservations};
  hart.set_x(a1, kData);
  hart.set_x(a2, 1);
  emit({amo(kLr, true, a0, a1, zero), jal(zero, 0), amo(kSc, true, a3, a1, a2), ebreak()});
  hart.run(10);
  EXPECT_TRUE(reservations.valid());
  // The other hart gets the thread (and could store to the reserved address).
  put32(kRamBase + 0x8000, jal(0, 0));
  other.reset(kRamBase + 0x8000);
  other.run(10);
  hart.set_pc(kCode + 8);
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a3), 1u);
  EXPECT_EQ(get64(kData), 0u);
}

TEST_F(HartAtomicTest, TrapsClearTheReservation) {
  hart.set_x(a1, kData);
  emit({amo(kLr, true, a0, a1, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_FALSE(reservations.valid());
}

TEST_F(HartAtomicTest, WordLrSignExtends) {
  put64(kData, 0x80000000u);
  hart.set_x(a1, kData);
  emit({amo(kLr, false, a0, a1, zero), ebreak()});
  ASSERT_EQ(run_to_trap(), kBreakpoint);
  EXPECT_EQ(hart.x(a0), 0xffffffff80000000u);
}

TEST_F(HartAtomicTest, AmoOperations) {
  uint64_t memory;
  EXPECT_EQ(amo_result(kAmoAdd, true, 10, 5, memory), 10u);
  EXPECT_EQ(memory, 15u);
  EXPECT_EQ(amo_result(kAmoSwap, true, 10, 5, memory), 10u);
  EXPECT_EQ(memory, 5u);
  EXPECT_EQ(amo_result(kAmoXor, true, 0xff, 0x0f, memory), 0xffu);
  EXPECT_EQ(memory, 0xf0u);
  EXPECT_EQ(amo_result(kAmoAnd, true, 0xff, 0x0f, memory), 0xffu);
  EXPECT_EQ(memory, 0x0fu);
  EXPECT_EQ(amo_result(kAmoOr, true, 0xf0, 0x0f, memory), 0xf0u);
  EXPECT_EQ(memory, 0xffu);
  EXPECT_EQ(amo_result(kAmoMin, true, ~uint64_t{0}, 1, memory), ~uint64_t{0});
  EXPECT_EQ(memory, ~uint64_t{0});
  EXPECT_EQ(amo_result(kAmoMinu, true, ~uint64_t{0}, 1, memory), ~uint64_t{0});
  EXPECT_EQ(memory, 1u);
  EXPECT_EQ(amo_result(kAmoMax, true, ~uint64_t{0}, 1, memory), ~uint64_t{0});
  EXPECT_EQ(memory, 1u);
  EXPECT_EQ(amo_result(kAmoMaxu, true, 3, 1, memory), 3u);
  EXPECT_EQ(memory, 3u);
}

TEST_F(HartAtomicTest, WordAmosTouchOnlyFourBytesAndCompareAsWords) {
  uint64_t memory;
  // Memory word 0xffffffff is -1 as a signed word: MAX.W with 1 stores 1; upper word untouched.
  EXPECT_EQ(amo_result(kAmoMax, false, 0x12345678ffffffffu, 1, memory), ~uint64_t{0});
  EXPECT_EQ(memory, 0x1234567800000001u);
  EXPECT_EQ(amo_result(kAmoMaxu, false, 0x00000000ffffffffu, 1, memory), ~uint64_t{0});
  EXPECT_EQ(memory, 0xffffffffu);
  EXPECT_EQ(amo_result(kAmoAdd, false, 0xaaaaaaaa7fffffffu, 1, memory), 0x7fffffffu);
  EXPECT_EQ(memory, 0xaaaaaaaa80000000u);
}

TEST_F(HartAtomicTest, MisalignedAmoIsAStoreAddressMisalignedException) {
  hart.set_x(a1, kData + 4);
  emit({amo(kAmoAdd, true, a0, a1, a2)});
  EXPECT_EQ(run_to_trap(), 6u);
  EXPECT_EQ(mtval(), kData + 4);
  hart.set_pc(kCode);
  cursor = kCode;
  hart.set_x(a1, kData + 2);
  emit({amo(kLr, false, a0, a1, zero)});
  EXPECT_EQ(run_to_trap(), 4u);
}

TEST_F(HartAtomicTest, AmoToNothingIsAStoreAccessFault) {
  hart.set_x(a1, 0x1000);
  emit({amo(kAmoSwap, true, a0, a1, a2)});
  EXPECT_EQ(run_to_trap(), 7u);
}

} // namespace
} // namespace nimbus::test
