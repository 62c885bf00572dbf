#include "cloud/placement/arc_flow.hpp"

#include <CbcModel.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>

#include "cloud/placement/cbc_run.hpp"
#include "cloud/placement/pattern_knapsack.hpp"

namespace nimbus::cloud::placement {

namespace {

constexpr std::size_t kMaxArcs = 50'000;        // after compression; beyond this the LP alone takes seconds
constexpr std::size_t kMaxRawArcs = 600'000;    // before compression (memory and build time)
constexpr int64_t kMaxCapacity = 1'000'000;

struct Arc {
  int64_t from, to;
  int32_t type;  // index into the distinct sizes, or -1 for a loss arc
};

struct ArcFlowModel {
  std::vector<int64_t> size;   // distinct sizes, decreasing
  std::vector<int64_t> count;  // items of each size
  std::vector<std::vector<uint32_t>> members;
  std::vector<Arc> arcs;
  std::vector<int64_t> nodes;  // sorted node labels (the source's and C included)
  int64_t source = 0;          // label of the node every bin starts from
  std::size_t raw_arcs = 0;    // item arcs before compression
  int demand_row = 0;          // first of the demand rows (one per size)
  int64_t capacity = 0;
  std::unique_ptr<OsiClpSolverInterface> solver;
};

bool build(const std::vector<int64_t>& sizes, int64_t capacity, ArcFlowModel& m) {
  if (capacity > kMaxCapacity) return false;
  std::map<int64_t, std::vector<uint32_t>, std::greater<>> by_size;
  for (std::size_t i = 0; i < sizes.size(); ++i) by_size[sizes[i]].push_back(static_cast<uint32_t>(i));
  for (auto& [s, items] : by_size) {
    m.size.push_back(s);
    m.count.push_back(static_cast<int64_t>(items.size()));
    m.members.push_back(std::move(items));
  }
  // Items enter a bin in non-increasing size order, so arcs of type j start at loads reachable
  // with types 0..j-1 (depth 0) or by a chain of fewer than count[j] arcs of type j from one.
  // `depth` is the fewest copies of w needed to reach a load: a load that types 0..j-1 already
  // reach has depth 0 whatever chains of w also lead there (counting such a chain's copies
  // instead would drop patterns, and a graph missing patterns over-states the bound).
  std::vector<char> reachable(static_cast<std::size_t>(capacity) + 1, 0);
  reachable[0] = 1;
  std::vector<int64_t> depth(static_cast<std::size_t>(capacity) + 1, -1);
  for (std::size_t j = 0; j < m.size.size(); ++j) {
    const int64_t w = m.size[j];
    for (int64_t u = 0; u <= capacity; ++u) depth[static_cast<std::size_t>(u)] = reachable[static_cast<std::size_t>(u)] ? 0 : -1;
    for (int64_t u = 0; u + w <= capacity; ++u) {
      const auto uu = static_cast<std::size_t>(u);
      const int64_t d = depth[uu];
      if (d < 0 || d >= m.count[j]) continue;
      m.arcs.push_back({u, u + w, static_cast<int32_t>(j)});
      if (m.arcs.size() > kMaxRawArcs) return false;
      const auto v = static_cast<std::size_t>(u + w);
      if (depth[v] < 0 || depth[v] > d + 1) depth[v] = d + 1;
    }
    for (int64_t u = 0; u <= capacity; ++u)
      if (depth[static_cast<std::size_t>(u)] >= 0) reachable[static_cast<std::size_t>(u)] = 1;
  }
  // Compression (Brandao and Pedroso 2016, the "main compression" step): every node u gets the
  // label phi(u) = min over its item arcs (u, v, w) of phi(v) - w, phi = C where no item arc
  // leaves, and nodes with the same label merge. Along every arc the label rises by at least the
  // item's size, so any path from the source's label to C still carries at most C (every flow
  // decomposes into patterns that fit); every path of the graph before is still there, so no
  // pattern is lost. Duplicate arcs are dropped. Loads that differ only in room nothing can use
  // any more collapse into one node.
  m.raw_arcs = m.arcs.size();
  std::vector<int64_t> phi(static_cast<std::size_t>(capacity) + 1, capacity);
  {
    std::vector<std::vector<std::size_t>> out_arcs(static_cast<std::size_t>(capacity) + 1);
    for (std::size_t a = 0; a < m.arcs.size(); ++a) out_arcs[static_cast<std::size_t>(m.arcs[a].from)].push_back(a);
    for (int64_t u = capacity; u >= 0; --u) {
      const auto uu = static_cast<std::size_t>(u);
      for (std::size_t a : out_arcs[uu]) {
        const Arc& arc = m.arcs[a];
        const int64_t w = arc.to - arc.from;
        phi[uu] = std::min(phi[uu], phi[static_cast<std::size_t>(arc.to)] - w);
      }
    }
  }
  std::vector<Arc> compressed;
  compressed.reserve(m.arcs.size());
  for (const Arc& a : m.arcs)
    compressed.push_back({phi[static_cast<std::size_t>(a.from)], phi[static_cast<std::size_t>(a.to)], a.type});
  std::sort(compressed.begin(), compressed.end(), [](const Arc& x, const Arc& y) {
    return std::tie(x.from, x.to, x.type) < std::tie(y.from, y.to, y.type);
  });
  compressed.erase(std::unique(compressed.begin(), compressed.end(),
                               [](const Arc& x, const Arc& y) { return x.from == y.from && x.to == y.to && x.type == y.type; }),
                   compressed.end());
  if (compressed.size() > kMaxArcs) return false;
  m.arcs = std::move(compressed);
  m.source = phi[0];
  reachable.assign(static_cast<std::size_t>(capacity) + 1, 0);
  reachable[static_cast<std::size_t>(m.source)] = 1;
  reachable[static_cast<std::size_t>(capacity)] = 1;
  for (const Arc& a : m.arcs) {
    reachable[static_cast<std::size_t>(a.from)] = 1;
    reachable[static_cast<std::size_t>(a.to)] = 1;
  }
  for (int64_t u = 0; u <= capacity; ++u)
    if (reachable[static_cast<std::size_t>(u)]) m.nodes.push_back(u);
  for (int64_t u : m.nodes)
    if (u < capacity) m.arcs.push_back({u, capacity, -1});
  if (m.arcs.size() > kMaxArcs + m.nodes.size()) return false;
  // Rows: flow conservation at every node except the source and C, then one demand row per size.
  std::map<int64_t, int> row_of_node;
  int rows = 0;
  for (int64_t u : m.nodes)
    if (u != m.source && u != capacity) row_of_node[u] = rows++;
  const int demand_row = rows;
  m.demand_row = demand_row;
  m.capacity = capacity;
  rows += static_cast<int>(m.size.size());
  // Column-ordered sparse matrix built in one go (appending column by column is quadratic).
  std::vector<int> starts{0}, index;
  std::vector<double> value, col_lb, col_ub, objective;
  for (const Arc& a : m.arcs) {
    if (a.from != m.source) {
      index.push_back(row_of_node[a.from]);
      value.push_back(-1.0);
    }
    if (a.to != capacity) {
      index.push_back(row_of_node[a.to]);
      value.push_back(1.0);
    }
    if (a.type >= 0) {
      index.push_back(demand_row + a.type);
      value.push_back(1.0);
    }
    starts.push_back(static_cast<int>(index.size()));
    col_lb.push_back(0.0);
    col_ub.push_back(static_cast<double>(sizes.size()));
    objective.push_back(a.from == m.source ? 1.0 : 0.0);  // flow leaving the source = number of bins
  }
  std::vector<double> row_lb(static_cast<std::size_t>(rows), 0.0), row_ub(static_cast<std::size_t>(rows), 0.0);
  for (std::size_t j = 0; j < m.size.size(); ++j) {
    row_lb[static_cast<std::size_t>(demand_row) + j] = static_cast<double>(m.count[j]);
    row_ub[static_cast<std::size_t>(demand_row) + j] = static_cast<double>(m.count[j]);
  }
  m.solver = std::make_unique<OsiClpSolverInterface>();
  m.solver->messageHandler()->setLogLevel(0);
  m.solver->loadProblem(static_cast<int>(m.arcs.size()), rows, starts.data(), index.data(), value.data(), col_lb.data(),
                        col_ub.data(), objective.data(), row_lb.data(), row_ub.data());
  return true;
}

void solve_lp(ArcFlowModel& m, ArcFlowResult& r, double time_limit_seconds) {
  m.solver->getModelPtr()->setMaximumWallSeconds(std::max(0.001, time_limit_seconds));
  // Primal simplex from the all-slack basis is markedly faster than dual on these flow models.
  m.solver->setHintParam(OsiDoDualInInitial, false, OsiHintDo);
  m.solver->initialSolve();
  if (!m.solver->isProvenOptimal()) return;
  r.lp_solved = true;
  r.lp_value = m.solver->getObjValue();
  // The bound is not ceil(lp_value - eps), which trusts the LP's floating point: the dual
  // values of the demand rows are checked exactly (dual_feasible_bound) and give the proof.
  std::vector<PatternType> types(m.size.size());
  std::vector<double> duals(m.size.size());
  const double* price = m.solver->getRowPrice();
  for (std::size_t j = 0; j < m.size.size(); ++j) {
    types[j].weight[0] = m.size[j];
    types[j].count = m.count[j];
    duals[j] = price[static_cast<std::size_t>(m.demand_row) + j];
  }
  ResourceVector cap;
  cap[0] = m.capacity;
  const DualBound b = dual_feasible_bound(types, m.count, cap, 1, duals, 2'000'000, nullptr);
  r.lp_bound = b.valid ? b.bound : 0;
  r.distinct_sizes = m.size;
  r.duals = duals;
}

// Reduced-cost fixing for "at most k bins": for ANY vector y of row values, every integer flow
// x (A x = b exactly: conservation and demand rows are equalities) satisfies
//   bins(x) = c.x = y.b + rc.x,  rc = c - A^T y,
// so a flow with at most k bins has rc.x <= k - y.b. An arc's flow never exceeds the number of
// bins (k), so the negative reduced costs contribute at least k * sum(min(0, rc)), and an arc
// with rc_a > k - y.b - k * sum(min(0, rc)) cannot carry flow in such a packing: its upper
// bound is set to 0. y is the LP's dual vector, but the argument holds for any y, and rc and
// y.b are recomputed here in long double from the matrix with a margin, so Clp's floating-point
// error cannot make the fixing wrong. With the LP value a hair below k (MIRUP: k = ceil(LP)),
// almost every arc goes, and Cbc then settles "k bins?" quickly either way. Returns the arcs
// fixed.
std::size_t fix_by_reduced_cost(ArcFlowModel& m, int64_t k) {
  OsiClpSolverInterface& s = *m.solver;
  const int cols = s.getNumCols(), rows = s.getNumRows();
  const double* y = s.getRowPrice();
  const double* rhs = s.getRowLower();  // every row is an equality
  const double* obj = s.getObjCoefficients();
  const CoinPackedMatrix* a = s.getMatrixByCol();
  if (y == nullptr || a == nullptr || k < 0) return 0;
  long double yb = 0;
  for (int r = 0; r < rows; ++r) {
    if (!std::isfinite(y[r])) return 0;
    yb += static_cast<long double>(y[r]) * rhs[r];
  }
  std::vector<long double> rc(static_cast<std::size_t>(cols));
  long double negative = 0;
  const CoinBigIndex* start = a->getVectorStarts();
  const int* length = a->getVectorLengths();
  const int* index = a->getIndices();
  const double* value = a->getElements();
  for (int c = 0; c < cols; ++c) {
    long double v = obj[c];
    for (CoinBigIndex e = start[c]; e < start[c] + length[c]; ++e) v -= static_cast<long double>(y[index[e]]) * value[e];
    rc[static_cast<std::size_t>(c)] = v;
    if (v < 0) negative += v;
  }
  const long double kk = static_cast<long double>(k);
  const long double threshold = kk - yb - kk * negative + 1e-6L;
  std::size_t fixed = 0;
  for (int c = 0; c < cols; ++c)
    if (rc[static_cast<std::size_t>(c)] > threshold) {
      s.setColUpper(c, 0.0);
      ++fixed;
    }
  return fixed;
}

// Splits an integer flow into 0->C paths (bins) and hands out concrete items.
bool decompose(const ArcFlowModel& m, const double* flow, int64_t capacity, std::size_t items, ArcFlowResult& r) {
  std::map<int64_t, std::vector<std::pair<std::size_t, int64_t>>> out;  // node -> (arc, remaining flow)
  for (std::size_t a = 0; a < m.arcs.size(); ++a) {
    const auto f = static_cast<int64_t>(std::llround(flow[a]));
    if (f > 0) out[m.arcs[a].from].push_back({a, f});
  }
  // Next arc with flow left out of u, or nullptr.
  auto next_arc = [&](int64_t u) -> std::pair<std::size_t, int64_t>* {
    auto it = out.find(u);
    if (it == out.end()) return nullptr;
    while (!it->second.empty() && it->second.back().second == 0) it->second.pop_back();
    return it->second.empty() ? nullptr : &it->second.back();
  };
  std::vector<std::vector<uint32_t>> members = m.members;
  r.bin_of.assign(items, -1);
  int32_t bin = 0;
  while (next_arc(m.source) != nullptr) {
    for (int64_t u = m.source; u != capacity;) {
      auto* arc = next_arc(u);
      if (arc == nullptr) return false;  // flow not conserved: not a valid solution
      --arc->second;
      const Arc& a = m.arcs[arc->first];
      if (a.type >= 0) {
        auto& pool = members[static_cast<std::size_t>(a.type)];
        if (pool.empty()) return false;
        r.bin_of[pool.back()] = bin;
        pool.pop_back();
      }
      u = a.to;
    }
    ++bin;
  }
  for (int32_t b : r.bin_of)
    if (b < 0) return false;
  r.bins = bin;
  return true;
}

// LP rounding: split the fractional flow into weighted patterns, keep floor(weight) copies of
// each, and pack the few items left with `pack_rest` (which returns their bins).
void round_lp(const ArcFlowModel& m, int64_t capacity, std::size_t items, const ResidualPacker& pack_rest,
              ArcFlowResult& r) {
  // Split the flow into weighted patterns (lists of size indices).
  std::vector<double> flow(m.solver->getColSolution(), m.solver->getColSolution() + m.arcs.size());
  std::map<int64_t, std::vector<std::size_t>> out;
  for (std::size_t a = 0; a < m.arcs.size(); ++a) out[m.arcs[a].from].push_back(a);
  std::vector<std::pair<std::vector<int32_t>, double>> patterns;
  constexpr double kTiny = 1e-7;
  for (;;) {
    // Follow the heaviest arcs from 0 to C; the path's weight is its smallest arc flow.
    std::vector<std::size_t> path;
    double weight = 1e300;
    for (int64_t u = m.source; u != capacity;) {
      std::size_t best = SIZE_MAX;
      for (std::size_t a : out[u])
        if (flow[a] > kTiny && (best == SIZE_MAX || flow[a] > flow[best])) best = a;
      if (best == SIZE_MAX) break;
      path.push_back(best);
      weight = std::min(weight, flow[best]);
      u = m.arcs[best].to;
    }
    if (path.empty() || m.arcs[path.back()].to != capacity) break;
    std::vector<int32_t> types;
    for (std::size_t a : path) {
      flow[a] -= weight;
      if (m.arcs[a].type >= 0) types.push_back(m.arcs[a].type);
    }
    patterns.push_back({std::move(types), weight});
  }
  // Keep floor(weight) - reduce copies of each pattern and pack the rest; a larger residual
  // gives the residual packer more freedom when the plain rounding misses the bound.
  for (int64_t reduce = 0; reduce <= 3; ++reduce) {
    std::vector<std::vector<uint32_t>> members = m.members;
    std::vector<int32_t> bin_of(items, -1);
    int32_t bin = 0;
    for (const auto& [types, weight] : patterns) {
      for (auto copies = static_cast<int64_t>(std::floor(weight + 1e-9)) - reduce; copies > 0; --copies) {
        std::map<int32_t, int64_t> need;
        for (int32_t t : types) ++need[t];
        bool complete = true;  // enough unassigned items left for the whole pattern
        for (const auto& [t, c] : need)
          complete = complete && static_cast<int64_t>(members[static_cast<std::size_t>(t)].size()) >= c;
        if (!complete) break;
        for (int32_t t : types) {
          auto& pool = members[static_cast<std::size_t>(t)];
          bin_of[pool.back()] = bin;
          pool.pop_back();
        }
        ++bin;
      }
    }
    std::vector<uint32_t> rest;
    for (const auto& pool : members) rest.insert(rest.end(), pool.begin(), pool.end());
    const std::vector<int32_t> rest_bins = pack_rest(rest, r.lp_bound - bin);
    int32_t extra = 0;
    for (std::size_t k = 0; k < rest.size(); ++k) {
      bin_of[rest[k]] = bin + rest_bins[k];
      extra = std::max(extra, rest_bins[k] + 1);
    }
    if (!r.found || bin + extra < r.bins) {
      r.found = true;
      r.bins = bin + extra;
      r.bin_of = std::move(bin_of);
    }
    if (r.bins <= r.lp_bound) break;
  }
}

} // namespace

ArcFlowResult arc_flow_rounding(const std::vector<int64_t>& sizes, int64_t capacity, const ResidualPacker& pack_rest,
                                double time_limit_seconds) {
  ArcFlowResult r;
  ArcFlowModel m;
  if (sizes.empty() || !build(sizes, capacity, m)) return r;
  r.built = true;
  r.arcs = m.arcs.size();
  r.raw_arcs = m.raw_arcs;
  solve_lp(m, r, time_limit_seconds);
  if (r.lp_solved) round_lp(m, capacity, sizes.size(), pack_rest, r);
  return r;
}

ArcFlowResult arc_flow_bound(const std::vector<int64_t>& sizes, int64_t capacity, double time_limit_seconds) {
  ArcFlowResult r;
  ArcFlowModel m;
  if (sizes.empty() || !build(sizes, capacity, m)) return r;
  r.built = true;
  r.arcs = m.arcs.size();
  r.raw_arcs = m.raw_arcs;
  solve_lp(m, r, time_limit_seconds);
  return r;
}

ArcFlowResult arc_flow_solve(const std::vector<int64_t>& sizes, int64_t capacity, int64_t upper_bound,
                             double time_limit_seconds) {
  const auto start = std::chrono::steady_clock::now();
  ArcFlowResult r;
  ArcFlowModel m;
  if (sizes.empty() || !build(sizes, capacity, m)) return r;
  r.built = true;
  r.arcs = m.arcs.size();
  r.raw_arcs = m.raw_arcs;
  solve_lp(m, r, time_limit_seconds);
  if (!r.lp_solved) return r;
  r.proven_bound = r.lp_bound;
  if (r.lp_bound >= upper_bound) return r;
  r.fixed_arcs = fix_by_reduced_cost(m, upper_bound - 1);
  for (int c = 0; c < m.solver->getNumCols(); ++c) m.solver->setInteger(c);
  // Only packings with fewer bins; only a finished search is a proof (run_cbc says why a stop at
  // the limit can look finished): Cbc's best possible value at a stop is not used either.
  const double left = time_limit_seconds - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (left <= 0.01) {
    r.timed_out = true;
    return r;
  }
  const CbcRunOutcome run = run_cbc(*m.solver, static_cast<double>(upper_bound) - 0.5, left);
  if (run.model->bestSolution() && decompose(m, run.model->bestSolution(), capacity, sizes.size(), r)) r.found = true;
  r.proven_optimal = run.finished;
  r.timed_out = run.timed_out;
  if (r.proven_optimal) r.proven_bound = std::max(r.proven_bound, r.found ? r.bins : upper_bound);
  return r;
}

} // namespace nimbus::cloud::placement
