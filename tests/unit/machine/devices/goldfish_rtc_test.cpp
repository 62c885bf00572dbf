#include <gtest/gtest.h>

#include <chrono>

#include "machine/devices/goldfish_rtc.hpp"

namespace nimbus::machine {
namespace {

using R = GoldfishRtc;

uint64_t read_time(R& rtc) {
  uint64_t lo = 0, hi = 0;
  EXPECT_TRUE(rtc.read(R::kTimeLow, 4, lo));
  EXPECT_TRUE(rtc.read(R::kTimeHigh, 4, hi));
  return (hi << 32) | lo;
}

TEST(GoldfishRtc, DeterministicTimeIsEpochPlusMtime) {
  Clock clock(true);
  R rtc(clock, {});
  EXPECT_EQ(read_time(rtc), R::kDeterministicEpochNs);
  clock.retire(Clock::kInstructionsPerTick * 10'000'000); // one second of mtime
  EXPECT_EQ(read_time(rtc), R::kDeterministicEpochNs + 1'000'000'000);
}

TEST(GoldfishRtc, HostTimeFollowsWallClock) {
  Clock clock(false);
  R rtc(clock, {});
  const auto host = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const uint64_t t = read_time(rtc);
  EXPECT_LT(t > host ? t - host : host - t, 5'000'000'000u);
}

TEST(GoldfishRtc, WritingTimeMovesTheGuestClock) {
  Clock clock(true);
  R rtc(clock, {});
  ASSERT_TRUE(rtc.write(R::kTimeHigh, 4, 0x10));
  ASSERT_TRUE(rtc.write(R::kTimeLow, 4, 0x20));
  EXPECT_EQ(read_time(rtc), 0x10'0000'0020u);
}

TEST(GoldfishRtc, AlarmRaisesInterruptWhenDueAndClears) {
  Clock clock(true);
  bool irq = false;
  R rtc(clock, [&](bool level) { irq = level; });
  const uint64_t due = R::kDeterministicEpochNs + 1000; // 10 mtime ticks
  ASSERT_TRUE(rtc.write(R::kIrqEnabled, 4, 1));
  ASSERT_TRUE(rtc.write(R::kAlarmHigh, 4, due >> 32));
  ASSERT_TRUE(rtc.write(R::kAlarmLow, 4, due & 0xffffffff));
  uint64_t status = 0;
  ASSERT_TRUE(rtc.read(R::kAlarmStatus, 4, status));
  EXPECT_EQ(status, 1u);
  rtc.tick();
  EXPECT_FALSE(irq);
  clock.retire(Clock::kInstructionsPerTick * 10);
  rtc.tick();
  EXPECT_TRUE(irq);
  ASSERT_TRUE(rtc.read(R::kAlarmStatus, 4, status));
  EXPECT_EQ(status, 0u);
  ASSERT_TRUE(rtc.write(R::kClearInterrupt, 4, 1));
  EXPECT_FALSE(irq);
}

TEST(GoldfishRtc, AlarmInThePastFiresAtOnceButOnlyIfEnabled) {
  Clock clock(true);
  bool irq = false;
  R rtc(clock, [&](bool level) { irq = level; });
  ASSERT_TRUE(rtc.write(R::kAlarmHigh, 4, 0));
  ASSERT_TRUE(rtc.write(R::kAlarmLow, 4, 5));
  EXPECT_FALSE(irq);
  ASSERT_TRUE(rtc.write(R::kIrqEnabled, 4, 1));
  EXPECT_TRUE(irq);
}

TEST(GoldfishRtc, OnlyAlignedWordAccess) {
  Clock clock(true);
  R rtc(clock, {});
  uint64_t v = 0;
  EXPECT_FALSE(rtc.read(R::kTimeLow, 8, v));
  EXPECT_FALSE(rtc.read(2, 4, v));
}

} // namespace
} // namespace nimbus::machine
