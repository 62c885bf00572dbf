#include <gtest/gtest.h>

#include <algorithm>

#include "cloud/placement/lower_bounds.hpp"
#include "offline_test_support.hpp"

namespace nimbus::cloud::placement {
namespace {

using testing::make_instance;
using testing::vec;

// Capacity 100, items 70 70 35 35 35: total 245 gives 3, but with K = 35 both 70s need bins of
// their own (no 35 fits beside them) and the three 35s need two more: L2 = 4, the optimum.
TEST(OfflineLowerBounds, HandCheckedMartelloTothL2) {
  std::vector<int64_t> sizes{35, 35, 35, 70, 70};
  EXPECT_EQ(continuous_bound(sizes, 100), 3);
  EXPECT_EQ(martello_toth_l2(sizes, 100), 4);
  // Three items over half the capacity: one bin each.
  std::vector<int64_t> halves{6, 6, 6};
  EXPECT_EQ(continuous_bound(halves, 10), 2);
  EXPECT_EQ(martello_toth_l2(halves, 10), 3);
}

TEST(OfflineLowerBounds, VectorBoundIsTheBestDimension) {
  // Dimension 0 needs 2 bins by volume; dimension 1 has three items over half: 3 bins.
  const Instance in = make_instance(2, {vec(10, 10)}, {1.0}, {vec(3, 6), vec(3, 6), vec(3, 6), vec(3, 1)});
  const BinLowerBound b = bin_lower_bound(in);
  EXPECT_EQ(b.best, 3);
  EXPECT_EQ(b.best_dimension, 1u);
  EXPECT_EQ(b.continuous, 2);
}

TEST(OfflineLowerBounds, CostBoundWithSeveralHostTypes) {
  // Price per unit: type 0 costs 1 per 10 (0.1), type 1 costs 3 per 40 (0.075); 80 units -> 6.
  const Instance in = make_instance(1, {vec(10), vec(40)}, {1.0, 3.0}, {vec(20), vec(20), vec(20), vec(20)});
  EXPECT_DOUBLE_EQ(cost_lower_bound(in), 6.0);
}

// Property: on random small instances every bound is at most the brute-force optimum.
TEST(OfflineLowerBounds, NeverAboveTheOptimum) {
  SplitMix64 rng(testing::property_seed(7));
  for (int round = 0; round < testing::property_rounds(80); ++round) {
    const std::size_t dims = 1 + static_cast<std::size_t>(round % 2);
    const std::size_t types = round % 3 == 2 ? 2 : 1;
    const Instance in = testing::random_instance(rng, dims, 1 + static_cast<std::size_t>(rng.uniform(0, 7)), types);
    const double optimum = testing::brute_force_optimum(in);
    EXPECT_LE(cost_lower_bound(in), optimum + 1e-9) << "round " << round;
    if (in.single_host_type()) {
      const BinLowerBound b = bin_lower_bound(in);
      EXPECT_LE(b.continuous, b.l2);
      EXPECT_LE(static_cast<double>(b.best), optimum + 1e-9) << "round " << round;
    }
  }
}

} // namespace
} // namespace nimbus::cloud::placement
