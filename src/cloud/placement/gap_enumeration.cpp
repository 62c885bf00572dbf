#include "cloud/placement/gap_enumeration.hpp"

#include <CoinFinite.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_set>

#include "cloud/placement/cbc_run.hpp"
#include "cloud/placement/pattern_knapsack.hpp"

namespace nimbus::cloud::placement {

namespace {

__extension__ typedef __int128 i128;

constexpr uint64_t kKnapsackNodeLimit = 5'000'000;
// Every type gets at least this share of its size as value (y' = (1 - e) y + e w / C, still a
// valid dual vector for the argument): a bin that leaves out an item it has room for then has
// more slack, so the many patterns that differ only by small items of dual 0 mostly drop out.
// (Measured on the open 178-item instance: 1,077 patterns with 0, 1,107 with 0.001, 1,494 with
// 0.01, 28,339 with 0.1: the share widens the gap; a small one is the better trade.)
constexpr double kSizeShare = 0.001;

struct CoverSearch {
  GapEnumerationResult::Answer answer = GapEnumerationResult::Answer::Unknown;
  std::vector<std::size_t> chosen;  // Yes: the patterns (indices), one per bin
  uint64_t nodes = 0, lps = 0;
};

// Depth-first exact cover with multiplicities: the residual demand must be met exactly by at
// most `bins` patterns whose slacks add up to at most `budget`. Branches on the item type with
// the fewest patterns still possible (within the residual counts and the budget left); residuals
// that failed are remembered (the budget left is a function of the residual and the bins used,
// both part of the key), so orders of the same patterns are not searched twice.
CoverSearch cover_search(const std::vector<Pattern>& patterns, const std::vector<int64_t>& slack,
                         const std::vector<int64_t>& counts, const std::vector<int64_t>& sizes, int64_t capacity,
                         int64_t bins, int64_t budget, uint64_t node_limit, SearchDeadline& deadline) {
  CoverSearch out;
  const std::size_t m = counts.size(), np = patterns.size();
  std::vector<std::vector<std::pair<uint32_t, int64_t>>> sparse(np);
  for (std::size_t c = 0; c < np; ++c)
    for (std::size_t j = 0; j < m; ++j)
      if (patterns[c][j] > 0) sparse[c].emplace_back(static_cast<uint32_t>(j), patterns[c][j]);
  std::vector<int64_t> r = counts;
  int64_t left = 0, room = bins * capacity;  // room: free space of the bins, minus the items left
  for (std::size_t j = 0; j < m; ++j) {
    left += r[j];
    room -= r[j] * sizes[j];
  }
  // The same argument with sizes as the values: the bins' free space adds up to `room`.
  std::vector<int64_t> waste(np, capacity);
  for (std::size_t c = 0; c < np; ++c)
    for (std::size_t j = 0; j < m; ++j) waste[c] -= patterns[c][j] * sizes[j];
  std::unordered_set<std::string> failed;
  auto key = [&](int64_t bins_used) {
    std::string k(reinterpret_cast<const char*>(r.data()), r.size() * sizeof(int64_t));
    k.append(reinterpret_cast<const char*>(&bins_used), sizeof bins_used);
    return k;
  };
  bool aborted = false;
  std::vector<uint32_t> possible(m);
  std::vector<char> ok(np);
  // The LP over the patterns still possible (each type covered exactly as often as it is left):
  // its duals, checked exactly below, prune the residuals no L bins can cover; its solution
  // orders the branches.
  OsiClpSolverInterface lp;
  {
    std::vector<CoinBigIndex> starts{0};
    std::vector<int> index;
    std::vector<double> coef, lb(np, 0.0), ub(np, COIN_DBL_MAX), obj(np, 1.0);
    for (std::size_t c = 0; c < np; ++c) {
      for (const auto& [j, n] : sparse[c]) {
        index.push_back(static_cast<int>(j));
        coef.push_back(static_cast<double>(n));
      }
      starts.push_back(static_cast<CoinBigIndex>(index.size()));
    }
    std::vector<double> row(m);
    for (std::size_t j = 0; j < m; ++j) row[j] = static_cast<double>(counts[j]);
    lp.messageHandler()->setLogLevel(0);
    lp.loadProblem(static_cast<int>(np), static_cast<int>(m), starts.data(), index.data(), coef.data(), lb.data(), ub.data(),
                   obj.data(), row.data(), row.data());
    lp.setHintParam(OsiDoDualInResolve, true, OsiHintDo);
  }
  std::vector<char> lp_open(np, 1);
  std::vector<int64_t> lp_row(counts);
  bool lp_first = true;
  // Dual values scaled to integers: |Y_j| <= S, at most `most` items per pattern or residual.
  int64_t total_items = 0;
  for (int64_t x : counts) total_items += x;
  const int64_t lp_scale = std::min<int64_t>(int64_t{1} << 40, (int64_t{1} << 61) / std::max<int64_t>(1, total_items + 1));
  std::vector<double> lp_x(np, 0.0);
  // True if the residual provably cannot be covered by `bins_left` of the possible patterns.
  auto lp_prunes = [&](int64_t bins_left) {
    for (std::size_t c = 0; c < np; ++c)
      if ((ok[c] != 0) != (lp_open[c] != 0)) {
        lp.setColUpper(static_cast<int>(c), ok[c] != 0 ? COIN_DBL_MAX : 0.0);
        lp_open[c] = ok[c];
      }
    for (std::size_t j = 0; j < m; ++j)
      if (lp_row[j] != r[j]) {
        lp.setRowBounds(static_cast<int>(j), static_cast<double>(r[j]), static_cast<double>(r[j]));
        lp_row[j] = r[j];
      }
    lp.getModelPtr()->setMaximumWallSeconds(std::max(0.001, deadline.seconds_left()));
    ++out.lps;
    if (lp_first) {
      lp.initialSolve();
      lp_first = false;
    } else {
      lp.resolve();
    }
    std::fill(lp_x.begin(), lp_x.end(), 0.0);
    if (!lp.isProvenOptimal()) return false;  // (an infeasible LP is not trusted: the search goes on)
    std::copy(lp.getColSolution(), lp.getColSolution() + np, lp_x.begin());
    // Farley's argument over the possible patterns: each bin of a cover is one of them, worth at
    // most M; the cover's bins add up to exactly T.
    const double* price = lp.getRowPrice();
    std::vector<int64_t> y(m, 0);
    i128 t = 0;
    for (std::size_t j = 0; j < m; ++j) {
      if (r[j] == 0) continue;
      const double d = std::isfinite(price[j]) ? std::clamp(price[j], -1.0, 1.0) : 0.0;
      y[j] = static_cast<int64_t>(std::floor(d * static_cast<double>(lp_scale)));
      t += static_cast<i128>(y[j]) * r[j];
    }
    bool any = false;
    i128 best = 0;
    for (std::size_t c = 0; c < np; ++c) {
      if (ok[c] == 0) continue;
      i128 v = 0;
      for (const auto& [j, n] : sparse[c]) v += static_cast<i128>(y[j]) * n;
      if (!any || v > best) best = v;
      any = true;
    }
    if (!any) return true;  // nothing possible covers a non-empty residual
    if (best <= 0) return t > 0;
    return t > static_cast<i128>(bins_left) * best;
  };
  // `inherited`: lp_x is the parent's LP solution less one copy of the pattern just taken, which
  // is optimal for this residual too (a cheaper one plus that pattern would beat the parent's),
  // so the LP is not solved again here; skipping it only skips a chance to prune.
  auto dfs = [&](auto&& self, int64_t used, int64_t budget_left, bool inherited) -> bool {
    if (left == 0) return true;
    if (used >= bins) return false;
    if (++out.nodes > node_limit || deadline.expired_now()) {
      aborted = true;
      return false;
    }
    std::string k = key(used);
    if (failed.count(k) != 0) return false;
    std::fill(possible.begin(), possible.end(), 0u);
    for (std::size_t c = 0; c < np; ++c) {
      bool fits = slack[c] <= budget_left && waste[c] <= room;
      for (std::size_t e = 0; e < sparse[c].size() && fits; ++e) fits = sparse[c][e].second <= r[sparse[c][e].first];
      ok[c] = fits ? 1 : 0;
      if (fits)
        for (const auto& [j, n] : sparse[c]) ++possible[j];
    }
    std::size_t pick = m;
    for (std::size_t j = 0; j < m; ++j)
      if (r[j] > 0 && (pick == m || possible[j] < possible[pick])) pick = j;
    if (possible[pick] == 0) {
      failed.insert(std::move(k));
      return false;
    }
    if (!inherited && lp_prunes(bins - used)) {
      failed.insert(std::move(k));
      return false;
    }
    // An integral LP solution within the bins left is a cover at once (checked in integers:
    // every pattern still possible, every type met exactly); on triplets the first LP over the
    // patterns without slack usually is one, which saves a node per bin.
    {
      std::vector<int64_t> met(m, 0);
      std::vector<std::size_t> take;
      bool integral = true;
      int64_t copies_total = 0;
      for (std::size_t c = 0; c < np && integral; ++c) {
        if (lp_x[c] < 0.5) {
          integral = lp_x[c] < 1e-6;
          continue;
        }
        const double rounded = std::round(lp_x[c]);
        integral = ok[c] != 0 && std::fabs(lp_x[c] - rounded) < 1e-6;
        const auto copies = static_cast<int64_t>(rounded);
        copies_total += copies;
        for (int64_t n = 0; n < copies && integral; ++n) {
          take.push_back(c);
          for (const auto& [j, q] : sparse[c]) met[j] += q;
        }
      }
      if (integral && copies_total <= bins - used && met == r) {
        out.chosen.insert(out.chosen.end(), take.begin(), take.end());
        return true;
      }
    }
    std::vector<std::size_t> branch;
    for (std::size_t c = 0; c < np; ++c)
      if (ok[c] != 0 && patterns[c][pick] > 0) branch.push_back(c);
    // The LP's favourites first (a dive towards a cover), then by slack.
    std::vector<double> x_here(branch.size());
    for (std::size_t b = 0; b < branch.size(); ++b) x_here[b] = lp_x[branch[b]];
    std::vector<std::size_t> idx(branch.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
      if (x_here[a] != x_here[b]) return x_here[a] > x_here[b];
      return slack[branch[a]] < slack[branch[b]];
    });
    std::vector<std::size_t> ordered(branch.size());
    for (std::size_t b = 0; b < idx.size(); ++b) ordered[b] = branch[idx[b]];
    branch = std::move(ordered);
    const std::vector<double> x_node = lp_x;
    for (std::size_t c : branch) {
      for (const auto& [j, n] : sparse[c]) r[j] -= n, left -= n;
      room -= waste[c];
      out.chosen.push_back(c);
      const bool inherit = x_node[c] >= 1 - 1e-6;
      if (inherit) {
        lp_x = x_node;
        lp_x[c] -= 1;
      }
      const bool found = self(self, used + 1, budget_left - slack[c], inherit);
      if (found) return true;
      out.chosen.pop_back();
      room += waste[c];
      for (const auto& [j, n] : sparse[c]) r[j] += n, left += n;
      if (aborted) return false;
    }
    failed.insert(std::move(k));
    return false;
  };
  if (dfs(dfs, 0, budget, false)) out.answer = GapEnumerationResult::Answer::Yes;
  else if (!aborted) out.answer = GapEnumerationResult::Answer::No;
  else out.chosen.clear();
  return out;
}

} // namespace

GapEnumerationResult decide_by_gap_enumeration(const GapEnumerationInput& in, SearchDeadline& deadline) {
  GapEnumerationResult out;
  const std::size_t m = in.sizes.size();
  if (m == 0 || in.counts.size() != m || in.duals.size() != m || in.capacity <= 0 || in.bins < 0) {
    out.why = "bad input";
    return out;
  }
  for (std::size_t j = 0; j < m; ++j)
    if (in.sizes[j] <= 0 || in.sizes[j] > in.capacity || in.counts[j] < 0) {
      out.why = "bad input";
      return out;
    }
  std::vector<PatternType> types(m);
  for (std::size_t j = 0; j < m; ++j) {
    types[j].weight[0] = in.sizes[j];
    types[j].count = in.counts[j];
  }
  ResourceVector cap;
  cap[0] = in.capacity;
  const int64_t scale = dual_scale(types, cap, 1);
  std::vector<int64_t> value(m);
  i128 total = 0;
  for (std::size_t j = 0; j < m; ++j) {
    const double y = std::clamp(std::isfinite(in.duals[j]) ? in.duals[j] : 0.0, 0.0, 1.0);
    const double mixed = (1 - kSizeShare) * y + kSizeShare * static_cast<double>(in.sizes[j]) / static_cast<double>(in.capacity);
    value[j] = static_cast<int64_t>(std::floor(std::clamp(mixed, 0.0, 1.0) * static_cast<double>(scale)));
    total += static_cast<i128>(value[j]) * in.counts[j];
  }
  const PatternKnapsackResult best = max_value_pattern(types, value, cap, 1, kKnapsackNodeLimit, &deadline);
  if (!best.complete || best.value <= 0) {
    out.why = "the pattern knapsack did not finish";
    return out;
  }
  const i128 big_m = best.value;
  const i128 gap = static_cast<i128>(in.bins) * big_m - total;
  out.gap_bins = static_cast<double>(gap) / static_cast<double>(big_m);
  if (gap < 0) {
    out.answer = GapEnumerationResult::Answer::No;
    out.why = "dual bound above k";
    return out;
  }
  const i128 need = big_m - gap;  // a usable pattern has value >= need

  // Types by value per unit of size, decreasing (exact), for the Dantzig bound; prefix sums of
  // all copies' sizes and values for an O(log m) bound.
  std::vector<uint32_t> order(m);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const i128 l = static_cast<i128>(value[a]) * in.sizes[b], r = static_cast<i128>(value[b]) * in.sizes[a];
    if (l != r) return l > r;
    return a < b;
  });
  std::vector<i128> pw(m + 1, 0), pv(m + 1, 0);
  for (std::size_t t = 0; t < m; ++t) {
    pw[t + 1] = pw[t] + static_cast<i128>(in.sizes[order[t]]) * in.counts[order[t]];
    pv[t + 1] = pv[t] + static_cast<i128>(value[order[t]]) * in.counts[order[t]];
  }
  // Largest value the types from position t on can add within `room` (fractional: an upper bound).
  auto dantzig = [&](std::size_t t, int64_t room) -> i128 {
    // The last position e >= t with pw[e] - pw[t] <= room.
    std::size_t lo = t, hi = m;
    while (lo < hi) {
      const std::size_t mid = (lo + hi + 1) / 2;
      if (pw[mid] - pw[t] <= room) lo = mid;
      else hi = mid - 1;
    }
    i128 v = pv[lo] - pv[t];
    if (lo < m) {
      const i128 rest = static_cast<i128>(room) - (pw[lo] - pw[t]);
      v += static_cast<i128>(value[order[lo]]) * rest / in.sizes[order[lo]];
    }
    return v;
  };
  std::vector<Pattern> patterns;
  Pattern current(m, 0);
  bool overflow = false, late = false;
  uint64_t nodes = 0;
  auto enumerate = [&](auto&& self, std::size_t from, int64_t room, i128 v, bool empty) -> void {
    if (overflow || late) return;
    if ((++nodes & 4095) == 0 && deadline.expired()) {
      late = true;
      return;
    }
    if (!empty && v >= need) {
      if (patterns.size() >= in.max_patterns) {
        overflow = true;
        return;
      }
      patterns.push_back(current);
    }
    for (std::size_t t = from; t < m; ++t) {
      if (v + dantzig(t, room) < need) break;  // later positions add even less
      const uint32_t j = order[t];
      const int64_t most = std::min(in.counts[j], room / in.sizes[j]);
      for (int64_t c = 1; c <= most; ++c) {
        current[j] = c;
        self(self, t + 1, room - c * in.sizes[j], v + static_cast<i128>(c) * value[j], false);
        if (overflow || late) break;
      }
      current[j] = 0;
      if (overflow || late) return;
    }
  };
  enumerate(enumerate, 0, in.capacity, 0, true);
  out.patterns = patterns.size();
  if (late) {
    out.why = "time limit while listing patterns";
    return out;
  }
  if (overflow) {
    out.why = "more than " + std::to_string(in.max_patterns) + " patterns within the gap";
    return out;
  }
  // A type in no usable pattern: no k-bin packing (every item is in some bin).
  std::vector<char> covered(m, 0);
  for (const Pattern& p : patterns)
    for (std::size_t j = 0; j < m; ++j)
      if (p[j] > 0) covered[j] = 1;
  for (std::size_t j = 0; j < m; ++j)
    if (in.counts[j] > 0 && covered[j] == 0) {
      out.answer = GapEnumerationResult::Answer::No;
      out.why = "an item type fits no pattern within the gap";
      return out;
    }

  // An exact cover search over the listed patterns first (fast when the gap leaves few choices),
  // then the integer program with Cbc.
  {
    std::vector<int64_t> slack(patterns.size());
    for (std::size_t c = 0; c < patterns.size(); ++c) {
      i128 v = 0;
      for (std::size_t j = 0; j < m; ++j) v += static_cast<i128>(patterns[c][j]) * value[j];
      slack[c] = static_cast<int64_t>(big_m - v);
    }
    // Every node solves the LP over the patterns still possible (a dual simplex from the last
    // basis): measured on triplets (t501, 2,200-2,500 patterns) the LP's choices lead straight to
    // a cover (167 nodes), while the same search ordered by slack alone had not found one after
    // 10,000 nodes.
    const CoverSearch cover = cover_search(patterns, slack, in.counts, in.sizes, in.capacity, in.bins,
                                           static_cast<int64_t>(gap), in.cover_node_limit, deadline);
    out.cover_nodes = cover.nodes;
    out.cover_lps = cover.lps;
    if (cover.answer == GapEnumerationResult::Answer::Yes) {
      out.answer = cover.answer;
      for (std::size_t c : cover.chosen) out.packing.push_back(patterns[c]);
      return out;
    }
    if (cover.answer == GapEnumerationResult::Answer::No) {
      out.answer = cover.answer;
      out.why = "no exact cover by patterns within the gap (complete search)";
      return out;
    }
  }
  // The integer program: x_p copies of pattern p, sum_p p_j x_p = n_j, as few as possible, cut
  // off above k.
  std::vector<CoinBigIndex> starts{0};
  std::vector<int> index;
  std::vector<double> coef, lb, ub, obj;
  for (const Pattern& p : patterns) {
    int64_t most = in.bins;
    for (std::size_t j = 0; j < m; ++j)
      if (p[j] > 0) {
        index.push_back(static_cast<int>(j));
        coef.push_back(static_cast<double>(p[j]));
        most = std::min(most, in.counts[j] / p[j]);
      }
    starts.push_back(static_cast<CoinBigIndex>(index.size()));
    lb.push_back(0);
    ub.push_back(static_cast<double>(most));
    obj.push_back(1);
  }
  std::vector<double> row(m);
  for (std::size_t j = 0; j < m; ++j) row[j] = static_cast<double>(in.counts[j]);
  OsiClpSolverInterface solver;
  solver.messageHandler()->setLogLevel(0);
  solver.loadProblem(static_cast<int>(patterns.size()), static_cast<int>(m), starts.data(), index.data(), coef.data(),
                     lb.data(), ub.data(), obj.data(), row.data(), row.data());
  for (int c = 0; c < solver.getNumCols(); ++c) solver.setInteger(c);
  const double seconds = deadline.seconds_left();
  if (seconds <= 0) {
    out.why = "time limit before the integer program";
    return out;
  }
  const CbcRunOutcome run = run_cbc(solver, static_cast<double>(in.bins) + 0.5, seconds);
  const double* x = run.model->bestSolution();
  if (x != nullptr) {
    // Checked here, not trusted: every pattern fits, every type covered exactly, at most k bins.
    std::vector<Pattern> packing;
    std::vector<int64_t> used(m, 0);
    bool ok = true;
    for (std::size_t c = 0; c < patterns.size() && ok; ++c) {
      const auto copies = std::llround(x[c]);
      ok = copies >= 0 && std::fabs(x[c] - static_cast<double>(copies)) < 1e-6;
      for (long long k = 0; k < copies && ok; ++k) {
        int64_t load = 0;
        for (std::size_t j = 0; j < m; ++j) {
          load += patterns[c][j] * in.sizes[j];
          used[j] += patterns[c][j];
        }
        ok = load <= in.capacity;
        packing.push_back(patterns[c]);
      }
    }
    for (std::size_t j = 0; j < m && ok; ++j) ok = used[j] == in.counts[j];
    if (ok && static_cast<int64_t>(packing.size()) <= in.bins) {
      out.answer = GapEnumerationResult::Answer::Yes;
      out.packing = std::move(packing);
      return out;
    }
  }
  if (run.finished && x == nullptr) {
    out.answer = GapEnumerationResult::Answer::No;
    out.why = "the integer program over the patterns within the gap has no solution";
    return out;
  }
  out.why = x != nullptr ? "the integer program's solution failed the check" : "the integer program did not finish";
  return out;
}

} // namespace nimbus::cloud::placement
