#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>

#include "cloud/placement/instance_generators.hpp"
#include "cloud/placement/lower_bounds.hpp"

namespace nimbus::cloud::placement {
namespace {

TEST(OfflineGenerators, UniformWeightsInRangeAndReproducible) {
  const Instance a = falkenauer_uniform(1000, 5);
  const Instance b = falkenauer_uniform(1000, 5);
  const Instance c = falkenauer_uniform(1000, 6);
  ASSERT_EQ(a.item_count(), 1000u);
  EXPECT_EQ(a.host_types[0].capacity[0], 150);
  EXPECT_EQ(a.demands, b.demands);
  EXPECT_NE(a.demands, c.demands);
  int64_t lo = 1000, hi = 0;
  for (const auto& v : a.demands) {
    lo = std::min(lo, v[0]);
    hi = std::max(hi, v[0]);
  }
  EXPECT_GE(lo, 20);
  EXPECT_LE(hi, 100);
  EXPECT_LE(lo, 22);  // 1000 draws cover the range's ends
  EXPECT_GE(hi, 98);
}

TEST(OfflineGenerators, TripletsFillBinsExactly) {
  const Instance t = falkenauer_triplet(40, 3);
  ASSERT_EQ(t.item_count(), 120u);
  EXPECT_EQ(t.host_types[0].capacity[0], 1000);
  int64_t total = 0;
  for (const auto& v : t.demands) {
    EXPECT_GT(v[0], 250);
    EXPECT_LT(v[0], 500);
    total += v[0];
  }
  EXPECT_EQ(total, 40 * 1000);  // so the continuous bound equals the known optimum
}

TEST(OfflineGenerators, PlantedInstancesHaveTheirOptimumByConstruction) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    int64_t optimum = 0;
    const Instance in = planted_hard(seed, &optimum);
    const int64_t c = in.host_types[0].capacity[0];
    EXPECT_EQ(c, 100000);
    EXPECT_GE(in.item_count(), 160u);
    EXPECT_LE(in.item_count(), 200u);
    int64_t total = 0;
    for (const auto& v : in.demands) {
      EXPECT_GT(v[0], c / 5);
      EXPECT_LE(v[0], c / 2);
      total += v[0];
    }
    // k bins were filled, with less than C of slack in all: ceil(total / C) = k.
    EXPECT_EQ(optimum, (total + c - 1) / c);
    EXPECT_GT(total, (optimum - 1) * c);
  }
}

// Hard28-style: the published shape (C 1000, 160-200 items, sizes in [1, 800]) and the selection
// rule (FFD and BFD above L2, L2 bins nearly full), checked here with the test's own FFD.
TEST(OfflineGenerators, HardInstancesAreSelectedLikeSchoenfields) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    int tried = 0;
    const Instance in = schoenfield_style_hard(seed, &tried);
    EXPECT_GE(tried, 1);
    const int64_t c = in.host_types[0].capacity[0];
    EXPECT_EQ(c, 1000);
    EXPECT_GE(in.item_count(), 160u);
    EXPECT_LE(in.item_count(), 200u);
    std::vector<int64_t> w;
    int64_t total = 0;
    for (const auto& v : in.demands) {
      EXPECT_GE(v[0], 1);
      EXPECT_LE(v[0], 800);
      w.push_back(v[0]);
      total += v[0];
    }
    std::sort(w.begin(), w.end(), std::greater<>());
    std::vector<int64_t> load;
    for (int64_t x : w) {
      auto it = std::find_if(load.begin(), load.end(), [&](int64_t l) { return l + x <= c; });
      if (it == load.end()) load.push_back(x);
      else *it += x;
    }
    std::sort(w.begin(), w.end());
    const int64_t l2 = martello_toth_l2(w, c);
    EXPECT_GT(static_cast<int64_t>(load.size()), l2) << "seed " << seed;
    EXPECT_LT(l2 * c - total, 300) << "seed " << seed;
  }
}

TEST(OfflineGenerators, ClassicKindsMatchTheirDefinitions) {
  for (uint64_t seed = 1; seed <= 36; ++seed) {
    Instance in;
    ASSERT_TRUE(generate_kind("scholl1", seed, in));
    const int64_t c = in.host_types[0].capacity[0];
    EXPECT_TRUE(c == 100 || c == 120 || c == 150);
    for (const auto& v : in.demands) EXPECT_LE(v[0], 100);
    ASSERT_TRUE(generate_kind("scholl2", seed, in));
    EXPECT_EQ(in.host_types[0].capacity[0], 1000);
  }
  Instance in;
  ASSERT_TRUE(generate_kind("scholl3", 1, in));
  EXPECT_EQ(in.item_count(), 200u);
  for (const auto& v : in.demands) {
    EXPECT_GE(v[0], 20000);
    EXPECT_LE(v[0], 35000);
  }
  ASSERT_TRUE(generate_kind("sw", 2, in));
  EXPECT_EQ(in.item_count(), 120u);
  for (const auto& v : in.demands) {
    EXPECT_GE(v[0], 150);
    EXPECT_LE(v[0], 200);
  }
  ASSERT_TRUE(generate_kind("pan3", 4, in));
  EXPECT_EQ(in.dimensions, 3u);
  EXPECT_FALSE(generate_kind("nope", 1, in));
}

// CUTGEN1's 18 classes: lengths in [v1 L, v2 L] (+1 for its rounding), at most m distinct, and
// exactly m times the average demand in all (each length at least once).
TEST(OfflineGenerators, CutgenClassesMatchGauAndWaescher) {
  const double v1[] = {0.01, 0.01, 0.2}, v2[] = {0.2, 0.8, 0.8};
  for (int cls = 1; cls <= 18; ++cls)
    for (uint64_t seed : {1u, 7u, 1234567u}) {
      const Instance in = cutgen1(cls, seed);
      const int k = cls - 1;
      const std::size_t m = std::array<std::size_t, 3>{10, 20, 40}[static_cast<std::size_t>(k / 2 % 3)];
      const int64_t average = k % 2 == 0 ? 10 : 100;
      ASSERT_EQ(in.host_types[0].capacity[0], 1000);
      std::map<int64_t, int64_t> lengths;
      for (const auto& v : in.demands) {
        EXPECT_GE(v[0], static_cast<int64_t>(v1[k / 6] * 1000)) << "class " << cls;
        EXPECT_LE(v[0], static_cast<int64_t>(v2[k / 6] * 1000) + 1) << "class " << cls;
        ++lengths[v[0]];
      }
      EXPECT_LE(lengths.size(), m) << "class " << cls;
      EXPECT_GE(lengths.size(), m / 2) << "class " << cls;  // few repeats among m draws
      // The split of the total may round the last length up to 1; otherwise it is exact.
      EXPECT_GE(in.item_count(), m * static_cast<std::size_t>(average)) << "class " << cls;
      EXPECT_LE(in.item_count(), m * static_cast<std::size_t>(average) + m) << "class " << cls;
      EXPECT_EQ(cutgen1(cls, seed).demands, in.demands);
    }
  Instance kind;
  ASSERT_TRUE(generate_kind("cutgen", 20, kind));  // seed 20: class 2
  EXPECT_EQ(kind.demands, cutgen1(2, 20).demands);
}

TEST(OfflineGenerators, SplitMixUniformCoversItsRange) {
  SplitMix64 rng(1);
  std::map<int64_t, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[rng.uniform(3, 7)];
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen.begin()->first, 3);
  EXPECT_EQ(seen.rbegin()->first, 7);
}

} // namespace
} // namespace nimbus::cloud::placement
