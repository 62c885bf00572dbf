#include "cloud/placement/simulator/simulation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/online/consolidation_planner.hpp"
#include "cloud/placement/simulator/fleet_lower_bound.hpp"

namespace nimbus::cloud::placement::simulator {

namespace {

using Clock = std::chrono::steady_clock;
constexpr online::HostId kNoHost = std::numeric_limits<online::HostId>::max();

std::string amounts(const ResourceVector& v, std::size_t dims) {
  std::string s;
  for (std::size_t d = 0; d < dims; ++d) s += fmt::format("{}{}", d ? "," : "", v[d]);
  return s;
}

ResourceVector usable_of(const online::HostSpec& spec, const online::EngineConfig& config) {
  ResourceVector usable;
  for (std::size_t d = 0; d < config.dimensions; ++d)
    usable[d] = static_cast<int64_t>(std::floor(static_cast<double>(spec.capacity[d]) * config.overcommit[d])) -
                spec.reserved[d];
  return usable;
}

// Where an event came from: its file line, or its position in a generated trace.
[[noreturn]] void fail_at(const Trace& trace, std::size_t index, const std::string& message) {
  const TraceEvent& ev = trace.events[index];
  if (ev.line != 0) throw InputError(trace.source, ev.line, message);
  throw InputError(trace.source, index + 1, fmt::format("event {}: {}", index + 1, message));
}

// Every host shape the run will see, and the trace checked against them.
std::vector<ResourceVector> validate(const Trace& trace, const SimulationConfig& config) {
  const std::size_t dims = config.engine.dimensions;
  if (trace.events.empty()) throw InputError(trace.source, 1, "the trace holds no events");
  if (trace.dimensions != dims) {
    std::size_t first = 0;
    while (first + 1 < trace.events.size() && trace.events[first].kind != TraceEventKind::Arrive &&
           trace.events[first].kind != TraceEventKind::HostAdd)
      ++first;
    fail_at(trace, first,
            fmt::format("the trace has {} resource dimensions but the fleet has {}", trace.dimensions, dims));
  }
  std::vector<ResourceVector> shapes;
  const auto add_shape = [&](const ResourceVector& usable) {
    if (std::find(shapes.begin(), shapes.end(), usable) == shapes.end()) shapes.push_back(usable);
  };
  if (config.initial_hosts > 0) {
    const ResourceVector usable = usable_of(config.host_spec, config.engine);
    for (std::size_t d = 0; d < dims; ++d)
      if (usable[d] < 0)
        throw InputError(trace.source, 0, "the host reserve exceeds the overcommitted host capacity");
    add_shape(usable);
  }
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const TraceEvent& ev = trace.events[i];
    if (ev.kind != TraceEventKind::HostAdd) continue;
    online::HostSpec spec{ev.amount, config.host_spec.reserved};
    const ResourceVector usable = usable_of(spec, config.engine);
    for (std::size_t d = 0; d < dims; ++d)
      if (usable[d] < 0)
        fail_at(trace, i, fmt::format("host reserve ({}) exceeds the capacity ({}) after overcommit",
                                      amounts(spec.reserved, dims), amounts(ev.amount, dims)));
    add_shape(usable);
  }
  if (shapes.empty()) throw InputError(trace.source, 0, "no hosts: give an initial fleet or host_add events");
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const TraceEvent& ev = trace.events[i];
    if (ev.kind != TraceEventKind::Arrive) continue;
    const bool fits = std::any_of(shapes.begin(), shapes.end(), [&](const ResourceVector& s) { return ev.amount.fits_in(s); });
    if (!fits)
      fail_at(trace, i, fmt::format("VM demand ({}) is larger than every host's usable capacity ({})",
                                    amounts(ev.amount, dims), amounts(shapes.front(), dims)));
  }
  return shapes;
}

} // namespace

SimulationReport run_simulation(const Trace& trace, const SimulationConfig& config) {
  const std::vector<ResourceVector> shapes = validate(trace, config);
  const auto wall_start = Clock::now();
  const std::size_t dims = config.engine.dimensions;

  online::OnlineEngine engine(config.engine);
  ResourceVector reference;
  for (const ResourceVector& s : shapes)
    for (std::size_t d = 0; d < dims; ++d) reference[d] = std::max(reference[d], s[d]);
  engine.reserve_reference(reference);
  std::size_t arrivals = 0;
  for (const TraceEvent& ev : trace.events) arrivals += ev.kind == TraceEventKind::Arrive;
  engine.reserve_vms(arrivals);
  for (std::size_t i = 0; i < config.initial_hosts; ++i) engine.add_host(config.host_spec);

  SimulationReport report;
  report.trace_source = trace.source;
  report.policy = online::policy_name(config.engine.policy);
  report.events = trace.events.size();
  FleetLowerBound bound;
  std::vector<online::HostId> trace_hosts;  // trace host number -> engine host
  std::vector<uint32_t> latencies;
  latencies.reserve(trace.events.size() / 2 + 1);
  const std::size_t n = trace.events.size();
  const std::size_t sample_every = std::max<std::size_t>(1, n / std::max<std::size_t>(1, config.samples));
  const std::size_t progress_every = std::max<std::size_t>(1, n / 100);
  double next_consolidation = config.consolidate_every > 0 ? config.consolidate_every : std::numeric_limits<double>::infinity();
  double consolidation_ms = 0;
  double ratio_sum = 0;
  std::size_t ratio_count = 0;

  const auto take_sample = [&](std::size_t done, double time) {
    Sample s;
    s.time = time;
    s.events = done;
    s.live_vms = engine.live_vm_count();
    s.active_hosts = engine.active_host_count();
    s.lower_bound = bound.compute(engine);
    s.rejections = report.rejected;
    s.migrations = report.migrations;
    report.peak_lower_bound = std::max(report.peak_lower_bound, s.lower_bound);
    if (s.lower_bound > 0) {
      ratio_sum += static_cast<double>(s.active_hosts) / static_cast<double>(s.lower_bound);
      ++ratio_count;
    }
    report.samples.push_back(s);
  };

  for (std::size_t i = 0; i < n; ++i) {
    const TraceEvent& ev = trace.events[i];
    if (ev.time >= next_consolidation) {
      const auto t0 = Clock::now();
      online::ConsolidationOptions opts;
      opts.migration_budget = config.migration_budget;
      const online::ConsolidationPlan plan = online::plan_consolidation(engine, opts);
      report.migrations += online::apply_plan(engine, plan);
      report.hosts_freed += plan.freed_hosts.size();
      ++report.consolidation_rounds;
      consolidation_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      while (next_consolidation <= ev.time) next_consolidation += config.consolidate_every;
    }
    try {
      switch (ev.kind) {
      case TraceEventKind::Arrive: {
        ++report.arrivals;
        const online::VmRequest request{ev.subject, ev.amount, ev.affinity_group, ev.anti_affinity_group};
        const auto t0 = Clock::now();
        const online::PlacementDecision decision = engine.place(request);
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        latencies.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
        if (decision.placed) {
          ++report.placed;
        } else {
          ++report.rejected;
          ++report.rejections_by_reason[online::reject_reason_name(decision.reason)];
        }
        break;
      }
      case TraceEventKind::Depart:
        if (engine.find_vm(ev.subject)) {
          engine.release(ev.subject);
          ++report.departures;
        } else {
          ++report.ignored_departures;
        }
        break;
      case TraceEventKind::HostAdd: {
        ++report.host_events;
        if (trace_hosts.size() <= ev.subject) trace_hosts.resize(ev.subject + 1, kNoHost);
        trace_hosts[ev.subject] = engine.add_host(online::HostSpec{ev.amount, config.host_spec.reserved});
        break;
      }
      case TraceEventKind::HostDrain:
      case TraceEventKind::HostRemove: {
        ++report.host_events;
        if (ev.subject >= trace_hosts.size() || trace_hosts[ev.subject] == kNoHost)
          fail_at(trace, i, "the host was never added");
        const online::HostId host = trace_hosts[ev.subject];
        const online::EvacuationOutcome out =
            ev.kind == TraceEventKind::HostDrain ? engine.drain_host(host) : engine.remove_host(host);
        report.migrations += out.migrations.size();
        report.drain_migrations += out.migrations.size();
        if (ev.kind == TraceEventKind::HostRemove) report.evicted += out.stranded.size();
        break;
      }
      }
    } catch (const online::PlacementError& e) {
      fail_at(trace, i, e.what());
    }
    report.peak_active_hosts = std::max(report.peak_active_hosts, engine.active_host_count());
    if ((i + 1) % sample_every == 0 || i + 1 == n) take_sample(i + 1, ev.time);
    if (config.progress && ((i + 1) % progress_every == 0 || i + 1 == n)) config.progress(i + 1, n);
  }

  report.decision_latency = summarize_latency(latencies);
  report.mean_active_over_bound = ratio_count ? ratio_sum / static_cast<double>(ratio_count) : 0;
  report.consolidation_ms_mean =
      report.consolidation_rounds ? consolidation_ms / static_cast<double>(report.consolidation_rounds) : 0;
  report.wall_seconds = std::chrono::duration<double>(Clock::now() - wall_start).count();
  return report;
}

} // namespace nimbus::cloud::placement::simulator
