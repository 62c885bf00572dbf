#pragma once
// How good a host is for a demand under each policy (higher is better). The same function
// ranks index buckets (with a representative free vector) and real hosts (exact free vector).
#include <cstddef>

#include "cloud/placement/online/online_types.hpp"

namespace nimbus::cloud::placement::online {

struct ScoreInputs {
  const ResourceVector* free;       // free capacity before placing the demand
  const ResourceVector* demand;
  const ResourceVector* reference;  // fleet-wide normalizer (largest usable capacity per dimension)
  const ResourceVector* capacity;   // this host's usable capacity (for the stranded measure)
  std::size_t dimensions;
};

double policy_score(Policy policy, const ScoreInputs& in);

// Policies that fill hosts already running VMs before opening an empty one.
inline bool prefers_active_hosts(Policy p) { return p != Policy::WorstFit; }

} // namespace nimbus::cloud::placement::online
