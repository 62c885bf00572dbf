#include <gtest/gtest.h>

#include "machine/devices/plic.hpp"

namespace nimbus::machine {
namespace {

constexpr uint64_t kMeip = uint64_t{1} << Plic::kMeipBit;
constexpr uint64_t kSeip = uint64_t{1} << Plic::kSeipBit;

struct PlicTest : ::testing::Test {
  InterruptPins hart0, hart1;
  Plic plic{{&hart0, &hart1}};

  void w(uint64_t offset, uint32_t value) { ASSERT_TRUE(plic.write(offset, 4, value)); }
  uint32_t r(uint64_t offset) {
    uint64_t v = 0;
    EXPECT_TRUE(plic.read(offset, 4, v));
    return static_cast<uint32_t>(v);
  }
  void enable(unsigned context, unsigned source) {
    const uint64_t at = Plic::kEnableOffset + Plic::kEnableStride * context + 4 * (source / 32);
    w(at, r(at) | (1u << (source % 32)));
  }
  uint64_t claim_reg(unsigned context) { return Plic::kContextOffset + Plic::kContextStride * context + 4; }
  uint64_t threshold_reg(unsigned context) { return Plic::kContextOffset + Plic::kContextStride * context; }
};

TEST_F(PlicTest, HasTwoContextsPerHart) { EXPECT_EQ(plic.contexts(), 4u); }

TEST_F(PlicTest, PriorityIsMaskedToThreeBitsAndSourceZeroIsHardwired) {
  w(4 * 10, 0xff);
  EXPECT_EQ(r(4 * 10), 7u);
  w(0, 5);
  EXPECT_EQ(r(0), 0u);
}

TEST_F(PlicTest, PendingBitFollowsLevelWhileUnclaimed) {
  plic.set_irq(10, true);
  EXPECT_EQ(r(Plic::kPendingOffset), 1u << 10);
  plic.set_irq(10, false);
  EXPECT_EQ(r(Plic::kPendingOffset), 0u);
  plic.set_irq(70, true);
  EXPECT_EQ(r(Plic::kPendingOffset + 8), 1u << (70 - 64));
}

TEST_F(PlicTest, ContextsDriveMeipAndSeipOfTheirHart) {
  w(4 * 10, 1);
  enable(3, 10); // hart 1, S-mode
  plic.set_irq(10, true);
  EXPECT_EQ(hart1.sample() & kSeip, kSeip);
  EXPECT_EQ(hart1.sample() & kMeip, 0u);
  EXPECT_EQ(hart0.sample() & (kSeip | kMeip), 0u);
  enable(0, 10); // hart 0, M-mode
  EXPECT_EQ(hart0.sample() & kMeip, kMeip);
}

TEST_F(PlicTest, ZeroPriorityNeverInterruptsAndThresholdMasks) {
  enable(0, 5);
  plic.set_irq(5, true);
  EXPECT_EQ(hart0.sample() & kMeip, 0u) << "priority 0 means never";
  w(4 * 5, 3);
  EXPECT_EQ(hart0.sample() & kMeip, kMeip);
  w(threshold_reg(0), 3);
  EXPECT_EQ(hart0.sample() & kMeip, 0u) << "priority must exceed the threshold";
  EXPECT_EQ(r(claim_reg(0)), 0u);
  w(threshold_reg(0), 2);
  EXPECT_EQ(hart0.sample() & kMeip, kMeip);
}

TEST_F(PlicTest, ClaimPicksHighestPriorityThenLowestId) {
  for (unsigned s : {3u, 4u, 9u}) {
    enable(1, s);
    plic.set_irq(s, true);
  }
  w(4 * 3, 2);
  w(4 * 4, 5);
  w(4 * 9, 5);
  EXPECT_EQ(r(claim_reg(1)), 4u);
  EXPECT_EQ(r(claim_reg(1)), 9u);
  EXPECT_EQ(r(claim_reg(1)), 3u);
  EXPECT_EQ(r(claim_reg(1)), 0u);
  EXPECT_EQ(hart0.sample() & kSeip, 0u);
}

TEST_F(PlicTest, ClaimedSourceStaysQuietUntilCompleted) {
  w(4 * 10, 1);
  enable(1, 10);
  plic.set_irq(10, true);
  ASSERT_EQ(r(claim_reg(1)), 10u);
  EXPECT_EQ(r(Plic::kPendingOffset), 0u) << "the claim clears the pending bit";
  EXPECT_EQ(hart0.sample() & kSeip, 0u);
  EXPECT_EQ(r(claim_reg(1)), 0u) << "a claimed source is not delivered twice";
  w(claim_reg(1), 10);
  EXPECT_EQ(hart0.sample() & kSeip, 0u);
}

// QEMU 7.2's gateway: a line that stays high after the completion is not pending again (xv6's
// UART driver never reads IIR, so the 16550's THR-empty line stays high; a level gateway that
// re-pended on completion would interrupt it for ever).
TEST_F(PlicTest, CompletionDoesNotRependALineThatStayedHigh) {
  w(4 * 10, 1);
  enable(1, 10);
  plic.set_irq(10, true);
  ASSERT_EQ(r(claim_reg(1)), 10u);
  w(claim_reg(1), 10);
  EXPECT_EQ(r(Plic::kPendingOffset), 0u);
  EXPECT_EQ(hart0.sample() & kSeip, 0u);
  EXPECT_EQ(r(claim_reg(1)), 0u);
  // A new assertion (a new event at the device) is a new request, although the line never fell.
  plic.set_irq(10, true);
  EXPECT_EQ(r(Plic::kPendingOffset), 1u << 10);
  EXPECT_EQ(hart0.sample() & kSeip, kSeip);
}

TEST_F(PlicTest, AssertionWhileClaimedIsDeliveredAfterCompletion) {
  w(4 * 10, 1);
  enable(1, 10);
  plic.set_irq(10, true);
  ASSERT_EQ(r(claim_reg(1)), 10u);
  plic.set_irq(10, false);
  plic.set_irq(10, true); // the device signals again while the handler runs
  EXPECT_EQ(r(Plic::kPendingOffset), 1u << 10) << "held in the pending bit";
  EXPECT_EQ(hart0.sample() & kSeip, 0u) << "but not delivered while claimed";
  EXPECT_EQ(r(claim_reg(1)), 0u);
  w(claim_reg(1), 10);
  EXPECT_EQ(hart0.sample() & kSeip, kSeip);
  ASSERT_EQ(r(claim_reg(1)), 10u);
  w(claim_reg(1), 10);
  EXPECT_EQ(hart0.sample() & kSeip, 0u);
}

TEST_F(PlicTest, LoweringTheLineWithdrawsAnUnclaimedRequest) {
  w(4 * 10, 1);
  enable(1, 10);
  plic.set_irq(10, true);
  EXPECT_EQ(hart0.sample() & kSeip, kSeip);
  plic.set_irq(10, false);
  EXPECT_EQ(hart0.sample() & kSeip, 0u);
  EXPECT_EQ(r(claim_reg(1)), 0u);
}

TEST_F(PlicTest, CompletionForSourceNotEnabledInContextIsIgnored) {
  w(4 * 10, 1);
  enable(1, 10);
  plic.set_irq(10, true);
  ASSERT_EQ(r(claim_reg(1)), 10u);
  plic.set_irq(10, true);
  w(claim_reg(0), 10); // context 0 does not have source 10 enabled
  EXPECT_EQ(hart0.sample() & kSeip, 0u) << "still in flight";
  w(claim_reg(1), 10);
  EXPECT_EQ(hart0.sample() & kSeip, kSeip);
}

TEST_F(PlicTest, ThresholdPerContextAndPriorityOrderAcrossClaims) {
  for (unsigned s : {5u, 6u, 7u}) {
    enable(0, s);
    enable(1, s);
  }
  w(4 * 5, 1);
  w(4 * 6, 4);
  w(4 * 7, 6);
  w(threshold_reg(0), 4); // M context: only priority > 4
  w(threshold_reg(1), 0);
  for (unsigned s : {5u, 6u, 7u}) plic.set_irq(s, true);
  EXPECT_EQ(r(claim_reg(0)), 7u);
  EXPECT_EQ(r(claim_reg(0)), 0u) << "6 and 5 are at or below the M threshold";
  EXPECT_EQ(hart0.sample() & kMeip, 0u);
  EXPECT_EQ(hart0.sample() & kSeip, kSeip);
  EXPECT_EQ(r(claim_reg(1)), 6u);
  EXPECT_EQ(r(claim_reg(1)), 5u);
  EXPECT_EQ(r(claim_reg(1)), 0u);
}

TEST_F(PlicTest, OutOfRangeSourcesAndContextsAreHarmless) {
  plic.set_irq(0, true);
  plic.set_irq(Plic::kSources, true);
  plic.set_irq(1000, true);
  EXPECT_EQ(r(Plic::kPendingOffset), 0u);
  w(Plic::kContextOffset + Plic::kContextStride * 50, 1);
  EXPECT_EQ(r(Plic::kContextOffset + Plic::kContextStride * 50 + 4), 0u);
  uint64_t v = 0;
  EXPECT_FALSE(plic.read(2, 4, v)) << "misaligned";
  EXPECT_FALSE(plic.read(0, 1, v)) << "byte access";
}

TEST_F(PlicTest, EnableBitForSourceZeroIsHardwiredToZero) {
  w(Plic::kEnableOffset, 0xffffffff);
  EXPECT_EQ(r(Plic::kEnableOffset), 0xfffffffeu);
}

} // namespace
} // namespace nimbus::machine
