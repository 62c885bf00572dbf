#pragma once
// Helpers for the offline placement tests: small random instances and an independent
// brute-force optimum (every set partition, each block on its cheapest fitting host type).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/instance_generators.hpp"

namespace nimbus::cloud::placement::testing {

inline Instance make_instance(std::size_t dims, std::vector<ResourceVector> capacities, std::vector<double> costs,
                              std::vector<ResourceVector> demands) {
  Instance in;
  in.dimensions = dims;
  in.dimension_names = default_dimension_names(dims);
  for (std::size_t t = 0; t < capacities.size(); ++t)
    in.host_types.push_back({"t" + std::to_string(t), capacities[t], costs[t]});
  in.demands = std::move(demands);
  return in;
}

inline ResourceVector vec(int64_t a, int64_t b = 0, int64_t c = 0, int64_t d = 0) { return ResourceVector{{a, b, c, d}}; }

// Longer property campaigns than CI's (docs/placement.md, "Tests"): NIMBUS_PROPERTY_SEED shifts
// every random test's seed, NIMBUS_PROPERTY_ROUNDS multiplies its rounds.
inline uint64_t property_seed(uint64_t seed) {
  const char* shift = std::getenv("NIMBUS_PROPERTY_SEED");
  return shift != nullptr ? seed + std::strtoull(shift, nullptr, 0) : seed;
}
inline int property_rounds(int rounds) {
  const char* times = std::getenv("NIMBUS_PROPERTY_ROUNDS");
  return times != nullptr ? rounds * std::max(1, std::atoi(times)) : rounds;
}

// Random instance: `types` host types (costs 1 when one type), items fitting at least one type.
inline Instance random_instance(SplitMix64& rng, std::size_t dims, std::size_t items, std::size_t types) {
  std::vector<ResourceVector> caps;
  std::vector<double> costs;
  for (std::size_t t = 0; t < types; ++t) {
    ResourceVector c;
    for (std::size_t d = 0; d < dims; ++d) c[d] = rng.uniform(10, 30);
    caps.push_back(c);
    costs.push_back(types == 1 ? 1.0 : static_cast<double>(rng.uniform(2, 9)));
  }
  std::vector<ResourceVector> demands;
  while (demands.size() < items) {
    ResourceVector v;
    for (std::size_t d = 0; d < dims; ++d) v[d] = rng.uniform(1, 20);
    bool fits = false;
    for (const auto& c : caps) fits = fits || v.fits_in(c);
    if (fits) demands.push_back(v);
  }
  return make_instance(dims, caps, costs, demands);
}

// Minimum total cost over all partitions of the items (feasible for n up to ~10).
inline double brute_force_optimum(const Instance& in) {
  const std::size_t n = in.item_count();
  std::vector<int> block(n, 0);
  double best = std::numeric_limits<double>::infinity();
  // Restricted growth strings enumerate each partition once.
  auto evaluate = [&](int blocks) {
    double cost = 0;
    for (int b = 0; b < blocks; ++b) {
      ResourceVector load;
      for (std::size_t i = 0; i < n; ++i)
        if (block[i] == b) load += in.demands[i];
      const int t = cheapest_fitting_host_type(in, load);
      if (t < 0) return;
      cost += in.host_types[static_cast<std::size_t>(t)].cost;
    }
    if (cost < best) best = cost;
  };
  auto recurse = [&](auto&& self, std::size_t i, int blocks) -> void {
    if (i == n) {
      evaluate(blocks);
      return;
    }
    for (int b = 0; b <= blocks; ++b) {
      block[i] = b;
      self(self, i + 1, b == blocks ? blocks + 1 : blocks);
    }
  };
  if (n == 0) return 0;
  recurse(recurse, 0, 0);
  return best;
}

} // namespace nimbus::cloud::placement::testing
