#include "cloud/placement/simulator/latency_summary.hpp"

#include <algorithm>
#include <cmath>

namespace nimbus::cloud::placement::simulator {

namespace {
// Nearest rank: the smallest sample with at least q of all samples at or below it.
double percentile_us(std::vector<uint32_t>& ns, double q) {
  const std::size_t n = ns.size();
  std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
  rank = std::clamp<std::size_t>(rank, 1, n) - 1;
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(rank), ns.end());
  return static_cast<double>(ns[rank]) / 1000.0;
}
} // namespace

LatencySummary summarize_latency(std::vector<uint32_t>& nanoseconds) {
  LatencySummary s;
  s.count = nanoseconds.size();
  if (nanoseconds.empty()) return s;
  double total = 0;
  uint32_t highest = 0;
  for (uint32_t v : nanoseconds) {
    total += v;
    highest = std::max(highest, v);
  }
  s.mean_us = total / static_cast<double>(s.count) / 1000.0;
  s.max_us = highest / 1000.0;
  s.p50_us = percentile_us(nanoseconds, 0.50);
  s.p90_us = percentile_us(nanoseconds, 0.90);
  s.p99_us = percentile_us(nanoseconds, 0.99);
  s.p999_us = percentile_us(nanoseconds, 0.999);
  return s;
}

} // namespace nimbus::cloud::placement::simulator
