#include "cloud/placement/lower_bounds.hpp"

#include <algorithm>
#include <numeric>

namespace nimbus::cloud::placement {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }
} // namespace

int64_t continuous_bound(std::span<const int64_t> sizes, int64_t capacity) {
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  return ceil_div(total, capacity);
}

int64_t martello_toth_l2(std::span<const int64_t> a, int64_t capacity) {
  const auto n = static_cast<int64_t>(a.size());
  std::vector<int64_t> prefix(a.size() + 1, 0);
  for (std::size_t i = 0; i < a.size(); ++i) prefix[i + 1] = prefix[i] + a[i];
  auto count_at_most = [&](int64_t x) {
    return static_cast<int64_t>(std::upper_bound(a.begin(), a.end(), x) - a.begin());
  };
  auto count_below = [&](int64_t x) {
    return static_cast<int64_t>(std::lower_bound(a.begin(), a.end(), x) - a.begin());
  };
  const int64_t half = count_at_most(capacity / 2);  // items with 2w <= C
  int64_t best = 0;
  auto evaluate = [&](int64_t k) {
    const int64_t at_most_c_minus_k = count_at_most(capacity - k);
    const int64_t n1 = n - at_most_c_minus_k;
    const int64_t n2 = at_most_c_minus_k - half;
    const int64_t s2 = prefix[static_cast<std::size_t>(at_most_c_minus_k)] - prefix[static_cast<std::size_t>(half)];
    const int64_t low = count_below(k);
    const int64_t s3 = low < half ? prefix[static_cast<std::size_t>(half)] - prefix[static_cast<std::size_t>(low)] : 0;
    best = std::max(best, n1 + n2 + ceil_div(s3 - (n2 * capacity - s2), capacity));
  };
  evaluate(0);
  for (int64_t i = 0; i < half; ++i)
    if (i == 0 || a[static_cast<std::size_t>(i)] != a[static_cast<std::size_t>(i - 1)]) evaluate(a[static_cast<std::size_t>(i)]);
  return best;
}

BinLowerBound bin_lower_bound(const std::vector<ResourceVector>& demands, std::span<const uint32_t> items,
                              const ResourceVector& capacity, std::size_t dimensions) {
  BinLowerBound out;
  std::vector<int64_t> sizes(items.size());
  for (std::size_t d = 0; d < dimensions; ++d) {
    for (std::size_t k = 0; k < items.size(); ++k) sizes[k] = demands[items[k]][d];
    const int64_t cont = continuous_bound(sizes, capacity[d]);
    std::sort(sizes.begin(), sizes.end());
    const int64_t l2 = std::max(cont, martello_toth_l2(sizes, capacity[d]));
    out.continuous = std::max(out.continuous, cont);
    if (l2 > out.l2) out.l2 = l2;
    if (l2 > out.best) {
      out.best = l2;
      out.best_dimension = d;
    }
  }
  return out;
}

BinLowerBound bin_lower_bound(const Instance& instance) {
  std::vector<uint32_t> all(instance.item_count());
  std::iota(all.begin(), all.end(), 0u);
  return bin_lower_bound(instance.demands, all, instance.host_types[0].capacity, instance.dimensions);
}

double cost_lower_bound(const Instance& instance) {
  if (instance.item_count() == 0) return 0;
  if (instance.single_host_type())
    return static_cast<double>(bin_lower_bound(instance).best) * instance.host_types[0].cost;
  double best = 0;
  for (std::size_t d = 0; d < instance.dimensions; ++d) {
    double price = -1;  // cheapest cost per unit of dimension d
    for (const HostType& h : instance.host_types) {
      const double p = h.cost / static_cast<double>(h.capacity[d]);
      if (price < 0 || p < price) price = p;
    }
    double total = 0;
    for (const ResourceVector& v : instance.demands) total += static_cast<double>(v[d]);
    best = std::max(best, total * price);
  }
  for (const ResourceVector& v : instance.demands) {
    const int t = cheapest_fitting_host_type(instance, v);
    if (t >= 0) best = std::max(best, instance.host_types[static_cast<std::size_t>(t)].cost);
  }
  return best;
}

} // namespace nimbus::cloud::placement
