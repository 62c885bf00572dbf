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

} // namespace
} // namespace nimbus::cloud::host
