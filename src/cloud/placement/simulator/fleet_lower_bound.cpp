#include "cloud/placement/simulator/fleet_lower_bound.hpp"

#include <algorithm>
#include <functional>

namespace nimbus::cloud::placement::simulator {

void FleetLowerBound::rebuild(const online::OnlineEngine& engine) {
  dimensions_ = engine.config().dimensions;
  prefix_.assign(dimensions_, {});
  for (std::size_t d = 0; d < dimensions_; ++d) {
    std::vector<int64_t>& p = prefix_[d];
    for (online::HostId id = 0; id < engine.host_count(); ++id) {
      const online::HostState& h = engine.host(id);
      if (h.status != online::HostStatus::Removed) p.push_back(h.usable[d]);
    }
    std::sort(p.begin(), p.end(), std::greater<>());
    for (std::size_t i = 1; i < p.size(); ++i) p[i] += p[i - 1];
  }
  version_ = engine.fleet_version();
}

std::size_t FleetLowerBound::compute(const online::OnlineEngine& engine) {
  if (version_ != engine.fleet_version() || dimensions_ != engine.config().dimensions) rebuild(engine);
  std::size_t bound = 0;
  for (std::size_t d = 0; d < dimensions_; ++d) {
    const int64_t demand = engine.total_demand()[d];
    if (demand <= 0) continue;
    const std::vector<int64_t>& p = prefix_[d];
    // First k (1-based) with prefix >= demand; placed demand always fits the fleet.
    const auto it = std::lower_bound(p.begin(), p.end(), demand);
    const std::size_t k = static_cast<std::size_t>(it - p.begin()) + 1;
    bound = std::max(bound, std::min(k, p.size()));
  }
  return bound;
}

} // namespace nimbus::cloud::placement::simulator
