// Auto-converge's policy (auto_converge.hpp): when it throttles, by how much, and where it stops.
#include <gtest/gtest.h>

#include "hypervisor/auto_converge.hpp"

namespace nimbus::hypervisor::migration {
namespace {

TEST(AutoConverge, OneBusyRoundIsNotEnoughTwoInARowStartTheThrottle) {
  AutoConverge policy(100, 1);
  EXPECT_EQ(policy.after_round(300, 0), std::nullopt);     // round 1: nothing to compare with
  EXPECT_EQ(policy.after_round(300, 400), std::nullopt);   // busy once
  EXPECT_EQ(policy.after_round(100, 400), std::nullopt);   // calm: the count starts again
  EXPECT_EQ(policy.after_round(300, 400), std::nullopt);
  EXPECT_EQ(policy.after_round(300, 400), 50u);            // busy twice, the guest did not re-dirty it all: half
  EXPECT_EQ(policy.percent(), 50u);
}

TEST(AutoConverge, AGuestThatRedirtiesEverythingIsCutToAQuarterEachRoundDownToTheFloor) {
  // A JIT guest rewrites its whole working set many times per round: the count saturates.
  AutoConverge policy(100, 1);
  EXPECT_EQ(policy.after_round(512, 512), std::nullopt);
  EXPECT_EQ(policy.after_round(512, 512), 25u);
  EXPECT_EQ(policy.after_round(500, 512), 6u);   // every busy round once throttled; 500 of 512 is all of it
  EXPECT_EQ(policy.after_round(400, 512), 3u);   // busy, not saturated: half
  EXPECT_EQ(policy.after_round(512, 400), 1u);
  EXPECT_EQ(policy.after_round(512, 512), std::nullopt);   // at the floor
  EXPECT_EQ(policy.percent(), 1u);
  EXPECT_EQ(policy.after_round(10, 512), std::nullopt);    // converging: left as it is
  EXPECT_EQ(policy.percent(), 1u);
}

TEST(AutoConverge, TheFloorIsTheReservationAndTheStartTheVmsShare) {
  AutoConverge two_vcpus(200, 30);   // no cap, 2 vCPUs, 30 % reserved
  two_vcpus.after_round(512, 512);
  EXPECT_EQ(two_vcpus.after_round(512, 512), 50u);
  EXPECT_EQ(two_vcpus.after_round(512, 512), 30u);
  EXPECT_EQ(two_vcpus.after_round(512, 512), std::nullopt);
  // A cap lower than assumed: the cut starts from it, never above it.
  AutoConverge capped(100, 1);
  capped.after_round(512, 512);
  EXPECT_EQ(capped.after_round(512, 512), 25u);
  EXPECT_EQ(capped.rebase(20), 5u);
  EXPECT_EQ(capped.percent(), 5u);
  EXPECT_EQ(capped.full(), 20u);
}

} // namespace
} // namespace nimbus::hypervisor::migration
