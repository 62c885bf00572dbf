#pragma once
// The continuous lower bound on active hosts: in each dimension, the fewest hosts whose
// usable capacities (largest first) add up to the live demand; the bound is the maximum over
// dimensions. No placement can use fewer hosts.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cloud/placement/online/online_engine.hpp"

namespace nimbus::cloud::placement::simulator {

class FleetLowerBound {
 public:
  // Hosts that are not removed count (a draining host may still hold VMs).
  std::size_t compute(const online::OnlineEngine& engine);

 private:
  void rebuild(const online::OnlineEngine& engine);
  uint64_t version_ = UINT64_MAX;
  std::size_t dimensions_ = 0;
  std::vector<std::vector<int64_t>> prefix_;  // per dimension: prefix sums of capacities, descending
};

} // namespace nimbus::cloud::placement::simulator
