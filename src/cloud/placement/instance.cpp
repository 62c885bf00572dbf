#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

std::vector<std::string> default_dimension_names(std::size_t dimensions) {
  if (dimensions == 1) return {"size"};
  std::vector<std::string> names;
  for (std::size_t d = 0; d < dimensions; ++d) names.push_back("d" + std::to_string(d));
  return names;
}

int cheapest_fitting_host_type(const Instance& instance, const ResourceVector& demand) {
  int best = -1;
  for (std::size_t t = 0; t < instance.host_types.size(); ++t) {
    const HostType& h = instance.host_types[t];
    if (!demand.fits_in(h.capacity)) continue;
    if (best < 0 || h.cost < instance.host_types[static_cast<std::size_t>(best)].cost) best = static_cast<int>(t);
  }
  return best;
}

double normalized_size(const ResourceVector& demand, const ResourceVector& capacity, std::size_t dimensions) {
  double s = 0;
  for (std::size_t d = 0; d < dimensions; ++d)
    if (capacity[d] > 0) s += static_cast<double>(demand[d]) / static_cast<double>(capacity[d]);
  return s;
}

} // namespace nimbus::cloud::placement
