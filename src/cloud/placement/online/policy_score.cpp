#include "cloud/placement/online/policy_score.hpp"

#include <algorithm>
#include <limits>

namespace nimbus::cloud::placement::online {

namespace {

double ratio(int64_t value, int64_t normalizer) {
  return normalizer > 0 ? static_cast<double>(value) / static_cast<double>(normalizer) : 0.0;
}

// Free capacity left after placement, normalized by the fleet reference, summed over dimensions.
double residual_sum(const ScoreInputs& in) {
  double s = 0;
  for (std::size_t d = 0; d < in.dimensions; ++d)
    s += ratio((*in.free)[d] - (*in.demand)[d], (*in.reference)[d]);
  return s;
}

} // namespace

double policy_score(Policy policy, const ScoreInputs& in) {
  switch (policy) {
  case Policy::BestFit:
    return -residual_sum(in);
  case Policy::WorstFit:
    return residual_sum(in);
  case Policy::DotProduct: {
    // Panigrahy et al.'s dot product: demand and free capacity, both normalized.
    double dot = 0;
    for (std::size_t d = 0; d < in.dimensions; ++d)
      dot += ratio((*in.demand)[d], (*in.reference)[d]) * ratio((*in.free)[d], (*in.reference)[d]);
    return dot;
  }
  case Policy::Hybrid: {
    // Stranded resources: free capacity in one dimension that cannot be sold because another
    // dimension of the same host is nearly exhausted. Minimize it first, then pack (best fit).
    double lowest = std::numeric_limits<double>::infinity();
    double sum = 0;
    for (std::size_t d = 0; d < in.dimensions; ++d) {
      const double left = ratio((*in.free)[d] - (*in.demand)[d], (*in.capacity)[d]);
      lowest = std::min(lowest, left);
      sum += left;
    }
    const double stranded = sum - lowest * static_cast<double>(in.dimensions);
    return -(2.0 * stranded + residual_sum(in));
  }
  }
  return 0;
}

} // namespace nimbus::cloud::placement::online
