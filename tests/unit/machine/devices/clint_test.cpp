#include <gtest/gtest.h>

#include "machine/devices/clint.hpp"

namespace nimbus::machine {
namespace {

constexpr uint64_t kMsip = uint64_t{1} << Clint::kMsipBit;
constexpr uint64_t kMtip = uint64_t{1} << Clint::kMtipBit;

struct ClintTest : ::testing::Test {
  Clock clock{true};
  InterruptPins hart0, hart1;
  Clint clint{clock, {&hart0, &hart1}};
};

TEST_F(ClintTest, MsipDrivesSoftwareInterruptPinOfThatHartOnly) {
  ASSERT_TRUE(clint.write(Clint::kMsipOffset + 4, 4, 1));
  EXPECT_EQ(hart1.sample() & kMsip, kMsip);
  EXPECT_EQ(hart0.sample() & kMsip, 0u);
  uint64_t v = 0;
  ASSERT_TRUE(clint.read(Clint::kMsipOffset + 4, 4, v));
  EXPECT_EQ(v, 1u);
  ASSERT_TRUE(clint.write(Clint::kMsipOffset + 4, 4, 0xfffffffe)); // only bit 0 is writable
  EXPECT_EQ(hart1.sample() & kMsip, 0u);
}

TEST_F(ClintTest, MtimeReadsTheClock) {
  clock.retire(Clock::kInstructionsPerTick * 1234);
  uint64_t v = 0;
  ASSERT_TRUE(clint.read(Clint::kMtimeOffset, 8, v));
  EXPECT_EQ(v, 1234u);
  ASSERT_TRUE(clint.read(Clint::kMtimeOffset, 4, v));
  EXPECT_EQ(v, 1234u);
  ASSERT_TRUE(clint.read(Clint::kMtimeOffset + 4, 4, v));
  EXPECT_EQ(v, 0u);
}

TEST_F(ClintTest, TimerPinFollowsMtimecmpOnTick) {
  EXPECT_EQ(hart0.sample() & kMtip, 0u) << "timer must be quiet until armed";
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset, 8, 100));
  EXPECT_EQ(hart0.sample() & kMtip, 0u);
  EXPECT_EQ(clint.next_deadline(), 100u);
  clock.retire(Clock::kInstructionsPerTick * 99);
  clint.tick(clock.now());
  EXPECT_EQ(hart0.sample() & kMtip, 0u);
  clock.retire(Clock::kInstructionsPerTick);
  clint.tick(clock.now());
  EXPECT_EQ(hart0.sample() & kMtip, kMtip);
  EXPECT_EQ(hart1.sample() & kMtip, 0u);
  // Writing a later compare value lowers the pin at once.
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset, 8, 1000));
  EXPECT_EQ(hart0.sample() & kMtip, 0u);
}

TEST_F(ClintTest, MtimecmpCanBeWrittenInHalves) {
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset + 8 + 4, 4, 0x1));
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset + 8, 4, 0x2));
  uint64_t v = 0;
  ASSERT_TRUE(clint.read(Clint::kMtimecmpOffset + 8, 8, v));
  EXPECT_EQ(v, 0x1'0000'0002u);
  EXPECT_EQ(clint.next_deadline(), 0x1'0000'0002u);
}

TEST_F(ClintTest, NextDeadlineIsEarliestCompare) {
  EXPECT_EQ(clint.next_deadline(), Clint::kNoDeadline);
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset, 8, 500));
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset + 8, 8, 300));
  EXPECT_EQ(clint.next_deadline(), 300u);
}

// Found by fuzz_clint: with mtime set behind the clock, a compare near 2^64 that the clock
// reaches only past 2^64 wrapped to a deadline in the past (a run loop would spin); it never
// fires, as it would not on the guest's own counter either in any practical time.
TEST_F(ClintTest, ACompareBeyondTheClocksRangeIsNoDeadline) {
  clock.retire(Clock::kInstructionsPerTick * 1000);
  ASSERT_TRUE(clint.write(Clint::kMtimeOffset, 8, 0));                      // mtime behind the clock
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset, 8, Clint::kNoDeadline - 2));
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset + 8, 8, Clint::kNoDeadline));
  EXPECT_EQ(clint.next_deadline(), Clint::kNoDeadline);
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset + 8, 8, 100));               // 100 guest ticks on
  EXPECT_EQ(clint.next_deadline(), clock.now() + 100);
}

TEST_F(ClintTest, MtimeWriteShiftsGuestTimeAndDeadline) {
  clock.retire(Clock::kInstructionsPerTick * 10);
  ASSERT_TRUE(clint.write(Clint::kMtimeOffset, 8, 1000));
  uint64_t v = 0;
  ASSERT_TRUE(clint.read(Clint::kMtimeOffset, 8, v));
  EXPECT_EQ(v, 1000u);
  ASSERT_TRUE(clint.write(Clint::kMtimecmpOffset, 8, 1050));
  // 50 guest ticks from now, in the clock's own time base.
  EXPECT_EQ(clint.next_deadline(), clock.now() + 50);
}

TEST_F(ClintTest, MisalignedAccessFaultsAndAbsentHartsReadZero) {
  uint64_t v = 0;
  EXPECT_FALSE(clint.read(Clint::kMsipOffset + 2, 4, v));
  EXPECT_FALSE(clint.write(Clint::kMtimecmpOffset + 4, 8, 0));
  ASSERT_TRUE(clint.read(Clint::kMsipOffset + 4 * 7, 4, v));
  EXPECT_EQ(v, 0u);
}

} // namespace
} // namespace nimbus::machine
