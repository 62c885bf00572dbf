#pragma once
// The assignment written by `nimbus place`: the summary figures and, per bin, its host type,
// items and load.
#include <nlohmann/json.hpp>

#include <string>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/offline_solver.hpp"

namespace nimbus::cloud::placement {

nlohmann::json offline_report_json(const Instance& instance, const OfflineReport& report, const std::string& source);

} // namespace nimbus::cloud::placement
