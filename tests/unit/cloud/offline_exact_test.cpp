#include <gtest/gtest.h>

#include "cloud/placement/arc_flow.hpp"
#include "cloud/placement/exact_solver.hpp"
#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/lower_bounds.hpp"
#include "cloud/placement/offline_solver.hpp"
#include "offline_test_support.hpp"

namespace nimbus::cloud::placement {
namespace {

using testing::make_instance;
using testing::vec;

ExactResult exact(const Instance& in, double seconds = 10) {
  const Packing start = heuristic_packing(in, Heuristic::FirstFit);  // deliberately weak start
  return solve_exact(in, start, cost_lower_bound(in), seconds);
}

// Property: the exact solver equals brute force on small random instances, in one dimension
// (bin completion and arc flow), several dimensions and several host types (branch-and-bound).
TEST(OfflineExact, EqualsBruteForceOnSmallInstances) {
  SplitMix64 rng(testing::property_seed(2024));
  for (int round = 0; round < testing::property_rounds(120); ++round) {
    const std::size_t dims = 1 + static_cast<std::size_t>(round % 3);
    const std::size_t types = round % 4 == 3 ? 2 : 1;
    const Instance in = testing::random_instance(rng, dims, 1 + static_cast<std::size_t>(rng.uniform(0, 8)), types);
    const double optimum = testing::brute_force_optimum(in);
    const ExactResult r = exact(in);
    ASSERT_TRUE(r.optimal) << "round " << round;
    EXPECT_EQ(packing_violation(in, r.packing), "") << "round " << round;
    EXPECT_NEAR(r.cost, optimum, 1e-9) << "round " << round << " dims " << dims << " types " << types;
    EXPECT_NEAR(r.lower_bound, optimum, 1e-9) << "round " << round;
  }
}

TEST(OfflineExact, BinCompletionProvesInfeasibility) {
  // 6 6 6 with capacity 10 cannot go in two bins; three suffice.
  std::vector<int32_t> bin_of;
  uint64_t nodes = 0;
  EXPECT_EQ(bin_completion_decide({6, 6, 6}, 10, 2, 1.0, bin_of, nodes), 0);
  EXPECT_EQ(bin_completion_decide({6, 6, 6}, 10, 3, 1.0, bin_of, nodes), 1);
  // 4 bins of exactly 10 from pairs that must be found: 7+3, 6+4, 5+5, 8+2.
  ASSERT_EQ(bin_completion_decide({7, 6, 5, 8, 2, 5, 4, 3}, 10, 4, 1.0, bin_of, nodes), 1);
  std::vector<int64_t> load(4, 0);
  const std::vector<int64_t> sizes{7, 6, 5, 8, 2, 5, 4, 3};
  for (std::size_t i = 0; i < sizes.size(); ++i) load[static_cast<std::size_t>(bin_of[i])] += sizes[i];
  for (int64_t l : load) EXPECT_EQ(l, 10);
}

TEST(OfflineExact, ArcFlowBoundBeatsL2WhereItShould) {
  // Five 4s with capacity 10: at most two per bin, so 3 bins; L2 only sees 20/10 = 2 while the
  // LP (Gilmore-Gomory) value is 2.5, which rounds up to the optimum.
  const std::vector<int64_t> sizes{4, 4, 4, 4, 4};
  EXPECT_EQ(martello_toth_l2(sizes, 10), 2);
  const ArcFlowResult r = arc_flow_bound(sizes, 10, 5.0);
  ASSERT_TRUE(r.lp_solved);
  EXPECT_NEAR(r.lp_value, 2.5, 1e-6);
  EXPECT_EQ(r.lp_bound, 3);
}

TEST(OfflineExact, ArcFlowIntegerProgramMatchesBruteForce) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const Instance in = falkenauer_uniform(9, seed);
    std::vector<int64_t> sizes;
    for (const auto& v : in.demands) sizes.push_back(v[0]);
    const auto optimum = static_cast<int64_t>(testing::brute_force_optimum(in));
    // Ask for anything below 10 bins: the program must find the optimum and prove it.
    const ArcFlowResult r = arc_flow_solve(sizes, 150, 10, 20.0);
    ASSERT_TRUE(r.found) << "seed " << seed;
    EXPECT_TRUE(r.proven_optimal);
    EXPECT_EQ(r.bins, optimum) << "seed " << seed;
    Packing p;
    p.bin_of_item = r.bin_of;
    p.bin_host_type.assign(static_cast<std::size_t>(r.bins), 0);
    EXPECT_EQ(packing_violation(in, p), "");
  }
}

// Triplet instances have a known optimum (items/3 bins): the bound meets it and the solver
// finds it.
TEST(OfflineExact, TripletOptimumIsKnownByConstruction) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const Instance in = falkenauer_triplet(15, seed);
    EXPECT_EQ(bin_lower_bound(in).continuous, 15);
    OfflineOptions options;
    options.time_limit_seconds = 20;
    const OfflineReport r = solve_offline(in, options);
    EXPECT_EQ(packing_violation(in, r.packing), "");
    EXPECT_EQ(r.bins, 15u) << "seed " << seed;
    EXPECT_TRUE(r.optimal);
  }
}

TEST(OfflineExact, ProvesOptimalityOnUniformInstances) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const Instance in = falkenauer_uniform(120, seed);
    OfflineOptions options;
    options.time_limit_seconds = 20;
    const OfflineReport r = solve_offline(in, options);
    EXPECT_EQ(packing_violation(in, r.packing), "");
    EXPECT_TRUE(r.optimal) << "seed " << seed;
    EXPECT_DOUBLE_EQ(r.gap_percent, 0.0);
    EXPECT_GE(static_cast<double>(r.bins), static_cast<double>(bin_lower_bound(in).best));
  }
}

TEST(OfflineExact, ZeroSizeItemsInOneDimension) {
  // Built in code (the readers reject zero sizes): solved by branch-and-bound, not arc flow.
  const Instance in = make_instance(1, {vec(10)}, {1.0}, {vec(0), vec(6), vec(6), vec(0), vec(4)});
  const ExactResult r = exact(in);
  EXPECT_TRUE(r.optimal);
  EXPECT_EQ(r.packing.bin_count(), 2u);
  EXPECT_EQ(packing_violation(in, r.packing), "");
}

TEST(OfflineExact, VectorInstanceBranchAndBound) {
  // Capacity (10,10): (6,1)+(4,5) and (1,6)+(5,4) fill two bins; no single bin holds three.
  const Instance in = make_instance(2, {vec(10, 10)}, {1.0}, {vec(6, 1), vec(1, 6), vec(5, 4), vec(4, 5)});
  const ExactResult r = exact(in);
  EXPECT_TRUE(r.optimal);
  EXPECT_EQ(r.packing.bin_count(), 2u);
  EXPECT_DOUBLE_EQ(r.lower_bound, 2.0);
  EXPECT_EQ(packing_violation(in, r.packing), "");
}

} // namespace
} // namespace nimbus::cloud::placement
