// The consolidation planner on a hand-checked fleet: budget respected, affinity groups moved as
// one unit, hosts that receive VMs never emptied, the live engine untouched until apply_plan.
#include <gtest/gtest.h>

#include "cloud/placement/online/consolidation_planner.hpp"

namespace nimbus::cloud::placement::online {
namespace {

ResourceVector rv(int64_t a, int64_t b) { return ResourceVector{{a, b, 0, 0}}; }

// h0: vm1 (8,32); h1: vm2 + vm3, affinity group 5 (2,8 each); h2: vm4 (4,4).
OnlineEngine spread_fleet() {
  EngineConfig c;
  c.policy = Policy::WorstFit;
  OnlineEngine e(c);
  for (int i = 0; i < 3; ++i) e.add_host(HostSpec{rv(16, 64), {}});
  EXPECT_EQ(e.place(VmRequest{1, rv(8, 32)}).host, 0u);
  EXPECT_EQ(e.place(VmRequest{2, rv(2, 8), 5}).host, 1u);
  EXPECT_EQ(e.place(VmRequest{3, rv(2, 8), 5}).host, 1u);
  EXPECT_EQ(e.place(VmRequest{4, rv(4, 4)}).host, 2u);
  return e;
}

TEST(OnlineConsolidation, SmallBudgetFreesTheLightestHostOnly) {
  const OnlineEngine e = spread_fleet();
  ConsolidationOptions o;
  o.migration_budget = 1;
  const ConsolidationPlan plan = plan_consolidation(e, o);
  ASSERT_EQ(plan.migrations.size(), 1u);
  EXPECT_EQ(plan.migrations[0].vm, 4u);
  EXPECT_EQ(plan.migrations[0].from, 2u);
  EXPECT_EQ(plan.migrations[0].to, 0u);  // best fit: the fuller host
  EXPECT_EQ(plan.freed_hosts, std::vector<HostId>{2});
  EXPECT_EQ(e.find_vm(4)->host, 2u);  // planning does not touch the engine
}

TEST(OnlineConsolidation, AffinityGroupMovesTogether) {
  OnlineEngine e = spread_fleet();
  ConsolidationOptions o;
  o.migration_budget = 3;
  const ConsolidationPlan plan = plan_consolidation(e, o);
  EXPECT_EQ(plan.migrations.size(), 3u);
  EXPECT_EQ(plan.freed_hosts, (std::vector<HostId>{2, 1}));
  EXPECT_EQ(apply_plan(e, plan), 3u);
  for (VmId vm = 1; vm <= 4; ++vm) EXPECT_EQ(e.find_vm(vm)->host, 0u) << vm;
  EXPECT_EQ(e.host(0).used, rv(16, 52));
  EXPECT_EQ(e.active_host_count(), 1u);
  // The group now lives on host 0: a new member must go there, and it is full in vCPU.
  EXPECT_EQ(e.place(VmRequest{5, rv(1, 1), 5}).reason, RejectReason::AffinityHostFull);
}

TEST(OnlineConsolidation, ZeroBudgetOrOneHostPlansNothing) {
  const OnlineEngine e = spread_fleet();
  EXPECT_TRUE(plan_consolidation(e, ConsolidationOptions{0, 64}).migrations.empty());
  EngineConfig c;
  OnlineEngine single(c);
  single.add_host(HostSpec{rv(16, 64), {}});
  single.place(VmRequest{1, rv(1, 1)});
  EXPECT_TRUE(plan_consolidation(single, ConsolidationOptions{10, 64}).migrations.empty());
}

TEST(OnlineConsolidation, StalePlanIsRefused) {
  OnlineEngine e = spread_fleet();
  ConsolidationOptions o;
  o.migration_budget = 1;
  const ConsolidationPlan plan = plan_consolidation(e, o);
  // Host 0, the planned target, fills up before the plan is applied.
  e.set_policy(Policy::BestFit);
  ASSERT_EQ(e.place(VmRequest{10, rv(8, 32)}).host, 0u);
  EXPECT_THROW(apply_plan(e, plan), PlacementError);
}

} // namespace
} // namespace nimbus::cloud::placement::online
