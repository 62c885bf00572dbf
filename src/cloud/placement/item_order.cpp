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
    // Exact integer comparison in one dimension; every decreasing rule is the same order.
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return set.demands[set.items[a]][0] > set.demands[set.items[b]][0];
    });
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
