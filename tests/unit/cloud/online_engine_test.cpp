// Hand-checked decisions of the online engine: each policy, overcommit, reserves, groups,
// host drain and removal.
#include <gtest/gtest.h>

#include "cloud/placement/online/online_engine.hpp"

namespace nimbus::cloud::placement::online {
namespace {

ResourceVector rv(int64_t a, int64_t b) {
  ResourceVector v;
  v[0] = a;
  v[1] = b;
  return v;
}

HostSpec host_of(int64_t cpu, int64_t mem) { return HostSpec{rv(cpu, mem), {}}; }

VmRequest vm(VmId id, int64_t cpu, int64_t mem, GroupId affinity = kNoGroup, GroupId anti = kNoGroup) {
  return VmRequest{id, rv(cpu, mem), affinity, anti};
}

OnlineEngine engine_with(Policy p, int hosts, int64_t cpu = 16, int64_t mem = 64) {
  EngineConfig c;
  c.policy = p;
  OnlineEngine e(c);
  for (int i = 0; i < hosts; ++i) e.add_host(host_of(cpu, mem));
  return e;
}

TEST(OnlineEngine, BestFitPicksTheFullestHostThatFits) {
  OnlineEngine e = engine_with(Policy::BestFit, 3);
  ASSERT_EQ(e.place(vm(1, 8, 32)).host, 0u);   // all empty: lowest id
  ASSERT_EQ(e.place(vm(2, 12, 48)).host, 1u);  // does not fit on host 0 (8 left)
  // Host 1 has 4/16 left, host 0 has 8/32: a 4/16 VM fits host 1 exactly.
  EXPECT_EQ(e.place(vm(3, 4, 16)).host, 1u);
  EXPECT_EQ(e.place(vm(4, 4, 16)).host, 0u);
  EXPECT_EQ(e.active_host_count(), 2u);
}

TEST(OnlineEngine, WorstFitSpreadsAcrossHosts) {
  OnlineEngine e = engine_with(Policy::WorstFit, 3);
  EXPECT_EQ(e.place(vm(1, 2, 8)).host, 0u);
  EXPECT_EQ(e.place(vm(2, 2, 8)).host, 1u);
  EXPECT_EQ(e.place(vm(3, 2, 8)).host, 2u);
  EXPECT_EQ(e.active_host_count(), 3u);
}

TEST(OnlineEngine, DotProductPrefersAlignedFreeCapacity) {
  OnlineEngine e = engine_with(Policy::DotProduct, 3);
  ASSERT_EQ(e.place(vm(1, 12, 8)).host, 0u);   // host 0: 4 cpu, 56 mem free (memory-rich)
  ASSERT_EQ(e.place(vm(2, 2, 56)).host, 0u);   // only active host, fits: 2 cpu, 0 mem left
  ASSERT_EQ(e.place(vm(3, 1, 60)).host, 1u);   // host 1: 15 cpu, 4 mem (cpu-rich)
  ASSERT_EQ(e.place(vm(4, 12, 8)).host, 2u);   // host 2: 4 cpu, 56 mem (memory-rich)
  // A memory-heavy VM goes to the host with memory to spare, a cpu-heavy one to host 1.
  EXPECT_EQ(e.place(vm(5, 1, 20)).host, 2u);
  EXPECT_EQ(e.place(vm(6, 6, 2)).host, 1u);
}

TEST(OnlineEngine, HybridAvoidsStrandingResources) {
  OnlineEngine e = engine_with(Policy::Hybrid, 2);
  ASSERT_EQ(e.place(vm(1, 8, 8)).host, 0u);    // host 0: 8 cpu, 56 mem left
  ASSERT_EQ(e.place(vm(2, 14, 8)).host, 1u);   // does not fit host 0; host 1: 2 cpu, 56 mem left
  // A 2/48 VM fits both; on host 1 it uses the memory that would otherwise be stranded
  // behind host 1's exhausted cpu, leaving 0/8; on host 0 it would leave 6/8 (balanced too),
  // so compare: best fit would also pick host 1. Use a VM where best fit and hybrid differ:
  // 1 cpu / 4 mem: host 1 -> 1/52 (stranded memory), host 0 -> 7/52 (less stranded).
  EXPECT_EQ(e.place(vm(3, 1, 4)).host, 0u);
  OnlineEngine bf = engine_with(Policy::BestFit, 2);
  bf.place(vm(1, 8, 8));
  bf.place(vm(2, 14, 8));
  EXPECT_EQ(bf.place(vm(3, 1, 4)).host, 1u);
}

TEST(OnlineEngine, RejectsWhenNothingFitsAndAcceptsAfterRelease) {
  OnlineEngine e = engine_with(Policy::BestFit, 1);
  ASSERT_TRUE(e.place(vm(1, 10, 10)).placed);
  const PlacementDecision d = e.place(vm(2, 10, 10));
  EXPECT_FALSE(d.placed);
  EXPECT_EQ(d.reason, RejectReason::NoCapacity);
  e.release(1);
  EXPECT_TRUE(e.place(vm(2, 10, 10)).placed);
  EXPECT_EQ(e.live_vm_count(), 1u);
}

TEST(OnlineEngine, OvercommitAndReserveShapeUsableCapacity) {
  EngineConfig c;
  c.overcommit[0] = 2.0;  // cpu sold twice
  OnlineEngine e(c);
  const HostId h = e.add_host(HostSpec{rv(16, 64), rv(2, 8)});
  EXPECT_EQ(e.host(h).usable, rv(30, 56));
  EXPECT_TRUE(e.place(vm(1, 30, 10)).placed);
  EXPECT_FALSE(e.place(vm(2, 1, 1)).placed);
  EXPECT_FALSE(e.place(vm(3, 0, 47)).placed);
  EXPECT_THROW(e.add_host(HostSpec{rv(16, 64), rv(0, 65)}), PlacementError);
}

TEST(OnlineEngine, AffinityGroupSharesOneHost) {
  OnlineEngine e = engine_with(Policy::WorstFit, 3);
  const HostId first = e.place(vm(1, 2, 2, /*affinity=*/7)).host;
  EXPECT_EQ(e.place(vm(2, 2, 2, 7)).host, first);  // worst fit would pick another host
  EXPECT_EQ(e.place(vm(3, 12, 2, 7)).host, first);
  const PlacementDecision full = e.place(vm(4, 1, 1, 7));
  EXPECT_FALSE(full.placed);
  EXPECT_EQ(full.reason, RejectReason::AffinityHostFull);
  // Once every member has left the group may start anywhere.
  e.release(1);
  e.release(2);
  e.release(3);
  EXPECT_TRUE(e.place(vm(4, 1, 1, 7)).placed);
}

TEST(OnlineEngine, AntiAffinityGroupNeverSharesAHost) {
  OnlineEngine e = engine_with(Policy::BestFit, 3);
  EXPECT_EQ(e.place(vm(1, 1, 1, kNoGroup, 5)).host, 0u);
  EXPECT_EQ(e.place(vm(2, 1, 1, kNoGroup, 5)).host, 1u);  // best fit alone would say host 0
  EXPECT_EQ(e.place(vm(3, 1, 1, kNoGroup, 5)).host, 2u);
  EXPECT_FALSE(e.place(vm(4, 1, 1, kNoGroup, 5)).placed);
  EXPECT_EQ(e.place(vm(5, 1, 1)).host, 0u);  // other VMs are unaffected
}

TEST(OnlineEngine, DrainMovesVmsAndStopsPlacements) {
  OnlineEngine e = engine_with(Policy::BestFit, 3);
  e.place(vm(1, 4, 4));
  e.place(vm(2, 4, 4));
  ASSERT_EQ(e.host(0).vms.size(), 2u);
  const EvacuationOutcome out = e.drain_host(0);
  EXPECT_EQ(out.migrations.size(), 2u);
  EXPECT_TRUE(out.stranded.empty());
  EXPECT_TRUE(e.host(0).vms.empty());
  EXPECT_EQ(e.find_vm(1)->host, e.find_vm(2)->host);  // best fit keeps them together
  EXPECT_NE(e.place(vm(3, 1, 1)).host, 0u);
  EXPECT_EQ(e.schedulable_host_count(), 2u);
}

TEST(OnlineEngine, RemoveEvictsWhatCannotMove) {
  OnlineEngine e = engine_with(Policy::BestFit, 2);
  e.place(vm(1, 12, 12));
  e.place(vm(2, 12, 12));  // host 1
  e.place(vm(3, 3, 3));    // host 0 or 1, 4 left on each
  const HostId h = e.find_vm(1)->host;
  const EvacuationOutcome out = e.remove_host(h);
  EXPECT_EQ(out.stranded.size(), 1u);  // the 12-cpu VM has nowhere to go
  EXPECT_EQ(e.find_vm(1), nullptr);
  EXPECT_EQ(e.host(h).status, HostStatus::Removed);
  EXPECT_THROW(e.uncordon(h), PlacementError);
}

TEST(OnlineEngine, ContractViolationsThrowPreciseErrors) {
  OnlineEngine e = engine_with(Policy::BestFit, 1);
  e.place(vm(1, 1, 1));
  EXPECT_THROW(e.place(vm(1, 1, 1)), PlacementError);
  EXPECT_THROW(e.place(vm(2, -1, 1)), PlacementError);
  EXPECT_THROW(e.release(99), PlacementError);
  EXPECT_THROW(e.host(5), PlacementError);
  ResourceVector third;
  third[2] = 1;
  EXPECT_THROW(e.place(VmRequest{3, third}), PlacementError);
  EngineConfig bad;
  bad.overcommit[1] = 0;
  EXPECT_THROW(OnlineEngine{bad}, PlacementError);
}

TEST(OnlineEngine, PolicyNamesRoundTrip) {
  for (Policy p : {Policy::BestFit, Policy::WorstFit, Policy::DotProduct, Policy::Hybrid}) {
    Policy parsed = Policy::BestFit;
    ASSERT_TRUE(parse_policy(policy_name(p), parsed));
    EXPECT_EQ(parsed, p);
  }
  Policy p;
  EXPECT_FALSE(parse_policy("first-fit", p));
}

} // namespace
} // namespace nimbus::cloud::placement::online
