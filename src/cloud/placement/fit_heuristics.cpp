// First, Best and Worst Fit (and their decreasing forms). In one dimension every rule finds its
// bin through an index in O(log bins), so a million items pack in well under a second; in
// several dimensions First Fit uses the same tree (pruned by per-dimension maxima) and Best/Worst
// Fit compare the fitting open bins.
#include <algorithm>
#include <numeric>
#include <queue>
#include <set>

#include "cloud/placement/heuristics.hpp"

namespace nimbus::cloud::placement {

namespace {

// Segment tree over bin slots holding, per node, the component-wise maximum residual capacity of
// the slots below it. Unopened slots hold the full capacity, so the leftmost fitting slot is the
// first-fit bin, or the next new bin when no open bin fits.
class FirstFitTree {
public:
  FirstFitTree(std::size_t slots, const ResourceVector& capacity, std::size_t dims) : dims_(dims) {
    leaves_ = 1;
    while (leaves_ < std::max<std::size_t>(slots, 1)) leaves_ *= 2;
    max_.assign(2 * leaves_ * dims_, 0);
    for (std::size_t node = 1; node < 2 * leaves_; ++node)
      for (std::size_t d = 0; d < dims_; ++d) max_[node * dims_ + d] = capacity[d];
  }

  // Leftmost slot whose residual holds `demand`, or -1.
  int64_t find(const ResourceVector& demand) const { return search(1, demand); }

  void set(std::size_t slot, const ResourceVector& residual) {
    std::size_t node = leaves_ + slot;
    for (std::size_t d = 0; d < dims_; ++d) max_[node * dims_ + d] = residual[d];
    for (node /= 2; node >= 1; node /= 2) {
      bool changed = false;
      for (std::size_t d = 0; d < dims_; ++d) {
        const int64_t m = std::max(max_[2 * node * dims_ + d], max_[(2 * node + 1) * dims_ + d]);
        changed = changed || m != max_[node * dims_ + d];
        max_[node * dims_ + d] = m;
      }
      if (!changed) break;  // ancestors already hold the right maxima
    }
  }

private:
  std::size_t dims_;
  std::size_t leaves_;
  std::vector<int64_t> max_;

  bool fits(std::size_t node, const ResourceVector& demand) const {
    for (std::size_t d = 0; d < dims_; ++d)
      if (demand[d] > max_[node * dims_ + d]) return false;
    return true;
  }

  int64_t search(std::size_t node, const ResourceVector& demand) const {
    if (!fits(node, demand)) return -1;
    if (node >= leaves_) return static_cast<int64_t>(node - leaves_);
    // In one dimension the maximum is exact, so the left branch never fails after fitting.
    const int64_t left = search(2 * node, demand);
    return left >= 0 ? left : search(2 * node + 1, demand);
  }
};

// The one-dimensional case of the tree: an iterative descent with no backtracking.
class FirstFitTree1D {
public:
  FirstFitTree1D(std::size_t slots, int64_t capacity) {
    leaves_ = 1;
    while (leaves_ < std::max<std::size_t>(slots, 1)) leaves_ *= 2;
    max_.assign(2 * leaves_, capacity);
  }
  // Leftmost slot with residual >= w (the caller guarantees w <= capacity).
  std::size_t find(int64_t w) const {
    std::size_t node = 1;
    while (node < leaves_) node = max_[2 * node] >= w ? 2 * node : 2 * node + 1;
    return node - leaves_;
  }
  void set(std::size_t slot, int64_t residual) {
    std::size_t node = leaves_ + slot;
    max_[node] = residual;
    for (node /= 2; node >= 1; node /= 2) {
      const int64_t m = std::max(max_[2 * node], max_[2 * node + 1]);
      if (m == max_[node]) break;
      max_[node] = m;
    }
  }

private:
  std::size_t leaves_;
  std::vector<int64_t> max_;
};

SubPacking first_fit_1d(const ItemSet& set, std::span<const uint32_t> order) {
  SubPacking out;
  out.bin_of.assign(set.items.size(), -1);
  const int64_t capacity = set.capacity[0];
  FirstFitTree1D tree(set.items.size(), capacity);
  std::vector<int64_t> residual;
  for (uint32_t k : order) {
    const int64_t w = set.demands[set.items[k]][0];
    if (w > capacity) continue;
    const std::size_t b = tree.find(w);
    if (b == residual.size()) residual.push_back(capacity);
    residual[b] -= w;
    tree.set(b, residual[b]);
    out.bin_of[k] = static_cast<int32_t>(b);
  }
  out.bins = static_cast<int32_t>(residual.size());
  return out;
}

double normalized_residual(const ResourceVector& residual, const ResourceVector& capacity, std::size_t dims) {
  return normalized_size(residual, capacity, dims);
}

SubPacking first_fit(const ItemSet& set, std::span<const uint32_t> order) {
  SubPacking out;
  out.bin_of.assign(set.items.size(), -1);
  FirstFitTree tree(set.items.size(), set.capacity, set.dimensions);
  std::vector<ResourceVector> residual;
  for (uint32_t k : order) {
    const ResourceVector& demand = set.demands[set.items[k]];
    const int64_t slot = tree.find(demand);
    if (slot < 0) continue;  // larger than the capacity: left unassigned (-1)
    const auto b = static_cast<std::size_t>(slot);
    if (b == residual.size()) residual.push_back(set.capacity);
    residual[b] -= demand;
    tree.set(b, residual[b]);
    out.bin_of[k] = static_cast<int32_t>(b);
  }
  out.bins = static_cast<int32_t>(residual.size());
  return out;
}

SubPacking best_fit_1d(const ItemSet& set, std::span<const uint32_t> order) {
  SubPacking out;
  out.bin_of.assign(set.items.size(), -1);
  std::set<std::pair<int64_t, int32_t>> open;  // (residual, bin)
  const int64_t capacity = set.capacity[0];
  for (uint32_t k : order) {
    const int64_t w = set.demands[set.items[k]][0];
    if (w > capacity) continue;
    auto it = open.lower_bound({w, -1});
    int32_t bin;
    int64_t residual;
    if (it == open.end()) {
      bin = out.bins++;
      residual = capacity;
    } else {
      bin = it->second;
      residual = it->first;
      open.erase(it);
    }
    residual -= w;
    if (residual > 0) open.insert({residual, bin});
    out.bin_of[k] = bin;
  }
  return out;
}

SubPacking worst_fit_1d(const ItemSet& set, std::span<const uint32_t> order) {
  SubPacking out;
  out.bin_of.assign(set.items.size(), -1);
  // Largest residual first; among equal residuals the lowest bin.
  std::priority_queue<std::pair<int64_t, int32_t>> open;  // (residual, -bin)
  const int64_t capacity = set.capacity[0];
  for (uint32_t k : order) {
    const int64_t w = set.demands[set.items[k]][0];
    if (w > capacity) continue;
    int32_t bin;
    int64_t residual;
    if (open.empty() || open.top().first < w) {
      bin = out.bins++;
      residual = capacity;
    } else {
      bin = -open.top().second;
      residual = open.top().first;
      open.pop();
    }
    open.push({residual - w, -bin});
    out.bin_of[k] = bin;
  }
  return out;
}

// Several dimensions: compare every open bin the item fits; best = least normalized residual left.
SubPacking scan_fit(const ItemSet& set, std::span<const uint32_t> order, bool best) {
  SubPacking out;
  out.bin_of.assign(set.items.size(), -1);
  std::vector<ResourceVector> residual;
  std::vector<double> score;  // normalized residual of each open bin
  for (uint32_t k : order) {
    const ResourceVector& demand = set.demands[set.items[k]];
    if (!demand.fits_in(set.capacity)) continue;
    int64_t chosen = -1;
    for (std::size_t b = 0; b < residual.size(); ++b) {
      if (!demand.fits_in(residual[b])) continue;
      if (chosen < 0 || (best ? score[b] < score[static_cast<std::size_t>(chosen)]
                              : score[b] > score[static_cast<std::size_t>(chosen)]))
        chosen = static_cast<int64_t>(b);
    }
    if (chosen < 0) {
      chosen = static_cast<int64_t>(residual.size());
      residual.push_back(set.capacity);
      score.push_back(0);
    }
    const auto b = static_cast<std::size_t>(chosen);
    residual[b] -= demand;
    score[b] = normalized_residual(residual[b], set.capacity, set.dimensions);
    out.bin_of[k] = static_cast<int32_t>(b);
  }
  out.bins = static_cast<int32_t>(residual.size());
  return out;
}

} // namespace

SubPacking fit_pack(const ItemSet& set, Heuristic h) {
  std::vector<uint32_t> order;
  const bool decreasing = h != Heuristic::FirstFit && h != Heuristic::BestFit && h != Heuristic::WorstFit;
  if (decreasing) {
    order = decreasing_order(set, h);
  } else {
    order.resize(set.items.size());
    std::iota(order.begin(), order.end(), 0u);
  }
  switch (h) {
  case Heuristic::BestFit:
  case Heuristic::BestFitDecreasing:
    return set.dimensions == 1 ? best_fit_1d(set, order) : scan_fit(set, order, true);
  case Heuristic::WorstFit:
  case Heuristic::WorstFitDecreasing:
    return set.dimensions == 1 ? worst_fit_1d(set, order) : scan_fit(set, order, false);
  default: return set.dimensions == 1 ? first_fit_1d(set, order) : first_fit(set, order);
  }
}

SubPacking pack_item_set(const ItemSet& set, Heuristic h) {
  if (h == Heuristic::DotProduct || h == Heuristic::L2Norm) return bin_centric_pack(set, h);
  return fit_pack(set, h);
}

} // namespace nimbus::cloud::placement
