#pragma once
// A solution: which bin (host) each item goes to, and the host type of each bin.
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

struct Packing {
  std::vector<int32_t> bin_of_item;    // one per item, in [0, bin_count)
  std::vector<int32_t> bin_host_type;  // one per bin

  std::size_t bin_count() const { return bin_host_type.size(); }
};

double packing_cost(const Instance& instance, const Packing& packing);
std::vector<ResourceVector> bin_loads(const Instance& instance, const Packing& packing);
// Empty when every item is in a bin, every bin is non-empty and within its capacity;
// otherwise a description of the first problem found.
std::string packing_violation(const Instance& instance, const Packing& packing);
// Renumbers bins to drop empty ones (keeps relative order).
void drop_empty_bins(Packing& packing);
// Gives every bin the cheapest host type that holds its load (never more expensive).
void right_size_bins(const Instance& instance, Packing& packing);

} // namespace nimbus::cloud::placement
