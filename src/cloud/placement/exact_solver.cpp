#include "cloud/placement/exact_solver.hpp"

#include <chrono>
#include <cmath>

#include "cloud/placement/arc_flow.hpp"
#include "cloud/placement/heuristics.hpp"
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
  const int64_t capacity = instance.host_types[0].capacity[0];
  // Asks "do k bins suffice?" from just below the incumbent down, until `until` seconds into the
  // solve: every yes improves the packing at once, and a proven no at k makes k+1 optimal.
  auto descend = [&](double until) {
    while (lower < upper) {
      const int64_t k = upper - 1;
      const double left = until - seconds_since(start);
      if (left <= 0) return;
      std::vector<int32_t> bin_of;
      uint64_t nodes = 0;
      const int answer = bin_completion_decide(sizes, capacity, k, left, bin_of, nodes);
      r.nodes += nodes;
      if (answer == 1) {
        r.packing.bin_of_item = bin_of;
        r.packing.bin_host_type.assign(static_cast<std::size_t>(k), 0);
        drop_empty_bins(r.packing);  // k bins suffice; fewer may have been used
        upper = static_cast<int64_t>(r.packing.bin_count());
        r.method = "bin-completion";
        continue;
      }
      if (answer == 0) lower = k + 1;
      return;
    }
  };
  // Bin completion first, briefly: when the L2 bound is the optimum it usually finds a packing
  // within milliseconds (and exact-fill instances such as triplets need it).
  descend(time_limit_seconds * 0.05);
  // Then the arc-flow LP: its Gilmore-Gomory bound usually closes the gap L2 leaves, and
  // rounding its solution usually gives a packing that meets it.
  if (lower < upper) {
    // The few items the rounding leaves are packed by bin completion into as few bins as it
    // can find quickly, else by FFD.
    const ResidualPacker pack_rest = [&](const std::vector<uint32_t>& rest, int64_t target) {
      std::vector<int64_t> rest_sizes;
      for (uint32_t i : rest) rest_sizes.push_back(sizes[i]);
      Instance sub;
      sub.host_types = instance.host_types;
      for (int64_t w : rest_sizes) sub.demands.push_back(ResourceVector{{w, 0, 0, 0}});
      const Packing ffd = heuristic_packing(sub, Heuristic::FirstFitDecreasing);
      std::vector<int32_t> bin_of;
      uint64_t nodes = 0;
      if (static_cast<int64_t>(ffd.bin_count()) > target && target >= 0 &&
          bin_completion_decide(rest_sizes, capacity, target, 0.2, bin_of, nodes) == 1)
        return bin_of;
      // The residual is small: its own arc-flow program is quick to solve.
      if (static_cast<int64_t>(ffd.bin_count()) > target && target >= 0) {
        const ArcFlowResult sub_ip = arc_flow_solve(rest_sizes, capacity, static_cast<int64_t>(ffd.bin_count()), 1.0);
        if (sub_ip.found) return sub_ip.bin_of;
      }
      return ffd.bin_of_item;
    };
    ArcFlowResult lp = arc_flow_rounding(sizes, capacity, pack_rest, (time_limit_seconds - seconds_since(start)) / 2);
    if (lp.lp_solved) lower = std::max(lower, lp.lp_bound);
    if (lp.found && lp.bins < upper) {
      r.packing.bin_of_item = std::move(lp.bin_of);
      r.packing.bin_host_type.assign(static_cast<std::size_t>(lp.bins), 0);
      drop_empty_bins(r.packing);
      upper = static_cast<int64_t>(r.packing.bin_count());
      r.method = "arc-flow-lp-rounding";
    }
  }
  // Then bin completion again for a third of the time left.
  descend(seconds_since(start) + (time_limit_seconds - seconds_since(start)) / 3);
  // Then the arc-flow integer program with Cbc for the rest of the time.
  if (lower < upper) {
    const double left = time_limit_seconds - seconds_since(start);
    if (left > 0) {
      const ArcFlowResult ip = arc_flow_solve(sizes, capacity, upper, left);
      lower = std::max(lower, std::min(ip.proven_bound, upper));
      if (ip.found && ip.bins < upper) {
        r.packing.bin_of_item = ip.bin_of;
        r.packing.bin_host_type.assign(static_cast<std::size_t>(ip.bins), 0);
        drop_empty_bins(r.packing);
        upper = static_cast<int64_t>(r.packing.bin_count());
        r.method = "arc-flow-cbc";
      }
    }
  }
  r.timed_out = lower < upper;
  r.cost = static_cast<double>(upper) * cost;
  r.lower_bound = static_cast<double>(std::min(lower, upper)) * cost;
  r.optimal = lower >= upper;
  return r;
}

} // namespace

ExactResult solve_exact(const Instance& instance, const Packing& incumbent, double initial_lower_bound,
                        double time_limit_seconds) {
  // Bin completion and arc flow need positive sizes; zero-size items (possible only when an
  // instance is built in code, the readers reject them) go to branch-and-bound.
  bool positive = true;
  for (const ResourceVector& v : instance.demands) positive = positive && v[0] > 0;
  if (instance.dimensions == 1 && instance.single_host_type() && positive)
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
