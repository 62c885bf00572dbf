#pragma once
// The offline pipeline behind `nimbus place`: construct with heuristics, improve with local
// search, then search exactly within the time limit, and report the result against the best
// lower bound.
#include <cstdint>
#include <optional>
#include <string>

#include "cloud/placement/exact_solver.hpp"
#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/instance.hpp"
#include "cloud/placement/lower_bounds.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

enum class OfflineMode {
  Auto,       // best of several heuristics, local search, then exact search
  Exact,      // FFD incumbent, then exact search only
  Heuristic,  // one named heuristic (local search optional)
};

struct OfflineOptions {
  OfflineMode mode = OfflineMode::Auto;
  Heuristic heuristic = Heuristic::FirstFitDecreasing;  // for OfflineMode::Heuristic
  bool local_search = true;                              // Auto and Heuristic modes
  double time_limit_seconds = 10.0;
};

struct OfflineReport {
  Packing packing;
  double cost = 0;
  std::size_t bins = 0;
  BinLowerBound bin_bound;     // by dimension, for the first host type (single-type instances)
  double lower_bound = 0;      // on cost; in bins when every cost is 1
  double gap_percent = 0;
  bool optimal = false;
  StopReason stop = StopReason::NotSearched;  // why the search ended (Optimal when proven)
  std::string bound_source;    // what proved the lower bound
  std::string algorithm;       // what produced the final packing, e.g. "ffd+local-search"
  uint64_t exact_nodes = 0;
  double seconds = 0;
};

OfflineReport solve_offline(const Instance& instance, const OfflineOptions& options);

// Every item must fit at least one host type (the readers guarantee it); empty string when the
// instance is usable, else why not.
std::string instance_problem(const Instance& instance);

} // namespace nimbus::cloud::placement
