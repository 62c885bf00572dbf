// The host agent's reconcile decisions.
#include <gtest/gtest.h>

#include "cloud/host/reconcile.hpp"

namespace nimbus::cloud::host {
namespace {

using K = ReconcileAction::Kind;

TEST(Reconcile, StartsWhatIsAssignedAndNotPresent) {
  EXPECT_EQ(reconcile({{"a", {1}}, {"b", {1}}}, {}),
            (std::vector<ReconcileAction>{{K::Start, "a"}, {K::Start, "b"}}));
}

TEST(Reconcile, NothingWhenEverythingMatches) {
  for (VmState s : {VmState::Starting, VmState::Running, VmState::Stopping, VmState::Stopped, VmState::PoweredOff,
                    VmState::Failed})
    EXPECT_TRUE(reconcile({{"a", {2}}}, {{"a", {2, s, true}}}).empty()) << to_string(s);
}

TEST(Reconcile, RemovesWhatIsNoLongerAssignedButNotApiVms) {
  EXPECT_EQ(reconcile({}, {{"a", {1, VmState::Running, true}}, {"local", {1, VmState::Running, false}}}),
            (std::vector<ReconcileAction>{{K::Remove, "a"}}));
}

TEST(Reconcile, ANewGenerationRestartsWhateverTheState) {
  EXPECT_EQ(reconcile({{"a", {3}}}, {{"a", {2, VmState::Running, true}}}),
            (std::vector<ReconcileAction>{{K::Restart, "a"}}));
  EXPECT_EQ(reconcile({{"a", {3}}}, {{"a", {2, VmState::PoweredOff, true}}}),
            (std::vector<ReconcileAction>{{K::Restart, "a"}}));
}

TEST(Reconcile, FencedVmsStillAssignedStartAgain) {
  EXPECT_EQ(reconcile({{"a", {1}}}, {{"a", {1, VmState::Fenced, true}}}),
            (std::vector<ReconcileAction>{{K::Start, "a"}}));
  // ...and fenced VMs no longer assigned go.
  EXPECT_EQ(reconcile({}, {{"a", {1, VmState::Fenced, true}}}), (std::vector<ReconcileAction>{{K::Remove, "a"}}));
}

TEST(Reconcile, RemovesComeFirstThenRestartsThenStarts) {
  EXPECT_EQ(reconcile({{"a", {1}}, {"b", {2}}}, {{"b", {1, VmState::Running, true}}, {"c", {1, VmState::Running, true}}}),
            (std::vector<ReconcileAction>{{K::Remove, "c"}, {K::Restart, "b"}, {K::Start, "a"}}));
}

// Live moves: an incoming copy is adopted once the controller drops "incoming"; the running copy
// is sent once per address, and only while it runs.
TEST(Reconcile, LiveMoveInAdoptsTheIncomingCopyAtSwitchOver) {
  Present waiting{1, VmState::Incoming, true, true, ""};
  EXPECT_TRUE(reconcile({{"a", {1, true, ""}}}, {{"a", waiting}}).empty());
  EXPECT_EQ(reconcile({{"a", {1, false, ""}}}, {{"a", waiting}}), (std::vector<ReconcileAction>{{K::Adopt, "a"}}));
  // A new generation while waiting (the source was lost): restart from the disk.
  EXPECT_EQ(reconcile({{"a", {2, false, ""}}}, {{"a", waiting}}), (std::vector<ReconcileAction>{{K::Restart, "a"}}));
  // Not present yet: Start (the agent starts the incoming VMM from the spec).
  EXPECT_EQ(reconcile({{"a", {1, true, ""}}}, {}), (std::vector<ReconcileAction>{{K::Start, "a"}}));
}

TEST(Reconcile, LiveMoveOutSendsARunningCopyOncePerAddress) {
  const std::string to = "tcp:127.0.0.1:4444";
  EXPECT_EQ(reconcile({{"a", {1, false, to}}}, {{"a", {1, VmState::Running, true, false, ""}}}),
            (std::vector<ReconcileAction>{{K::Send, "a"}}));
  EXPECT_TRUE(reconcile({{"a", {1, false, to}}}, {{"a", {1, VmState::Running, true, false, to}}}).empty());
  // A later attempt to another address sends again.
  EXPECT_EQ(reconcile({{"a", {1, false, "tcp:127.0.0.1:5555"}}}, {{"a", {1, VmState::Running, true, false, to}}}),
            (std::vector<ReconcileAction>{{K::Send, "a"}}));
  for (VmState s : {VmState::Starting, VmState::Stopping, VmState::Stopped, VmState::Failed, VmState::Migrated})
    EXPECT_TRUE(reconcile({{"a", {1, false, to}}}, {{"a", {1, s, true, false, ""}}}).empty()) << to_string(s);
  // An incoming copy is adopted first, never sent on in the same step.
  EXPECT_EQ(reconcile({{"a", {1, false, to}}}, {{"a", {1, VmState::Running, true, true, ""}}}),
            (std::vector<ReconcileAction>{{K::Adopt, "a"}}));
}

TEST(Reconcile, LiveMoveStatesAreActiveOrNot) {
  EXPECT_TRUE(is_active(VmState::Incoming));
  EXPECT_FALSE(is_active(VmState::Migrated));
  EXPECT_STREQ(to_string(VmState::Incoming), "incoming");
  EXPECT_STREQ(to_string(VmState::Migrated), "migrated");
}

// A source VMM that sent its VM away exits 0 by itself; if the fence (no lease renewal) flagged
// it before the agent reaped it, it is still migrated: a Fenced copy would be started from its
// disk again once the agent registers (same generation: a reboot, and a second copy of a VM that
// runs at the destination).
TEST(VmmExit, AVmmThatSentItsVmAwayIsMigratedEvenIfTheFenceFlaggedIt) {
  EXPECT_EQ(exit_state(false, 0, true, true, false), VmState::Migrated);
  EXPECT_EQ(exit_state(false, 0, false, true, false), VmState::Migrated);
  EXPECT_EQ(exit_state(false, 0, true, true, true), VmState::Migrated);
  // Killed by the fence's SIGKILL, or ended otherwise while it was being sent: fenced.
  EXPECT_EQ(exit_state(true, 9, true, true, false), VmState::Fenced);
  EXPECT_EQ(exit_state(false, 1, true, true, false), VmState::Fenced);
  EXPECT_EQ(exit_state(false, 0, true, false, false), VmState::Fenced);
  // The rest as before.
  EXPECT_EQ(exit_state(false, 130, false, false, true), VmState::Stopped);
  EXPECT_EQ(exit_state(false, 0, false, false, false), VmState::PoweredOff);
  EXPECT_EQ(exit_state(false, 1, false, true, false), VmState::Failed);
  EXPECT_EQ(exit_state(true, 11, false, false, false), VmState::Failed);
}

} // namespace
} // namespace nimbus::cloud::host
