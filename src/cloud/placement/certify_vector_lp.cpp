// The vector LP bound as --certify re-proves it, independently of the solver: its own Clp master
// over patterns of distinct demand vectors, its own exact pattern knapsack (depth-first over the
// types with, as bound, the fractional knapsack of the tightest single dimension, in 128-bit
// integers), its own Farley bound. Nothing here calls the solver's column generation or pattern
// knapsack. Beyond the 13 items of the subset DP this is what certifies vector claims: every
// claim that equals the rounded-up LP bound (nearly all, by MIRUP).
#include "cloud/placement/certify.hpp"

#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

namespace nimbus::cloud::placement {

namespace {

__extension__ typedef __int128 wide;

constexpr int64_t kScale = int64_t{1} << 30;  // duals (clamped to [0, 1]) times 2^30

struct VectorTypes {
  std::vector<ResourceVector> demand;
  std::vector<int64_t> count;
};

// Largest sum of values over multisets of types that fit the capacity in every dimension.
class VectorKnapsack {
public:
  VectorKnapsack(const VectorTypes& t, const std::vector<int64_t>& value, const ResourceVector& capacity,
                 std::size_t dims, uint64_t node_limit)
      : t_(t), value_(value), dims_(dims), node_limit_(node_limit), room_(capacity) {
    for (std::size_t j = 0; j < t.demand.size(); ++j)
      if (value[j] > 0 && t.demand[j].fits_in(capacity)) types_.push_back(j);
    // Per dimension, the types by value per unit of that dimension (a type needing none of it
    // first): each dimension alone is a relaxation, and its fractional optimum a bound.
    for (std::size_t d = 0; d < dims; ++d) {
      by_density_[d] = types_;
      std::sort(by_density_[d].begin(), by_density_[d].end(), [&](std::size_t a, std::size_t b) {
        return static_cast<wide>(value_[a]) * t_.demand[b][d] > static_cast<wide>(value_[b]) * t_.demand[a][d];
      });
    }
    take_.assign(t.demand.size(), 0);
    used_.assign(t.demand.size(), 0);
  }

  bool run() {
    search(0, 0);
    return !aborted_;
  }
  int64_t best() const { return best_; }
  const std::vector<int64_t>& best_take() const { return best_take_; }
  // Earlier incumbents above the scaled 1 (more columns per master round).
  const std::vector<std::vector<int64_t>>& others() const { return others_; }

private:
  const VectorTypes& t_;
  const std::vector<int64_t>& value_;
  std::size_t dims_;
  uint64_t node_limit_;
  ResourceVector room_;
  std::vector<std::size_t> types_;
  std::array<std::vector<std::size_t>, kMaxDimensions> by_density_;
  std::vector<int64_t> take_, best_take_;
  std::vector<char> used_;  // types decided on this path (position < k)
  std::vector<std::vector<int64_t>> others_;
  int64_t best_ = 0;
  uint64_t nodes_ = 0;
  bool aborted_ = false;

  // An upper bound on what the undecided types add within the room: the smallest over dimensions
  // of that dimension's fractional knapsack (a type needing none of a dimension adds all its copies).
  wide bound() const {
    wide b = -1;
    for (std::size_t d = 0; d < dims_; ++d) {
      wide sum = 0;
      int64_t room = room_[d];
      for (std::size_t j : by_density_[d]) {
        if (used_[j] != 0) continue;
        const int64_t w = t_.demand[j][d];
        if (w == 0) {
          sum += static_cast<wide>(value_[j]) * t_.count[j];
          continue;
        }
        const wide all = static_cast<wide>(w) * t_.count[j];
        if (all <= room) {
          sum += static_cast<wide>(value_[j]) * t_.count[j];
          room -= static_cast<int64_t>(all);
        } else {
          sum += static_cast<wide>(value_[j]) * room / w;
          break;
        }
      }
      if (b < 0 || sum < b) b = sum;
    }
    return b < 0 ? 0 : b;
  }

  void search(std::size_t k, int64_t value) {
    if (aborted_) return;
    if (++nodes_ > node_limit_) {
      aborted_ = true;
      return;
    }
    if (value > best_) {
      if (best_ > kScale && others_.size() < 8) others_.push_back(best_take_);
      best_ = value;
      best_take_ = take_;
    }
    if (k == types_.size()) return;
    if (value + bound() <= best_) return;
    const std::size_t j = types_[k];
    int64_t most = t_.count[j];
    for (std::size_t d = 0; d < dims_; ++d)
      if (t_.demand[j][d] > 0) most = std::min(most, room_[d] / t_.demand[j][d]);
    used_[j] = 1;
    for (int64_t c = most; c >= 0 && !aborted_; --c) {
      for (std::size_t d = 0; d < dims_; ++d) room_[d] -= c * t_.demand[j][d];
      take_[j] = c;
      search(k + 1, value + c * value_[j]);
      take_[j] = 0;
      for (std::size_t d = 0; d < dims_; ++d) room_[d] += c * t_.demand[j][d];
    }
    used_[j] = 0;
  }
};

} // namespace

IndependentLpBound independent_vector_lp_bound(const std::vector<ResourceVector>& demands, const ResourceVector& capacity,
                                               std::size_t dimensions, int64_t target,
                                               const std::vector<std::vector<uint32_t>>& initial_bins, double seconds,
                                               uint64_t knapsack_node_limit) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto left = [&] { return std::chrono::duration<double>(end - Clock::now()).count(); };
  IndependentLpBound out;
  std::map<std::array<int64_t, kMaxDimensions>, std::size_t> type_of;
  VectorTypes t;
  std::vector<std::size_t> item_type(demands.size());
  for (std::size_t i = 0; i < demands.size(); ++i) {
    auto [it, fresh] = type_of.try_emplace(demands[i].v, t.demand.size());
    if (fresh) {
      t.demand.push_back(demands[i]);
      t.count.push_back(0);
    }
    ++t.count[it->second];
    item_type[i] = it->second;
  }
  const std::size_t m = t.demand.size();
  for (std::size_t j = 0; j < m; ++j)
    if (!t.demand[j].fits_in(capacity)) {
      out.why = "an item does not fit the capacity";
      return out;
    }
  OsiClpSolverInterface master;
  master.messageHandler()->setLogLevel(0);
  auto column = [&](const std::vector<int64_t>& pattern, std::vector<int>& index, std::vector<double>& value) {
    for (std::size_t j = 0; j < m; ++j)
      if (pattern[j] > 0) {
        index.push_back(static_cast<int>(j));
        value.push_back(static_cast<double>(pattern[j]));
      }
  };
  {
    std::vector<int> starts{0}, index;
    std::vector<double> value, lb, ub, obj;
    auto add = [&](const std::vector<int64_t>& pattern) {
      column(pattern, index, value);
      starts.push_back(static_cast<int>(index.size()));
      lb.push_back(0);
      ub.push_back(COIN_DBL_MAX);
      obj.push_back(1);
    };
    for (std::size_t j = 0; j < m; ++j) {  // one type alone, as many copies as fit
      std::vector<int64_t> p(m, 0);
      int64_t most = t.count[j];
      for (std::size_t d = 0; d < dimensions; ++d)
        if (t.demand[j][d] > 0) most = std::min(most, capacity[d] / t.demand[j][d]);
      p[j] = std::max<int64_t>(1, most);
      add(p);
    }
    for (const auto& bin : initial_bins) {  // the claimed packing's bins
      std::vector<int64_t> p(m, 0);
      for (uint32_t i : bin)
        if (i < item_type.size()) ++p[item_type[i]];
      add(p);
    }
    std::vector<double> row_lb(m), row_ub(m, COIN_DBL_MAX);
    for (std::size_t j = 0; j < m; ++j) row_lb[j] = static_cast<double>(t.count[j]);
    master.loadProblem(static_cast<int>(starts.size()) - 1, static_cast<int>(m), starts.data(), index.data(),
                       value.data(), lb.data(), ub.data(), obj.data(), row_lb.data(), row_ub.data());
  }
  bool first = true;
  while (left() > 0) {
    master.getModelPtr()->setMaximumWallSeconds(std::max(0.001, left()));
    if (first) master.initialSolve();
    else master.resolve();
    first = false;
    if (!master.isProvenOptimal()) {
      out.why = "the LP did not finish in the time limit";
      return out;
    }
    ++out.rounds;
    const double* price = master.getRowPrice();
    std::vector<int64_t> value(m);
    wide demand_value = 0;
    for (std::size_t j = 0; j < m; ++j) {
      const double y = std::clamp(std::isfinite(price[j]) ? price[j] : 0.0, 0.0, 1.0);
      value[j] = static_cast<int64_t>(std::floor(y * static_cast<double>(kScale)));
      demand_value += static_cast<wide>(value[j]) * t.count[j];
    }
    VectorKnapsack knapsack(t, value, capacity, dimensions, knapsack_node_limit);
    if (!knapsack.run()) {
      out.why = "the pattern knapsack hit its node limit";
      return out;
    }
    const wide mx = knapsack.best();
    if (mx > 0) {
      out.valid = true;
      out.bound = std::max(out.bound, static_cast<int64_t>((demand_value + mx - 1) / mx));
    }
    if (out.valid && out.bound >= target) return out;
    if (mx <= kScale) {  // no pattern prices out: the LP is solved
      out.converged = true;
      out.why = "the LP bound is below the claim";
      return out;
    }
    std::vector<std::vector<int64_t>> add = knapsack.others();
    add.push_back(knapsack.best_take());
    for (const auto& pattern : add) {
      std::vector<int> index;
      std::vector<double> coef;
      column(pattern, index, coef);
      master.addCol(static_cast<int>(index.size()), index.data(), coef.data(), 0.0, COIN_DBL_MAX, 1.0);
    }
  }
  out.why = "column generation did not reach the claim in the time limit";
  return out;
}

} // namespace nimbus::cloud::placement
