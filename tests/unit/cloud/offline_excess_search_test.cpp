#include <gtest/gtest.h>

#include <cmath>

#include "cloud/placement/excess_search.hpp"
#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/instance_generators.hpp"
#include "offline_test_support.hpp"

namespace nimbus::cloud::placement {
namespace {

std::vector<int64_t> sizes_of(const Instance& in) {
  std::vector<int64_t> s;
  for (const ResourceVector& v : in.demands) s.push_back(v[0]);
  return s;
}

// Every item in a bin 0..bins-1, every bin within capacity.
void expect_packing(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins, const std::vector<int32_t>& bin_of) {
  ASSERT_EQ(bin_of.size(), sizes.size());
  std::vector<int64_t> load(static_cast<std::size_t>(bins), 0);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_GE(bin_of[i], 0);
    ASSERT_LT(bin_of[i], bins);
    load[static_cast<std::size_t>(bin_of[i])] += sizes[i];
  }
  for (int64_t l : load) EXPECT_LE(l, capacity);
}

// Property against brute force: at the optimum it finds a packing (these are tiny), below it
// never claims one, and whatever it returns is a packing.
TEST(OfflineExcessSearch, FindsOptimumAndNeverBelowOnSmallInstances) {
  SplitMix64 rng(77);
  for (int round = 0; round < 200; ++round) {
    const Instance in = testing::random_instance(rng, 1, 1 + static_cast<std::size_t>(rng.uniform(0, 8)), 1);
    const auto optimum = static_cast<int64_t>(std::llround(testing::brute_force_optimum(in)));
    const std::vector<int64_t> sizes = sizes_of(in);
    const int64_t capacity = in.host_types[0].capacity[0];
    const Packing start = heuristic_packing(in, Heuristic::FirstFit);
    for (int64_t bins = std::max<int64_t>(1, optimum - 1); bins <= optimum; ++bins) {
      SearchDeadline deadline(bins < optimum ? 0.005 : 1.0);
      const ExcessSearchResult r = excess_search(sizes, capacity, bins, start.bin_of_item, deadline, 1 + round);
      if (bins < optimum) {
        EXPECT_FALSE(r.found) << "round " << round;
      } else {
        ASSERT_TRUE(r.found) << "round " << round << " optimum " << optimum;
        expect_packing(sizes, capacity, bins, r.bin_of);
      }
    }
  }
}

// The same in two and three dimensions: every bin within capacity in every dimension.
TEST(OfflineExcessSearch, VectorFindsOptimumAndNeverBelowOnSmallInstances) {
  SplitMix64 rng(78);
  for (int round = 0; round < 150; ++round) {
    const std::size_t dims = 2 + static_cast<std::size_t>(round % 2);
    const Instance in = testing::random_instance(rng, dims, 1 + static_cast<std::size_t>(rng.uniform(0, 8)), 1);
    const auto optimum = static_cast<int64_t>(std::llround(testing::brute_force_optimum(in)));
    const ResourceVector capacity = in.host_types[0].capacity;
    const Packing start = heuristic_packing(in, Heuristic::FirstFit);
    for (int64_t bins = std::max<int64_t>(1, optimum - 1); bins <= optimum; ++bins) {
      SearchDeadline deadline(bins < optimum ? 0.005 : 1.0);
      const ExcessSearchResult r = excess_search_vector(in.demands, capacity, dims, bins, start.bin_of_item, deadline, 1 + round);
      if (bins < optimum) {
        EXPECT_FALSE(r.found) << "round " << round;
        continue;
      }
      ASSERT_TRUE(r.found) << "round " << round << " optimum " << optimum;
      std::vector<ResourceVector> load(static_cast<std::size_t>(bins));
      for (std::size_t i = 0; i < in.item_count(); ++i) {
        ASSERT_GE(r.bin_of[i], 0);
        ASSERT_LT(r.bin_of[i], bins);
        load[static_cast<std::size_t>(r.bin_of[i])] += in.demands[i];
      }
      for (const ResourceVector& l : load) EXPECT_TRUE(l.fits_in(capacity)) << "round " << round;
    }
  }
}

// Scholl's set 3 (huge capacity, 3-5 items per bin): one bin fewer than first-fit decreasing.
TEST(OfflineExcessSearch, ImprovesSchollSet3) {
  const Instance in = scholl_set3(2);
  const std::vector<int64_t> sizes = sizes_of(in);
  const Packing start = heuristic_packing(in, Heuristic::FirstFitDecreasing);
  const auto bins = static_cast<int64_t>(start.bin_count()) - 1;
  SearchDeadline deadline(20.0);
  const ExcessSearchResult r = excess_search(sizes, in.host_types[0].capacity[0], bins, start.bin_of_item, deadline);
  ASSERT_TRUE(r.found);
  expect_packing(sizes, in.host_types[0].capacity[0], bins, r.bin_of);
}

} // namespace
} // namespace nimbus::cloud::placement
