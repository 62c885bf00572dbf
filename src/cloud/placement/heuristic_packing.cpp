// Whole-instance packing with a heuristic, including several host types with costs.
#include <map>

#include "cloud/placement/heuristics.hpp"

namespace nimbus::cloud::placement {

namespace {

// Packs `items` into bins of host type `type`, appending the bins to `packing`.
void pack_group(const Instance& instance, const std::vector<uint32_t>& items, int type, Heuristic h,
                Packing& packing) {
  if (items.empty()) return;
  const ItemSet set{instance.demands, items, instance.host_types[static_cast<std::size_t>(type)].capacity,
                    instance.dimensions};
  const SubPacking sub = pack_item_set(set, h);
  const auto first_bin = static_cast<int32_t>(packing.bin_count());
  for (std::size_t k = 0; k < items.size(); ++k) packing.bin_of_item[items[k]] = first_bin + sub.bin_of[k];
  packing.bin_host_type.insert(packing.bin_host_type.end(), static_cast<std::size_t>(sub.bins), type);
}

} // namespace

Packing heuristic_packing(const Instance& instance, Heuristic h) {
  Packing best;
  double best_cost = 0;
  for (std::size_t main = 0; main < instance.host_types.size(); ++main) {
    std::vector<uint32_t> fits_main;
    std::map<int, std::vector<uint32_t>> elsewhere;  // cheapest fitting type -> items
    const ResourceVector& capacity = instance.host_types[main].capacity;
    for (std::size_t i = 0; i < instance.item_count(); ++i) {
      if (instance.demands[i].fits_in(capacity)) fits_main.push_back(static_cast<uint32_t>(i));
      else if (const int t = cheapest_fitting_host_type(instance, instance.demands[i]); t >= 0)
        elsewhere[t].push_back(static_cast<uint32_t>(i));
      // An item no host holds stays unassigned (-1); packing_violation reports it. The readers
      // and instance_problem() reject such instances before solving.
    }
    Packing packing;
    packing.bin_of_item.assign(instance.item_count(), -1);
    pack_group(instance, fits_main, static_cast<int>(main), h, packing);
    for (const auto& [type, items] : elsewhere) pack_group(instance, items, type, h, packing);
    right_size_bins(instance, packing);
    const double cost = packing_cost(instance, packing);
    if (main == 0 || cost < best_cost) {
      best = std::move(packing);
      best_cost = cost;
    }
  }
  return best;
}

} // namespace nimbus::cloud::placement
