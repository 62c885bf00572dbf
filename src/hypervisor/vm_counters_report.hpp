#pragma once
// How `nimbus stats` shows VM counters: a table (one column per VM) and JSON. The JSON reads
// back (for tools and the cloud agent), with precise errors for anything malformed.
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "hypervisor/vm_counters.hpp"

namespace nimbus::hypervisor {

struct NamedVmCounters {
  std::string vm;
  VmCountersSnapshot counters;
  bool operator==(const NamedVmCounters&) const = default;
};

class CountersFormatError : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

std::string format_counters_table(const std::vector<NamedVmCounters>& vms);

// {"vms": [{"name": ..., "exits": {"total": n, "sbi_call": n, ...}, "world_switches": n, ...}]}
nlohmann::json counters_to_json(const std::vector<NamedVmCounters>& vms);
std::vector<NamedVmCounters> counters_from_json(const nlohmann::json& json);

} // namespace nimbus::hypervisor
