#pragma once
// Exact integer knapsack over bin patterns, and the proof-safe lower bound built on it.
//
// A pattern is a multiset of item types that fits one bin (in every dimension). Given integer
// values per type, `max_value_pattern` finds the pattern of largest total value: by dynamic
// programming over the capacity in one dimension when that is small enough, else by depth-first
// branch-and-bound. All arithmetic is in integers, so a `complete` answer is exact.
//
// `dual_feasible_bound` turns any real vector y (e.g. the dual values of an LP relaxation, which
// come with floating-point error) into a proven bound: Y_j = floor(max(0, y_j) * S) are integers,
// M is the exact maximum of sum_j Y_j x_j over patterns x, so every bin carries at most M and any
// packing needs at least sum_j count_j Y_j / M bins (Farley's bound; M plays the part of the
// "1" in the dual constraint sum_j a_pj y_j <= 1, checked exactly instead of trusted).
#include <cstdint>
#include <vector>

#include "cloud/placement/resource_vector.hpp"
#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

struct PatternType {
  ResourceVector weight;  // demand per dimension
  int64_t count = 0;      // most copies one pattern may take
};

struct PatternKnapsackResult {
  bool complete = false;       // `value` is the proven maximum
  int64_t value = 0;           // best pattern value found
  std::vector<int64_t> take;   // copies of each type in that pattern
  // A few more good patterns (other values found on the way; feasible, not necessarily
  // maximal or improving): column generation adds those that price out too.
  std::vector<std::vector<int64_t>> others;
  uint64_t nodes = 0;
};

// `values` one per type (types with value <= 0 are never taken). `node_limit` caps the
// branch-and-bound (the dynamic program always completes); `deadline` may be null.
PatternKnapsackResult max_value_pattern(const std::vector<PatternType>& types, const std::vector<int64_t>& values,
                                        const ResourceVector& capacity, std::size_t dimensions, uint64_t node_limit,
                                        SearchDeadline* deadline);

// Largest scale S such that every pattern value stays below 2^62 when values are at most S.
int64_t dual_scale(const std::vector<PatternType>& types, const ResourceVector& capacity, std::size_t dimensions);

struct DualBound {
  bool valid = false;   // the knapsack finished: `bound` is a proof
  int64_t bound = 0;    // ceil(sum count_j Y_j / M)
  double value = 0;     // sum count_j Y_j / M before rounding up
};

// `demand[j]` items of type j must be packed (types[j].count is the per-pattern cap, normally
// the same number).
DualBound dual_feasible_bound(const std::vector<PatternType>& types, const std::vector<int64_t>& demand,
                              const ResourceVector& capacity, std::size_t dimensions, const std::vector<double>& duals,
                              uint64_t node_limit, SearchDeadline* deadline);

} // namespace nimbus::cloud::placement
