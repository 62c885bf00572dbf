#include "cloud/controller/metrics.hpp"

#include <fmt/format.h>

namespace nimbus::cloud::controller {

void Histogram::observe(double seconds, uint64_t times) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) buckets_[i] += times;
  count_ += times;
  sum_ += seconds * static_cast<double>(times);
}

std::string Histogram::text(const std::string& name, const std::string& help) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  for (std::size_t i = 0; i < kBounds.size(); ++i) out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], buckets_[i]);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
  return out;
}

} // namespace nimbus::cloud::controller
