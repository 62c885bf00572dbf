#include "cloud/placement/offline_solver.hpp"

#include <fmt/format.h>

#include <chrono>
#include <map>

#include "cloud/placement/exact_solver.hpp"
#include "cloud/placement/local_search.hpp"

namespace nimbus::cloud::placement {

namespace {

constexpr double kEpsilon = 1e-9;
// Bin-centric heuristics scan distinct demands for every placement: skip them in auto mode when
// that would be slow.
constexpr double kBinCentricWorkLimit = 2e8;
constexpr std::size_t kLocalSearchItemLimit = 200'000;

std::size_t distinct_demands(const Instance& instance) {
  std::map<std::array<int64_t, kMaxDimensions>, int> seen;
  for (const ResourceVector& v : instance.demands) seen.emplace(v.v, 0);
  return seen.size();
}

} // namespace

std::string instance_problem(const Instance& instance) {
  if (instance.dimensions < 1 || instance.dimensions > kMaxDimensions)
    return fmt::format("{} dimensions, expected 1 to {}", instance.dimensions, kMaxDimensions);
  if (instance.host_types.empty()) return "no host types";
  for (std::size_t i = 0; i < instance.item_count(); ++i)
    if (cheapest_fitting_host_type(instance, instance.demands[i]) < 0)
      return fmt::format("item {} is larger than every host type", instance.item_name(i));
  return {};
}

OfflineReport solve_offline(const Instance& instance, const OfflineOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  OfflineReport report;
  report.bound_source = instance.single_host_type() ? "L2" : "continuous";
  if (instance.single_host_type()) {
    report.bin_bound = bin_lower_bound(instance);
    report.lower_bound = static_cast<double>(report.bin_bound.best) * instance.host_types[0].cost;
  } else {
    report.lower_bound = cost_lower_bound(instance);
  }

  // Construction.
  std::vector<Heuristic> candidates;
  if (options.mode == OfflineMode::Heuristic) {
    candidates = {options.heuristic};
  } else if (options.mode == OfflineMode::Exact) {
    candidates = {Heuristic::FirstFitDecreasing};
  } else if (instance.dimensions == 1) {
    candidates = {Heuristic::FirstFitDecreasing, Heuristic::BestFitDecreasing};
  } else {
    candidates = {Heuristic::FfdSum, Heuristic::FfdProduct, Heuristic::FfdL2, Heuristic::BestFitDecreasing};
    if (static_cast<double>(distinct_demands(instance)) * static_cast<double>(instance.item_count()) <= kBinCentricWorkLimit)
      candidates.insert(candidates.end(), {Heuristic::DotProduct, Heuristic::L2Norm});
  }
  bool first = true;
  for (Heuristic h : candidates) {
    Packing p = heuristic_packing(instance, h);
    const double cost = packing_cost(instance, p);
    if (first || cost < report.cost - kEpsilon) {
      report.packing = std::move(p);
      report.cost = cost;
      report.algorithm = std::string(heuristic_name(h));
      first = false;
    }
    if (report.cost <= report.lower_bound + kEpsilon) break;  // already optimal
  }

  // Local search.
  const bool gap = report.cost > report.lower_bound + kEpsilon;
  // With one host type the exact search (its excess search, column generation, bin completion)
  // is both faster and stronger, so auto mode goes straight to it.
  const bool exact_is_better = options.mode == OfflineMode::Auto && instance.single_host_type();
  if (gap && options.local_search && options.mode != OfflineMode::Exact && !exact_is_better &&
      instance.item_count() <= kLocalSearchItemLimit) {
    const double budget = options.mode == OfflineMode::Auto ? options.time_limit_seconds / 4 : options.time_limit_seconds;
    Packing improved = improve_by_local_search(instance, report.packing, budget);
    const double cost = packing_cost(instance, improved);
    if (cost < report.cost - kEpsilon) {
      report.packing = std::move(improved);
      report.cost = cost;
      report.algorithm += "+local-search";
    }
  }

  // Exact search.
  if (report.cost <= report.lower_bound + kEpsilon) {
    report.optimal = true;
  } else if (options.mode != OfflineMode::Heuristic) {
    const double left = std::max(0.0, options.time_limit_seconds - elapsed());
    ExactResult exact = solve_exact(instance, report.packing, report.lower_bound, left);
    report.exact_nodes = exact.nodes;
    report.stop = exact.stop;
    if (exact.lower_bound > report.lower_bound + kEpsilon) report.bound_source = exact.bound_source;
    report.lower_bound = std::max(report.lower_bound, exact.lower_bound);
    if (exact.cost < report.cost - kEpsilon) {
      report.packing = std::move(exact.packing);
      report.cost = exact.cost;
      report.algorithm = exact.method;
    }
    report.optimal = exact.optimal || report.cost <= report.lower_bound + kEpsilon;
    if (report.optimal) report.lower_bound = report.cost;
  }
  if (report.optimal) report.stop = StopReason::Optimal;

  report.bins = report.packing.bin_count();
  report.gap_percent = report.lower_bound > 0 ? 100.0 * (report.cost - report.lower_bound) / report.lower_bound : 0.0;
  if (report.gap_percent < kEpsilon) report.gap_percent = 0;
  report.seconds = elapsed();
  return report;
}

} // namespace nimbus::cloud::placement
