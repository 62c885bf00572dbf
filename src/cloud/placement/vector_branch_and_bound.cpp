#include "cloud/placement/vector_branch_and_bound.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

namespace {

// Costs are compared with a tolerance so that floating-point sums of equal costs compare equal.
constexpr double kEpsilon = 1e-9;

class BranchAndBound {
public:
  BranchAndBound(const Instance& instance, double incumbent_cost, SearchDeadline& deadline)
      : in_(instance), best_cost_(incumbent_cost), deadline_(deadline) {
    dims_ = in_.dimensions;
    order_.resize(in_.item_count());
    std::iota(order_.begin(), order_.end(), 0u);
    ResourceVector largest;
    for (const HostType& h : in_.host_types)
      for (std::size_t d = 0; d < dims_; ++d) largest[d] = std::max(largest[d], h.capacity[d]);
    std::vector<double> key(in_.item_count());
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = normalized_size(in_.demands[i], largest, dims_);
    std::stable_sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) {
      if (key[a] != key[b]) return key[a] > key[b];
      return in_.demands[a].v > in_.demands[b].v;  // identical demands end up adjacent
    });
    // Demand still to place after position p, for the bound.
    suffix_.assign(order_.size() + 1, ResourceVector{});
    for (std::size_t p = order_.size(); p-- > 0;) suffix_[p] = suffix_[p + 1] + in_.demands[order_[p]];
    for (std::size_t d = 0; d < dims_; ++d) {
      price_[d] = -1;
      for (const HostType& h : in_.host_types) {
        const double p = h.cost / static_cast<double>(h.capacity[d]);
        if (price_[d] < 0 || p < price_[d]) price_[d] = p;
      }
    }
    assignment_.assign(in_.item_count(), -1);
  }

  void run() {
    search(0, 0.0);
    complete_ = !deadline_.expired_now();
  }

  BranchAndBoundResult result() const {
    BranchAndBoundResult r;
    r.cost = best_cost_;
    r.improved = improved_;
    r.complete = complete_;
    r.nodes = nodes_;
    r.packing = best_;
    return r;
  }

private:
  const Instance& in_;
  std::size_t dims_;
  double best_cost_;
  SearchDeadline& deadline_;
  std::vector<uint32_t> order_;
  std::vector<ResourceVector> suffix_;
  std::array<double, kMaxDimensions> price_{};
  std::vector<ResourceVector> load_;
  std::vector<int32_t> type_;
  std::vector<int32_t> assignment_;
  ResourceVector free_{};  // total free capacity of open bins
  Packing best_;
  bool improved_ = false;
  bool complete_ = false;
  uint64_t nodes_ = 0;

  double bound(std::size_t p, double cost) const {
    double extra = 0;
    const bool single = in_.single_host_type();
    for (std::size_t d = 0; d < dims_; ++d) {
      const int64_t overflow = suffix_[p][d] - free_[d];
      if (overflow <= 0) continue;
      if (single) {
        const int64_t c = in_.host_types[0].capacity[d];
        extra = std::max(extra, static_cast<double>((overflow + c - 1) / c) * in_.host_types[0].cost);
      } else {
        extra = std::max(extra, static_cast<double>(overflow) * price_[d]);
      }
    }
    return cost + extra;
  }

  void search(std::size_t p, double cost) {
    ++nodes_;
    if (deadline_.expired()) return;
    if (p == order_.size()) {
      if (cost < best_cost_ - kEpsilon) {
        best_cost_ = cost;
        improved_ = true;
        best_.bin_of_item = assignment_;
        best_.bin_host_type = type_;
      }
      return;
    }
    if (bound(p, cost) >= best_cost_ - kEpsilon) return;
    const uint32_t item = order_[p];
    const ResourceVector& demand = in_.demands[item];
    // Symmetry: an item identical to the previous one goes to the same bin or a later one.
    int32_t first_bin = 0;
    if (p > 0 && in_.demands[order_[p - 1]] == demand) first_bin = assignment_[order_[p - 1]];
    const std::size_t open = load_.size();
    for (std::size_t b = static_cast<std::size_t>(first_bin); b < open; ++b) {
      const ResourceVector& capacity = in_.host_types[static_cast<std::size_t>(type_[b])].capacity;
      if (!(load_[b] + demand).fits_in(capacity)) continue;
      bool duplicate = false;  // an earlier bin with the same type and load gives the same subtree
      for (std::size_t e = static_cast<std::size_t>(first_bin); e < b && !duplicate; ++e)
        duplicate = type_[e] == type_[b] && load_[e] == load_[b];
      if (duplicate) continue;
      load_[b] += demand;
      free_ -= demand;
      assignment_[item] = static_cast<int32_t>(b);
      search(p + 1, cost);
      assignment_[item] = -1;
      free_ += demand;
      load_[b] -= demand;
      if (deadline_.expired()) return;
    }
    for (std::size_t t = 0; t < in_.host_types.size(); ++t) {
      const HostType& h = in_.host_types[t];
      if (!demand.fits_in(h.capacity) || cost + h.cost >= best_cost_ - kEpsilon) continue;
      load_.push_back(demand);
      type_.push_back(static_cast<int32_t>(t));
      free_ += h.capacity - demand;
      assignment_[item] = static_cast<int32_t>(open);
      search(p + 1, cost + h.cost);
      assignment_[item] = -1;
      free_ -= h.capacity - demand;
      type_.pop_back();
      load_.pop_back();
      if (deadline_.expired()) return;
    }
  }
};

} // namespace

BranchAndBoundResult vector_branch_and_bound(const Instance& instance, double incumbent_cost, double time_limit_seconds) {
  SearchDeadline deadline(time_limit_seconds);
  BranchAndBound search(instance, incumbent_cost, deadline);
  search.run();
  return search.result();
}

} // namespace nimbus::cloud::placement
