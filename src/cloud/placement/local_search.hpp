#pragma once
// Local search that improves a feasible packing by emptying bins: take the least-filled bin's
// items into a pool, then repeatedly (a) put pool items into bins where they fit and (b) swap
// one or two pool items with one or two items of a bin when that makes the bin fuller (so the
// pool keeps smaller, easier items) - the dominance-based moves of Levine & Ducatelle (2004).
// When the pool empties, the bin is gone; otherwise the move is undone and the next-emptiest
// bin is tried. Works in any number of dimensions and with several host types (bins keep their
// type; they are right-sized at the end).
#include <cstdint>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

struct LocalSearchStats {
  uint64_t bins_emptied = 0;
  uint64_t moves = 0;  // insertions and swaps applied (including ones later undone)
};

Packing improve_by_local_search(const Instance& instance, const Packing& start, double time_limit_seconds,
                                LocalSearchStats* stats = nullptr);

} // namespace nimbus::cloud::placement
