#pragma once
// Replays a trace through the online engine and measures it: active hosts against the
// continuous lower bound over time, rejections, migrations (drains and periodic consolidation)
// and the latency of every placement decision.
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cloud/placement/online/online_engine.hpp"
#include "cloud/placement/simulator/latency_summary.hpp"
#include "cloud/placement/simulator/trace.hpp"

namespace nimbus::cloud::placement::simulator {

struct SimulationConfig {
  online::EngineConfig engine;
  std::size_t initial_hosts = 0;  // hosts present at time 0, all of `host_spec`
  online::HostSpec host_spec;     // also the reserve applied to hosts added by the trace
  std::size_t samples = 500;      // points on the curves (evenly spaced in events)
  double consolidate_every = 0;   // seconds of trace time between consolidation rounds; 0 = never
  std::size_t migration_budget = 0;  // VMs moved per consolidation round
  // Called now and then with (events done, events total).
  std::function<void(std::size_t, std::size_t)> progress;
};

struct Sample {
  double time = 0;
  std::size_t events = 0;
  std::size_t live_vms = 0;
  std::size_t active_hosts = 0;
  std::size_t lower_bound = 0;
  std::size_t rejections = 0;  // cumulative
  std::size_t migrations = 0;  // cumulative
};

struct SimulationReport {
  std::string trace_source;
  std::string policy;
  std::size_t events = 0;
  std::size_t arrivals = 0;
  std::size_t placed = 0;
  std::size_t rejected = 0;
  std::map<std::string, std::size_t> rejections_by_reason;
  std::size_t departures = 0;          // of placed VMs
  std::size_t ignored_departures = 0;  // of VMs that had been rejected or evicted
  std::size_t host_events = 0;
  std::size_t migrations = 0;          // drain + consolidation
  std::size_t drain_migrations = 0;
  std::size_t consolidation_rounds = 0;
  std::size_t hosts_freed = 0;         // by consolidation
  std::size_t evicted = 0;             // VMs lost with a removed host
  std::size_t peak_active_hosts = 0;
  std::size_t peak_lower_bound = 0;
  double mean_active_over_bound = 0;   // over samples with a non-zero bound
  LatencySummary decision_latency;
  double consolidation_ms_mean = 0;
  double wall_seconds = 0;
  std::vector<Sample> samples;
};

// Validates the trace against the fleet (matching dimensions, every demand fits some host)
// and throws InputError naming the trace line otherwise; then runs it.
SimulationReport run_simulation(const Trace& trace, const SimulationConfig& config);

} // namespace nimbus::cloud::placement::simulator
