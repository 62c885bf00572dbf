#pragma once
// The fleet as placement sees it, built from the controller's etcd cache: an OnlineEngine holding
// every live host (cordoned ones not schedulable) and every VM where its alloc says it is. The
// controller keeps one between decisions and keeps it in step with seat()/release(); consolidation
// plans on a fresh one. Pure: unit-testable without etcd.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cloud/controller/model.hpp"
#include "cloud/placement/online/online_engine.hpp"

namespace nimbus::cloud::controller {

// Whether a host with this capacity can take new VMs: only when it reports some of every
// resource (an agent started with --disk-gib 0, or a record that is nonsense, takes none).
inline bool takes_new_vms(const Resources& capacity) {
  return capacity.vcpus > 0 && capacity.memory_mib > 0 && capacity.disk_gib > 0;
}

struct FleetHost {
  std::string name;
  Resources capacity;
  bool schedulable = true;  // false: cordoned, draining or lost (keeps its VMs, takes no new ones)
  double cpu_load = 0;      // measured, host CPUs' worth
};

struct FleetVm {
  std::string id;
  std::string tenant;
  std::string host;
  Resources resources;
  std::string affinity;       // group names, scoped by tenant
  std::string anti_affinity;
  double cpu_load = 0;
};

struct FleetOptions {
  placement::online::Policy policy = placement::online::Policy::BestFit;
  double cpu_overcommit = 1.0;
  double memory_overcommit = 1.0;
};

class FleetModel {
 public:
  FleetModel(const std::vector<FleetHost>& hosts, const std::vector<FleetVm>& vms, const FleetOptions& options);

  // Where a new VM goes (nullopt: nowhere, with the engine's reason in `reason`).
  std::optional<std::string> place(const FleetVm& vm, std::string* reason = nullptr);
  // Where a VM of `from` would go now, never `from` and never an empty host when !allow_empty.
  std::optional<std::string> find_target(const std::string& vm_id, bool allow_empty = true) const;
  void move(const std::string& vm_id, const std::string& to);
  void release(const std::string& vm_id);
  void cordon(const std::string& host);
  // Incremental upkeep of a long-lived model (the controller's placement cache): seat a VM on
  // the host its alloc names (false: unknown host or no room there), and the VMs a host holds.
  bool seat(const FleetVm& vm);
  std::vector<std::string> vms_on(const std::string& host) const;
  bool has_vm(const std::string& vm_id) const { return vm_ids_.count(vm_id) != 0; }
  std::optional<std::string> host_of(const std::string& vm_id) const;
  std::size_t host_count() const { return host_names_.size(); }

  std::size_t active_hosts() const { return engine_.active_host_count(); }
  std::size_t lower_bound() const;
  placement::online::OnlineEngine& engine() { return engine_; }
  const placement::online::OnlineEngine& engine() const { return engine_; }
  const std::string& host_name(placement::online::HostId id) const { return host_names_.at(id); }
  std::optional<placement::online::HostId> host_id(const std::string& name) const;
  const std::string& vm_name(placement::online::VmId id) const { return vm_names_.at(id - 1); }  // ids start at 1
  std::optional<placement::online::VmId> vm_id(const std::string& id) const;
  Resources usable(const std::string& host) const;
  const std::vector<std::string>& unplaced() const { return unplaced_; }  // VMs the model could not seat

 private:
  placement::online::GroupId group(const std::string& tenant, const std::string& name);
  placement::online::VmRequest request(const FleetVm& vm, placement::online::VmId id);

  FleetOptions options_;
  placement::online::OnlineEngine engine_;
  std::vector<std::string> host_names_;
  std::unordered_map<std::string, placement::online::HostId> host_ids_;
  std::vector<std::string> vm_names_;
  std::unordered_map<std::string, placement::online::VmId> vm_ids_;
  std::map<std::string, placement::online::GroupId> groups_;
  std::vector<std::string> unplaced_;
};

struct PlannedMove {
  std::string vm;
  std::string from;
  std::string to;
  std::string why;  // "consolidate" or "relieve"
};

struct ConsolidationPolicy {
  std::size_t moves_per_round = 5;  // KubeVirt's parallelMigrationsPerCluster
  std::size_t moves_per_host = 2;   // KubeVirt's parallelOutboundMigrationsPerNode
  // Hysteresis on the active-host count: start when active > bound * (1 + start_margin),
  // keep going until active <= bound * (1 + stop_margin) or nothing can move.
  double start_margin = 0.2;
  double stop_margin = 0.0;
  // A host whose measured load exceeds hot * usable vCPUs is relieved until below cool.
  double hot = 0.9;
  double cool = 0.7;
};

struct ConsolidationResult {
  std::vector<PlannedMove> moves;
  std::size_t active_hosts = 0;
  std::size_t lower_bound = 0;
  bool engaged = false;  // the hysteresis state to pass to the next round
};

// One round: relieve hot hosts first, then (while engaged) empty lightly used hosts into others,
// within the budgets. `engaged` is the previous round's state.
ConsolidationResult choose_consolidation(FleetModel& fleet, const std::vector<FleetHost>& hosts,
                                         const std::vector<FleetVm>& vms, const ConsolidationPolicy& policy, bool engaged);

} // namespace nimbus::cloud::controller
