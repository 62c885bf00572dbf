#include "cloud/placement/pattern_knapsack.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

namespace nimbus::cloud::placement {

namespace {

__extension__ typedef __int128 i128;

// Dynamic programs up to this many (piece x capacity) cells (one bit each for the choices).
constexpr uint64_t kDpCellLimit = 60'000'000;

PatternKnapsackResult dp_one_dimension(const std::vector<PatternType>& types, const std::vector<int64_t>& values,
                                       int64_t capacity) {
  struct Piece {
    std::size_t type;
    int64_t copies, weight, value;
  };
  std::vector<Piece> pieces;
  for (std::size_t j = 0; j < types.size(); ++j) {
    const int64_t w = types[j].weight[0];
    if (values[j] <= 0 || w > capacity) continue;
    const int64_t most = std::min(types[j].count, capacity / w);
    for (int64_t k = 1, left = most; left > 0; k *= 2) {  // binary splitting of the count
      const int64_t c = std::min(k, left);
      pieces.push_back({j, c, c * w, c * values[j]});
      left -= c;
    }
  }
  const auto cells = static_cast<std::size_t>(capacity) + 1;
  const std::size_t words = (cells + 63) / 64;
  std::vector<int64_t> best(cells, 0);
  std::vector<uint64_t> chose(pieces.size() * words, 0);
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    const auto w = static_cast<std::size_t>(pieces[p].weight);
    const int64_t v = pieces[p].value;
    uint64_t* bits = &chose[p * words];
    for (std::size_t c = cells; c-- > w;) {
      const int64_t with = best[c - w] + v;
      if (with > best[c]) {
        best[c] = with;
        bits[c / 64] |= uint64_t{1} << (c % 64);
      }
    }
  }
  auto pattern_at = [&](std::size_t c) {
    std::vector<int64_t> take(types.size(), 0);
    for (std::size_t p = pieces.size(); p-- > 0;)
      if (chose[p * words + c / 64] >> (c % 64) & 1u) {
        take[pieces[p].type] += pieces[p].copies;
        c -= static_cast<std::size_t>(pieces[p].weight);
      }
    return take;
  };
  PatternKnapsackResult r;
  r.complete = true;
  r.value = best[cells - 1];
  r.take = pattern_at(cells - 1);
  r.nodes = pieces.size();
  // Other patterns: the best ones ending at the loads where the table steps up (each is the best
  // pattern of exactly that weight or less), highest values first.
  std::vector<std::size_t> steps;
  for (std::size_t c = 1; c + 1 < cells; ++c)
    if (best[c] > best[c - 1]) steps.push_back(c);
  constexpr std::size_t kOthers = 8;
  const std::size_t keep = std::min(kOthers, steps.size());
  std::partial_sort(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(keep), steps.end(),
                    [&](std::size_t a, std::size_t b) { return best[a] > best[b]; });
  for (std::size_t k = 0; k < keep; ++k) r.others.push_back(pattern_at(steps[k]));
  return r;
}

class PatternSearch {
public:
  PatternSearch(const std::vector<PatternType>& types, const std::vector<int64_t>& values, const ResourceVector& capacity,
                std::size_t dims, uint64_t node_limit, SearchDeadline* deadline)
      : dims_(dims), node_limit_(node_limit), deadline_(deadline) {
    for (std::size_t j = 0; j < types.size(); ++j)
      if (values[j] > 0 && types[j].weight.fits_in(capacity) && types[j].count > 0) order_.push_back(j);
    // Densest first: value per unit of (normalized) demand.
    auto density = [&](std::size_t j) {
      double size = 0;
      for (std::size_t d = 0; d < dims; ++d)
        size += static_cast<double>(types[j].weight[d]) / static_cast<double>(capacity[d]);
      return static_cast<double>(values[j]) / std::max(size, 1e-18);
    };
    if (dims == 1)
      std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
        return static_cast<i128>(values[a]) * types[b].weight[0] > static_cast<i128>(values[b]) * types[a].weight[0];
      });
    else
      std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return density(a) > density(b); });
    for (std::size_t j : order_) {
      weight_.push_back(types[j].weight);
      value_.push_back(values[j]);
      count_.push_back(types[j].count);
    }
    const std::size_t m = order_.size();
    // Suffix data for the vector bound: total value left, and per dimension the item of largest
    // value per unit of that dimension (or none when an item needs nothing of it).
    suffix_value_.assign(m + 1, 0);
    densest_.assign((m + 1) * kMaxDimensions, -1);
    unbounded_.assign((m + 1) * kMaxDimensions, 0);
    for (std::size_t k = m; k-- > 0;) {
      suffix_value_[k] = suffix_value_[k + 1] + static_cast<i128>(value_[k]) * count_[k];
      for (std::size_t d = 0; d < dims; ++d) {
        const std::size_t here = k * kMaxDimensions + d, next = (k + 1) * kMaxDimensions + d;
        densest_[here] = densest_[next];
        unbounded_[here] = unbounded_[next];
        if (weight_[k][d] == 0) {
          unbounded_[here] = 1;
          continue;
        }
        const int64_t b = densest_[next];
        if (b < 0 || static_cast<i128>(value_[k]) * weight_[static_cast<std::size_t>(b)][d] >
                         static_cast<i128>(value_[static_cast<std::size_t>(b)]) * weight_[k][d])
          densest_[here] = static_cast<int64_t>(k);
      }
    }
    for (std::size_t d = 0; d < dims; ++d) {
      by_dimension_[d].resize(m);
      std::iota(by_dimension_[d].begin(), by_dimension_[d].end(), std::size_t{0});
      std::sort(by_dimension_[d].begin(), by_dimension_[d].end(), [&](std::size_t a, std::size_t b) {
        return static_cast<i128>(value_[a]) * weight_[b][d] > static_cast<i128>(value_[b]) * weight_[a][d];
      });
    }
    take_.assign(m, 0);
    best_take_.assign(m, 0);
    residual_ = capacity;
  }

  PatternKnapsackResult run(std::size_t type_count) {
    aborted_ = false;
    search(0, 0);
    PatternKnapsackResult r;
    r.complete = !aborted_;
    r.value = best_;
    r.nodes = nodes_;
    r.take.assign(type_count, 0);
    for (std::size_t k = 0; k < order_.size(); ++k) r.take[order_[k]] = best_take_[k];
    for (const auto& o : others_) {
      std::vector<int64_t> take(type_count, 0);
      for (std::size_t k = 0; k < order_.size(); ++k) take[order_[k]] = o[k];
      r.others.push_back(std::move(take));
    }
    return r;
  }

private:
  std::size_t dims_;
  uint64_t node_limit_;
  SearchDeadline* deadline_;
  std::vector<std::size_t> order_;
  std::vector<ResourceVector> weight_;
  std::vector<int64_t> value_, count_;
  std::vector<i128> suffix_value_;
  std::vector<int64_t> densest_;
  std::vector<char> unbounded_;
  std::vector<int64_t> take_, best_take_;
  std::array<std::vector<std::size_t>, kMaxDimensions> by_dimension_;  // density order per dimension
  std::vector<std::vector<int64_t>> others_;  // earlier incumbents, in order position
  ResourceVector residual_;
  int64_t best_ = 0;
  uint64_t nodes_ = 0;
  bool aborted_ = false;

  // An integer upper bound on what items k.. can add within the residual capacity.
  i128 bound(std::size_t k) const {
    i128 b = suffix_value_[k];
    if (dims_ == 1) {
      // Dantzig's bound: the linear relaxation in density order, rounded down.
      i128 sum = 0;
      int64_t room = residual_[0];
      for (std::size_t i = k; i < order_.size(); ++i) {
        const i128 all = static_cast<i128>(weight_[i][0]) * count_[i];
        if (all <= room) {
          sum += static_cast<i128>(value_[i]) * count_[i];
          room -= static_cast<int64_t>(all);
        } else {
          sum += static_cast<i128>(value_[i]) * room / weight_[i][0];
          break;
        }
      }
      return std::min(b, sum);
    }
    // Several dimensions: Dantzig's bound of each dimension alone (items in that dimension's
    // density order), the smallest of them.
    for (std::size_t d = 0; d < dims_; ++d) {
      i128 sum = 0;
      int64_t room = residual_[d];
      for (std::size_t i : by_dimension_[d]) {
        if (i < k) continue;
        const i128 all = static_cast<i128>(weight_[i][d]) * count_[i];
        if (all <= room) {
          sum += static_cast<i128>(value_[i]) * count_[i];
          room -= static_cast<int64_t>(all);
        } else {
          sum += static_cast<i128>(value_[i]) * room / weight_[i][d];
          break;
        }
        if (sum >= b) break;
      }
      b = std::min(b, sum);
    }
    return b;
  }

  void search(std::size_t k, int64_t value) {
    if (aborted_) return;
    if (++nodes_ > node_limit_ || (deadline_ != nullptr && deadline_->expired())) {
      aborted_ = true;
      return;
    }
    if (value > best_) {
      if (best_ > 0) {
        if (others_.size() >= 8) others_.erase(others_.begin());
        others_.push_back(best_take_);
      }
      best_ = value;
      best_take_ = take_;
    }
    if (k == order_.size()) return;
    if (value + bound(k) <= best_) return;
    int64_t most = count_[k];
    for (std::size_t d = 0; d < dims_; ++d)
      if (weight_[k][d] > 0) most = std::min(most, residual_[d] / weight_[k][d]);
    for (int64_t c = most; c >= 0 && !aborted_; --c) {
      for (std::size_t d = 0; d < dims_; ++d) residual_[d] -= c * weight_[k][d];
      take_[k] = c;
      search(k + 1, value + c * value_[k]);
      take_[k] = 0;
      for (std::size_t d = 0; d < dims_; ++d) residual_[d] += c * weight_[k][d];
    }
  }
};

} // namespace

PatternKnapsackResult max_value_pattern(const std::vector<PatternType>& types, const std::vector<int64_t>& values,
                                        const ResourceVector& capacity, std::size_t dimensions, uint64_t node_limit,
                                        SearchDeadline* deadline) {
  if (dimensions == 1) {
    uint64_t pieces = 0;
    for (std::size_t j = 0; j < types.size(); ++j)
      if (values[j] > 0 && types[j].weight[0] <= capacity[0])
        pieces += 1 + static_cast<uint64_t>(std::log2(static_cast<double>(
                          std::max<int64_t>(1, std::min(types[j].count, capacity[0] / std::max<int64_t>(1, types[j].weight[0]))))));
    bool zero_weight = false;
    for (std::size_t j = 0; j < types.size(); ++j) zero_weight = zero_weight || (values[j] > 0 && types[j].weight[0] == 0);
    if (!zero_weight && static_cast<double>(pieces) * static_cast<double>(capacity[0] + 1) <= static_cast<double>(kDpCellLimit)) {
      // Small problems: the dynamic program is exact and needs no node limit. Prefer the search
      // when items are large (few per bin), where it is much faster.
      PatternSearch quick(types, values, capacity, dimensions, std::min<uint64_t>(node_limit, 3'000), deadline);
      PatternKnapsackResult r = quick.run(types.size());
      if (r.complete) return r;
      return dp_one_dimension(types, values, capacity[0]);
    }
  }
  PatternSearch search(types, values, capacity, dimensions, node_limit, deadline);
  return search.run(types.size());
}

int64_t dual_scale(const std::vector<PatternType>& types, const ResourceVector& capacity, std::size_t dimensions) {
  // Most items one bin can hold.
  i128 most = 0;
  for (const PatternType& t : types) {
    int64_t c = t.count;
    for (std::size_t d = 0; d < dimensions; ++d)
      if (t.weight[d] > 0) c = std::min(c, capacity[d] / t.weight[d]);
    most += std::max<int64_t>(c, 0);
  }
  const i128 limit = (static_cast<i128>(1) << 61) / std::max<i128>(most, 1);
  return static_cast<int64_t>(std::min<i128>(limit, static_cast<i128>(1) << 40));
}

DualBound dual_feasible_bound(const std::vector<PatternType>& types, const std::vector<int64_t>& demand,
                              const ResourceVector& capacity, std::size_t dimensions, const std::vector<double>& duals,
                              uint64_t node_limit, SearchDeadline* deadline) {
  DualBound out;
  const int64_t scale = dual_scale(types, capacity, dimensions);
  std::vector<int64_t> values(types.size(), 0);
  i128 total = 0;
  for (std::size_t j = 0; j < types.size(); ++j) {
    const double y = std::clamp(std::isfinite(duals[j]) ? duals[j] : 0.0, 0.0, 1.0);
    values[j] = static_cast<int64_t>(std::floor(y * static_cast<double>(scale)));
    total += static_cast<i128>(values[j]) * demand[j];
  }
  if (total <= 0) return out;
  const PatternKnapsackResult best = max_value_pattern(types, values, capacity, dimensions, node_limit, deadline);
  if (!best.complete || best.value <= 0) return out;
  out.valid = true;
  out.bound = static_cast<int64_t>((total + best.value - 1) / best.value);
  out.value = static_cast<double>(total) / static_cast<double>(best.value);
  return out;
}

} // namespace nimbus::cloud::placement
