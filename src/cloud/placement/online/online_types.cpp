#include "cloud/placement/online/online_types.hpp"

namespace nimbus::cloud::placement::online {

const char* policy_name(Policy p) {
  switch (p) {
  case Policy::BestFit: return "best-fit";
  case Policy::WorstFit: return "worst-fit";
  case Policy::DotProduct: return "dot-product";
  case Policy::Hybrid: return "hybrid";
  }
  return "?";
}

bool parse_policy(const std::string& text, Policy& out) {
  for (Policy p : {Policy::BestFit, Policy::WorstFit, Policy::DotProduct, Policy::Hybrid}) {
    if (text == policy_name(p)) {
      out = p;
      return true;
    }
  }
  return false;
}

const char* reject_reason_name(RejectReason r) {
  switch (r) {
  case RejectReason::None: return "none";
  case RejectReason::NoCapacity: return "no-capacity";
  case RejectReason::AffinityHostFull: return "affinity-host-full";
  case RejectReason::AffinityHostDraining: return "affinity-host-draining";
  }
  return "?";
}

} // namespace nimbus::cloud::placement::online
