// Offline placement benchmarks: FFD on a million items, the exact solver on Falkenauer uniform
// instances (proving optimality), and the lower bounds.
//   cmake -B build -DNIMBUS_BENCHMARKS=ON && ninja -C build nimbus_microbench
//   build/bench/nimbus_microbench --benchmark_filter=Placement
#include <benchmark/benchmark.h>

#include <numeric>

#include "cloud/placement/excess_search.hpp"
#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/instance_generators.hpp"
#include "cloud/placement/lower_bounds.hpp"
#include "cloud/placement/offline_solver.hpp"

namespace {

using namespace nimbus::cloud::placement;

// One dimension, indexed FFD/BFD: sort plus O(log bins) per item.
void PlacementFfdMillion(benchmark::State& state) {
  const Instance in = falkenauer_uniform(static_cast<std::size_t>(state.range(0)), 1);
  const auto h = static_cast<Heuristic>(state.range(1));
  std::size_t bins = 0;
  for (auto _ : state) {
    const Packing p = heuristic_packing(in, h);
    bins = p.bin_count();
    benchmark::DoNotOptimize(bins);
  }
  state.counters["bins"] = static_cast<double>(bins);
  state.SetLabel(std::string(heuristic_name(h)));
}
BENCHMARK(PlacementFfdMillion)
    ->Args({1'000'000, static_cast<int>(Heuristic::FirstFitDecreasing)})
    ->Args({1'000'000, static_cast<int>(Heuristic::BestFitDecreasing)})
    ->Args({1'000'000, static_cast<int>(Heuristic::WorstFitDecreasing)})
    ->Unit(benchmark::kMillisecond);

// The full pipeline (heuristics, bounds, exact search) on uniform instances, averaged over
// ten seeds per size; counts how many were proven optimal.
void PlacementExactUniform(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<Instance> instances;
  for (uint64_t seed = 1; seed <= 10; ++seed) instances.push_back(falkenauer_uniform(n, seed));
  OfflineOptions options;
  options.time_limit_seconds = 10;
  double proven = 0, runs = 0;
  for (auto _ : state) {
    for (const Instance& in : instances) {
      const OfflineReport r = solve_offline(in, options);
      proven += r.optimal ? 1 : 0;
      runs += 1;
    }
  }
  state.counters["optimal_fraction"] = proven / runs;
  state.counters["ms_per_instance"] =
      benchmark::Counter(runs, benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::kIs1000);
}
BENCHMARK(PlacementExactUniform)->Arg(120)->Arg(250)->Arg(500)->Arg(1000)->Unit(benchmark::kMillisecond)->Iterations(1);

void PlacementLowerBoundMillion(benchmark::State& state) {
  const Instance in = falkenauer_uniform(1'000'000, 2);
  for (auto _ : state) benchmark::DoNotOptimize(bin_lower_bound(in).best);
}
BENCHMARK(PlacementLowerBoundMillion)->Unit(benchmark::kMillisecond);

// Vector heuristics on 10,000 VMs drawn from a few shapes (3 dimensions).
void PlacementVectorHeuristics(benchmark::State& state) {
  Instance in;
  in.dimensions = 3;
  in.dimension_names = default_dimension_names(3);
  in.host_types.push_back({"host", ResourceVector{{64, 256, 2000, 0}}, 1.0});
  SplitMix64 rng(3);
  const ResourceVector shapes[] = {{{2, 8, 50, 0}}, {{4, 16, 100, 0}}, {{8, 64, 200, 0}}, {{16, 32, 400, 0}},
                                   {{1, 2, 20, 0}}, {{32, 128, 500, 0}}};
  for (int i = 0; i < 10'000; ++i) in.demands.push_back(shapes[rng.uniform(0, 5)]);
  const auto h = static_cast<Heuristic>(state.range(0));
  std::size_t bins = 0;
  for (auto _ : state) bins = heuristic_packing(in, h).bin_count();
  state.counters["bins"] = static_cast<double>(bins);
  state.SetLabel(std::string(heuristic_name(h)));
}
BENCHMARK(PlacementVectorHeuristics)
    ->Arg(static_cast<int>(Heuristic::FfdSum))
    ->Arg(static_cast<int>(Heuristic::FfdProduct))
    ->Arg(static_cast<int>(Heuristic::FfdL2))
    ->Arg(static_cast<int>(Heuristic::DotProduct))
    ->Arg(static_cast<int>(Heuristic::L2Norm))
    ->Unit(benchmark::kMillisecond);

// The excess search down to the optimum, one bin at a time from the FFD packing: Scholl set 3 seed 5 (arg 3; its
// optimum is the continuous bound, 55) or a hard instance (arg 0; seed 2, optimum known by
// construction); counts the exchanges it needed.
void PlacementExcessSearch(benchmark::State& state) {
  int64_t optimum = 0;
  const Instance in = state.range(0) == 3 ? scholl_set3(5) : planted_hard(2, &optimum);
  std::vector<int64_t> sizes;
  int64_t total = 0;
  for (const ResourceVector& v : in.demands) {
    sizes.push_back(v[0]);
    total += v[0];
  }
  const int64_t capacity = in.host_types[0].capacity[0];
  if (state.range(0) == 3) optimum = (total + capacity - 1) / capacity;
  const Packing start = heuristic_packing(in, Heuristic::FirstFitDecreasing);
  uint64_t iterations = 0;
  bool found = false;
  for (auto _ : state) {
    // One bin fewer at a time, each from the packing before, as the exact solver does.
    SearchDeadline deadline(10.0);
    std::vector<int32_t> bin_of = start.bin_of_item;
    iterations = 0;
    found = true;
    for (auto bins = static_cast<int64_t>(start.bin_count()) - 1; bins >= optimum && found; --bins) {
      const ExcessSearchResult r = excess_search(sizes, capacity, bins, bin_of, deadline, static_cast<uint64_t>(bins));
      iterations += r.iterations;
      found = r.found;
      if (found) bin_of = r.bin_of;
    }
  }
  state.counters["exchanges"] = static_cast<double>(iterations);
  state.counters["found"] = found ? 1 : 0;
  state.counters["bins_ffd"] = static_cast<double>(start.bin_count());
  state.SetLabel(state.range(0) == 3 ? "scholl3" : "planted");
}
BENCHMARK(PlacementExcessSearch)->Arg(3)->Arg(0)->Unit(benchmark::kMillisecond);

} // namespace
