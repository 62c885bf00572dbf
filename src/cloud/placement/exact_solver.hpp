#pragma once
// Exact solving under a time limit: returns the best packing found and a proven lower bound;
// when they meet, the packing is optimal.
//  - One dimension, one host type: column generation (column_generation.hpp) for a proven LP
//    bound and packings by diving, bin completion (Korf 2002 style) on the decision question
//    "do k bins suffice?" for k from the Martello-Toth L2 bound upward. Bins are filled one at a
//    time around their largest remaining item, with undominated (maximal) completions only, a
//    waste budget of k*C - total, identical items merged into counts (symmetry breaking), and a
//    perfect single-item partner taken without branching (Martello-Toth dominance).
//  - Several dimensions or host types: depth-first branch-and-bound over items in decreasing
//    order with the continuous bound on remaining demand beyond open free space, bins with equal
//    load and type tried once, and identical items placed in non-decreasing bin order.
#include <cstdint>
#include <string>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

// Why the search ended. Only `Optimal` is a claim about the packing; the others say which
// limit stopped the search before the bound met the packing.
enum class StopReason {
  Optimal,      // the packing meets a proven lower bound
  TimeLimit,    // the wall-clock limit expired
  NodeLimit,    // a search or pricing cap was hit, or every method ran out of ideas in time
  MemoryLimit,  // the models that could close the gap are too large to build
  NotSearched,  // heuristic only (no exact search was asked for)
};
const char* stop_reason_name(StopReason reason);

struct ExactResult {
  Packing packing;
  double cost = 0;
  double lower_bound = 0;  // proven
  bool optimal = false;
  StopReason stop = StopReason::NotSearched;
  uint64_t nodes = 0;
  std::string method;  // what produced the packing: "bin-completion", "column-generation-dive", ...
  std::string bound_source;  // what proved the bound: "L2", "LP (dual-feasible)", "complete search"
};

// `incumbent` must be a feasible packing (e.g. from a heuristic); it is returned if nothing
// better is found. `initial_lower_bound` is any valid bound on the cost.
ExactResult solve_exact(const Instance& instance, const Packing& incumbent, double initial_lower_bound,
                        double time_limit_seconds);

// The bin-completion decision procedure, exposed for tests: packs 1-D `sizes` into at most
// `bins` bins of `capacity`. Returns 1 with bin_of filled, 0 when proven impossible, -1 when
// the deadline stopped the search.
int bin_completion_decide(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins, double time_limit_seconds,
                          std::vector<int32_t>& bin_of, uint64_t& nodes);

} // namespace nimbus::cloud::placement
