#include "cloud/controller/fleet.hpp"

#include <algorithm>
#include <cmath>

#include "cloud/placement/online/consolidation_planner.hpp"
#include "cloud/placement/simulator/fleet_lower_bound.hpp"

namespace nimbus::cloud::controller {

namespace online = placement::online;
using placement::ResourceVector;

namespace {

online::EngineConfig make_config(const FleetOptions& o) {
  online::EngineConfig c;
  c.dimensions = 3;
  c.policy = o.policy;
  c.overcommit = {o.cpu_overcommit, o.memory_overcommit, 1.0, 1.0};
  return c;
}

ResourceVector vec(const Resources& r) {
  ResourceVector v;
  v[0] = r.vcpus;
  v[1] = r.memory_mib;
  v[2] = r.disk_gib;
  return v;
}

} // namespace

FleetModel::FleetModel(const std::vector<FleetHost>& hosts, const std::vector<FleetVm>& vms, const FleetOptions& options)
    : options_(options), engine_(make_config(options)) {
  ResourceVector reference;
  for (const auto& h : hosts) {
    const auto cap = vec(h.capacity);
    for (std::size_t d = 0; d < 3; ++d) {
      const double oc = d == 0 ? options.cpu_overcommit : d == 1 ? options.memory_overcommit : 1.0;
      reference[d] = std::max<int64_t>(reference[d], static_cast<int64_t>(std::floor(static_cast<double>(cap[d]) * oc)));
    }
  }
  for (std::size_t d = 0; d < 3; ++d) reference[d] = std::max<int64_t>(reference[d], 1);
  engine_.reserve_reference(reference);
  engine_.reserve_vms(vms.size() + 16);

  std::unordered_map<std::string, std::vector<const FleetVm*>> by_host;
  for (const auto& vm : vms) by_host[vm.host].push_back(&vm);

  // Seat each host's VMs while it is the only schedulable host (the engine has no "put it on
  // host X" call), then cordon it; finally reopen the schedulable ones. A host that takes no new
  // VMs (takes_new_vms) still enters the engine, which wants every capacity positive: it gets 1
  // where it has none and stays cordoned.
  for (const auto& h : hosts) {
    online::HostSpec spec;
    spec.capacity = vec(h.capacity);
    for (std::size_t d = 0; d < 3; ++d) spec.capacity[d] = std::max<int64_t>(spec.capacity[d], 1);
    const online::HostId id = engine_.add_host(spec);
    host_names_.push_back(h.name);
    host_ids_[h.name] = id;
    for (const FleetVm* vm : by_host[h.name]) {
      const online::VmId vid = vm_names_.size() + 1;
      vm_names_.push_back(vm->id);
      online::VmRequest req = request(*vm, vid);
      auto d = engine_.place(req);
      if (!d.placed) {
        req.affinity_group = online::kNoGroup;
        req.anti_affinity_group = online::kNoGroup;
        d = engine_.place(req);
      }
      if (d.placed)
        vm_ids_[vm->id] = vid;
      else
        unplaced_.push_back(vm->id);
    }
    engine_.cordon(id);
  }
  for (const auto& h : hosts)
    if (h.schedulable && takes_new_vms(h.capacity)) engine_.uncordon(host_ids_[h.name]);
}

online::GroupId FleetModel::group(const std::string& tenant, const std::string& name) {
  if (name.empty()) return online::kNoGroup;
  auto [it, inserted] = groups_.emplace(tenant + "/" + name, static_cast<online::GroupId>(groups_.size() + 1));
  (void)inserted;
  return it->second;
}

online::VmRequest FleetModel::request(const FleetVm& vm, online::VmId id) {
  online::VmRequest r;
  r.id = id;
  r.demand = vec(vm.resources);
  r.affinity_group = group(vm.tenant, vm.affinity);
  r.anti_affinity_group = group(vm.tenant, vm.anti_affinity);
  return r;
}

std::optional<std::string> FleetModel::place(const FleetVm& vm, std::string* reason) {
  // A VM placed again (a create decided again after its batch was refused) gives up its earlier
  // tentative seat first: mapping its id to the new seat would orphan the old one, room that no
  // re-sync could free (vms_on() would name the id, release() would free the new seat).
  if (vm_ids_.count(vm.id)) release(vm.id);
  const online::VmId vid = vm_names_.size() + 1;
  online::PlacementDecision d;
  try {
    d = engine_.place(request(vm, vid));
  } catch (const online::PlacementError& e) {
    if (reason) *reason = e.what();
    return std::nullopt;
  }
  if (!d.placed) {
    if (reason) *reason = online::reject_reason_name(d.reason);
    return std::nullopt;
  }
  vm_names_.push_back(vm.id);
  vm_ids_[vm.id] = vid;
  return host_names_.at(d.host);
}

std::optional<std::string> FleetModel::find_target(const std::string& vm_id, bool allow_empty) const {
  auto vid = this->vm_id(vm_id);
  if (!vid) return std::nullopt;
  const auto* rec = engine_.find_vm(*vid);
  if (!rec) return std::nullopt;
  auto to = engine_.find_host_for_unit(online::MigrationUnit{*vid}, rec->host, allow_empty);
  if (!to) return std::nullopt;
  return host_names_.at(*to);
}

void FleetModel::move(const std::string& vm_id, const std::string& to) {
  auto vid = this->vm_id(vm_id);
  auto hid = host_id(to);
  if (!vid || !hid) throw online::PlacementError("unknown VM or host " + vm_id + " -> " + to);
  engine_.move_unit(online::MigrationUnit{*vid}, *hid);
}

void FleetModel::release(const std::string& vm_id) {
  auto vid = this->vm_id(vm_id);
  if (!vid) return;
  engine_.release(*vid);
  vm_ids_.erase(vm_id);
  vm_names_[*vid - 1].clear();  // ids are never reused; keep the slot, drop the string
}

bool FleetModel::seat(const FleetVm& vm) {
  auto hid = host_id(vm.host);
  if (!hid || vm_ids_.count(vm.id)) return false;
  const online::VmId vid = vm_names_.size() + 1;
  if (!engine_.seat(request(vm, vid), *hid)) return false;
  vm_names_.push_back(vm.id);
  vm_ids_[vm.id] = vid;
  return true;
}

std::optional<std::string> FleetModel::host_of(const std::string& vm_id) const {
  auto vid = this->vm_id(vm_id);
  if (!vid) return std::nullopt;
  const auto* rec = engine_.find_vm(*vid);
  if (!rec) return std::nullopt;
  return host_names_.at(rec->host);
}

std::vector<std::string> FleetModel::vms_on(const std::string& host) const {
  std::vector<std::string> out;
  auto hid = host_id(host);
  if (!hid) return out;
  for (online::VmId vid : engine_.host(*hid).vms) out.push_back(vm_names_.at(vid - 1));
  return out;
}

void FleetModel::cordon(const std::string& host) {
  if (auto id = host_id(host)) engine_.cordon(*id);
}

std::size_t FleetModel::lower_bound() const {
  placement::simulator::FleetLowerBound bound;
  return bound.compute(engine_);
}

std::optional<online::HostId> FleetModel::host_id(const std::string& name) const {
  auto it = host_ids_.find(name);
  if (it == host_ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<online::VmId> FleetModel::vm_id(const std::string& id) const {
  auto it = vm_ids_.find(id);
  if (it == vm_ids_.end()) return std::nullopt;
  return it->second;
}

Resources FleetModel::usable(const std::string& host) const {
  auto id = host_id(host);
  if (!id) return {};
  const auto& u = engine_.host(*id).usable;
  return {u[0], u[1], u[2]};
}

ConsolidationResult choose_consolidation(FleetModel& fleet, const std::vector<FleetHost>& hosts,
                                         const std::vector<FleetVm>& vms, const ConsolidationPolicy& policy, bool engaged) {
  ConsolidationResult result;
  std::unordered_map<std::string, double> load;
  std::unordered_map<std::string, double> capacity;
  std::unordered_map<std::string, std::size_t> moved_from;
  std::unordered_map<std::string, const FleetVm*> vm_by_id;
  for (const auto& h : hosts) {
    load[h.name] = h.cpu_load;
    capacity[h.name] = static_cast<double>(std::max<int64_t>(1, h.capacity.vcpus));
  }
  for (const auto& vm : vms) vm_by_id[vm.id] = &vm;
  auto budget_left = [&](const std::string& from) {
    return result.moves.size() < policy.moves_per_round && moved_from[from] < policy.moves_per_host;
  };
  auto record = [&](const std::string& id, const std::string& from, const std::string& to, const char* why) {
    const double l = vm_by_id.count(id) ? vm_by_id[id]->cpu_load : 0.0;
    load[from] -= l;
    load[to] += l;
    ++moved_from[from];
    result.moves.push_back({id, from, to, why});
  };

  // 1. Relieve hot hosts: move their busiest VMs to hosts that stay below `cool`.
  std::vector<const FleetHost*> by_load;
  for (const auto& h : hosts) by_load.push_back(&h);
  std::sort(by_load.begin(), by_load.end(), [](const FleetHost* a, const FleetHost* b) { return a->cpu_load > b->cpu_load; });
  for (const FleetHost* h : by_load) {
    if (load[h->name] <= policy.hot * capacity[h->name]) continue;
    std::vector<const FleetVm*> here;
    for (const auto& vm : vms)
      if (vm.host == h->name) here.push_back(&vm);
    std::sort(here.begin(), here.end(), [](const FleetVm* a, const FleetVm* b) { return a->cpu_load > b->cpu_load; });
    for (const FleetVm* vm : here) {
      if (load[h->name] <= policy.cool * capacity[h->name] || !budget_left(h->name)) break;
      auto to = fleet.find_target(vm->id, true);
      if (!to || load[*to] + vm->cpu_load > policy.cool * capacity[*to]) continue;
      try {
        fleet.move(vm->id, *to);
      } catch (const placement::online::PlacementError&) {
        continue;
      }
      record(vm->id, h->name, *to, "relieve");
    }
  }

  // 2. Consolidate with hysteresis: empty lightly used hosts into others.
  result.active_hosts = fleet.active_hosts();
  result.lower_bound = fleet.lower_bound();
  const double bound = static_cast<double>(result.lower_bound);
  const double active = static_cast<double>(result.active_hosts);
  engaged = engaged ? active > bound * (1.0 + policy.stop_margin) : active > bound * (1.0 + policy.start_margin);
  if (engaged && result.moves.size() < policy.moves_per_round) {
    placement::online::ConsolidationOptions options;
    options.migration_budget = (policy.moves_per_round - result.moves.size()) * 2;
    const auto plan = placement::online::plan_consolidation(fleet.engine(), options);
    for (const auto& m : plan.migrations) {
      const std::string& id = fleet.vm_name(m.vm);
      const std::string& from = fleet.host_name(m.from);
      const std::string& to = fleet.host_name(m.to);
      if (!budget_left(from)) continue;
      const double l = vm_by_id.count(id) ? vm_by_id[id]->cpu_load : 0.0;
      if (load[to] + l > policy.hot * capacity[to]) continue;
      try {
        fleet.move(id, to);
      } catch (const placement::online::PlacementError&) {
        continue;
      }
      record(id, from, to, "consolidate");
    }
    if (plan.migrations.empty()) engaged = false;
  }
  result.active_hosts = fleet.active_hosts();
  result.engaged = engaged;
  return result;
}

} // namespace nimbus::cloud::controller
