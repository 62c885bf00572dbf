#include "cloud/placement/exact_solver.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "cloud/placement/arc_flow.hpp"
#include "cloud/placement/branch_and_price.hpp"
#include "cloud/placement/column_generation.hpp"
#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/lower_bounds.hpp"
#include "cloud/placement/excess_search.hpp"
#include "cloud/placement/gap_enumeration.hpp"
#include "cloud/placement/search_deadline.hpp"
#include "cloud/placement/vector_branch_and_bound.hpp"

namespace nimbus::cloud::placement {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::Optimal: return "proven optimal";
    case StopReason::TimeLimit: return "time limit";
    case StopReason::NodeLimit: return "node limit";
    case StopReason::MemoryLimit: return "memory limit";
    case StopReason::NotSearched: return "heuristic only";
  }
  return "?";
}

namespace {

// Distinct sizes (decreasing) with their items.
struct SizeClasses {
  std::vector<int64_t> size;
  std::vector<std::vector<uint32_t>> members;
};

SizeClasses size_classes(const std::vector<int64_t>& sizes) {
  std::map<int64_t, std::vector<uint32_t>, std::greater<>> by_size;
  for (std::size_t i = 0; i < sizes.size(); ++i) by_size[sizes[i]].push_back(static_cast<uint32_t>(i));
  SizeClasses c;
  for (auto& [s, m] : by_size) {
    c.size.push_back(s);
    c.members.push_back(std::move(m));
  }
  return c;
}

// Patterns (copies per size class) to the bin of each item.
std::vector<int32_t> patterns_to_bins(const SizeClasses& classes, const std::vector<Pattern>& patterns,
                                      std::size_t items) {
  std::vector<std::vector<uint32_t>> pool = classes.members;
  std::vector<int32_t> bin_of(items, -1);
  int32_t bin = 0;
  for (const Pattern& p : patterns) {
    bool used = false;
    for (std::size_t j = 0; j < p.size(); ++j)
      for (int64_t k = 0; k < p[j] && !pool[j].empty(); ++k) {
        bin_of[pool[j].back()] = bin;
        pool[j].pop_back();
        used = true;
      }
    if (used) ++bin;
  }
  return bin_of;
}

// Branch-and-price works on single items (Ryan-Foster pairs): up to this many.
constexpr std::size_t kBranchAndPriceItems = 1000;
// The pattern enumeration runs when the root LP is within this many bins below the bound.
constexpr double kEnumerationGapBins = 0.005;

ExactResult solve_one_dimension(const Instance& instance, const Packing& incumbent, double initial_lower_bound,
                                double time_limit_seconds) {
  SearchDeadline deadline(time_limit_seconds);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  ExactResult r;
  r.method = "heuristic";
  r.bound_source = "L2";
  r.packing = incumbent;
  const double cost = instance.host_types[0].cost;
  auto upper = static_cast<int64_t>(incumbent.bin_count());
  auto lower = std::max<int64_t>(bin_lower_bound(instance).best,
                                 cost > 0 ? static_cast<int64_t>(std::ceil(initial_lower_bound / cost - 1e-9)) : 0);
  std::vector<int64_t> sizes(instance.item_count());
  for (std::size_t i = 0; i < sizes.size(); ++i) sizes[i] = instance.demands[i][0];
  const int64_t capacity = instance.host_types[0].capacity[0];
  const SizeClasses classes = size_classes(sizes);
  const bool trace = std::getenv("NIMBUS_PLACE_TRACE") != nullptr;  // stages on stderr, for tuning
  auto say = [&](const char* what) {
    if (trace) std::fprintf(stderr, "[%.3f] %s lower=%lld upper=%lld\n", elapsed(), what, (long long)lower, (long long)upper);
  };
  bool node_limit = false, memory_limit = false;

  auto adopt = [&](std::vector<int32_t> bin_of, const char* method) {
    Packing p;
    p.bin_of_item = std::move(bin_of);
    int32_t bins = 0;
    for (int32_t b : p.bin_of_item) bins = std::max(bins, b + 1);
    p.bin_host_type.assign(static_cast<std::size_t>(bins), 0);
    drop_empty_bins(p);
    if (static_cast<int64_t>(p.bin_count()) < upper && packing_violation(instance, p).empty()) {
      r.packing = std::move(p);
      upper = static_cast<int64_t>(r.packing.bin_count());
      r.method = method;
    }
  };
  // Asks "do k bins suffice?" from just below the incumbent down, until `until` seconds into the
  // solve: every yes improves the packing at once; only a COMPLETE search answering no at k
  // proves k+1 (a stop at the deadline or at the completion cap proves nothing).
  auto descend = [&](double until) {
    while (lower < upper) {
      const int64_t k = upper - 1;
      const double left = std::min(until - elapsed(), deadline.seconds_left());
      if (left <= 0) return;
      std::vector<int32_t> bin_of;
      uint64_t nodes = 0;
      const int answer = bin_completion_decide(sizes, capacity, k, left, bin_of, nodes);
      r.nodes += nodes;
      if (answer == 1) {
        adopt(std::move(bin_of), "bin-completion");
        continue;
      }
      if (answer == 0) {
        lower = k + 1;
        r.bound_source = "complete search (bin completion)";
      } else if (elapsed() < until - 1e-3 && !deadline.expired_now()) {
        node_limit = true;  // stopped by its completion cap, not the clock
      }
      return;
    }
  };

  // The excess search for `seconds`: a packing into one bin fewer than the incumbent, again and
  // again until the bound is met.
  uint64_t excess_seed_1d = 1;
  // `from`: the packing to start from (default: the incumbent).
  auto excess_slice = [&](double seconds, const Packing* from = nullptr) {
    SearchDeadline slice(std::min(seconds, deadline.seconds_left()));
    while (lower < upper && !slice.expired_now()) {
      const std::vector<int32_t>& begin = from != nullptr ? from->bin_of_item : r.packing.bin_of_item;
      from = nullptr;  // after a success: on from the new incumbent
      const ExcessSearchResult ps = excess_search(sizes, capacity, upper - 1, begin, slice, excess_seed_1d++);
      r.nodes += ps.iterations;
      if (trace) std::fprintf(stderr, "  excess search k=%lld found=%d iters=%llu\n", (long long)(upper - 1), ps.found, (unsigned long long)ps.iterations);
      if (!ps.found) break;
      adopt(ps.bin_of, "excess-search");
    }
  };
  say("start");
  // 1. Bin completion, briefly: when L2 is the optimum it usually finds a packing at once.
  descend(std::min(time_limit_seconds * 0.05, 0.25));
  say("after first descend");
  __extension__ typedef __int128 wide;
  wide total = 0;
  for (int64_t s : sizes) total += s;
  // 2. The excess search, very briefly: with few items per bin and room to spare it finds the
  //    packings bin completion misses within a few hundred exchanges. (Not when the bound leaves
  //    no room to spare, lower * C = total, as in triplets: every bin must then be exactly full,
  //    where the excess search is weak and column generation with the enumeration is fast.)
  if (static_cast<wide>(lower) * capacity > total) excess_slice(std::min(time_limit_seconds * 0.02, 0.2));
  say("after excess search");

  // 3. Column generation: a proven LP bound (nearly always the optimum); then the excess search
  //    aiming at it; then packings by diving and the restricted master program.
  ColumnGenerationInput in;
  in.dimensions = 1;
  // A root LP that has reached the bound (triplets: LP = bound = items/3) is priced on to its
  // optimum, one or two more rounds, so the enumeration gets optimal duals and lists only the
  // patterns without slack. (Not for masters merely near the bound: on `hard` instances with the
  // LP a few thousandths below it, converging and then enumerating took the time the dives
  // needed, 6/10 against 8/10 optimal at load 30-60.)
  in.converge_within = 1e-6;
  in.capacity[0] = capacity;
  for (std::size_t j = 0; j < classes.size.size(); ++j) {
    PatternType t;
    t.weight[0] = classes.size[j];
    t.count = static_cast<int64_t>(classes.members[j].size());
    in.types.push_back(t);
  }
  std::map<int64_t, std::size_t> class_of;
  for (std::size_t j = 0; j < classes.size.size(); ++j) class_of[classes.size[j]] = j;
  const ResidualFinisher finish = [&](const std::vector<int64_t>& residual, int64_t max_bins) -> std::optional<std::vector<Pattern>> {
    if (max_bins <= 0) return std::nullopt;
    std::vector<int64_t> rest;
    std::vector<std::size_t> cls;
    for (std::size_t j = 0; j < residual.size(); ++j)
      for (int64_t k = 0; k < residual[j]; ++k) {
        rest.push_back(classes.size[j]);
        cls.push_back(j);
      }
    std::vector<int32_t> bin_of;
    uint64_t nodes = 0;
    const double left = std::min(0.1, deadline.seconds_left());
    if (left <= 0 || bin_completion_decide(rest, capacity, max_bins, left, bin_of, nodes) != 1) return std::nullopt;
    std::vector<Pattern> out(static_cast<std::size_t>(max_bins), Pattern(residual.size(), 0));
    for (std::size_t k = 0; k < rest.size(); ++k) ++out[static_cast<std::size_t>(bin_of[k])][cls[k]];
    return out;
  };
  auto column_generation = [&](bool dive, double share) {
    std::vector<Pattern> bins(r.packing.bin_count(), Pattern(classes.size.size(), 0));
    for (std::size_t i = 0; i < sizes.size(); ++i) ++bins[static_cast<std::size_t>(r.packing.bin_of_item[i])][class_of[sizes[i]]];
    in.initial = bins;
    in.upper_bound = upper;
    in.known_lower_bound = lower;
    in.dive = dive;
    SearchDeadline cg_deadline(std::max(0.0, deadline.seconds_left() * share));
    const ColumnGenerationResult cg = solve_by_column_generation(in, cg_deadline, finish);
    node_limit = node_limit || cg.pricing_incomplete;
    if (trace) std::fprintf(stderr, "  cg lp=%.4f conv=%d bound=%lld found=%d iters=%llu cols=%llu dives=%llu\n", cg.lp_value, cg.lp_converged, (long long)cg.bound, cg.found, (unsigned long long)cg.iterations, (unsigned long long)cg.columns, (unsigned long long)cg.dives);
    if (cg.bound > lower) {
      lower = cg.bound;
      r.bound_source = "LP (dual-feasible, checked exactly)";
    }
    if (cg.found) adopt(patterns_to_bins(classes, cg.packing, sizes.size()), "column-generation-dive");
    return cg;
  };
  // After the root LP, a short excess search aiming at its bound (not on instances without
  // room to spare, such as triplets, where every bin must be exactly full: there the dives are
  // much faster).
  // When the LP is a hair below the bound (hard instances: the optimum is the bound or one
  // more, and only a tiny reduced-cost gap separates them), the patterns a packing with `lower`
  // bins could use are few: list them all and decide exactly (gap_enumeration.hpp).
  auto decide_by_enumeration = [&](const ColumnGenerationInput::RootLp& root, double share) {
    // Only from a converged root (its value is the LP optimum and its duals are optimal): pricing
    // an early-stopped root to its optimum here cost Scholl 3 (C = 100,000) the time its excess
    // search needed, and a master's value before convergence says nothing about the gap.
    if (lower >= upper || !root.converged || root.lp < static_cast<double>(lower) - kEnumerationGapBins ||
        root.duals->size() != classes.size.size() || deadline.expired_now())
      return;
    SearchDeadline slice(std::max(0.0, deadline.seconds_left() * share));
    const double lp_value = root.lp;
    GapEnumerationInput g;
    g.sizes = classes.size;
    for (const auto& m : classes.members) g.counts.push_back(static_cast<int64_t>(m.size()));
    g.capacity = capacity;
    g.bins = lower;
    g.duals = *root.duals;
    const GapEnumerationResult e = decide_by_gap_enumeration(g, slice);
    if (trace)
      std::fprintf(stderr, "  gap enumeration k=%lld lp=%.5f gap=%.5f patterns=%llu cover_nodes=%llu lps=%llu answer=%d (%s)\n",
                   (long long)lower, lp_value, e.gap_bins, (unsigned long long)e.patterns,
                   (unsigned long long)e.cover_nodes, (unsigned long long)e.cover_lps, static_cast<int>(e.answer), e.why.c_str());
    if (e.answer == GapEnumerationResult::Answer::Yes) {
      adopt(patterns_to_bins(classes, e.packing, sizes.size()), "gap-enumeration");
    } else if (e.answer == GapEnumerationResult::Answer::No) {
      lower = g.bins + 1;
      r.bound_source = "complete search (reduced-cost pattern enumeration)";
    }
  };
  in.after_root = [&](const ColumnGenerationInput::RootLp& root) {
    const int64_t bound = root.bound;
    if (bound > lower) {
      lower = bound;
      r.bound_source = "LP (dual-feasible, checked exactly)";
    }
    say("after cg root");
    // Half of it from the incumbent, half from the heuristic packing the solve started with: the
    // search's outcome depends much on its start (Scholl 3 seed 10: from FFD's 59 bins it meets
    // the bound, 55, in 22 exchanges; from bin completion's 57 it had not in 1 s).
    if (lower < upper && static_cast<wide>(lower) * capacity > total) {
      const double slice = deadline.seconds_left() * 0.1;
      excess_slice(slice / 2);
      if (lower < upper) excess_slice(slice / 2, &incumbent);
    }
    say("after second excess search");
    decide_by_enumeration(root, 0.5);
    say("after gap enumeration");
    return lower < upper ? upper : int64_t{0};
  };
  std::vector<Pattern> column_pool;
  if (lower < upper && !deadline.expired_now()) {
    const ColumnGenerationResult cg = column_generation(true, 0.6);
    column_pool = cg.pool;
    say("after cg dives");
    // Still open: the integer program over the generated columns (restricted master) sometimes
    // has the packing that meets the bound.
    if (lower < upper && !deadline.expired_now()) {
      const PatternIpResult ip = solve_pattern_ip(in.types, cg.pool, upper, deadline.seconds_left() * 0.3);
      if (ip.found) adopt(patterns_to_bins(classes, ip.packing, sizes.size()), "restricted-master-cbc");
    }
  }

  // 4. The excess search again for half the time left, then bin completion for a third of the rest.
  if (lower < upper && !deadline.expired_now()) excess_slice(deadline.seconds_left() * 0.5);
  if (lower < upper) descend(elapsed() + deadline.seconds_left() / 3);

  say("after second descend");
  // 5. Branch-and-price: column generation at every node with Ryan-Foster branching. It is
  //    what settles instances whose optimum is above the rounded-up LP bound (non-IRUP), and it
  //    finds packings too; a complete tree is a proof. (After the cheaper searches: on Scholl's
  //    set 3 its item-level pricing is slow at C = 100,000, and the excess search closes those.)
  //    (Not in the last quarter second: building its master cannot be interrupted and took
  //    0.19 s on t501 with 1,700 starting columns, for no node, overrunning -t 2 by 6 %.)
  if (lower < upper && deadline.seconds_left() > 0.25 && sizes.size() <= kBranchAndPriceItems) {
    BranchAndPriceInput bp;
    bp.demands = instance.demands;
    bp.capacity = instance.host_types[0].capacity;
    bp.dimensions = 1;
    bp.upper_bound = upper;
    std::vector<std::vector<uint32_t>> bins(r.packing.bin_count());
    for (std::size_t i = 0; i < sizes.size(); ++i)
      bins[static_cast<std::size_t>(r.packing.bin_of_item[i])].push_back(static_cast<uint32_t>(i));
    bp.initial_bins = std::move(bins);
    for (const Pattern& p : column_pool) {
      std::vector<uint32_t> items;
      for (std::size_t j = 0; j < p.size(); ++j)
        for (int64_t k = 0; k < p[j] && k < static_cast<int64_t>(classes.members[j].size()); ++k)
          items.push_back(classes.members[j][static_cast<std::size_t>(k)]);
      bp.initial_bins.push_back(std::move(items));
    }
    SearchDeadline bp_deadline(std::max(0.0, deadline.seconds_left() * 0.8));
    const BranchAndPriceResult tree = branch_and_price(bp, bp_deadline);
    r.nodes += tree.nodes;
    if (trace)
      std::fprintf(stderr, "  b&p complete=%d found=%d best=%lld root_bound=%lld nodes=%llu cols=%llu rounds=%llu pricing_nodes=%llu\n",
                   tree.complete, tree.found, (long long)tree.best_bins, (long long)tree.root_bound,
                   (unsigned long long)tree.nodes, (unsigned long long)tree.columns,
                   (unsigned long long)tree.pricing_rounds, (unsigned long long)tree.pricing_nodes);
    if (tree.found) adopt(tree.bin_of, "branch-and-price");
    if (tree.complete && tree.best_bins > lower) {
      // No packing with fewer than best_bins bins exists (and upper <= best_bins).
      lower = tree.best_bins;
      r.bound_source = "complete search (branch-and-price)";
    }
    say("after branch-and-price");
  }
  // 6. The arc-flow integer program with Cbc for the rest of the time (not in the last quarter
  //    second: building the graph cannot be interrupted and takes 0.1 s or more on hard28-sized
  //    instances, which overran -t 2 by 5 %; its LP alone needs seconds there anyway).
  if (lower < upper && deadline.seconds_left() > 0.25) {
    const ArcFlowResult ip = arc_flow_solve(sizes, capacity, upper, deadline.seconds_left());
    if (!ip.built) memory_limit = true;
    if (ip.proven_bound > lower) {
      lower = std::min(ip.proven_bound, upper);
      r.bound_source = ip.proven_optimal ? "complete search (arc-flow, Cbc)" : "LP (dual-feasible, checked exactly)";
    }
    if (ip.found) adopt(ip.bin_of, "arc-flow-cbc");
    if (ip.built && !ip.proven_optimal && !ip.timed_out) node_limit = true;
  }
  say("after arc flow");
  // 7. Whatever time is left: bin completion.
  if (lower < upper) descend(elapsed() + deadline.seconds_left());

  r.optimal = lower >= upper;
  if (r.optimal) r.stop = StopReason::Optimal;
  else if (deadline.expired_now()) r.stop = StopReason::TimeLimit;
  else if (memory_limit) r.stop = StopReason::MemoryLimit;
  else r.stop = StopReason::NodeLimit;
  (void)node_limit;
  r.cost = static_cast<double>(upper) * cost;
  r.lower_bound = static_cast<double>(std::min(lower, upper)) * cost;
  return r;
}

// Several dimensions, one host type: column generation with the vector pattern knapsack gives
// the LP bound (dual-feasible, checked exactly) and packings by diving; branch-and-bound then
// searches for the rest of the time.
ExactResult solve_vector(const Instance& instance, const Packing& incumbent, double initial_lower_bound,
                         double time_limit_seconds) {
  SearchDeadline deadline(time_limit_seconds);
  const bool trace = std::getenv("NIMBUS_PLACE_TRACE") != nullptr;  // stages on stderr, for tuning
  auto deadline_elapsed = [&] { return time_limit_seconds - deadline.seconds_left(); };
  ExactResult r;
  r.method = "heuristic";
  r.bound_source = "continuous/L2 (best dimension)";
  r.packing = incumbent;
  const double cost = instance.host_types[0].cost;
  const std::size_t dims = instance.dimensions;
  auto upper = static_cast<int64_t>(incumbent.bin_count());
  auto lower = std::max<int64_t>(bin_lower_bound(instance).best,
                                 cost > 0 ? static_cast<int64_t>(std::ceil(initial_lower_bound / cost - 1e-9)) : 0);
  // Item types: identical demand vectors merged.
  std::map<std::array<int64_t, kMaxDimensions>, std::size_t> type_of;
  std::vector<std::vector<uint32_t>> members;
  ColumnGenerationInput in;
  in.dimensions = dims;
  in.capacity = instance.host_types[0].capacity;
  for (std::size_t i = 0; i < instance.item_count(); ++i) {
    auto [it, fresh] = type_of.emplace(instance.demands[i].v, in.types.size());
    if (fresh) {
      PatternType t;
      t.weight = instance.demands[i];
      in.types.push_back(t);
      members.emplace_back();
    }
    ++in.types[it->second].count;
    members[it->second].push_back(static_cast<uint32_t>(i));
  }
  std::vector<Pattern> column_pool;
  bool zero = false;
  for (const PatternType& t : in.types) {
    bool all_zero = true;
    for (std::size_t d = 0; d < dims; ++d) all_zero = all_zero && t.weight[d] == 0;
    zero = zero || all_zero;
  }
  auto adopt_patterns = [&](const std::vector<Pattern>& patterns, const char* method) {
    std::vector<std::vector<uint32_t>> pool = members;
    Packing p;
    p.bin_of_item.assign(instance.item_count(), -1);
    int32_t bin = 0;
    for (const Pattern& pat : patterns) {
      bool used = false;
      for (std::size_t j = 0; j < pat.size(); ++j)
        for (int64_t k = 0; k < pat[j] && !pool[j].empty(); ++k) {
          p.bin_of_item[pool[j].back()] = bin;
          pool[j].pop_back();
          used = true;
        }
      if (used) ++bin;
    }
    p.bin_host_type.assign(static_cast<std::size_t>(bin), 0);
    if (static_cast<int64_t>(p.bin_count()) < upper && packing_violation(instance, p).empty()) {
      r.packing = std::move(p);
      upper = static_cast<int64_t>(r.packing.bin_count());
      r.method = method;
    }
  };
  // The excess search (exchanges between over-full bins and the others) aiming below the
  // incumbent, down to the bound, for `seconds`.
  uint64_t excess_seed = 1;
  auto excess = [&](double seconds) {
    if (lower >= upper || zero || deadline.expired_now()) return;
    SearchDeadline slice(std::min(seconds, deadline.seconds_left()));
    while (lower < upper && !slice.expired_now()) {
      const uint64_t seed = excess_seed++;
      const ExcessSearchResult ps =
          excess_search_vector(instance.demands, in.capacity, dims, upper - 1, r.packing.bin_of_item, slice, seed);
      if (trace)
        std::fprintf(stderr, "[%.3f] excess search k=%lld lower=%lld found=%d iters=%llu\n", deadline_elapsed(),
                     (long long)(upper - 1), (long long)lower, ps.found, (unsigned long long)ps.iterations);
      if (!ps.found) break;
      Packing p;
      p.bin_of_item = ps.bin_of;
      p.bin_host_type.assign(static_cast<std::size_t>(upper - 1), 0);
      drop_empty_bins(p);
      if (static_cast<int64_t>(p.bin_count()) >= upper || !packing_violation(instance, p).empty()) break;
      r.packing = std::move(p);
      upper = static_cast<int64_t>(r.packing.bin_count());
      r.method = "excess-search";
    }
  };
  if (lower < upper && !zero) {
    std::vector<Pattern> bins(r.packing.bin_count(), Pattern(in.types.size(), 0));
    for (std::size_t i = 0; i < instance.item_count(); ++i)
      ++bins[static_cast<std::size_t>(r.packing.bin_of_item[i])][type_of[instance.demands[i].v]];
    in.initial = bins;
    in.upper_bound = upper;
    in.known_lower_bound = lower;
    // Residuals of a dive: FFD on the items left, then a short branch-and-bound.
    const ResidualFinisher finish = [&](const std::vector<int64_t>& residual, int64_t max_bins) -> std::optional<std::vector<Pattern>> {
      if (max_bins <= 0) return std::nullopt;
      Instance sub;
      sub.dimensions = dims;
      sub.dimension_names = instance.dimension_names;
      sub.host_types = instance.host_types;
      std::vector<std::size_t> cls;
      for (std::size_t j = 0; j < residual.size(); ++j)
        for (int64_t k = 0; k < residual[j]; ++k) {
          sub.demands.push_back(in.types[j].weight);
          cls.push_back(j);
        }
      Packing p = heuristic_packing(sub, Heuristic::FfdSum);
      if (static_cast<int64_t>(p.bin_count()) > max_bins) {
        const BranchAndBoundResult bb = vector_branch_and_bound(sub, static_cast<double>(max_bins) * cost + 0.5 * cost,
                                                                std::min(0.1, deadline.seconds_left()));
        if (!bb.improved) return std::nullopt;
        p = bb.packing;
      }
      if (static_cast<int64_t>(p.bin_count()) > max_bins) return std::nullopt;
      std::vector<Pattern> out(p.bin_count(), Pattern(residual.size(), 0));
      for (std::size_t k = 0; k < cls.size(); ++k) ++out[static_cast<std::size_t>(p.bin_of_item[k])][cls[k]];
      return out;
    };
    // Right after the root LP, with its proven bound: the excess search, before any dive.
    in.after_root = [&](const ColumnGenerationInput::RootLp& root) {
      const int64_t bound = root.bound;
      if (bound > lower) {
        lower = bound;
        r.bound_source = "LP (dual-feasible, checked exactly)";
      }
      excess(deadline.seconds_left() / 4);
      return upper;
    };
    // Up to 1,000 VMs branch-and-price follows, and its depth-first tree is the better dive:
    // column generation's own dives get a short slice.
    const bool tree_follows = instance.item_count() <= kBranchAndPriceItems;
    SearchDeadline cg_deadline(std::max(0.0, deadline.seconds_left() * (tree_follows ? 0.2 : 0.5)));
    const ColumnGenerationResult cg = solve_by_column_generation(in, cg_deadline, finish);
    if (cg.bound > lower) {
      lower = cg.bound;
      r.bound_source = "LP (dual-feasible, checked exactly)";
    }
    if (cg.found) adopt_patterns(cg.packing, "column-generation-dive");
    column_pool = cg.pool;
    if (trace)
      std::fprintf(stderr, "[%.3f] cg lp=%.4f bound=%lld found=%d dives=%llu upper=%lld\n", deadline_elapsed(), cg.lp_value,
                   (long long)cg.bound, cg.found, (unsigned long long)cg.dives, (long long)upper);
  }
  bool complete = false;
  // Branch-and-price over single VMs (Ryan-Foster pairs): packings, and a proof when its tree
  // is explored to the end (a gap of one bin above the LP bound is common in several dimensions).
  if (lower < upper && !zero && !deadline.expired_now() && instance.item_count() <= kBranchAndPriceItems) {
    BranchAndPriceInput bp;
    bp.demands = instance.demands;
    bp.capacity = instance.host_types[0].capacity;
    bp.dimensions = dims;
    bp.upper_bound = upper;
    std::vector<std::vector<uint32_t>> bins(r.packing.bin_count());
    for (std::size_t i = 0; i < instance.item_count(); ++i)
      bins[static_cast<std::size_t>(r.packing.bin_of_item[i])].push_back(static_cast<uint32_t>(i));
    bp.initial_bins = std::move(bins);
    for (const Pattern& p : column_pool) {
      std::vector<uint32_t> items;
      for (std::size_t j = 0; j < p.size(); ++j)
        for (int64_t k = 0; k < p[j] && k < static_cast<int64_t>(members[j].size()); ++k)
          items.push_back(members[j][static_cast<std::size_t>(k)]);
      bp.initial_bins.push_back(std::move(items));
    }
    SearchDeadline bp_deadline(std::max(0.0, deadline.seconds_left() * 0.85));
    const BranchAndPriceResult tree = branch_and_price(bp, bp_deadline);
    r.nodes += tree.nodes;
    if (trace)
      std::fprintf(stderr, "[%.3f] b&p complete=%d found=%d best=%lld root_bound=%lld nodes=%llu cols=%llu\n", deadline_elapsed(),
                   tree.complete, tree.found, (long long)tree.best_bins, (long long)tree.root_bound,
                   (unsigned long long)tree.nodes, (unsigned long long)tree.columns);
    if (tree.found) {
      Packing p;
      p.bin_of_item = tree.bin_of;
      p.bin_host_type.assign(static_cast<std::size_t>(tree.best_bins), 0);
      drop_empty_bins(p);
      if (static_cast<int64_t>(p.bin_count()) < upper && packing_violation(instance, p).empty()) {
        r.packing = std::move(p);
        upper = static_cast<int64_t>(r.packing.bin_count());
        r.method = "branch-and-price";
      }
    }
    if (tree.complete && tree.best_bins > lower) {
      lower = tree.best_bins;  // no packing has fewer bins (and upper <= best_bins)
      r.bound_source = "complete search (branch-and-price)";
    }
  }
  excess(deadline.seconds_left() / 3);
  // Small enough to list every maximal pattern: the covering program over all of them is an
  // exact model; Cbc finishing it is a proof, and its packings are optimal.
  if (lower < upper && !zero && !deadline.expired_now()) {
    const std::vector<Pattern> all = all_maximal_patterns(in.types, in.capacity, dims, 20'000, &deadline);
    if (trace) std::fprintf(stderr, "[%.3f] maximal patterns: %zu\n", deadline_elapsed(), all.size());
    if (all.empty() && !column_pool.empty()) {
      // Too many patterns: the program over the columns generated so far (restricted master,
      // "price and branch") finds packings but proves nothing.
      const PatternIpResult ip = solve_pattern_ip(in.types, column_pool, upper, deadline.seconds_left() * 0.6);
      if (ip.found) adopt_patterns(ip.packing, "restricted-master-cbc");
    }
    if (!all.empty()) {
      const PatternIpResult ip = solve_pattern_ip(in.types, all, upper, deadline.seconds_left() * 0.6);
      if (ip.found) adopt_patterns(ip.packing, "pattern-ip-cbc");
      if (ip.complete) {
        complete = true;
        lower = upper;
        r.bound_source = "complete search (all-pattern covering program, Cbc)";
      }
    }
  }
  if (lower < upper && !complete && !deadline.expired_now()) {
    if (trace) std::fprintf(stderr, "[%.3f] branch-and-bound\n", deadline_elapsed());
    const BranchAndBoundResult bb =
        vector_branch_and_bound(instance, static_cast<double>(upper) * cost, deadline.seconds_left());
    if (trace) std::fprintf(stderr, "[%.3f] branch-and-bound done\n", deadline_elapsed());
    r.nodes = bb.nodes;
    if (bb.improved && static_cast<int64_t>(bb.packing.bin_count()) < upper) {
      r.packing = bb.packing;
      upper = static_cast<int64_t>(bb.packing.bin_count());
      r.method = "branch-and-bound";
    }
    if (bb.complete) {
      complete = true;
      lower = upper;
      r.bound_source = "complete search (branch-and-bound)";
    }
  }
  r.optimal = lower >= upper || complete;
  r.stop = r.optimal ? StopReason::Optimal : deadline.expired_now() ? StopReason::TimeLimit : StopReason::NodeLimit;
  r.cost = static_cast<double>(upper) * cost;
  r.lower_bound = static_cast<double>(std::min(lower, upper)) * cost;
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
  if (instance.dimensions > 1 && instance.single_host_type())
    return solve_vector(instance, incumbent, initial_lower_bound, time_limit_seconds);
  ExactResult r;
  r.method = "branch-and-bound";
  r.bound_source = "continuous";
  const double incumbent_cost = packing_cost(instance, incumbent);
  const BranchAndBoundResult bb = vector_branch_and_bound(instance, incumbent_cost, time_limit_seconds);
  r.nodes = bb.nodes;
  r.packing = bb.improved ? bb.packing : incumbent;
  r.cost = bb.improved ? bb.cost : incumbent_cost;
  r.optimal = bb.complete || r.cost <= initial_lower_bound + 1e-9;
  if (bb.complete) r.bound_source = "complete search (branch-and-bound)";
  r.stop = r.optimal ? StopReason::Optimal : StopReason::TimeLimit;
  r.lower_bound = r.optimal ? r.cost : initial_lower_bound;
  return r;
}

} // namespace nimbus::cloud::placement
