#pragma once
// Vocabulary of the online placement engine: identifiers, host and VM descriptions, the
// configuration (policy, overcommit) and the outcome of one placement decision.
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cloud/placement/resource_vector.hpp"

namespace nimbus::cloud::placement::online {

using HostId = uint32_t;
using VmId = uint64_t;
// Affinity and anti-affinity groups are small integers; 0 means "no group".
using GroupId = uint32_t;
inline constexpr GroupId kNoGroup = 0;

// Thrown for calls that break the engine's contract (unknown VM, invalid host spec, ...);
// ordinary "does not fit" outcomes are PlacementDecision values, not exceptions.
class PlacementError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Policy {
  BestFit,     // the feasible host left with the least free capacity (normalized L1)
  WorstFit,    // the feasible host left with the most free capacity
  DotProduct,  // the active host whose free capacity is most aligned with the demand
  Hybrid,      // Borg-like: fewest stranded resources after placement, then best fit
};

struct HostSpec {
  ResourceVector capacity;  // physical capacity per dimension
  ResourceVector reserved;  // kept back for the host itself (hypervisor, agent)
};

struct VmRequest {
  VmId id = 0;
  ResourceVector demand;
  GroupId affinity_group = kNoGroup;       // all members share one host
  GroupId anti_affinity_group = kNoGroup;  // no two members share a host
};

enum class RejectReason {
  None,
  NoCapacity,           // no schedulable host has room (or every roomy host holds an anti-affinity peer)
  AffinityHostFull,     // the group's host has no room left (or holds an anti-affinity peer)
  AffinityHostDraining, // the group's host accepts no new VMs
};

struct PlacementDecision {
  bool placed = false;
  HostId host = 0;
  RejectReason reason = RejectReason::None;
};

enum class HostStatus { Schedulable, Draining, Removed };

struct EngineConfig {
  std::size_t dimensions = 2;
  Policy policy = Policy::BestFit;
  // Usable capacity per dimension = floor(capacity * overcommit) - reserved.
  std::array<double, kMaxDimensions> overcommit{1.0, 1.0, 1.0, 1.0};
  // Quantization levels per dimension of the free-capacity index; 0 picks one from `dimensions`.
  int index_levels = 0;
};

const char* policy_name(Policy p);
// Accepts best-fit, worst-fit, dot-product, hybrid; returns false for anything else.
bool parse_policy(const std::string& text, Policy& out);
const char* reject_reason_name(RejectReason r);

} // namespace nimbus::cloud::placement::online
