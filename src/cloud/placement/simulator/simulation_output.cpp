#include "cloud/placement/simulator/simulation_output.hpp"

#include <fmt/format.h>

#include "cloud/placement/simulator/svg_line_chart.hpp"

namespace nimbus::cloud::placement::simulator {

void write_samples_csv(const SimulationReport& report, std::ostream& out) {
  out << "time_s,events,live_vms,active_hosts,lower_bound,rejections,migrations\n";
  for (const Sample& s : report.samples)
    out << fmt::format("{},{},{},{},{},{},{}\n", s.time, s.events, s.live_vms, s.active_hosts, s.lower_bound,
                       s.rejections, s.migrations);
}

std::string render_report_svg(const SimulationReport& report) {
  LineChart chart;
  chart.title = fmt::format("Active hosts vs lower bound ({}, {} events)", report.policy, report.events);
  chart.x_label = "trace time (s)";
  chart.y_label = "hosts";
  ChartSeries active{"active hosts", "#1f77b4", {}, false};
  ChartSeries bound{"lower bound (continuous, max over dimensions)", "#d62728", {}, true};
  ChartSeries rejected{"rejections (cumulative)", "#7f7f7f", {}, false};
  for (const Sample& s : report.samples) {
    active.points.emplace_back(s.time, static_cast<double>(s.active_hosts));
    bound.points.emplace_back(s.time, static_cast<double>(s.lower_bound));
    rejected.points.emplace_back(s.time, static_cast<double>(s.rejections));
  }
  chart.series = {active, bound};
  if (report.rejected > 0) chart.series.push_back(rejected);
  return render_svg(chart);
}

nlohmann::json report_json(const SimulationReport& r) {
  nlohmann::json j;
  j["trace"] = r.trace_source;
  j["policy"] = r.policy;
  j["events"] = r.events;
  j["arrivals"] = r.arrivals;
  j["placed"] = r.placed;
  j["rejected"] = r.rejected;
  j["rejections_by_reason"] = r.rejections_by_reason;
  j["departures"] = r.departures;
  j["ignored_departures"] = r.ignored_departures;
  j["host_events"] = r.host_events;
  j["migrations"] = r.migrations;
  j["drain_migrations"] = r.drain_migrations;
  j["consolidation_rounds"] = r.consolidation_rounds;
  j["hosts_freed"] = r.hosts_freed;
  j["evicted"] = r.evicted;
  j["peak_active_hosts"] = r.peak_active_hosts;
  j["peak_lower_bound"] = r.peak_lower_bound;
  j["mean_active_over_bound"] = r.mean_active_over_bound;
  j["decision_latency_us"] = {{"count", r.decision_latency.count}, {"mean", r.decision_latency.mean_us},
                              {"p50", r.decision_latency.p50_us},  {"p90", r.decision_latency.p90_us},
                              {"p99", r.decision_latency.p99_us},  {"p99.9", r.decision_latency.p999_us},
                              {"max", r.decision_latency.max_us}};
  j["consolidation_ms_mean"] = r.consolidation_ms_mean;
  j["wall_seconds"] = r.wall_seconds;
  return j;
}

void write_summary_text(const SimulationReport& r, std::ostream& out) {
  const LatencySummary& l = r.decision_latency;
  out << fmt::format("trace: {}\npolicy: {}\n", r.trace_source, r.policy);
  out << fmt::format("events: {} (arrivals {}, departures {}, host events {})\n", r.events, r.arrivals, r.departures,
                     r.host_events);
  out << fmt::format("placed: {}  rejected: {} ({:.3f}%)", r.placed, r.rejected,
                     r.arrivals ? 100.0 * static_cast<double>(r.rejected) / static_cast<double>(r.arrivals) : 0.0);
  for (const auto& [reason, count] : r.rejections_by_reason) out << fmt::format("  {}: {}", reason, count);
  out << '\n';
  out << fmt::format("migrations: {} (drain {}, consolidation {} in {} rounds, {} hosts freed)  evicted: {}\n",
                     r.migrations, r.drain_migrations, r.migrations - r.drain_migrations, r.consolidation_rounds,
                     r.hosts_freed, r.evicted);
  const Sample* last = r.samples.empty() ? nullptr : &r.samples.back();
  out << fmt::format("active hosts: peak {}, final {}; lower bound: peak {}, final {}; mean active/bound {:.4f}\n",
                     r.peak_active_hosts, last ? last->active_hosts : 0, r.peak_lower_bound,
                     last ? last->lower_bound : 0, r.mean_active_over_bound);
  out << fmt::format("decision latency (us): mean {:.2f}  p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  p99.9 {:.2f}  max {:.2f}\n",
                     l.mean_us, l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us);
  out << fmt::format("wall time: {:.2f} s\n", r.wall_seconds);
}

} // namespace nimbus::cloud::placement::simulator
