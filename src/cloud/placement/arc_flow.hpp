#pragma once
// Arc-flow model of one-dimensional bin packing (Valerio de Carvalho 1999), solved with COIN-OR
// (Clp for the linear relaxation, Cbc for the integer program). Nodes are the loads 0..C a bin
// can reach when items are added in non-increasing size order; an arc (u, u+w) places an item of
// size w, loss arcs (u, C) leave the rest empty; each unit of flow from 0 to C is one bin. The LP
// value equals the Gilmore-Gomory bound, which is almost always the optimum (round up), far
// stronger than L2 when items larger than C/2 interact.
#include <cstdint>
#include <functional>
#include <vector>

namespace nimbus::cloud::placement {

struct ArcFlowResult {
  bool built = false;       // false when the graph would be too large (pseudo-polynomial in C)
  std::size_t arcs = 0;      // after compression (item and loss arcs)
  std::size_t raw_arcs = 0;  // item arcs before compression
  std::size_t fixed_arcs = 0;  // arcs the integer program left out by reduced-cost fixing
  bool lp_solved = false;
  double lp_value = 0;
  int64_t lp_bound = 0;     // proven: Farley's bound from the LP duals, checked exactly (~ceil(lp_value))
  std::vector<int64_t> distinct_sizes;  // with lp_solved: the demand rows' sizes (decreasing)
  std::vector<double> duals;            // and their dual values (for an independent check)
  bool found = false;       // an integer packing better than the given upper bound
  std::vector<int32_t> bin_of;  // with `found`: bin of each item
  int64_t bins = 0;
  bool proven_optimal = false;  // the integer program was solved to optimality
  int64_t proven_bound = 0;     // best proven lower bound (LP, or a finished integer search)
  bool timed_out = false;       // the integer search stopped at the time limit
};

// Packs the given items (indices into sizes), aiming at `target` bins, and returns the bin of
// each, numbered from 0.
using ResidualPacker = std::function<std::vector<int32_t>(const std::vector<uint32_t>& items, int64_t target)>;

// LP bound, and a packing by rounding the LP solution (`found`, `bins`, `bin_of`): floor(weight)
// (less up to 3) copies of each pattern in the flow, the rest packed by `pack_rest`.
ArcFlowResult arc_flow_rounding(const std::vector<int64_t>& sizes, int64_t capacity, const ResidualPacker& pack_rest,
                                double time_limit_seconds);
// LP bound only (each solve stops at the time limit; lp_solved is then false).
ArcFlowResult arc_flow_bound(const std::vector<int64_t>& sizes, int64_t capacity, double time_limit_seconds);
// LP bound, then the integer program looking for fewer than `upper_bound` bins.
ArcFlowResult arc_flow_solve(const std::vector<int64_t>& sizes, int64_t capacity, int64_t upper_bound,
                             double time_limit_seconds);

} // namespace nimbus::cloud::placement
