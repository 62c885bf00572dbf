#pragma once
// Independent re-check of a claimed optimum (`nimbus place --certify`). It shares no search code
// with the solver that made the claim:
//  - small instances (up to 20 items in one dimension, 13 otherwise): exact dynamic
//    programming over item subsets;
//  - one dimension: the continuous bound recomputed; the arc-flow LP (a different model from
//    the solver's column generation) with its dual values checked exactly; the arc-flow integer
//    program with Cbc, which must finish and find nothing below the claim.
//  - one dimension, any capacity: the Gilmore-Gomory LP bound by column generation with its own
//    Clp master and its own exact knapsack (certify_lp.cpp), for capacities where the arc-flow
//    graph is too large (Scholl's set 3, C = 100,000);
//  - several dimensions, one host type: the continuous bound of each dimension, then the LP
//    bound by column generation with its own master and exact vector knapsack
//    (certify_vector_lp.cpp);
// Every LP's duals are checked by this file's own exact knapsack (Farley's bound), never by the
// solver's. The packing itself is always re-checked for feasibility.
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

enum class Certificate {
  Certified,     // an independent method proves no packing is cheaper than the claim
  Refuted,       // an independent method found a cheaper packing, or the packing is infeasible
  NotCertified,  // no independent method settled it within the time limit
};

struct CertifyResult {
  Certificate verdict = Certificate::NotCertified;
  std::string method;  // what settled it, or why nothing did
};

// `claimed_cost` is the optimum claimed for `packing` (its cost).
CertifyResult certify_optimum(const Instance& instance, const Packing& packing, double claimed_cost,
                              double time_limit_seconds);

// Farley's bound from arbitrary duals (one per distinct size; clamped to [0, 1], scaled by 2^30
// and floored to integers), with the largest pattern value computed exactly by a 0/1 dynamic
// program over the capacity. `valid` false when the table would be too large.
struct ExactFarleyBound {
  bool valid = false;
  int64_t bound = 0;               // ceil(sum count_j Y_j / M): a proof for any duals
  int64_t max_pattern_value = 0;   // M
  double ratio = 0;                // sum count_j Y_j / M before rounding up
  std::vector<int64_t> best_pattern;  // copies of each size in a pattern of value M
  bool improving = false;          // M exceeds the scaled 1: that pattern prices out
  std::vector<std::vector<int64_t>> other_patterns;  // more patterns of value above the scaled 1
};
ExactFarleyBound exact_farley_bound(const std::vector<int64_t>& size, const std::vector<int64_t>& count,
                                    int64_t capacity, const std::vector<double>& duals);

// The LP bound by column generation (own master and pricer), stopping once it reaches `target`;
// `initial_bins` (item sizes of each bin of a packing) seed the master.
struct IndependentLpBound {
  bool valid = false;      // `bound` is proven
  int64_t bound = 0;
  bool converged = false;  // the LP is solved: no better bound from it
  int rounds = 0;
  std::string why;         // why it stopped below the target
};
IndependentLpBound independent_lp_bound(const std::vector<int64_t>& sizes, int64_t capacity, int64_t target,
                                        const std::vector<std::vector<int64_t>>& initial_bins, double seconds);

// The same for several dimensions (certify_vector_lp.cpp): column generation over distinct
// demand vectors with its own master and its own exact vector knapsack (a node limit per
// pricing: hitting it ends the attempt, nothing is claimed from that round); `initial_bins`
// are item indices per bin of the claimed packing.
IndependentLpBound independent_vector_lp_bound(const std::vector<ResourceVector>& demands, const ResourceVector& capacity,
                                               std::size_t dimensions, int64_t target,
                                               const std::vector<std::vector<uint32_t>>& initial_bins, double seconds,
                                               uint64_t knapsack_node_limit = 20'000'000);

// The minimum cost by dynamic programming over subsets, or a negative value when the instance
// is too large for it (more than `max_items` items). Exposed for tests.
double subset_dp_optimum(const Instance& instance, std::size_t max_items);

} // namespace nimbus::cloud::placement
