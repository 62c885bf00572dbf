#include "cloud/placement/branch_and_price.hpp"

#include <CoinFinite.hpp>
#include <CoinPackedMatrix.hpp>
#include <CoinTypes.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <set>
#include <unordered_map>

namespace nimbus::cloud::placement {

namespace {

__extension__ typedef __int128 i128;

constexpr uint64_t kPricingNodeLimit = 5'000'000;
constexpr std::size_t kMaxColumnsPerRound = 12;

// Union-find over items, for the "together" pairs of a node.
struct Groups {
  std::vector<uint32_t> parent;
  explicit Groups(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0u); }
  uint32_t find(uint32_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void unite(uint32_t a, uint32_t b) { parent[find(a)] = find(b); }
};

} // namespace

ConflictKnapsackResult conflict_knapsack(const std::vector<ResourceVector>& weights, const std::vector<int64_t>& values,
                                         const ResourceVector& capacity, std::size_t dims,
                                         const std::vector<std::vector<uint32_t>>& together,
                                         const std::vector<std::pair<uint32_t, uint32_t>>& apart,
                                         uint64_t node_limit, SearchDeadline* deadline) {
  ConflictKnapsackResult out;
  const std::size_t n = weights.size();
  // Super-items: each "together" group is one item; every other item is its own.
  std::vector<int32_t> group_of(n, -1);
  std::vector<std::vector<uint32_t>> members;
  for (const auto& g : together) {
    const auto id = static_cast<int32_t>(members.size());
    members.emplace_back();
    for (uint32_t i : g)
      if (i < n && group_of[i] < 0) {
        group_of[i] = id;
        members.back().push_back(i);
      }
  }
  for (uint32_t i = 0; i < n; ++i)
    if (group_of[i] < 0) {
      group_of[i] = static_cast<int32_t>(members.size());
      members.push_back({i});
    }
  // Candidates: positive value and fitting the bin. Branching order: value per unit of the
  // weight relative to capacity, summed over dimensions, decreasing (one fixed key per item:
  // the order only steers the search, the bounds below are exact).
  struct Super {
    ResourceVector w;
    long double key = 0;
    int64_t v = 0;
    uint32_t id = 0;
  };
  std::vector<Super> cand;
  std::vector<int32_t> cand_of(members.size(), -1);
  dims = std::clamp<std::size_t>(dims, 1, kMaxDimensions);
  for (uint32_t g = 0; g < members.size(); ++g) {
    Super c;
    c.id = g;
    for (uint32_t i : members[g]) {
      c.w += weights[i];
      c.v += values[i];
    }
    bool fits = true;
    for (std::size_t d = 0; d < dims; ++d) fits = fits && c.w[d] <= capacity[d];
    if (c.v <= 0 || !fits) continue;
    long double size = 0;
    for (std::size_t d = 0; d < dims; ++d)
      size += static_cast<long double>(c.w[d]) / static_cast<long double>(std::max<int64_t>(1, capacity[d]));
    c.key = size > 0 ? static_cast<long double>(c.v) / size : std::numeric_limits<long double>::infinity();
    cand.push_back(c);
  }
  if (dims == 1) {
    // One dimension: the exact value-per-weight order (cross-multiplication), which is also
    // the Dantzig bound's order, so the bound can run straight from the branching position.
    std::stable_sort(cand.begin(), cand.end(), [](const Super& a, const Super& b) {
      const i128 l = static_cast<i128>(a.v) * b.w[0], r = static_cast<i128>(b.v) * a.w[0];
      return l > r;
    });
  } else {
    std::stable_sort(cand.begin(), cand.end(), [](const Super& a, const Super& b) { return a.key > b.key; });
  }
  const std::size_t k = cand.size();
  for (std::size_t t = 0; t < k; ++t) cand_of[cand[t].id] = static_cast<int32_t>(t);
  std::vector<std::vector<uint32_t>> conflicts(k);
  for (auto [a, b] : apart) {
    if (a >= n || b >= n) continue;
    const int32_t ca = cand_of[static_cast<std::size_t>(group_of[a])], cb = cand_of[static_cast<std::size_t>(group_of[b])];
    if (ca < 0 || cb < 0) continue;
    if (ca == cb) {
      // Apart inside one group: that group can never be taken.
      conflicts[static_cast<std::size_t>(ca)].push_back(static_cast<uint32_t>(ca));
      continue;
    }
    conflicts[static_cast<std::size_t>(ca)].push_back(static_cast<uint32_t>(cb));
    conflicts[static_cast<std::size_t>(cb)].push_back(static_cast<uint32_t>(ca));
  }
  std::vector<uint32_t> blocked(k, 0);
  for (std::size_t t = 0; t < k; ++t)
    for (uint32_t c : conflicts[t])
      if (c == t) blocked[t] = 1;  // never unblocked
  // Identical neighbours (same weight and value, no conflicts): skipping one skips the rest.
  std::vector<uint32_t> next_different(k);
  for (std::size_t t = k; t-- > 0;) {
    const bool same = t + 1 < k && cand[t].w == cand[t + 1].w && cand[t].v == cand[t + 1].v && conflicts[t].empty() &&
                      conflicts[t + 1].empty();
    next_different[t] = same ? next_different[t + 1] : static_cast<uint32_t>(t + 1);
  }
  // Per dimension, the candidates by value per unit of that dimension's weight, decreasing
  // (weight 0 first): the order of that dimension's Dantzig bound.
  std::array<std::vector<uint32_t>, kMaxDimensions> by_ratio;
  for (std::size_t d = 0; d < dims && dims > 1; ++d) {
    auto& o = by_ratio[d];
    o.resize(k);
    std::iota(o.begin(), o.end(), 0u);
    std::sort(o.begin(), o.end(), [&](uint32_t a, uint32_t b) {
      const i128 l = static_cast<i128>(cand[a].v) * cand[b].w[d], r = static_cast<i128>(cand[b].v) * cand[a].w[d];
      if (l != r) return l > r;
      return a < b;
    });
  }
  auto fits_room = [&](const ResourceVector& w, const ResourceVector& room) {
    for (std::size_t d = 0; d < dims; ++d)
      if (w[d] > room[d]) return false;
    return true;
  };

  std::vector<uint32_t> chosen;
  int64_t best = 0;
  bool aborted = false;
  std::vector<std::vector<uint32_t>> found;  // candidate index sets, by increasing value
  // Dantzig bound: the fractional knapsack over the unblocked candidates from t, in each
  // dimension alone (exact integers); the smallest of them.
  auto dantzig = [&](std::size_t from, const ResourceVector& room, int64_t value) {
    if (dims == 1) {
      i128 v = value;
      int64_t r = room[0];
      for (std::size_t t = from; t < k; ++t) {
        if (blocked[t] != 0) continue;
        if (cand[t].w[0] <= r) {
          r -= cand[t].w[0];
          v += cand[t].v;
        } else {
          v += static_cast<i128>(cand[t].v) * r / cand[t].w[0];
          break;
        }
      }
      return v;
    }
    i128 best_bound = -1;
    for (std::size_t d = 0; d < dims; ++d) {
      i128 v = value;
      int64_t r = room[d];
      for (uint32_t t : by_ratio[d]) {
        if (t < from || blocked[t] != 0) continue;
        if (cand[t].w[d] <= r) {
          r -= cand[t].w[d];
          v += cand[t].v;
        } else {
          v += static_cast<i128>(cand[t].v) * r / cand[t].w[d];
          break;
        }
      }
      if (best_bound < 0 || v < best_bound) best_bound = v;
    }
    return best_bound;
  };
  auto dfs = [&](auto&& self, std::size_t from, const ResourceVector& room, int64_t value) -> void {
    if (aborted) return;
    if (++out.nodes > node_limit || (deadline != nullptr && deadline->expired())) {
      aborted = true;
      return;
    }
    if (value > best) {
      best = value;
      found.push_back(chosen);
    }
    std::size_t t = from;
    while (t < k && (blocked[t] != 0 || !fits_room(cand[t].w, room))) ++t;
    if (t == k) return;
    if (dantzig(t, room, value) <= best) return;
    chosen.push_back(static_cast<uint32_t>(t));
    for (uint32_t c : conflicts[t]) ++blocked[c];
    self(self, t + 1, room - cand[t].w, value + cand[t].v);
    for (uint32_t c : conflicts[t]) --blocked[c];
    chosen.pop_back();
    self(self, next_different[t], room, value);
  };
  dfs(dfs, 0, capacity, 0);
  out.complete = !aborted;
  out.value = best;
  // Best first, then the earlier improvements (most valuable first).
  for (std::size_t f = found.size(); f-- > 0 && out.best.size() < kMaxColumnsPerRound;) {
    std::vector<uint32_t> items;
    for (uint32_t t : found[f])
      for (uint32_t i : members[cand[t].id]) items.push_back(i);
    std::sort(items.begin(), items.end());
    out.best.push_back(std::move(items));
  }
  return out;
}

namespace {

struct Column {
  std::vector<uint32_t> items;  // sorted
  std::vector<uint64_t> bits;
  bool has(uint32_t i) const { return (bits[i >> 6] >> (i & 63)) & 1u; }
};

struct Node {
  std::vector<std::pair<uint32_t, uint32_t>> together, apart;
  int64_t bound = 0;  // proven for every packing of this node (inherited from the parent)
};

class Tree {
public:
  Tree(const BranchAndPriceInput& in, SearchDeadline& deadline)
      : in_(in), deadline_(deadline), n_(in.demands.size()), dims_(std::clamp<std::size_t>(in.dimensions, 1, kMaxDimensions)) {
    words_ = (n_ + 63) / 64;
    // |Y_i| <= S and at most n items per pattern: every sum stays below 2^62.
    scale_ = std::min<int64_t>(int64_t{1} << 40, (int64_t{1} << 61) / static_cast<int64_t>(std::max<std::size_t>(1, n_)));
    // Every item exactly once (equalities: Ryan-Foster's pair argument needs a partition).
    std::vector<double> row(n_, 1.0);
    solver_.messageHandler()->setLogLevel(0);
    CoinPackedMatrix empty(true, 0, 0);
    empty.setDimensions(static_cast<int>(n_), 0);
    solver_.loadProblem(empty, nullptr, nullptr, nullptr, row.data(), row.data());
    for (uint32_t i = 0; i < n_; ++i) add_column({i});
    for (const auto& b : in.initial_bins) {
      std::vector<uint32_t> items(b.begin(), b.end());
      std::sort(items.begin(), items.end());
      items.erase(std::unique(items.begin(), items.end()), items.end());
      ResourceVector load;
      bool ok = !items.empty();
      for (uint32_t i : items) {
        ok = ok && i < n_;
        if (ok) load += in.demands[i];
      }
      if (ok && fits(load)) add_column(std::move(items));
    }
    trace_ = std::getenv("NIMBUS_PLACE_TRACE") != nullptr;
  }

  BranchAndPriceResult run() {
    BranchAndPriceResult res;
    res.best_bins = in_.upper_bound;
    bool complete = true;
    std::vector<Node> stack(1);
    while (!stack.empty()) {
      if (deadline_.expired_now()) {
        complete = false;
        break;
      }
      Node node = std::move(stack.back());
      stack.pop_back();
      if (node.bound >= res.best_bins) continue;
      ++res.nodes;
      const Outcome o = solve_node(node, res);
      if (res.nodes == 1) res.root_bound = node.bound;
      if (trace_ && (res.nodes <= 20 || res.nodes % 100 == 0))
        std::fprintf(stderr, "  bp node %llu depth %zu: lp=%.5f bound=%lld best=%lld state=%d cols=%zu open=%zu\n",
                     (unsigned long long)res.nodes, node.together.size() + node.apart.size(), o.lp, (long long)node.bound,
                     (long long)res.best_bins, static_cast<int>(o.state), columns_.size(), stack.size());
      if (o.state == State::Pruned) continue;
      if (o.state == State::Abandoned) {
        complete = false;
        continue;
      }
      // Converged and not pruned: an integral LP solution is a packing; else branch.
      const auto [a, b] = o.pair;
      if (o.integral) {
        if (node.bound < res.best_bins) complete = false;  // a packing, but its optimality unproven here
        continue;
      }
      if (a == b) {
        complete = false;  // no fractional pair (should not happen with distinct columns)
        continue;
      }
      Node apart = node, together = std::move(node);
      apart.apart.emplace_back(a, b);
      together.together.emplace_back(a, b);
      stack.push_back(std::move(apart));
      stack.push_back(std::move(together));  // explored first: it drives towards packings
    }
    res.complete = complete && stack.empty();
    res.columns = columns_.size();
    if (trace_) std::fprintf(stderr, "  bp lp %.3f s, pricing %.3f s\n", lp_seconds_, price_seconds_);
    return res;
  }

private:
  enum class State { Pruned, Abandoned, Converged };
  struct Outcome {
    State state = State::Abandoned;
    bool integral = false;
    std::pair<uint32_t, uint32_t> pair{0, 0};
    double lp = 0;
  };

  const BranchAndPriceInput& in_;
  SearchDeadline& deadline_;
  std::size_t n_, dims_, words_ = 0;
  int64_t scale_;
  OsiClpSolverInterface solver_;
  std::vector<Column> columns_;
  std::set<std::vector<uint32_t>> known_;
  std::vector<bool> allowed_;  // the column's upper bound is not 0
  bool trace_ = false;
  bool first_solve_ = true;
  double lp_seconds_ = 0, price_seconds_ = 0;  // for the trace

  bool fits(const ResourceVector& load) const {
    for (std::size_t d = 0; d < dims_; ++d)
      if (load[d] > in_.capacity[d]) return false;
    return true;
  }

  bool add_column(std::vector<uint32_t> items) {
    if (!known_.insert(items).second) return false;
    Column c;
    c.bits.assign(words_, 0);
    for (uint32_t i : items) c.bits[i >> 6] |= uint64_t{1} << (i & 63);
    std::vector<int> rows(items.begin(), items.end());
    std::vector<double> ones(items.size(), 1.0);
    solver_.addCol(static_cast<int>(rows.size()), rows.data(), ones.data(), 0.0, COIN_DBL_MAX, 1.0);
    c.items = std::move(items);
    columns_.push_back(std::move(c));
    allowed_.push_back(true);
    return true;
  }

  static bool compatible(const Column& c, const Node& node) {
    for (auto [a, b] : node.together)
      if (c.has(a) != c.has(b)) return false;
    for (auto [a, b] : node.apart)
      if (c.has(a) && c.has(b)) return false;
    return true;
  }

  Outcome solve_node(Node& node, BranchAndPriceResult& res) {
    Outcome o;
    Groups groups(n_);
    for (auto [a, b] : node.together) groups.unite(a, b);
    std::unordered_map<uint32_t, std::vector<uint32_t>> by_root;
    for (uint32_t i = 0; i < n_; ++i) by_root[groups.find(i)].push_back(i);
    std::vector<std::vector<uint32_t>> together;
    for (auto& [root, items] : by_root) {
      ResourceVector load;
      for (uint32_t i : items) load += in_.demands[i];
      if (!fits(load)) {  // the group cannot share a bin: no packing here
        o.state = State::Pruned;
        return o;
      }
      if (items.size() > 1) together.push_back(items);
    }
    for (auto [a, b] : node.apart)
      if (groups.find(a) == groups.find(b)) {
        o.state = State::Pruned;
        return o;
      }
    // This node's columns: the compatible ones; a single group alone always is, so the LP is feasible.
    // (Only the bounds that change: every change costs the simplex some of its warm start.)
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const bool allowed = compatible(columns_[c], node);
      if (allowed != allowed_[c]) {
        solver_.setColUpper(static_cast<int>(c), allowed ? COIN_DBL_MAX : 0.0);
        allowed_[c] = allowed;
      }
    }
    for (auto& [root, items] : by_root) {
      std::vector<uint32_t> sorted = items;
      std::sort(sorted.begin(), sorted.end());
      add_column(std::move(sorted));
    }
    bool bounds_changed = true;
    for (;;) {
      if (deadline_.expired_now()) return o;
      solver_.getModelPtr()->setMaximumWallSeconds(std::max(0.001, deadline_.seconds_left()));
      solver_.setHintParam(OsiDoDualInResolve, bounds_changed, OsiHintDo);
      const auto t0 = std::chrono::steady_clock::now();
      if (first_solve_) {
        solver_.initialSolve();
        first_solve_ = false;
      } else {
        solver_.resolve();
      }
      bounds_changed = false;
      const auto t1 = std::chrono::steady_clock::now();
      lp_seconds_ += std::chrono::duration<double>(t1 - t0).count();
      if (!solver_.isProvenOptimal()) return o;
      ++res.pricing_rounds;
      o.lp = solver_.getObjValue();
      const double* price = solver_.getRowPrice();
      std::vector<double> y(n_);
      std::vector<int64_t> values(n_);
      // The rows are equalities, so a dual may lie outside [-1, 1]: the integer values are the
      // duals divided by the largest magnitude (at least 1), not clipped. Clipping changed the
      // ratio Farley's bound is made of, and with it which sets the pricer found best: a node
      // whose LP had converged to an integral 3 bins kept a bound of 2 and left the tree
      // incomplete (a 1-D instance of 9 items; NIMBUS_PROPERTY_SEED=100000, round 2084).
      double largest = 1.0;
      for (std::size_t i = 0; i < n_; ++i) {
        y[i] = std::isfinite(price[i]) ? price[i] : 0.0;
        largest = std::max(largest, std::fabs(y[i]));
      }
      i128 total = 0;
      for (std::size_t i = 0; i < n_; ++i) {
        values[i] = static_cast<int64_t>(std::floor(y[i] / largest * static_cast<double>(scale_)));
        total += values[i];
      }
      const ConflictKnapsackResult knap =
          conflict_knapsack(in_.demands, values, in_.capacity, dims_, together, node.apart, kPricingNodeLimit, &deadline_);
      res.pricing_nodes += knap.nodes;
      price_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      if (!knap.complete) res.pricing_incomplete = true;
      // Farley's bound for this node: every packing here has bins made of patterns allowed
      // here, each worth at most knap.value, and covering every item once.
      if (knap.complete && knap.value > 0 && total > 0) {
        const i128 m = knap.value;
        node.bound = std::max(node.bound, static_cast<int64_t>((total + m - 1) / m));
      }
      if (node.bound >= res.best_bins) {
        o.state = State::Pruned;
        return o;
      }
      std::size_t added = 0;
      for (const auto& items : knap.best) {
        double v = 0;
        for (uint32_t i : items) v += y[i];
        if (v > 1 + 1e-9 && add_column(items)) ++added;
      }
      if (added == 0) {
        if (!knap.complete) return o;  // cannot tell whether the LP is optimal
        break;
      }
    }
    o.state = State::Converged;
    // Integral? Then it is a packing (the rows are equalities: every item exactly once).
    const double* x = solver_.getColSolution();
    bool integral = true;
    for (std::size_t c = 0; c < columns_.size() && integral; ++c)
      integral = x[c] < 1e-6 || std::fabs(x[c] - 1) < 1e-6;
    if (integral) {
      std::vector<int32_t> bin_of(n_, -1);
      int32_t bins = 0;
      bool ok = true;
      for (std::size_t c = 0; c < columns_.size() && ok; ++c) {
        if (x[c] < 0.5) continue;
        ResourceVector load;
        for (uint32_t i : columns_[c].items) {
          ok = ok && bin_of[i] < 0;
          bin_of[i] = bins;
          load += in_.demands[i];
        }
        ok = ok && fits(load);
        ++bins;
      }
      for (int32_t b : bin_of) ok = ok && b >= 0;
      if (ok) {
        o.integral = true;
        if (bins < res.best_bins) {
          res.best_bins = bins;
          res.found = true;
          res.bin_of = std::move(bin_of);
        }
        if (node.bound >= res.best_bins) o.state = State::Pruned;
        return o;
      }
    }
    // Ryan-Foster: the pair of items whose share of a common bin is the most fractional
    // (larger items first on ties).
    std::unordered_map<uint64_t, double> together_share;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (x[c] <= 1e-9) continue;
      const auto& it = columns_[c].items;
      for (std::size_t p = 0; p < it.size(); ++p)
        for (std::size_t q = p + 1; q < it.size(); ++q) together_share[(uint64_t{it[p]} << 32) | it[q]] += x[c];
    }
    double best_score = 0;
    int64_t best_weight = -1;
    for (const auto& [key, s] : together_share) {
      const double score = std::min(s, 1 - s);
      if (score < 1e-6) continue;
      const auto a = static_cast<uint32_t>(key >> 32), b = static_cast<uint32_t>(key & 0xffffffffu);
      int64_t w = 0;  // larger items first on ties (relative to capacity, summed over dimensions)
      for (std::size_t d = 0; d < dims_; ++d)
        w += (in_.demands[a][d] + in_.demands[b][d]) * (int64_t{1} << 20) / std::max<int64_t>(1, in_.capacity[d]);
      if (score > best_score + 1e-9 || (score > best_score - 1e-9 && w > best_weight)) {
        best_score = std::max(best_score, score);
        best_weight = w;
        o.pair = {a, b};
      }
    }
    return o;
  }
};

} // namespace

BranchAndPriceResult branch_and_price(const BranchAndPriceInput& input, SearchDeadline& deadline) {
  if (input.demands.empty()) {
    BranchAndPriceResult r;
    r.complete = true;
    r.best_bins = std::min<int64_t>(input.upper_bound, 0);
    r.found = input.upper_bound > 0;
    return r;
  }
  const std::size_t dims = std::clamp<std::size_t>(input.dimensions, 1, kMaxDimensions);
  for (const ResourceVector& v : input.demands)
    for (std::size_t d = 0; d < dims; ++d)
      if (v[d] < 0 || v[d] > input.capacity[d]) return {};  // not an instance: nothing proven
  Tree tree(input, deadline);
  return tree.run();
}

} // namespace nimbus::cloud::placement
