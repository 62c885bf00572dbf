#include "cloud/placement/packing.hpp"

#include <fmt/format.h>

namespace nimbus::cloud::placement {

double packing_cost(const Instance& instance, const Packing& packing) {
  double cost = 0;
  for (int32_t t : packing.bin_host_type) cost += instance.host_types[static_cast<std::size_t>(t)].cost;
  return cost;
}

std::vector<ResourceVector> bin_loads(const Instance& instance, const Packing& packing) {
  std::vector<ResourceVector> loads(packing.bin_count());
  for (std::size_t i = 0; i < packing.bin_of_item.size(); ++i)
    loads[static_cast<std::size_t>(packing.bin_of_item[i])] += instance.demands[i];
  return loads;
}

std::string packing_violation(const Instance& instance, const Packing& packing) {
  if (packing.bin_of_item.size() != instance.item_count())
    return fmt::format("{} items assigned, instance has {}", packing.bin_of_item.size(), instance.item_count());
  std::vector<std::size_t> items_in_bin(packing.bin_count(), 0);
  for (std::size_t i = 0; i < packing.bin_of_item.size(); ++i) {
    const int32_t b = packing.bin_of_item[i];
    if (b < 0 || static_cast<std::size_t>(b) >= packing.bin_count())
      return fmt::format("item {} is in bin {}, outside [0, {})", i, b, packing.bin_count());
    ++items_in_bin[static_cast<std::size_t>(b)];
  }
  const std::vector<ResourceVector> loads = bin_loads(instance, packing);
  for (std::size_t b = 0; b < packing.bin_count(); ++b) {
    const int32_t t = packing.bin_host_type[b];
    if (t < 0 || static_cast<std::size_t>(t) >= instance.host_types.size())
      return fmt::format("bin {} has unknown host type {}", b, t);
    if (items_in_bin[b] == 0) return fmt::format("bin {} is empty", b);
    if (!loads[b].fits_in(instance.host_types[static_cast<std::size_t>(t)].capacity))
      return fmt::format("bin {} is over its capacity", b);
  }
  return {};
}

void drop_empty_bins(Packing& packing) {
  std::vector<int32_t> count(packing.bin_count(), 0);
  for (int32_t b : packing.bin_of_item) ++count[static_cast<std::size_t>(b)];
  std::vector<int32_t> renumber(packing.bin_count(), -1);
  std::vector<int32_t> types;
  for (std::size_t b = 0; b < packing.bin_count(); ++b) {
    if (count[b] == 0) continue;
    renumber[b] = static_cast<int32_t>(types.size());
    types.push_back(packing.bin_host_type[b]);
  }
  for (int32_t& b : packing.bin_of_item) b = renumber[static_cast<std::size_t>(b)];
  packing.bin_host_type = std::move(types);
}

void right_size_bins(const Instance& instance, Packing& packing) {
  if (instance.single_host_type()) return;
  const std::vector<ResourceVector> loads = bin_loads(instance, packing);
  for (std::size_t b = 0; b < packing.bin_count(); ++b) {
    const int best = cheapest_fitting_host_type(instance, loads[b]);
    const auto current = static_cast<std::size_t>(packing.bin_host_type[b]);
    if (best >= 0 && instance.host_types[static_cast<std::size_t>(best)].cost < instance.host_types[current].cost)
      packing.bin_host_type[b] = best;
  }
}

} // namespace nimbus::cloud::placement
