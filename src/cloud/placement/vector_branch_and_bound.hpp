#pragma once
// Depth-first branch-and-bound for several dimensions and host types (see exact_solver.hpp).
#include <cstdint>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

struct BranchAndBoundResult {
  Packing packing;
  double cost = 0;
  bool improved = false;  // packing is better than the incumbent
  bool complete = false;  // the whole tree was searched: the best cost is optimal
  uint64_t nodes = 0;
};

BranchAndBoundResult vector_branch_and_bound(const Instance& instance, double incumbent_cost, double time_limit_seconds);

} // namespace nimbus::cloud::placement
