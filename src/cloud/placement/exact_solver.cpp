#include "cloud/placement/exact_solver.hpp"

#include <chrono>
#include <cmath>

#include "cloud/placement/lower_bounds.hpp"
#include "cloud/placement/vector_branch_and_bound.hpp"

namespace nimbus::cloud::placement {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ExactResult solve_one_dimension(const Instance& instance, const Packing& incumbent, double initial_lower_bound,
                                double time_limit_seconds) {
  const auto start = std::chrono::steady_clock::now();
  ExactResult r;
  r.method = "bin-completion";
  r.packing = incumbent;
  const double cost = instance.host_types[0].cost;
  auto upper = static_cast<int64_t>(incumbent.bin_count());
  auto lower = std::max<int64_t>(bin_lower_bound(instance).best,
                                 cost > 0 ? static_cast<int64_t>(std::ceil(initial_lower_bound / cost - 1e-9)) : 0);
  std::vector<int64_t> sizes(instance.item_count());
  for (std::size_t i = 0; i < sizes.size(); ++i) sizes[i] = instance.demands[i][0];
  // Ask "do k bins suffice?" from the lower bound up: the first yes is optimal, each proven no
  // raises the bound.
  for (int64_t k = lower; k < upper; ++k) {
    const double left = time_limit_seconds - seconds_since(start);
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    std::vector<int32_t> bin_of;
    uint64_t nodes = 0;
    const int answer = bin_completion_decide(sizes, instance.host_types[0].capacity[0], k, left, bin_of, nodes);
    r.nodes += nodes;
    if (answer == 1) {
      r.packing.bin_of_item = bin_of;
      r.packing.bin_host_type.assign(static_cast<std::size_t>(k), 0);
      drop_empty_bins(r.packing);  // k bins suffice; fewer may have been used
      upper = static_cast<int64_t>(r.packing.bin_count());
      break;
    }
    if (answer == 0) {
      lower = k + 1;
      continue;
    }
    r.timed_out = true;
    break;
  }
  r.cost = static_cast<double>(upper) * cost;
  r.lower_bound = static_cast<double>(std::min(lower, upper)) * cost;
  r.optimal = lower >= upper;
  return r;
}

} // namespace

ExactResult solve_exact(const Instance& instance, const Packing& incumbent, double initial_lower_bound,
                        double time_limit_seconds) {
  if (instance.dimensions == 1 && instance.single_host_type())
    return solve_one_dimension(instance, incumbent, initial_lower_bound, time_limit_seconds);
  ExactResult r;
  r.method = "branch-and-bound";
  const double incumbent_cost = packing_cost(instance, incumbent);
  const BranchAndBoundResult bb = vector_branch_and_bound(instance, incumbent_cost, time_limit_seconds);
  r.nodes = bb.nodes;
  r.packing = bb.improved ? bb.packing : incumbent;
  r.cost = bb.improved ? bb.cost : incumbent_cost;
  r.timed_out = !bb.complete;
  r.optimal = bb.complete || r.cost <= initial_lower_bound + 1e-9;
  r.lower_bound = r.optimal ? r.cost : initial_lower_bound;
  return r;
}

} // namespace nimbus::cloud::placement
