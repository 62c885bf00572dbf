// Property tests on random fleets: every placement is feasible (capacity, groups), the engine
// rejects only when no host can take the VM (checked by brute force), and its bookkeeping
// (active hosts, total demand) matches a recount. Also the free-capacity index on its own.
#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

#include "cloud/placement/online/consolidation_planner.hpp"
#include "cloud/placement/online/free_capacity_index.hpp"
#include "cloud/placement/online/online_engine.hpp"

namespace nimbus::cloud::placement::online {
namespace {

// Recomputes everything the engine keeps incrementally and checks every host is within capacity
// and holds at most one VM of each anti-affinity group, all VMs of an affinity group together.
void check_invariants(const OnlineEngine& e) {
  ResourceVector total;
  std::size_t active = 0, vms = 0;
  std::unordered_map<GroupId, HostId> affinity_host;
  for (HostId id = 0; id < e.host_count(); ++id) {
    const HostState& h = e.host(id);
    ResourceVector used;
    std::unordered_map<GroupId, int> anti;
    for (VmId vm : h.vms) {
      const VmRecord* rec = e.find_vm(vm);
      ASSERT_NE(rec, nullptr);
      ASSERT_EQ(rec->host, id);
      used += rec->demand;
      if (rec->anti_affinity_group != kNoGroup) {
        ASSERT_EQ(++anti[rec->anti_affinity_group], 1) << "host " << id;
      }
      if (rec->affinity_group != kNoGroup) {
        auto [it, inserted] = affinity_host.try_emplace(rec->affinity_group, id);
        ASSERT_EQ(it->second, id) << "affinity group split";
      }
    }
    ASSERT_EQ(used, h.used);
    ASSERT_TRUE(h.used.fits_in(h.usable)) << "host " << id << " over capacity";
    total += used;
    active += !h.vms.empty();
    vms += h.vms.size();
  }
  EXPECT_EQ(total, e.total_demand());
  EXPECT_EQ(active, e.active_host_count());
  EXPECT_EQ(vms, e.live_vm_count());
}

bool some_host_admits(const OnlineEngine& e, const VmRequest& r) {
  for (HostId id = 0; id < e.host_count(); ++id) {
    const HostState& h = e.host(id);
    if (h.status != HostStatus::Schedulable || !r.demand.fits_in(h.free())) continue;
    bool peer = false;
    for (VmId vm : h.vms)
      peer = peer || (r.anti_affinity_group != kNoGroup && e.find_vm(vm)->anti_affinity_group == r.anti_affinity_group);
    if (!peer) return true;
  }
  return false;
}

class RandomFleet : public ::testing::TestWithParam<std::tuple<Policy, std::size_t>> {};

TEST_P(RandomFleet, PlacementsAreFeasibleAndRejectionsAreForced) {
  const auto [policy, dims] = GetParam();
  std::mt19937_64 rng(1234 + static_cast<uint64_t>(policy) * 10 + dims);
  EngineConfig c;
  c.policy = policy;
  c.dimensions = dims;
  c.overcommit[0] = 1.5;
  OnlineEngine e(c);
  std::uniform_int_distribution<int64_t> cap(20, 100), dem(1, 40), group(0, 6);
  for (int i = 0; i < 60; ++i) {
    HostSpec s;
    for (std::size_t d = 0; d < dims; ++d) {
      s.capacity[d] = cap(rng);
      s.reserved[d] = cap(rng) % 5;
    }
    e.add_host(s);
  }
  std::vector<VmId> live;
  std::size_t rejected = 0;
  for (VmId id = 1; id <= 3000; ++id) {
    if (!live.empty() && rng() % 3 == 0) {
      const std::size_t k = rng() % live.size();
      e.release(live[k]);
      live[k] = live.back();
      live.pop_back();
    }
    if (id % 500 == 0) {  // occasionally drain a host and bring it back
      const HostId h = static_cast<HostId>(rng() % e.host_count());
      e.drain_host(h);
      ASSERT_NO_FATAL_FAILURE(check_invariants(e));
      e.uncordon(h);
    }
    VmRequest r;
    r.id = id;
    for (std::size_t d = 0; d < dims; ++d) r.demand[d] = dem(rng);
    r.anti_affinity_group = static_cast<GroupId>(group(rng) < 2 ? 1 + rng() % 3 : 0);
    r.affinity_group = static_cast<GroupId>(r.anti_affinity_group == 0 && group(rng) == 0 ? 10 + rng() % 4 : 0);
    const bool possible = some_host_admits(e, r);
    const PlacementDecision d = e.place(r);
    if (d.placed) {
      live.push_back(id);
      EXPECT_TRUE(possible);
    } else {
      ++rejected;
      if (d.reason == RejectReason::NoCapacity) {
        EXPECT_FALSE(possible) << "VM " << id << " rejected but fits";
      }
    }
    if (id % 100 == 0) {
      ASSERT_NO_FATAL_FAILURE(check_invariants(e));
    }
  }
  EXPECT_GT(rejected, 0u);  // the fleet was pushed to its limit
  ASSERT_NO_FATAL_FAILURE(check_invariants(e));

  // Consolidation never breaks feasibility and frees exactly the hosts it promised.
  ConsolidationOptions opts;
  opts.migration_budget = 200;
  const std::size_t before = e.active_host_count();
  const ConsolidationPlan plan = plan_consolidation(e, opts);
  EXPECT_LE(plan.migrations.size(), opts.migration_budget);
  EXPECT_EQ(apply_plan(e, plan), plan.migrations.size());
  for (HostId h : plan.freed_hosts) EXPECT_TRUE(e.host(h).vms.empty());
  EXPECT_EQ(e.active_host_count(), before - plan.freed_hosts.size());
  ASSERT_NO_FATAL_FAILURE(check_invariants(e));
}

INSTANTIATE_TEST_SUITE_P(Policies, RandomFleet,
                         ::testing::Combine(::testing::Values(Policy::BestFit, Policy::WorstFit, Policy::DotProduct,
                                                              Policy::Hybrid),
                                            ::testing::Values(std::size_t{1}, std::size_t{2}, std::size_t{3},
                                                              std::size_t{4})));

TEST(OnlineBestFit, MatchesBruteForceOnAFineGrid) {
  // With one level per unit of capacity, buckets hold hosts with equal free capacity, so best
  // fit through the index must equal the brute-force best fit (ties to the lowest host id
  // within equal free capacity are not required, only equal residual).
  std::mt19937_64 rng(99);
  EngineConfig c;
  c.dimensions = 1;
  c.index_levels = 64;
  OnlineEngine e(c);
  for (int i = 0; i < 40; ++i) e.add_host(HostSpec{ResourceVector{{64, 0, 0, 0}}, {}});
  std::vector<VmId> live;
  for (VmId id = 1; id <= 2000; ++id) {
    if (!live.empty() && rng() % 2 == 0) {
      const std::size_t k = rng() % live.size();
      e.release(live[k]);
      live[k] = live.back();
      live.pop_back();
    }
    const int64_t size = 1 + static_cast<int64_t>(rng() % 30);
    int64_t best_left = INT64_MAX;
    for (HostId h = 0; h < e.host_count(); ++h) {
      const int64_t left = e.host(h).free()[0] - size;
      if (left >= 0 && left < best_left) best_left = left;
    }
    const PlacementDecision d = e.place(VmRequest{id, ResourceVector{{size, 0, 0, 0}}});
    ASSERT_EQ(d.placed, best_left != INT64_MAX);
    if (!d.placed) continue;
    live.push_back(id);
    EXPECT_EQ(e.host(d.host).free()[0], best_left) << "VM " << id;
  }
}

TEST(FreeCapacityIndex, CandidatesAreExactlyTheBucketsThatCanHoldTheDemand) {
  FreeCapacityIndex index;
  index.configure(2, 4, ResourceVector{{100, 40, 0, 0}});  // steps of 25 and 10
  index.insert(0, ResourceVector{{10, 5, 0, 0}});
  index.insert(1, ResourceVector{{60, 35, 0, 0}});
  index.insert(2, ResourceVector{{100, 40, 0, 0}});
  index.insert(3, ResourceVector{{60, 38, 0, 0}});  // same bucket as host 1
  EXPECT_EQ(index.size(), 4u);
  std::vector<uint32_t> out;
  index.candidate_buckets(ResourceVector{{30, 30, 0, 0}}, out);
  std::size_t hosts = 0;
  for (uint32_t b : out) hosts += index.bucket(b).hosts.size();
  EXPECT_EQ(hosts, 3u);  // hosts 1, 3 and 2; not 0
  index.candidate_buckets(ResourceVector{{101, 0, 0, 0}}, out);
  ASSERT_EQ(out.size(), 1u);  // only the top bucket is open-ended
  index.erase(2);
  index.erase(2);  // erasing twice is harmless
  index.candidate_buckets(ResourceVector{{101, 0, 0, 0}}, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(index.size(), 3u);
  // Fullest host first within a bucket.
  index.candidate_buckets(ResourceVector{{60, 35, 0, 0}}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(index.bucket(out[0]).hosts.begin()->second, 1u);
  EXPECT_THROW(index.configure(5, 4, {}), PlacementError);
}

} // namespace
} // namespace nimbus::cloud::placement::online
