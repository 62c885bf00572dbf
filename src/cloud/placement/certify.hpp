#pragma once
// Independent re-check of a claimed optimum (`nimbus place --certify`). It shares no search code
// with the solver that made the claim:
//  - small instances (up to 20 items in one dimension, 13 otherwise): exact dynamic
//    programming over item subsets;
//  - one dimension: the continuous bound recomputed; the arc-flow LP (a different model from
//    the solver's column generation) with its dual values checked exactly; the arc-flow integer
//    program with Cbc, which must finish and find nothing below the claim.
// The packing itself is always re-checked for feasibility.
#include <string>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

enum class Certificate {
  Certified,     // an independent method proves no packing is cheaper than the claim
  Refuted,       // an independent method found a cheaper packing, or the packing is infeasible
  NotCertified,  // no independent method settled it within the time limit
};

struct CertifyResult {
  Certificate verdict = Certificate::NotCertified;
  std::string method;  // what settled it, or why nothing did
};

// `claimed_cost` is the optimum claimed for `packing` (its cost).
CertifyResult certify_optimum(const Instance& instance, const Packing& packing, double claimed_cost,
                              double time_limit_seconds);

// The minimum cost by dynamic programming over subsets, or a negative value when the instance
// is too large for it (more than `max_items` items). Exposed for tests.
double subset_dp_optimum(const Instance& instance, std::size_t max_items);

} // namespace nimbus::cloud::placement
