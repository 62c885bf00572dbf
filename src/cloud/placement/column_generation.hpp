#pragma once
// Column generation for bin packing in 1 to 4 dimensions (Gilmore-Gomory set-cover LP), with an
// exact integer pattern knapsack as the pricer, a proof-safe bound from every dual vector
// (dual_feasible_bound), and diving for packings: fix the patterns the LP uses (its integral
// parts first, else its largest value), re-solve the LP over what is left with new columns,
// repeat. Because the rounded-up LP value almost always equals the optimum (the MIRUP
// property), a dive that keeps the residual LP bound within the target usually ends on an
// optimal packing, and the search stops as soon as a packing meets the proven bound.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "cloud/placement/pattern_knapsack.hpp"
#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

using Pattern = std::vector<int64_t>;  // copies of each type

// Packs the residual demand (items left of each type) into at most `max_bins` patterns, or
// gives up (nullopt). Used to finish dives once few items are left.
using ResidualFinisher = std::function<std::optional<std::vector<Pattern>>(const std::vector<int64_t>& residual,
                                                                          int64_t max_bins)>;

struct ColumnGenerationInput {
  std::vector<PatternType> types;      // weight per type; count = items of that type
  ResourceVector capacity;
  std::size_t dimensions = 1;
  std::vector<Pattern> initial;        // starting columns, e.g. the incumbent's bins
  int64_t upper_bound = 0;             // bins of the incumbent; only packings below it count
  int64_t known_lower_bound = 0;       // e.g. L2; dives stop when they meet the bound
  bool dive = true;                    // false: the LP bound only
  bool converge = false;               // price the root LP to its optimum (no early stop at ceil(LP))
  // Price the root on past its early stop while the master's value is within this many bins
  // below known_lower_bound (its optimum may then be close enough to the bound for the
  // reduced-cost pattern enumeration, which needs optimal duals); 0: stop at once.
  double converge_within = 0;
  // Called once after the root LP (before any dive); returns the bins of the best packing known
  // by then (e.g. found by another search), so that the dives aim below it (0: nothing left to
  // search, no dives).
  struct RootLp {
    int64_t bound = 0;                   // proven
    double lp = 0;                       // the master's value
    const std::vector<double>* duals = nullptr;  // its last duals per type (optimal when `converged`)
    bool converged = false;
  };
  std::function<int64_t(const RootLp& root)> after_root;
};

struct ColumnGenerationResult {
  bool lp_converged = false;  // no column prices out (checked exactly): lp_value is the LP optimum
  double lp_value = 0;        // the last master LP value (floating point, not a proof)
  std::vector<double> duals;  // the root LP's last dual values per type (clamped to [0, 1]; not a proof)
  int64_t bound = 0;          // proven: the best dual-feasible (Farley) bound found, 0 if none
  bool pricing_incomplete = false;  // a pricing knapsack hit its node limit
  bool found = false;         // `packing` has fewer bins than upper_bound
  std::vector<Pattern> packing;
  uint64_t iterations = 0, columns = 0, dives = 0;
  std::vector<Pattern> pool;  // every column generated (for the restricted-master program)
};

ColumnGenerationResult solve_by_column_generation(const ColumnGenerationInput& input, SearchDeadline& deadline,
                                                  const ResidualFinisher& finish);

} // namespace nimbus::cloud::placement

namespace nimbus::cloud::placement {

// Every maximal pattern (no further item fits) of the types, or nothing when there are more
// than `limit`. Covering the demand with maximal patterns is an exact model of bin packing.
std::vector<Pattern> all_maximal_patterns(const std::vector<PatternType>& types, const ResourceVector& capacity,
                                          std::size_t dimensions, std::size_t limit, SearchDeadline* deadline = nullptr);

struct PatternIpResult {
  bool complete = false;         // Cbc finished: with all maximal patterns, a proof
  bool found = false;            // a packing with fewer than upper_bound bins
  std::vector<Pattern> packing;  // one pattern per bin (may over-cover: drop the extras)
};
// The integer covering program over `columns` (min bins, sum_p a_pj x_p >= count_j), with Cbc,
// looking for fewer than `upper_bound` bins.
PatternIpResult solve_pattern_ip(const std::vector<PatternType>& types, const std::vector<Pattern>& columns,
                                 int64_t upper_bound, double time_limit_seconds);

} // namespace nimbus::cloud::placement
