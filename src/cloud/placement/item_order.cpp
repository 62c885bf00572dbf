// Sort keys for the decreasing heuristics.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "cloud/placement/heuristics.hpp"

namespace nimbus::cloud::placement {

std::vector<uint32_t> decreasing_order(const ItemSet& set, Heuristic h) {
  const std::size_t n = set.items.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  if (set.dimensions == 1) {
    // Exact integer comparison in one dimension; every decreasing rule is the same order. Small
    // integer sizes (the usual case) are bucket-sorted in linear time, which is also stable.
    int64_t largest = 0;
    for (uint32_t i : set.items) largest = std::max(largest, set.demands[i][0]);
    if (largest <= static_cast<int64_t>(4 * n + 1024)) {
      std::vector<uint32_t> start(static_cast<std::size_t>(largest) + 2, 0);
      for (uint32_t i : set.items) ++start[static_cast<std::size_t>(largest - set.demands[i][0]) + 1];
      std::partial_sum(start.begin(), start.end(), start.begin());
      for (std::size_t k = 0; k < n; ++k)
        order[start[static_cast<std::size_t>(largest - set.demands[set.items[k]][0])]++] = static_cast<uint32_t>(k);
      return order;
    }
    // Otherwise sorting
    // (size, position) pairs keeps the keys in cache, and the position makes it stable.
    std::vector<std::pair<int64_t, uint32_t>> keyed(n);
    for (std::size_t k = 0; k < n; ++k) keyed[k] = {-set.demands[set.items[k]][0], static_cast<uint32_t>(k)};
    std::sort(keyed.begin(), keyed.end());
    for (std::size_t k = 0; k < n; ++k) order[k] = keyed[k].second;
    return order;
  }
  std::vector<double> key(n);
  for (std::size_t k = 0; k < n; ++k) {
    const ResourceVector& v = set.demands[set.items[k]];
    double sum = 0, product = 1, squares = 0;
    for (std::size_t d = 0; d < set.dimensions; ++d) {
      const double x = static_cast<double>(v[d]) / static_cast<double>(set.capacity[d]);
      sum += x;
      product *= x;
      squares += x * x;
    }
    key[k] = h == Heuristic::FfdProduct ? product : h == Heuristic::FfdL2 ? std::sqrt(squares) : sum;
  }
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return key[a] > key[b]; });
  return order;
}

} // namespace nimbus::cloud::placement
