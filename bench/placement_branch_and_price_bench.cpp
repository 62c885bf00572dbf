// Branch-and-price's pricer (conflict_knapsack: a 0/1 knapsack over single items with
// "together" groups and "apart" pairs, the Ryan-Foster constraints of a tree node), and one
// branch-and-price run.
//   build/bench/nimbus_microbench --benchmark_filter='PlacementConflictPricing|PlacementBranchAndPrice'
#include <benchmark/benchmark.h>

#include "cloud/placement/branch_and_price.hpp"
#include "cloud/placement/instance_generators.hpp"

namespace {

using namespace nimbus::cloud::placement;

const char* const kKinds[] = {"hard", "t501", "u1000"};

struct Pricing {
  std::vector<ResourceVector> weights;
  std::vector<int64_t> values;
  ResourceVector capacity;
  std::vector<std::vector<uint32_t>> together;
  std::vector<std::pair<uint32_t, uint32_t>> apart;
};

// Values proportional to size with +-5 % noise (LP duals look like this), scaled to 2^40 per
// bin as branch_and_price does; with `constraints`, 10 together pairs and 20 apart pairs as at a
// node some 30 levels deep.
Pricing pricing(const char* name, bool constraints) {
  Instance in;
  generate_kind(name, 1, in);
  Pricing p;
  p.capacity = in.host_types[0].capacity;
  SplitMix64 rng(3);
  const double scale = static_cast<double>(int64_t{1} << 40);
  for (const ResourceVector& v : in.demands) {
    p.weights.push_back(v);
    const double y = static_cast<double>(v[0]) / static_cast<double>(p.capacity[0]) * (0.95 + 0.1 * static_cast<double>(rng.uniform(0, 1000)) / 1000.0);
    p.values.push_back(static_cast<int64_t>(y * scale));
  }
  if (constraints) {
    const auto n = static_cast<int64_t>(p.weights.size());
    for (int k = 0; k < 10; ++k) {
      // Two distinct items that fit one bin together, not in a group yet.
      const auto a = static_cast<uint32_t>(2 * k), b = static_cast<uint32_t>(2 * k + 1);
      if (p.weights[a][0] + p.weights[b][0] <= p.capacity[0]) p.together.push_back({a, b});
    }
    while (p.apart.size() < 20) {
      const auto a = static_cast<uint32_t>(rng.uniform(20, n - 1)), b = static_cast<uint32_t>(rng.uniform(20, n - 1));
      if (a != b) p.apart.emplace_back(a, b);
    }
  }
  return p;
}

void PlacementConflictPricing(benchmark::State& state) {
  const char* name = kKinds[state.range(0)];
  const Pricing p = pricing(name, state.range(1) != 0);
  ConflictKnapsackResult r;
  for (auto _ : state) {
    r = conflict_knapsack(p.weights, p.values, p.capacity, 1, p.together, p.apart, 5'000'000, nullptr);
    benchmark::DoNotOptimize(r.value);
  }
  state.SetLabel(std::string(name) + (state.range(1) != 0 ? " node constraints" : " root"));
  state.counters["items"] = static_cast<double>(p.weights.size());
  state.counters["bb_nodes"] = static_cast<double>(r.nodes);
}
BENCHMARK(PlacementConflictPricing)->ArgsProduct({{0, 1, 2}, {0, 1}})->Unit(benchmark::kMicrosecond);

// A whole tree on t60 seed 1 (20 bins by construction) from 21 bins: the root LP, then nodes
// until the 20-bin packing is found and proven.
void PlacementBranchAndPrice(benchmark::State& state) {
  Instance in;
  generate_kind("t60", 1, in);
  BranchAndPriceInput bp;
  bp.capacity = in.host_types[0].capacity;
  bp.demands = in.demands;
  bp.upper_bound = 21;
  BranchAndPriceResult r;
  for (auto _ : state) {
    SearchDeadline deadline(60);
    r = branch_and_price(bp, deadline);
    benchmark::DoNotOptimize(r.best_bins);
  }
  state.counters["nodes"] = static_cast<double>(r.nodes);
  state.counters["bins"] = static_cast<double>(r.best_bins);
  state.counters["complete"] = r.complete ? 1 : 0;
}
BENCHMARK(PlacementBranchAndPrice)->Unit(benchmark::kMillisecond)->Iterations(3);

} // namespace
