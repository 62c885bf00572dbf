#pragma once
// Percentiles of decision latency from every recorded sample (nearest-rank method).
#include <cstdint>
#include <vector>

namespace nimbus::cloud::placement::simulator {

struct LatencySummary {
  std::size_t count = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// Reorders `nanoseconds`.
LatencySummary summarize_latency(std::vector<uint32_t>& nanoseconds);

} // namespace nimbus::cloud::placement::simulator
