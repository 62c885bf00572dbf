// The reduced-cost pattern enumeration (gap_enumeration.cpp) against brute force: "do k bins
// suffice?" must be answered yes at the optimum and no one bin below it, with the LP's duals and
// with arbitrary ones (the argument holds for any non-negative dual vector), and every packing it
// returns must be one.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>

#include "cloud/placement/column_generation.hpp"
#include "cloud/placement/gap_enumeration.hpp"
#include "cloud/placement/instance_generators.hpp"
#include "offline_test_support.hpp"

namespace nimbus::cloud::placement {
namespace {

// Fewest bins, by DP over subsets (lexicographically smallest (bins, open load) per set).
int64_t optimum_by_dp(const std::vector<int64_t>& w, int64_t c) {
  const std::size_t n = w.size();
  if (n == 0) return 0;
  std::vector<std::pair<int64_t, int64_t>> s(std::size_t{1} << n, {std::numeric_limits<int64_t>::max(), 0});
  s[0] = {1, 0};
  for (std::size_t mask = 0; mask < s.size(); ++mask) {
    if (s[mask].first == std::numeric_limits<int64_t>::max()) continue;
    for (std::size_t i = 0; i < n; ++i)
      if (!(mask >> i & 1u)) {
        const auto next = s[mask].second + w[i] <= c ? std::pair{s[mask].first, s[mask].second + w[i]}
                                                     : std::pair{s[mask].first + 1, w[i]};
        s[mask | (std::size_t{1} << i)] = std::min(s[mask | (std::size_t{1} << i)], next);
      }
  }
  return s.back().first;
}

TEST(OfflineGapEnumeration, DecidesExactlyAgainstBruteForce) {
  SplitMix64 rng(testing::property_seed(178));
  int decided_by_cover = 0, refuted = 0;
  for (int round = 0; round < testing::property_rounds(600); ++round) {
    int64_t capacity = 0;
    const auto n = static_cast<std::size_t>(rng.uniform(1, 12));
    std::vector<int64_t> w(n);
    const int shape = round % 3;
    if (shape == 0) {
      capacity = rng.uniform(10, 60);
      for (auto& x : w) x = rng.uniform(1, capacity);
    } else if (shape == 1) {  // Schoenfield-like: few per bin, tight LP
      capacity = rng.uniform(50, 400);
      for (auto& x : w) x = rng.uniform(capacity / 5, capacity / 2);
    } else {  // few sizes, many copies
      capacity = rng.uniform(10, 30);
      const std::array<int64_t, 3> s{rng.uniform(1, capacity), rng.uniform(1, capacity), rng.uniform(1, capacity)};
      for (auto& x : w) x = s[static_cast<std::size_t>(rng.uniform(0, 2))];
    }
    const int64_t opt = optimum_by_dp(w, capacity);
    std::map<int64_t, int64_t, std::greater<>> count;
    for (int64_t x : w) ++count[x];
    GapEnumerationInput g;
    g.capacity = capacity;
    ColumnGenerationInput lp_in;
    lp_in.capacity[0] = capacity;
    for (auto [s, c] : count) {
      g.sizes.push_back(s);
      g.counts.push_back(c);
      PatternType t;
      t.weight[0] = s;
      t.count = c;
      lp_in.types.push_back(t);
    }
    lp_in.dive = false;
    lp_in.converge = true;
    lp_in.upper_bound = static_cast<int64_t>(n) + 1;
    SearchDeadline lp_deadline(20.0);
    const ColumnGenerationResult lp = solve_by_column_generation(lp_in, lp_deadline, nullptr);
    ASSERT_EQ(lp.duals.size(), g.sizes.size()) << "round " << round;
    // The LP's duals, then arbitrary ones (random, all zero, all one).
    for (int duals = 0; duals < 4; ++duals) {
      g.duals = lp.duals;
      for (auto& y : g.duals) {
        if (duals == 1) y = static_cast<double>(rng.uniform(-200, 1200)) / 1000.0;
        if (duals == 2) y = 0;
        if (duals == 3) y = 1;
      }
      for (int64_t k : {opt - 1, opt}) {
        g.bins = k;
        SearchDeadline deadline(20.0);
        const GapEnumerationResult e = decide_by_gap_enumeration(g, deadline);
        // Instances this small have few patterns in all: every question is decided.
        ASSERT_NE(e.answer, GapEnumerationResult::Answer::Unknown) << "round " << round << " duals " << duals << ": " << e.why;
        if (k < opt) {
          ASSERT_EQ(e.answer, GapEnumerationResult::Answer::No) << "round " << round << " duals " << duals;
          ++refuted;
          continue;
        }
        ASSERT_EQ(e.answer, GapEnumerationResult::Answer::Yes) << "round " << round << " duals " << duals << ": " << e.why;
        decided_by_cover += e.cover_nodes > 0 ? 1 : 0;
        ASSERT_LE(static_cast<int64_t>(e.packing.size()), k);
        std::vector<int64_t> used(g.sizes.size(), 0);
        for (const Pattern& p : e.packing) {
          int64_t load = 0;
          for (std::size_t j = 0; j < p.size(); ++j) {
            load += p[j] * g.sizes[j];
            used[j] += p[j];
          }
          EXPECT_LE(load, capacity) << "round " << round;
        }
        EXPECT_EQ(used, g.counts) << "round " << round;
      }
    }
  }
  RecordProperty("refuted", refuted);
  RecordProperty("found_by_cover_search", decided_by_cover);
}

} // namespace
} // namespace nimbus::cloud::placement
