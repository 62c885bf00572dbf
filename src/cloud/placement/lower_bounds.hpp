#pragma once
// Lower bounds on the number of bins (one host type) and on the cost (several host types).
//  - continuous: ceil(total size / capacity)
//  - Martello-Toth L2 (1990): for every threshold K <= C/2, items larger than C-K each need a bin
//    of their own, items in (C/2, C-K] each need one too, and items in [K, C/2] can only use the
//    space those leave plus new bins.
//  - vectors: the best of these over the dimensions.
#include <cstdint>
#include <span>
#include <vector>

#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

int64_t continuous_bound(std::span<const int64_t> sizes, int64_t capacity);
// `sorted_sizes` ascending.
int64_t martello_toth_l2(std::span<const int64_t> sorted_sizes, int64_t capacity);

struct BinLowerBound {
  int64_t continuous = 0;  // best over dimensions
  int64_t l2 = 0;          // best over dimensions
  int64_t best = 0;
  std::size_t best_dimension = 0;
};
// For the instance's first host type (the only one in the classic formats).
BinLowerBound bin_lower_bound(const Instance& instance);
// The same for an arbitrary item subset and capacity.
BinLowerBound bin_lower_bound(const std::vector<ResourceVector>& demands, std::span<const uint32_t> items,
                              const ResourceVector& capacity, std::size_t dimensions);

// A lower bound on total cost: bins * cost with one host type; with several, the fractional
// bound (each dimension's demand bought at the cheapest price per unit) and the cheapest host
// holding the largest item.
double cost_lower_bound(const Instance& instance);

} // namespace nimbus::cloud::placement
