#pragma once
// The online placement engine: hosts join, drain and leave; VMs arrive and depart one at a time
// and each arrival is placed at once by the configured policy. It enforces per-dimension
// overcommit, capacity reserved on each host, affinity groups (members share a host) and
// anti-affinity groups (members never share a host). Decisions go through two free-capacity
// indexes (hosts running VMs, empty hosts) and never scan the whole fleet.
#include <cstddef>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cloud/placement/online/free_capacity_index.hpp"
#include "cloud/placement/online/online_types.hpp"

namespace nimbus::cloud::placement::online {

struct Migration {
  VmId vm = 0;
  HostId from = 0;
  HostId to = 0;
};

struct HostState {
  HostSpec spec;
  ResourceVector usable;  // floor(capacity * overcommit) - reserved
  ResourceVector used;
  HostStatus status = HostStatus::Schedulable;
  std::vector<VmId> vms;
  std::vector<std::pair<GroupId, uint32_t>> anti_affinity_members;  // group -> VMs of it here
  ResourceVector free() const { return usable - used; }
};

struct VmRecord {
  HostId host = 0;
  ResourceVector demand;
  GroupId affinity_group = kNoGroup;
  GroupId anti_affinity_group = kNoGroup;
  uint32_t slot = 0;  // position in the host's vms list
};

// VMs that must move together: the members of one affinity group on a host, or one VM.
using MigrationUnit = std::vector<VmId>;

struct EvacuationOutcome {
  std::vector<Migration> migrations;  // VMs moved to other hosts
  std::vector<VmId> stranded;         // VMs that found no other host (drain: stay; remove: evicted)
};

class OnlineEngine {
 public:
  explicit OnlineEngine(const EngineConfig& config);

  const EngineConfig& config() const { return config_; }
  void set_policy(Policy p) { config_.policy = p; }

  // Index grid scale: the largest usable capacity expected. Growing past it later rebuilds the
  // indexes, so callers that know the whole fleet up front should set it first.
  void reserve_reference(const ResourceVector& usable_capacity);

  // Room for this many live VMs without rehashing mid-run (a rehash stalls one decision).
  void reserve_vms(std::size_t count) { vms_.reserve(count); }

  HostId add_host(const HostSpec& spec);
  // Stops new placements on the host and moves its VMs elsewhere where possible.
  EvacuationOutcome drain_host(HostId host);
  // Takes the host out of the fleet; VMs that cannot move elsewhere are evicted.
  EvacuationOutcome remove_host(HostId host);
  // Stops new placements without moving anything (used by drain and the consolidation planner).
  void cordon(HostId host);
  void uncordon(HostId host);

  PlacementDecision place(const VmRequest& request);
  // Puts a VM on the given host without asking the policy (a cache mirroring placements decided
  // elsewhere). Needs room on the host; anti-affinity is counted, not checked, and an affinity
  // group already seated on another host is dropped for this VM. False when it does not fit.
  bool seat(const VmRequest& request, HostId host);
  void release(VmId vm);

  std::vector<MigrationUnit> migration_units(HostId host) const;
  // Where the policy would put this unit now, ignoring `exclude` (and every non-schedulable host);
  // the consolidation planner passes allow_empty_hosts = false so moves never wake a host.
  std::optional<HostId> find_host_for_unit(const MigrationUnit& unit, HostId exclude,
                                           bool allow_empty_hosts = true) const;
  // Moves a unit; throws PlacementError when the target lacks room or holds an anti-affinity peer.
  void move_unit(const MigrationUnit& unit, HostId to);

  // Observers.
  std::size_t host_count() const { return hosts_.size(); }
  const HostState& host(HostId id) const;
  const VmRecord* find_vm(VmId id) const;
  std::size_t live_vm_count() const { return vms_.size(); }
  std::size_t active_host_count() const { return active_hosts_; }  // hosts running >= 1 VM
  std::size_t schedulable_host_count() const { return active_index_.size() + empty_index_.size(); }
  const ResourceVector& total_demand() const { return total_demand_; }
  // Bumped whenever the set of schedulable hosts changes (to cache fleet-level bounds).
  uint64_t fleet_version() const { return fleet_version_; }
  const ResourceVector& reference() const { return reference_; }

 private:
  struct Candidate {
    double score;
    HostId host;
  };
  ResourceVector usable_of(const HostSpec& spec) const;
  void validate_demand(const ResourceVector& demand) const;
  HostState& host_mut(HostId id);
  void reindex(HostId id);
  void rebuild_indexes();
  bool admits(HostId id, const ResourceVector& demand, const std::vector<GroupId>& anti, HostId exclude) const;
  double exact_score(HostId id, const ResourceVector& demand) const;
  std::optional<Candidate> search(const FreeCapacityIndex& index, const ResourceVector& demand,
                                  const std::vector<GroupId>& anti, HostId exclude) const;
  std::optional<HostId> find_host(const ResourceVector& demand, const std::vector<GroupId>& anti,
                                  HostId exclude, bool allow_empty_hosts = true) const;
  void attach(VmId vm, VmRecord& rec, HostId to);
  void detach(VmId vm, VmRecord& rec);
  EvacuationOutcome evacuate(HostId host);

  EngineConfig config_;
  ResourceVector reference_;
  std::vector<HostState> hosts_;
  std::unordered_map<VmId, VmRecord> vms_;
  std::unordered_map<GroupId, std::pair<HostId, uint32_t>> affinity_;  // group -> (host, members)
  FreeCapacityIndex active_index_;
  FreeCapacityIndex empty_index_;
  std::size_t active_hosts_ = 0;
  ResourceVector total_demand_;
  uint64_t fleet_version_ = 0;
  // Scratch space for decisions (the engine is single-threaded).
  mutable std::vector<uint32_t> scratch_buckets_;
  mutable std::vector<std::pair<double, uint32_t>> scratch_ranked_;
};

} // namespace nimbus::cloud::placement::online
