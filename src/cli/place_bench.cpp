#include "cli/place_bench.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "cloud/placement/certify.hpp"
#include "cloud/placement/instance_generators.hpp"
#include "cloud/placement/offline_solver.hpp"

namespace nimbus::cli {

namespace {

using namespace cloud::placement;

struct BenchOptions {
  std::string kinds;
  bool vector = false;
  std::size_t instances = 10;
  double time_limit = 10.0;
  bool json = false;
  bool certify = false;
};

struct KindStats {
  std::string kind;
  std::size_t instances = 0, optimal = 0, false_claims = 0, certified = 0, refuted = 0;
  double total_seconds = 0, max_seconds = 0, max_gap = 0, total_gap = 0;
  std::size_t stopped_time = 0, stopped_nodes = 0, stopped_memory = 0;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

int run_bench(const BenchOptions& o) {
  std::vector<std::string> kinds = o.kinds.empty() ? (o.vector ? benchmark_kinds_vector() : benchmark_kinds_1d()) : split(o.kinds);
  std::vector<KindStats> all;
  for (const std::string& kind : kinds) {
    Instance probe;
    if (!generate_kind(kind, 1, probe)) {
      fmt::print(stderr, "nimbus place bench: unknown kind '{}'\n", kind);
      return 2;
    }
  }
  if (!o.json)
    fmt::print("{:<9} {:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>6}{}\n", "kind", "inst", "optimal", "mean s", "max s",
               "mean gap%", "max gap%", "false", o.certify ? "  certified" : "");
  for (const std::string& kind : kinds) {
    KindStats st;
    st.kind = kind;
    for (std::size_t s = 1; s <= o.instances; ++s) {
      Instance in;
      int64_t known = -1;
      generate_kind(kind, s, in, &known);
      OfflineOptions options;
      options.time_limit_seconds = o.time_limit;
      const auto start = std::chrono::steady_clock::now();
      const OfflineReport r = solve_offline(in, options);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ++st.instances;
      st.total_seconds += seconds;
      st.max_seconds = std::max(st.max_seconds, seconds);
      st.max_gap = std::max(st.max_gap, r.gap_percent);
      st.total_gap += r.gap_percent;
      if (r.optimal) ++st.optimal;
      if (r.stop == StopReason::TimeLimit) ++st.stopped_time;
      if (r.stop == StopReason::NodeLimit) ++st.stopped_nodes;
      if (r.stop == StopReason::MemoryLimit) ++st.stopped_memory;
      // A bound above a known optimum, an infeasible packing, or "optimal" above it: false.
      const bool infeasible = !packing_violation(in, r.packing).empty();
      if (infeasible || (known >= 0 && (r.lower_bound > static_cast<double>(known) + 1e-9 ||
                                        (r.optimal && static_cast<int64_t>(r.bins) != known))))
        ++st.false_claims;
      if (o.certify && r.optimal) {
        const CertifyResult c = certify_optimum(in, r.packing, r.cost, o.time_limit);
        if (c.verdict == Certificate::Certified) ++st.certified;
        if (c.verdict == Certificate::Refuted) ++st.refuted;
      }
    }
    if (!o.json) {
      fmt::print("{:<9} {:>5} {:>8} {:>8.3f} {:>8.3f} {:>9.3f} {:>9.3f} {:>6}", kind, st.instances,
                 fmt::format("{}/{}", st.optimal, st.instances), st.total_seconds / static_cast<double>(st.instances),
                 st.max_seconds, st.total_gap / static_cast<double>(st.instances), st.max_gap, st.false_claims);
      if (o.certify) fmt::print("  {}/{}{}", st.certified, st.optimal, st.refuted > 0 ? fmt::format(" ({} REFUTED)", st.refuted) : "");
      fmt::print("\n");
      std::fflush(stdout);
    }
    all.push_back(st);
  }
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const KindStats& st : all) {
      nlohmann::json k;
      k["kind"] = st.kind;
      k["instances"] = st.instances;
      k["optimal"] = st.optimal;
      k["mean_seconds"] = st.total_seconds / static_cast<double>(st.instances);
      k["max_seconds"] = st.max_seconds;
      k["mean_gap_percent"] = st.total_gap / static_cast<double>(st.instances);
      k["max_gap_percent"] = st.max_gap;
      k["false_claims"] = st.false_claims;
      k["stopped"] = {{"time_limit", st.stopped_time}, {"node_limit", st.stopped_nodes}, {"memory_limit", st.stopped_memory}};
      if (o.certify) {
        k["certified"] = st.certified;
        k["refuted"] = st.refuted;
      }
      out.push_back(std::move(k));
    }
    fmt::print("{}\n", out.dump(2));
  }
  std::size_t false_claims = 0, refuted = 0;
  for (const KindStats& st : all) {
    false_claims += st.false_claims;
    refuted += st.refuted;
  }
  return false_claims + refuted > 0 ? 1 : 0;
}

} // namespace

void register_place_bench(CLI::App& place) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* bench = place.add_subcommand("bench", "Solve generated instances of the classic kinds and report per kind");
  bench->add_option("--kinds", options->kinds,
                    "Comma-separated kinds (default: every 1-D kind: u120 u250 u500 u1000 t60 t120 t249 t501 scholl1 "
                    "scholl2 scholl3 sw wg cutgen hard planted; with --vector: ct1-ct4 pan1-pan5)");
  bench->add_flag("--vector", options->vector, "Run the vector kinds instead");
  bench->add_option("-n,--instances", options->instances, "Instances per kind (seeds 1..N)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bench->add_option("-t,--time-limit", options->time_limit, "Seconds per instance")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench->add_flag("--json", options->json, "Print the table as JSON");
  bench->add_flag("--certify", options->certify, "Re-check every claimed optimum independently (--certify of nimbus place)");
  bench->callback([options] { set_exit_code(run_bench(*options)); });
}

} // namespace nimbus::cli
