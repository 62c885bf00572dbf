#include "cloud/placement/online/consolidation_planner.hpp"

#include <algorithm>
#include <utility>

namespace nimbus::cloud::placement::online {

namespace {

// Load of a host as the sum over dimensions of used / usable: lightest hosts are cheapest to empty.
double load_of(const HostState& h, std::size_t dimensions) {
  double load = 0;
  for (std::size_t d = 0; d < dimensions; ++d)
    if (h.usable[d] > 0) load += static_cast<double>(h.used[d]) / static_cast<double>(h.usable[d]);
  return load;
}

} // namespace

ConsolidationPlan plan_consolidation(const OnlineEngine& engine, const ConsolidationOptions& options) {
  ConsolidationPlan plan;
  if (options.migration_budget == 0 || engine.active_host_count() < 2) return plan;
  const std::size_t dims = engine.config().dimensions;

  std::vector<std::pair<double, HostId>> candidates;
  for (HostId id = 0; id < engine.host_count(); ++id) {
    const HostState& h = engine.host(id);
    if (h.status == HostStatus::Schedulable && !h.vms.empty() && h.vms.size() <= options.migration_budget)
      candidates.emplace_back(load_of(h, dims), id);
  }
  const std::size_t examined = std::min(options.max_hosts_examined, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(examined),
                    candidates.end());
  candidates.resize(examined);

  // Packing policies move VMs onto busy hosts; worst fit would spread them back out.
  OnlineEngine trial = engine;
  if (trial.config().policy == Policy::WorstFit) trial.set_policy(Policy::BestFit);
  std::size_t budget = options.migration_budget;
  // Hosts that received VMs in this plan are never emptied by it: that would spend the budget
  // moving the same VMs twice.
  std::vector<bool> received(engine.host_count(), false);
  for (const auto& [load, source] : candidates) {
    if (received[source]) continue;
    const HostState& h = trial.host(source);
    if (h.vms.empty() || h.vms.size() > budget) continue;
    trial.cordon(source);
    std::vector<std::pair<MigrationUnit, HostId>> moved;
    bool emptied = true;
    for (const MigrationUnit& unit : trial.migration_units(source)) {
      const std::optional<HostId> to = trial.find_host_for_unit(unit, source, /*allow_empty_hosts=*/false);
      if (!to) {
        emptied = false;
        break;
      }
      trial.move_unit(unit, *to);
      moved.emplace_back(unit, *to);
    }
    if (!emptied) {
      // Undo in reverse order: every unit fits back where it came from.
      for (auto it = moved.rbegin(); it != moved.rend(); ++it) trial.move_unit(it->first, source);
      trial.uncordon(source);
      continue;
    }
    // The emptied host stays cordoned in the trial so later moves do not refill it.
    for (const auto& [unit, to] : moved) {
      received[to] = true;
      for (VmId vm : unit) plan.migrations.push_back(Migration{vm, source, to});
      budget -= unit.size();
    }
    plan.freed_hosts.push_back(source);
    if (budget == 0) break;
  }
  return plan;
}

std::size_t apply_plan(OnlineEngine& engine, const ConsolidationPlan& plan) {
  std::size_t moved = 0;
  std::size_t i = 0;
  while (i < plan.migrations.size()) {
    // Consecutive migrations with the same source and target that share an affinity group
    // form one unit and must move together.
    const Migration& first = plan.migrations[i];
    MigrationUnit unit{first.vm};
    const VmRecord* rec = engine.find_vm(first.vm);
    const GroupId group = rec ? rec->affinity_group : kNoGroup;
    std::size_t j = i + 1;
    while (group != kNoGroup && j < plan.migrations.size() && plan.migrations[j].from == first.from &&
           plan.migrations[j].to == first.to) {
      const VmRecord* other = engine.find_vm(plan.migrations[j].vm);
      if (!other || other->affinity_group != group) break;
      unit.push_back(plan.migrations[j].vm);
      ++j;
    }
    engine.move_unit(unit, first.to);
    moved += unit.size();
    i = j;
  }
  return moved;
}

} // namespace nimbus::cloud::placement::online
