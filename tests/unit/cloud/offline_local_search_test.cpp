#include <gtest/gtest.h>

#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/local_search.hpp"
#include "cloud/placement/lower_bounds.hpp"
#include "offline_test_support.hpp"

namespace nimbus::cloud::placement {
namespace {

using testing::make_instance;
using testing::vec;

// Capacity 10, First Fit on 5 5 4 2 6 8 gives {5,5} {4,2} {6} {8}; {5,5} {4,6} {2,8} is
// optimal, and local search must reach it by emptying one of the last bins.
TEST(OfflineLocalSearch, EmptiesABinFirstFitWasted) {
  const Instance in = make_instance(1, {vec(10)}, {1.0}, {vec(5), vec(5), vec(4), vec(2), vec(6), vec(8)});
  const Packing ff = heuristic_packing(in, Heuristic::FirstFit);
  ASSERT_EQ(ff.bin_count(), 4u);
  LocalSearchStats stats;
  const Packing better = improve_by_local_search(in, ff, 5.0, &stats);
  EXPECT_EQ(packing_violation(in, better), "");
  EXPECT_EQ(better.bin_count(), 3u);
  EXPECT_GE(stats.bins_emptied, 1u);
}

// Property: never infeasible, never worse than the start, on random instances.
TEST(OfflineLocalSearch, RandomInstancesFeasibleAndNotWorse) {
  SplitMix64 rng(99);
  int improved = 0;
  for (int round = 0; round < 60; ++round) {
    const std::size_t dims = 1 + static_cast<std::size_t>(round % 3);
    const std::size_t types = round % 5 == 4 ? 2 : 1;
    const Instance in = testing::random_instance(rng, dims, 5 + static_cast<std::size_t>(rng.uniform(0, 100)), types);
    const Packing start = heuristic_packing(in, Heuristic::FirstFit);
    const Packing better = improve_by_local_search(in, start, 2.0);
    EXPECT_EQ(packing_violation(in, better), "") << "round " << round;
    EXPECT_LE(packing_cost(in, better), packing_cost(in, start) + 1e-9) << "round " << round;
    EXPECT_GE(packing_cost(in, better) + 1e-9, cost_lower_bound(in)) << "round " << round;
    if (packing_cost(in, better) < packing_cost(in, start) - 1e-9) ++improved;
  }
  EXPECT_GT(improved, 0);  // First Fit leaves room for improvement somewhere
}

} // namespace
} // namespace nimbus::cloud::placement
