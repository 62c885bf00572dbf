#pragma once
// A tabu search for the decision question "do `bins` bins suffice?" in one dimension, after the
// improvement phase of Alvim, Ribeiro, Glover & Aloise's HI_BP (2004): every item sits in one of
// `bins` bins, bins may be loaded beyond the capacity, and exchanges of up to two items between
// an over-full bin and any other bin lower the total excess (sum over bins of load - capacity
// where positive); the items moved may not go back to the bin they left for a few iterations
// (tabu), and the best non-tabu exchange is made even when it does not lower the excess, so the
// search leaves plateaus. Excess zero is a packing into `bins` bins. It proves nothing when it
// fails (a heuristic), but on instances with few items per bin whose LP bound is the optimum
// (Scholl's set 3, triplets, Schoenfield-style hard instances) it finds the packing that meets
// the bound far faster than diving or bin completion.
#include <cstdint>
#include <vector>

#include "cloud/placement/resource_vector.hpp"
#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

struct ExcessSearchResult {
  bool found = false;
  std::vector<int32_t> bin_of;  // with `found`: bin of each item, 0..bins-1, every bin within capacity
  uint64_t iterations = 0;
};

// `start`: any packing (bin of each item, bins numbered from 0), e.g. the incumbent; its bins
// beyond `bins` are emptied into the others. Every size must be in 1..capacity.
ExcessSearchResult excess_search(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins,
                                 const std::vector<int32_t>& start, SearchDeadline& deadline, uint64_t seed = 1);

// The same in 1 to 4 dimensions: a bin's excess is the sum over dimensions of its load beyond
// the capacity, relative to the capacity. Every demand must fit the capacity.
ExcessSearchResult excess_search_vector(const std::vector<ResourceVector>& demands, const ResourceVector& capacity,
                                        std::size_t dimensions, int64_t bins, const std::vector<int32_t>& start,
                                        SearchDeadline& deadline, uint64_t seed = 1);

} // namespace nimbus::cloud::placement
