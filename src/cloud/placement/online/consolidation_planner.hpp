#pragma once
// Proposes live migrations that empty lightly loaded hosts so they can be powered down, never
// more migrations than the budget. The plan is computed on a copy of the engine, so the live
// engine is untouched until apply_plan.
#include <cstddef>
#include <vector>

#include "cloud/placement/online/online_engine.hpp"

namespace nimbus::cloud::placement::online {

struct ConsolidationPlan {
  std::vector<Migration> migrations;  // in the order to perform them
  std::vector<HostId> freed_hosts;    // hosts left empty once the migrations are done
};

struct ConsolidationOptions {
  std::size_t migration_budget = 0;   // most VMs moved by the plan
  std::size_t max_hosts_examined = 64; // least loaded hosts tried, to bound planning time
};

ConsolidationPlan plan_consolidation(const OnlineEngine& engine, const ConsolidationOptions& options);

// Performs the plan's migrations unit by unit; returns how many VMs moved. Throws
// PlacementError if the engine changed since planning so that a move no longer fits.
std::size_t apply_plan(OnlineEngine& engine, const ConsolidationPlan& plan);

} // namespace nimbus::cloud::placement::online
