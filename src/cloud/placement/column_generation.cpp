#include "cloud/placement/column_generation.hpp"

#include <CoinFinite.hpp>
#include <CoinTypes.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "cloud/placement/instance_generators.hpp"

namespace nimbus::cloud::placement {

namespace {

__extension__ typedef __int128 i128;

constexpr uint64_t kPricingNodeLimit = 2'000'000;
constexpr int64_t kFinishItems = 36;  // dives hand residuals this small to the finisher
constexpr uint64_t kMaxDives = 1000;

class Master {
public:
  Master(const ColumnGenerationInput& in, SearchDeadline& deadline) : in_(in), deadline_(deadline) {
    const std::size_t m = in.types.size();
    scale_ = dual_scale(in.types, in.capacity, in.dimensions);
    // Start with one single-type column per type (always feasible) and the given patterns.
    std::vector<Pattern> start;
    for (std::size_t j = 0; j < m; ++j) {
      Pattern p(m, 0);
      int64_t most = in.types[j].count;
      for (std::size_t d = 0; d < in.dimensions; ++d)
        if (in.types[j].weight[d] > 0) most = std::min(most, in.capacity[d] / in.types[j].weight[d]);
      p[j] = std::max<int64_t>(1, most);
      start.push_back(std::move(p));
    }
    for (const Pattern& p : in.initial) start.push_back(p);
    // One greedy pattern per type: that item, then the largest others that still fit (types
    // come in decreasing size in one dimension; any order is valid). A varied start saves many
    // pricing rounds on degenerate masters.
    for (std::size_t j = 0; j < m; ++j) {
      Pattern p(m, 0);
      ResourceVector room = in.capacity;
      auto take = [&](std::size_t k, int64_t most) {
        for (std::size_t d = 0; d < in.dimensions; ++d)
          if (in.types[k].weight[d] > 0) most = std::min(most, room[d] / in.types[k].weight[d]);
        most = std::min(most, in.types[k].count - p[k]);
        if (most <= 0) return;
        p[k] += most;
        for (std::size_t d = 0; d < in.dimensions; ++d) room[d] -= most * in.types[k].weight[d];
      };
      take(j, 1);
      for (std::size_t k = 0; k < m; ++k) take(k, in.types[k].count);
      start.push_back(std::move(p));
    }
    std::vector<CoinBigIndex> starts{0};
    std::vector<int> index;
    std::vector<double> value, lb, ub, obj;
    for (const Pattern& p : start) {
      if (!known_.insert(p).second) continue;
      columns_.push_back(p);
      for (std::size_t j = 0; j < m; ++j)
        if (p[j] > 0) {
          index.push_back(static_cast<int>(j));
          value.push_back(static_cast<double>(p[j]));
        }
      starts.push_back(static_cast<CoinBigIndex>(index.size()));
      lb.push_back(0);
      ub.push_back(COIN_DBL_MAX);
      obj.push_back(1);
    }
    std::vector<double> row_lb(m), row_ub(m, COIN_DBL_MAX);
    for (std::size_t j = 0; j < m; ++j) row_lb[j] = static_cast<double>(in.types[j].count);
    if (in.dimensions == 1 && in.capacity[0] > 4000) {
      coarse_ = true;
      coarse_unit_ = in.capacity[0] / 2000;
      coarse_capacity_[0] = in.capacity[0] / coarse_unit_;
    }
    solver_.messageHandler()->setLogLevel(0);
    solver_.loadProblem(static_cast<int>(columns_.size()), static_cast<int>(m), starts.data(), index.data(), value.data(),
                        lb.data(), ub.data(), obj.data(), row_lb.data(), row_ub.data());
    if (in.dimensions == 1) add_dual_optimal_inequalities();
  }

  struct Outcome {
    bool solved = false;     // the LP was solved (maybe not to convergence)
    std::vector<double> duals;  // the last LP's duals
    bool converged = false;  // proven: no improving column
    bool pricing_incomplete = false;
    double lp = 0;
    int64_t bound = 0;       // proven bound on the residual
  };

  // Column generation on the residual demand `r`.
  Outcome optimize(const std::vector<int64_t>& r, uint64_t& iterations, uint64_t max_rounds = UINT64_MAX,
                   int64_t stop_at = 0) {
    const std::size_t m = in_.types.size();
    for (std::size_t j = 0; j < m; ++j) solver_.setRowLower(static_cast<int>(j), static_cast<double>(r[j]));
    std::vector<PatternType> residual_types = in_.types;
    for (std::size_t j = 0; j < m; ++j) residual_types[j].count = r[j];
    Outcome out;
    bool rows_changed = true;
    const bool limited = max_rounds != UINT64_MAX;
    stable_.clear();
    stable_value_ = 0;
    for (;;) {
      if (deadline_.expired_now()) return out;
      if (max_rounds-- == 0) {
        // Dives need a good LP solution, not a converged one: resolve and stop.
        solver_.resolve();
        out.solved = solver_.isProvenOptimal();
        out.lp = solver_.getObjValue();
        return out;
      }
      const double left = deadline_.seconds_left();
      solver_.getModelPtr()->setMaximumWallSeconds(std::max(0.001, left));
      // Dual simplex after changing row bounds, primal after adding columns.
      solver_.setHintParam(OsiDoDualInResolve, rows_changed, OsiHintDo);
      if (first_solve_) {
        solver_.setHintParam(OsiDoDualInInitial, false, OsiHintDo);
        solver_.initialSolve();
        first_solve_ = false;
      } else {
        solver_.resolve();
      }
      rows_changed = false;
      if (!solver_.isProvenOptimal()) return out;
      ++iterations;
      out.solved = true;
      out.lp = solver_.getObjValue();
      const double* price = solver_.getRowPrice();
      std::vector<double> y(m, 0.0);
      for (std::size_t j = 0; j < m; ++j)
        if (r[j] > 0) y[j] = std::clamp(std::isfinite(price[j]) ? price[j] : 0.0, 0.0, 1.0);
      out.duals = y;
      // Prices at a point between the best dual vector so far (by its proven bound) and the
      // LP's (Wentges smoothing: far fewer iterations on degenerate masters); every vector
      // priced exactly gives a valid bound, whichever it is.
      auto price_at = [&](const std::vector<double>& duals, bool& complete, bool coarse) {
        std::vector<int64_t> values(m, 0);
        i128 total = 0;
        for (std::size_t j = 0; j < m; ++j) {
          values[j] = static_cast<int64_t>(std::floor(duals[j] * static_cast<double>(scale_)));
          total += static_cast<i128>(values[j]) * r[j];
        }
        PatternKnapsackResult best =
            coarse ? max_value_pattern(coarse_types(r), values, coarse_capacity_, in_.dimensions, kPricingNodeLimit, &deadline_)
                   : max_value_pattern(residual_types, values, in_.capacity, in_.dimensions, kPricingNodeLimit, &deadline_);
        complete = best.complete && !coarse;
        if (coarse) best.complete = false;  // a search on rounded weights proves nothing
        else if (!best.complete) out.pricing_incomplete = true;
        if (best.complete && best.value > 0 && total > 0) {
          const double value = static_cast<double>(total) / static_cast<double>(best.value);
          out.bound = std::max(out.bound, static_cast<int64_t>((total + best.value - 1) / best.value));
          if (value > stable_value_) {
            stable_value_ = value;
            stable_ = duals;
          }
        }
        // Columns with negative reduced cost at the LP's duals.
        int added = 0;
        best.others.push_back(best.take);
        for (const Pattern& p : best.others) {
          double v = 0;
          for (std::size_t j = 0; j < m; ++j) v += static_cast<double>(p[j]) * y[j];
          if (v > 1 + 1e-9 && known_.insert(p).second) {
            add_column(p);
            ++added;
          }
        }
        return added;
      };
      // Cheap first: the smoothed point, on rounded weights when the capacity is large (their
      // patterns fit the real bin too); exact pricing at the LP's duals when those find nothing,
      // and every few rounds for the bound.
      int added = 0;
      bool complete = false;
      // (Dives price exactly more often: coarse pricing misses the tightest patterns.)
      const bool exact_round = ++rounds_ % (limited ? 3 : 16) == 0;
      if (stable_.size() == m && !exact_round) {
        std::vector<double> mid(m);
        for (std::size_t j = 0; j < m; ++j) mid[j] = 0.5 * stable_[j] + 0.5 * y[j];
        added = price_at(mid, complete, coarse_);
      }
      if (added == 0 && coarse_ && !exact_round) added = price_at(y, complete, true);
      if (added == 0) {
        if (deadline_.expired_now()) return out;
        added = price_at(y, complete, false);
        if (added == 0) {
          out.converged = complete;
          return out;
        }
      }
      // The bound cannot rise above the rounded-up LP value: stop once it got there, or once
      // that is no more than a bound known already (the restricted master's value only falls).
      const auto rounded = static_cast<int64_t>(std::ceil(out.lp - 1e-7));
      if (std::getenv("NIMBUS_PLACE_TRACE_CG") != nullptr)
        std::fprintf(stderr, "    round %llu lp=%.4f bound=%lld exact=%d added=%d left=%.3f\n", (unsigned long long)rounds_, out.lp, (long long)out.bound, exact_round, added, deadline_.seconds_left());
      // (At the root: a bound that reaches the incumbent closes the instance.)
      if (!limited && in_.upper_bound > 0 && out.bound >= in_.upper_bound) return out;
      const auto level = static_cast<double>(std::max(stop_at, out.bound));
      const bool near_bound = !limited && in_.converge_within > 0 && out.lp >= level - in_.converge_within;
      if (!in_.converge && (out.bound >= rounded || rounded <= stop_at) && !near_bound) return out;
    }
  }

  const std::vector<Pattern>& columns() const { return columns_; }  // per master column (exchange columns empty)
  // Dives need a primal solution made of patterns only: they switch the exchange columns off
  // (upper bound 0). With them on, the first dive on Falkenauer u120 seed 1 and 102 more missed the
  // packing the first dive without them finds (the exchange columns shift coverage between
  // sizes, so the patterns the LP uses no longer cover the demand by themselves).
  void use_exchange_columns(bool on) {
    for (std::size_t c = 0; c < exchange_.size(); ++c)
      if (exchange_[c] != 0) solver_.setColUpper(static_cast<int>(c), on ? COIN_DBL_MAX : 0.0);
  }
  bool is_pattern(std::size_t c) const { return c >= exchange_.size() || exchange_[c] == 0; }
  std::vector<Pattern> pool() const {
    std::vector<Pattern> out;
    for (std::size_t c = 0; c < columns_.size(); ++c)
      if (is_pattern(c)) out.push_back(columns_[c]);
    return out;
  }
  const double* solution() const { return solver_.getColSolution(); }

private:
  const ColumnGenerationInput& in_;
  SearchDeadline& deadline_;
  OsiClpSolverInterface solver_;
  std::vector<Pattern> columns_;
  std::vector<char> exchange_;  // 1: an exchange column of the dual-optimal inequalities
  std::set<Pattern> known_;
  int64_t scale_ = 1;
  bool first_solve_ = true;
  uint64_t rounds_ = 0;
  bool coarse_ = false;                    // price on rounded weights first (large capacities)
  int64_t coarse_unit_ = 1;
  ResourceVector coarse_capacity_;
  std::vector<double> stable_;  // the dual vector with the best proven bound (this residual)
  double stable_value_ = 0;

  // Weights rounded up to multiples of the unit, capacity rounded down: every pattern of these
  // fits the real bin.
  std::vector<PatternType> coarse_types(const std::vector<int64_t>& r) const {
    std::vector<PatternType> t = in_.types;
    for (std::size_t j = 0; j < t.size(); ++j) {
      t[j].count = r[j];
      for (std::size_t d = 0; d < in_.dimensions; ++d) t[j].weight[d] = (t[j].weight[d] + coarse_unit_ - 1) / coarse_unit_;
    }
    return t;
  }

  // Dual-optimal inequalities (Ben Amor, Desrosiers & Valerio de Carvalho 2006): in one
  // dimension a smaller item can always take a larger one's place in a pattern, so some optimal
  // dual vector has y_a >= y_b whenever w_a >= w_b. Adding them to the dual (as exchange columns
  // in the master: -1 on the larger type's row, +1 on the next smaller's, cost 0) leaves the LP
  // value unchanged but keeps Clp off the many degenerate, non-monotone dual vertices, which
  // cost Scholl 3 and the triplets most of their pricing rounds. The exchange columns are no
  // patterns: they carry an empty Pattern, which dives and the pool skip. (Bounds never rest on
  // them: every bound is Farley's, checked by the exact knapsack.)
  void add_dual_optimal_inequalities() {
    const std::size_t m = in_.types.size();
    std::vector<std::size_t> order(m);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return in_.types[a].weight[0] > in_.types[b].weight[0]; });
    for (std::size_t k = 0; k + 1 < m; ++k) {
      const int rows[2] = {static_cast<int>(order[k]), static_cast<int>(order[k + 1])};
      const double values[2] = {-1.0, 1.0};
      solver_.addCol(2, rows, values, 0.0, COIN_DBL_MAX, 0.0);
      columns_.push_back(Pattern(m, 0));
      exchange_.resize(columns_.size(), 0);
      exchange_.back() = 1;
    }
  }

  void add_column(const Pattern& p) {
    std::vector<int> rows;
    std::vector<double> values;
    for (std::size_t j = 0; j < p.size(); ++j)
      if (p[j] > 0) {
        rows.push_back(static_cast<int>(j));
        values.push_back(static_cast<double>(p[j]));
      }
    solver_.addCol(static_cast<int>(rows.size()), rows.data(), values.data(), 0.0, COIN_DBL_MAX, 1.0);
    columns_.push_back(p);
  }
};

// Takes one copy of `p` out of the residual (only the items still there); false if it takes none.
bool fix_pattern(const Pattern& p, std::vector<int64_t>& r, std::vector<Pattern>& fixed) {
  Pattern take(p.size(), 0);
  bool any = false;
  for (std::size_t j = 0; j < p.size(); ++j) {
    take[j] = std::min(p[j], r[j]);
    any = any || take[j] > 0;
  }
  if (!any) return false;
  for (std::size_t j = 0; j < p.size(); ++j) r[j] -= take[j];
  fixed.push_back(std::move(take));
  return true;
}

} // namespace

ColumnGenerationResult solve_by_column_generation(const ColumnGenerationInput& input, SearchDeadline& deadline,
                                                  const ResidualFinisher& finish) {
  ColumnGenerationResult result;
  const std::size_t m = input.types.size();
  if (m == 0) return result;
  Master master(input, deadline);
  std::vector<int64_t> demand(m);
  for (std::size_t j = 0; j < m; ++j) demand[j] = input.types[j].count;

  const Master::Outcome root = master.optimize(demand, result.iterations, UINT64_MAX, input.known_lower_bound);
  if (std::getenv("NIMBUS_PLACE_TRACE") != nullptr)
    std::fprintf(stderr, "  cg root: lp=%.4f bound=%lld conv=%d iters=%llu cols=%zu left=%.3f\n", root.lp, (long long)root.bound,
                 root.converged, (unsigned long long)result.iterations, master.columns().size(), deadline.seconds_left());
  result.lp_value = root.lp;
  result.duals = root.duals;
  result.lp_converged = root.converged;
  result.pricing_incomplete = root.pricing_incomplete;
  result.bound = root.bound;
  int64_t upper = input.upper_bound;
  const int64_t lower = std::max(input.known_lower_bound, result.bound);
  if (root.solved && input.dive && lower < upper && input.after_root) upper = std::min(upper, input.after_root({lower, root.lp, &root.duals, root.converged}));
  if (!root.solved || !input.dive || lower >= upper) {
    result.pool = master.pool();
    result.columns = result.pool.size();
    return result;
  }
  master.use_exchange_columns(false);
  SplitMix64 rng(12345);
  for (uint64_t dive = 0; dive < kMaxDives && lower < upper && !deadline.expired_now(); ++dive) {
    ++result.dives;
    std::vector<int64_t> r = demand;
    std::vector<Pattern> fixed;
    bool ok = false;
    for (;;) {
      const int64_t left_items = std::accumulate(r.begin(), r.end(), int64_t{0});
      if (left_items == 0) {
        ok = true;
        break;
      }
      const Master::Outcome here = master.optimize(r, result.iterations, 6);
      if (!here.solved) break;
      // The LP says how many more bins the residual needs (a proof when `bound` is set; the
      // rounded LP value otherwise, good enough to abandon a dive).
      // (A few pricing rounds leave the LP above its optimum: half a bin of tolerance.)
      const int64_t need = std::max(here.bound, static_cast<int64_t>(std::ceil(here.lp - (here.converged ? 1e-6 : 0.5))));
      if (static_cast<int64_t>(fixed.size()) + need >= upper) break;
      if (left_items <= kFinishItems && finish) {
        const auto rest = finish(r, upper - 1 - static_cast<int64_t>(fixed.size()));
        if (rest) {
          for (const Pattern& p : *rest) fixed.push_back(p);
          ok = true;
        }
        break;
      }
      const double* x = master.solution();
      const auto& cols = master.columns();
      bool progressed = false;
      {
        // Keep every pattern the LP uses at least once, as often as it does.
        for (std::size_t c = 0; c < cols.size(); ++c)
          for (auto k = static_cast<int64_t>(std::floor(x[c] + 1e-6)); k > 0; --k)
            progressed = fix_pattern(cols[c], r, fixed) || progressed;
      }
      if (!progressed) {
        // Patterns the LP uses nearly once are all kept.
        for (std::size_t c = 0; c < cols.size(); ++c)
          if (x[c] >= 0.9 && x[c] < 1) progressed = fix_pattern(cols[c], r, fixed) || progressed;
      }
      if (!progressed) {
        // One copy of the most used pattern (later dives: a random one among those above 1/2,
        // weighted towards the larger values, to vary the dives).
        std::size_t pick = SIZE_MAX;
        double best = 0;
        for (std::size_t c = 0; c < cols.size(); ++c) {
          double score = x[c];
          if (dive > 0 && x[c] > 1e-6) score = x[c] * (0.5 + static_cast<double>(rng.uniform(0, 1000)) / 1000.0);
          if (x[c] > 1e-6 && score > best && master.is_pattern(c)) {
            best = score;
            pick = c;
          }
        }
        if (pick != SIZE_MAX) progressed = fix_pattern(cols[pick], r, fixed);
      }
      if (!progressed) break;
    }
    if (ok && static_cast<int64_t>(fixed.size()) < upper) {
      upper = static_cast<int64_t>(fixed.size());
      result.found = true;
      result.packing = std::move(fixed);
    }
  }
  result.pool = master.pool();
  result.columns = result.pool.size();
  return result;
}

} // namespace nimbus::cloud::placement

#include "cloud/placement/cbc_run.hpp"

namespace nimbus::cloud::placement {

std::vector<Pattern> all_maximal_patterns(const std::vector<PatternType>& types, const ResourceVector& capacity,
                                          std::size_t dimensions, std::size_t limit, SearchDeadline* deadline) {
  const std::size_t m = types.size();
  std::vector<Pattern> out;
  Pattern current(m, 0);
  ResourceVector room = capacity;
  bool overflow = false;
  auto fits = [&](std::size_t j) {
    for (std::size_t d = 0; d < dimensions; ++d)
      if (types[j].weight[d] > room[d]) return false;
    return true;
  };
  uint64_t nodes = 0;
  auto recurse = [&](auto&& self, std::size_t j) -> void {
    if (overflow) return;
    if (++nodes > 50 * limit || (deadline != nullptr && deadline->expired())) {
      overflow = true;  // too long to list: treated like too many
      return;
    }
    if (j == m) {
      // Maximal: no type with copies left fits the room.
      for (std::size_t k = 0; k < m; ++k)
        if (current[k] < types[k].count && fits(k)) return;
      if (out.size() >= limit) {
        overflow = true;
        return;
      }
      out.push_back(current);
      return;
    }
    int64_t most = types[j].count;
    for (std::size_t d = 0; d < dimensions; ++d)
      if (types[j].weight[d] > 0) most = std::min(most, room[d] / types[j].weight[d]);
    for (int64_t c = most; c >= 0 && !overflow; --c) {
      current[j] = c;
      for (std::size_t d = 0; d < dimensions; ++d) room[d] -= c * types[j].weight[d];
      self(self, j + 1);
      for (std::size_t d = 0; d < dimensions; ++d) room[d] += c * types[j].weight[d];
    }
    current[j] = 0;
  };
  recurse(recurse, 0);
  if (overflow) out.clear();
  return out;
}

PatternIpResult solve_pattern_ip(const std::vector<PatternType>& types, const std::vector<Pattern>& columns,
                                 int64_t upper_bound, double time_limit_seconds) {
  PatternIpResult r;
  const std::size_t m = types.size();
  if (columns.empty() || time_limit_seconds <= 0) return r;
  std::vector<CoinBigIndex> starts{0};
  std::vector<int> index;
  std::vector<double> value, lb, ub, obj;
  for (const Pattern& p : columns) {
    for (std::size_t j = 0; j < m; ++j)
      if (p[j] > 0) {
        index.push_back(static_cast<int>(j));
        value.push_back(static_cast<double>(p[j]));
      }
    starts.push_back(static_cast<CoinBigIndex>(index.size()));
    lb.push_back(0);
    ub.push_back(static_cast<double>(upper_bound));
    obj.push_back(1);
  }
  std::vector<double> row_lb(m), row_ub(m, COIN_DBL_MAX);
  for (std::size_t j = 0; j < m; ++j) row_lb[j] = static_cast<double>(types[j].count);
  OsiClpSolverInterface solver;
  solver.messageHandler()->setLogLevel(0);
  solver.loadProblem(static_cast<int>(columns.size()), static_cast<int>(m), starts.data(), index.data(), value.data(),
                     lb.data(), ub.data(), obj.data(), row_lb.data(), row_ub.data());
  for (int c = 0; c < solver.getNumCols(); ++c) solver.setInteger(c);
  const CbcRunOutcome run = run_cbc(solver, static_cast<double>(upper_bound) - 0.5, time_limit_seconds);
  r.complete = run.finished;
  const CbcModel& model = *run.model;
  if (const double* x = model.bestSolution()) {
    for (std::size_t c = 0; c < columns.size(); ++c)
      for (auto k = std::llround(x[c]); k > 0; --k) r.packing.push_back(columns[c]);
    r.found = static_cast<int64_t>(r.packing.size()) < upper_bound;
  }
  return r;
}

} // namespace nimbus::cloud::placement
