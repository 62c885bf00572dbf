// Online placement decision latency on a 10,000-host fleet in steady state: each iteration
// places one VM from the public-cloud catalogue and retires the oldest, keeping the fleet at
// the same fill. Reports the mean (Google Benchmark's time) and the p50/p99 of single decisions.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <random>
#include <vector>

#include "cloud/placement/online/online_engine.hpp"
#include "cloud/placement/simulator/trace_generator.hpp"

namespace {

using namespace nimbus::cloud::placement;

void BM_OnlineDecision10kHosts(benchmark::State& state) {
  const auto policy = static_cast<online::Policy>(state.range(0));
  const double fill = static_cast<double>(state.range(1)) / 100.0;
  online::EngineConfig config;
  config.policy = policy;
  online::OnlineEngine engine(config);
  const std::size_t hosts = 10000;
  for (std::size_t i = 0; i < hosts; ++i) engine.add_host(online::HostSpec{ResourceVector{{96, 384, 0, 0}}, {}});

  const auto& catalogue = simulator::public_cloud_catalogue();
  std::vector<double> weights;
  for (const auto& e : catalogue) weights.push_back(e.weight);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::mt19937_64 rng(42);
  const auto request = [&](online::VmId id) {
    const auto& e = catalogue[pick(rng)];
    return online::VmRequest{id, ResourceVector{{e.vcpus, e.memory_gib, 0, 0}}};
  };
  // Fill until the busiest dimension (memory, for this catalogue) reaches the target fraction.
  std::deque<online::VmId> live;
  online::VmId next = 0;
  const auto filled = [&] {
    return std::max(static_cast<double>(engine.total_demand()[0]) / (static_cast<double>(hosts) * 96),
                    static_cast<double>(engine.total_demand()[1]) / (static_cast<double>(hosts) * 384));
  };
  while (filled() < fill) {
    const online::VmRequest r = request(next++);
    if (engine.place(r).placed) live.push_back(r.id);
  }
  std::vector<uint32_t> ns;
  ns.reserve(1 << 20);
  for (auto _ : state) {
    const online::VmRequest r = request(next++);
    const auto t0 = std::chrono::steady_clock::now();
    const online::PlacementDecision d = engine.place(r);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(d);
    ns.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    if (d.placed) live.push_back(r.id);
    engine.release(live.front());
    live.pop_front();
  }
  std::sort(ns.begin(), ns.end());
  if (!ns.empty()) {
    state.counters["p50_us"] = ns[ns.size() / 2] / 1000.0;
    state.counters["p99_us"] = ns[std::min(ns.size() - 1, ns.size() * 99 / 100)] / 1000.0;
    state.counters["active_hosts"] = static_cast<double>(engine.active_host_count());
  }
  state.SetLabel(online::policy_name(policy));
}

BENCHMARK(BM_OnlineDecision10kHosts)
    ->ArgsProduct({{static_cast<int>(online::Policy::BestFit), static_cast<int>(online::Policy::WorstFit),
                    static_cast<int>(online::Policy::DotProduct), static_cast<int>(online::Policy::Hybrid)},
                   {50, 90}})
    ->ArgNames({"policy", "fill_pct"})
    ->Unit(benchmark::kMicrosecond);

} // namespace
