#pragma once
// Branch-and-price for bin packing in 1 to 4 dimensions: column generation at every node of a
// depth-first tree, Ryan-Foster branching on item pairs ("i and j in the same bin" / "i and j
// in different bins"), and a pricer that is an exact 0/1 knapsack over the node's items with
// those pairs merged (together) or in conflict (apart).
//
// It answers the question the root LP cannot when the rounded-up LP bound is below the
// optimum (non-IRUP instances; common in several dimensions): is there a packing with fewer
// bins than the incumbent? Every
// node is pruned only by a proof: Farley's bound from that node's duals, turned into integers
// and checked with the node's exact knapsack (ceil(sum_i Y_i / M), M the largest pattern value
// under the node's pair constraints; it holds for any dual vector, whatever its floating-point
// error). The two children of a node partition its packings, so when the tree is explored to
// the end (`complete`) no packing has fewer bins than the best one found: that is a proof of
// optimality. A node abandoned for any reason (deadline, pricing node limit, no fractional pair
// in a fractional LP) makes the search incomplete, and then it proves nothing.
#include <cstdint>
#include <vector>

#include "cloud/placement/resource_vector.hpp"
#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

struct BranchAndPriceInput {
  std::vector<ResourceVector> demands;             // one per item, each within capacity
  ResourceVector capacity;
  std::size_t dimensions = 1;                      // 1 to kMaxDimensions
  int64_t upper_bound = 0;                         // bins of the incumbent: look for fewer
  std::vector<std::vector<uint32_t>> initial_bins; // starting columns (item indices), e.g. the incumbent's bins
};

struct BranchAndPriceResult {
  bool complete = false;        // the whole tree was explored: no packing has fewer than `best_bins`
  int64_t best_bins = 0;        // min(input upper bound, bins of `bin_of`)
  bool found = false;           // `bin_of` is a packing with fewer bins than the input's upper bound
  std::vector<int32_t> bin_of;  // bin of each item
  int64_t root_bound = 0;       // proven (Farley) bound of the root node, 0 if none
  bool pricing_incomplete = false;  // a pricing knapsack hit its node limit somewhere
  uint64_t nodes = 0, columns = 0, pricing_rounds = 0, pricing_nodes = 0;
};

BranchAndPriceResult branch_and_price(const BranchAndPriceInput& input, SearchDeadline& deadline);

// The pricer, exposed for tests and benchmarks: the largest total of `values` over subsets of
// the items that fit `capacity`, where each group in `together` is taken whole or not at all,
// and no two items of a pair in `apart` are taken together. Exact (integers) when `complete`.
struct ConflictKnapsackResult {
  bool complete = false;
  int64_t value = 0;                          // best value (0: the empty set)
  std::vector<std::vector<uint32_t>> best;    // the best set first, then other good sets found on the way
  uint64_t nodes = 0;
};
// In several dimensions the set must fit in every dimension; the bound is the smallest of the
// per-dimension Dantzig bounds (each dimension alone is a relaxation).
ConflictKnapsackResult conflict_knapsack(const std::vector<ResourceVector>& weights, const std::vector<int64_t>& values,
                                         const ResourceVector& capacity, std::size_t dimensions,
                                         const std::vector<std::vector<uint32_t>>& together,
                                         const std::vector<std::pair<uint32_t, uint32_t>>& apart,
                                         uint64_t node_limit, SearchDeadline* deadline);

} // namespace nimbus::cloud::placement
