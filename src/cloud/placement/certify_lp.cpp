// The LP bound as --certify re-proves it, independently of the solver: its own Clp master, its
// own exact knapsack (a 0/1 dynamic program over the capacity with binary-split copies, in
// integers), its own Farley bound. Nothing here calls the solver's column generation or
// pattern knapsack.
#include "cloud/placement/certify.hpp"

#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

namespace nimbus::cloud::placement {

namespace {

constexpr int64_t kScale = int64_t{1} << 30;               // duals (clamped to [0, 1]) times 2^30
constexpr uint64_t kMaxTableBits = uint64_t{400'000'000};  // 50 MB of "taken" bits at most

} // namespace

ExactFarleyBound exact_farley_bound(const std::vector<int64_t>& size, const std::vector<int64_t>& count,
                                    int64_t capacity, const std::vector<double>& duals) {
  ExactFarleyBound out;
  const std::size_t m = size.size();
  std::vector<int64_t> value(m, 0);
  for (std::size_t j = 0; j < m; ++j) {
    const double y = std::clamp(std::isfinite(duals[j]) ? duals[j] : 0.0, 0.0, 1.0);
    value[j] = static_cast<int64_t>(std::floor(y * static_cast<double>(kScale)));
  }
  // Binary splitting: copies 1, 2, 4, ... of each type with a positive value.
  struct Piece {
    std::size_t type;
    int64_t copies;
  };
  std::vector<Piece> pieces;
  for (std::size_t j = 0; j < m; ++j) {
    if (value[j] <= 0 || size[j] > capacity) continue;
    int64_t left = size[j] == 0 ? count[j] : std::min(count[j], capacity / size[j]);
    for (int64_t k = 1; left > 0; k *= 2) {
      const int64_t take = std::min(k, left);
      pieces.push_back({j, take});
      left -= take;
    }
  }
  const auto width = static_cast<uint64_t>(capacity) + 1;
  if (static_cast<uint64_t>(pieces.size()) * width > kMaxTableBits) return out;  // too large: no claim
  std::vector<int64_t> best(width, 0);
  std::vector<uint64_t> taken((pieces.size() * width + 63) / 64, 0);
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    const int64_t w = size[pieces[p].type] * pieces[p].copies;
    const int64_t v = value[pieces[p].type] * pieces[p].copies;
    for (int64_t c = capacity; c >= w; --c) {
      const int64_t with = best[static_cast<std::size_t>(c - w)] + v;
      if (with > best[static_cast<std::size_t>(c)]) {
        best[static_cast<std::size_t>(c)] = with;
        const uint64_t bit = p * width + static_cast<uint64_t>(c);
        taken[bit / 64] |= uint64_t{1} << (bit % 64);
      }
    }
  }
  out.valid = true;
  out.max_pattern_value = best[static_cast<std::size_t>(capacity)];
  auto pattern_at = [&](int64_t c) {
    std::vector<int64_t> pattern(m, 0);
    for (int64_t p = static_cast<int64_t>(pieces.size()) - 1; p >= 0; --p) {
      const uint64_t bit = static_cast<uint64_t>(p) * width + static_cast<uint64_t>(c);
      if (taken[bit / 64] >> (bit % 64) & 1u) {
        pattern[pieces[static_cast<std::size_t>(p)].type] += pieces[static_cast<std::size_t>(p)].copies;
        c -= size[pieces[static_cast<std::size_t>(p)].type] * pieces[static_cast<std::size_t>(p)].copies;
      }
    }
    return pattern;
  };
  out.best_pattern = pattern_at(capacity);
  // A few more columns from the same table: the best patterns of smaller weight limits, when
  // they also price out (fewer master rounds).
  for (int64_t c = capacity - 1, last = best[static_cast<std::size_t>(capacity)]; c >= 0 && out.other_patterns.size() < 8; --c) {
    const int64_t v = best[static_cast<std::size_t>(c)];
    if (v <= kScale) break;
    if (v < last) {
      out.other_patterns.push_back(pattern_at(c));
      last = v;
    }
  }
  __extension__ typedef __int128 wide;
  wide demand_value = 0;
  for (std::size_t j = 0; j < m; ++j) demand_value += static_cast<wide>(count[j]) * value[j];
  const wide mx = out.max_pattern_value;
  out.bound = mx == 0 ? 0 : static_cast<int64_t>((demand_value + mx - 1) / mx);
  out.ratio = mx == 0 ? 0.0 : static_cast<double>(demand_value) / static_cast<double>(mx);
  out.improving = out.max_pattern_value > kScale;  // a pattern whose dual value exceeds 1
  return out;
}

IndependentLpBound independent_lp_bound(const std::vector<int64_t>& sizes, int64_t capacity, int64_t target,
                                        const std::vector<std::vector<int64_t>>& initial_bins, double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto left = [&] { return std::chrono::duration<double>(end - Clock::now()).count(); };
  IndependentLpBound out;
  std::map<int64_t, int64_t, std::greater<>> by_size;
  for (int64_t s : sizes) ++by_size[s];
  std::vector<int64_t> size, count;
  std::map<int64_t, std::size_t> type_of;
  for (const auto& [s, c] : by_size) {
    type_of[s] = size.size();
    size.push_back(s);
    count.push_back(c);
  }
  const std::size_t m = size.size();
  OsiClpSolverInterface master;
  master.messageHandler()->setLogLevel(0);
  std::vector<double> row_lb(m), row_ub(m, COIN_DBL_MAX);
  for (std::size_t j = 0; j < m; ++j) row_lb[j] = static_cast<double>(count[j]);
  {
    std::vector<int> starts{0};
    std::vector<int> index;
    std::vector<double> value;
    std::vector<double> lb, ub, obj;
    auto add = [&](const std::vector<int64_t>& pattern) {
      for (std::size_t j = 0; j < m; ++j)
        if (pattern[j] > 0) {
          index.push_back(static_cast<int>(j));
          value.push_back(static_cast<double>(pattern[j]));
        }
      starts.push_back(static_cast<int>(index.size()));
      lb.push_back(0);
      ub.push_back(COIN_DBL_MAX);
      obj.push_back(1);
    };
    for (std::size_t j = 0; j < m; ++j) {  // one size alone, as many copies as fit
      std::vector<int64_t> p(m, 0);
      p[j] = size[j] == 0 ? count[j] : std::max<int64_t>(1, std::min(count[j], capacity / size[j]));
      add(p);
    }
    for (const auto& bin : initial_bins) {  // the claimed packing's bins
      std::vector<int64_t> p(m, 0);
      for (int64_t s : bin) ++p[type_of.at(s)];
      add(p);
    }
    master.loadProblem(static_cast<int>(starts.size()) - 1, static_cast<int>(m), starts.data(), index.data(),
                       value.data(), lb.data(), ub.data(), obj.data(), row_lb.data(), row_ub.data());
  }
  bool first = true;
  std::vector<double> best_duals;
  double best_ratio = -1;
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
    const std::vector<double> lp_duals(price, price + m);
    // Wentges smoothing: price first halfway between the LP's duals and the duals that gave the
    // best bound so far (fewer rounds when the LP's duals oscillate); the LP's own duals only when
    // that finds no column.
    ExactFarleyBound f;
    if (!best_duals.empty()) {
      std::vector<double> smooth(m);
      for (std::size_t j = 0; j < m; ++j) smooth[j] = 0.5 * (best_duals[j] + lp_duals[j]);
      f = exact_farley_bound(size, count, capacity, smooth);
      if (f.valid && f.ratio > best_ratio) {
        best_ratio = f.ratio;
        best_duals = smooth;
      }
      if (f.valid) out.bound = std::max(out.bound, f.bound);
    }
    // A smoothed column that does not price out at the LP's duals would leave the master as it is.
    auto prices_out = [&](const std::vector<int64_t>& pattern) {
      double v = 0;
      for (std::size_t j = 0; j < m; ++j) v += lp_duals[j] * static_cast<double>(pattern[j]);
      return v > 1 + 1e-9;
    };
    if (!f.valid || !f.improving || !prices_out(f.best_pattern)) {
      f = exact_farley_bound(size, count, capacity, lp_duals);
      if (f.valid && f.ratio > best_ratio) {
        best_ratio = f.ratio;
        best_duals = lp_duals;
      }
    }
    if (!f.valid) {
      out.why = "the knapsack table would be too large";
      return out;
    }
    if (f.bound > out.bound) out.bound = f.bound;
    out.valid = true;
    if (out.bound >= target) return out;
    if (!f.improving) {
      out.converged = true;
      out.why = "the LP bound is below the claim";
      return out;
    }
    std::vector<int> index;
    std::vector<double> value;
    for (std::size_t j = 0; j < m; ++j)
      if (f.best_pattern[j] > 0) {
        index.push_back(static_cast<int>(j));
        value.push_back(static_cast<double>(f.best_pattern[j]));
      }
    master.addCol(static_cast<int>(index.size()), index.data(), value.data(), 0.0, COIN_DBL_MAX, 1.0);
    for (const auto& pattern : f.other_patterns) {
      index.clear();
      value.clear();
      for (std::size_t j = 0; j < m; ++j)
        if (pattern[j] > 0) {
          index.push_back(static_cast<int>(j));
          value.push_back(static_cast<double>(pattern[j]));
        }
      master.addCol(static_cast<int>(index.size()), index.data(), value.data(), 0.0, COIN_DBL_MAX, 1.0);
    }
  }
  out.why = "column generation did not reach the claim in the time limit";
  return out;
}

} // namespace nimbus::cloud::placement
