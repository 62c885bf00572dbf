// Exact solver internals: the pattern-knapsack pricer (dynamic program and branch-and-bound, one
// and several dimensions), the exact dual-feasible bound check, column generation's root LP, and
// the arc-flow graph construction (with its LP).
//   build/bench/nimbus_microbench --benchmark_filter='Placement(Pricing|DualBound|ColumnGeneration|ArcFlow)'
#include <benchmark/benchmark.h>

#include <map>

#include "cloud/placement/arc_flow.hpp"
#include "cloud/placement/column_generation.hpp"
#include "cloud/placement/instance_generators.hpp"
#include "cloud/placement/pattern_knapsack.hpp"

namespace {

using namespace nimbus::cloud::placement;

struct Types {
  std::vector<PatternType> types;
  std::vector<int64_t> demand;
  std::vector<double> duals;  // size / capacity, summed over dimensions: a typical early dual
  ResourceVector capacity;
  std::size_t dims = 1;
};

Types types_of(const Instance& in) {
  Types t;
  t.capacity = in.host_types[0].capacity;
  t.dims = in.dimensions;
  std::map<std::array<int64_t, kMaxDimensions>, std::size_t> index;
  for (const ResourceVector& v : in.demands) {
    auto [it, fresh] = index.emplace(v.v, t.types.size());
    if (fresh) {
      t.types.push_back({v, 0});
      t.demand.push_back(0);
      double y = 0;
      for (std::size_t d = 0; d < t.dims; ++d) y += static_cast<double>(v[d]) / static_cast<double>(t.capacity[d]);
      t.duals.push_back(y / static_cast<double>(t.dims));
    }
    ++t.types[it->second].count;
    ++t.demand[it->second];
  }
  return t;
}

Instance kind(const char* name, uint64_t seed) {
  Instance in;
  generate_kind(name, seed, in);
  return in;
}

const char* const kKinds[] = {"u1000", "t501", "scholl3", "hard", "pan1"};

// One pricing problem: duals proportional to size (the hardest case for branch-and-bound, every
// item equally dense), values scaled to integers as column generation does.
void PlacementPricing(benchmark::State& state) {
  const Types t = types_of(kind(kKinds[state.range(0)], 1));
  const int64_t scale = dual_scale(t.types, t.capacity, t.dims);
  std::vector<int64_t> values;
  for (double y : t.duals) values.push_back(static_cast<int64_t>(y * static_cast<double>(scale)));
  int64_t best = 0;
  for (auto _ : state) {
    const PatternKnapsackResult r = max_value_pattern(t.types, values, t.capacity, t.dims, 2'000'000, nullptr);
    best = r.value;
    benchmark::DoNotOptimize(best);
  }
  state.SetLabel(kKinds[state.range(0)]);
  state.counters["types"] = static_cast<double>(t.types.size());
}
BENCHMARK(PlacementPricing)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// The proof: a bound from the same duals, checked exactly.
void PlacementDualBound(benchmark::State& state) {
  const Types t = types_of(kind(kKinds[state.range(0)], 1));
  int64_t bound = 0;
  for (auto _ : state) {
    const DualBound b = dual_feasible_bound(t.types, t.demand, t.capacity, t.dims, t.duals, 2'000'000, nullptr);
    bound = b.bound;
    benchmark::DoNotOptimize(bound);
  }
  state.SetLabel(kKinds[state.range(0)]);
  state.counters["bound"] = static_cast<double>(bound);
}
BENCHMARK(PlacementDualBound)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// Column generation to the root LP bound (no dives).
void PlacementColumnGeneration(benchmark::State& state) {
  const Types t = types_of(kind(kKinds[state.range(0)], 1));
  ColumnGenerationInput in;
  in.types = t.types;
  in.capacity = t.capacity;
  in.dimensions = t.dims;
  in.upper_bound = 1'000'000;
  in.dive = false;
  int64_t bound = 0;
  for (auto _ : state) {
    SearchDeadline deadline(60);
    const ColumnGenerationResult r = solve_by_column_generation(in, deadline, nullptr);
    bound = r.bound;
    state.counters["iterations"] = static_cast<double>(r.iterations);
  }
  state.SetLabel(kKinds[state.range(0)]);
  state.counters["bound"] = static_cast<double>(bound);
}
BENCHMARK(PlacementColumnGeneration)->DenseRange(0, 4)->Unit(benchmark::kMillisecond)->Iterations(1);

// Arc-flow graph construction with its compression, and its LP (capacities up to 1000 here;
// beyond that the graph is too large and the solver uses column generation).
void PlacementArcFlowGraph(benchmark::State& state) {
  const Instance in = kind(kKinds[state.range(0)], 1);
  std::vector<int64_t> sizes;
  for (const auto& v : in.demands) sizes.push_back(v[0]);
  std::size_t arcs = 0, raw_arcs = 0;
  int64_t bound = 0;
  for (auto _ : state) {
    const ArcFlowResult r = arc_flow_bound(sizes, in.host_types[0].capacity[0], 60);
    arcs = r.arcs;
    raw_arcs = r.raw_arcs;
    bound = r.lp_bound;
  }
  state.SetLabel(kKinds[state.range(0)]);
  state.counters["arcs"] = static_cast<double>(arcs);  // after compression, loss arcs included
  state.counters["raw_arcs"] = static_cast<double>(raw_arcs);  // item arcs before compression
  state.counters["bound"] = static_cast<double>(bound);
}
BENCHMARK(PlacementArcFlowGraph)->DenseRange(0, 1)->Unit(benchmark::kMillisecond);

} // namespace
