#include "hypervisor/vm_counters_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace nimbus::hypervisor {

namespace {

// The non-exit counters: JSON key, table label, member.
struct CounterField {
  const char* key;
  const char* label;
  uint64_t VmCountersSnapshot::*member;
};
constexpr std::array kFields = {
    CounterField{"emulated_privileged_instructions", "emulated privileged instructions",
                 &VmCountersSnapshot::emulated_privileged_instructions},
    CounterField{"shadow_page_faults", "shadow page faults", &VmCountersSnapshot::shadow_page_faults},
    CounterField{"g_stage_faults", "G-stage faults", &VmCountersSnapshot::g_stage_faults},
    CounterField{"tlb_flushes", "TLB flushes", &VmCountersSnapshot::tlb_flushes},
    CounterField{"world_switches", "world switches", &VmCountersSnapshot::world_switches},
    CounterField{"instructions_retired", "instructions retired", &VmCountersSnapshot::instructions_retired},
};

uint64_t read_count(const nlohmann::json& object, const std::string& key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw CountersFormatError(fmt::format("{}: missing counter '{}'", where, key));
  // A positive integer built in C++ (not parsed) is stored signed; accept it too.
  bool non_negative = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  if (!non_negative)
    throw CountersFormatError(fmt::format("{}: counter '{}' must be a non-negative integer, got {}", where, key,
                                          it->dump()));
  return it->get<uint64_t>();
}

} // namespace

std::string format_counters_table(const std::vector<NamedVmCounters>& vms) {
  std::vector<std::pair<std::string, std::vector<uint64_t>>> rows;
  auto row = [&](std::string label, auto value_of) {
    std::vector<uint64_t> values;
    for (const auto& vm : vms) values.push_back(value_of(vm.counters));
    rows.emplace_back(std::move(label), std::move(values));
  };
  row("exits", [](const VmCountersSnapshot& c) { return c.total_exits(); });
  for (size_t i = 0; i < kExitReasonCount; ++i)
    row(fmt::format("  {}", to_string(static_cast<ExitReason>(i))),
        [i](const VmCountersSnapshot& c) { return c.exits[i]; });
  for (const auto& field : kFields)
    row(field.label, [&field](const VmCountersSnapshot& c) { return c.*field.member; });

  size_t label_width = 7;   // "counter"
  for (const auto& [label, values] : rows) label_width = std::max(label_width, label.size());
  std::vector<size_t> widths;
  for (size_t column = 0; column < vms.size(); ++column) {
    size_t width = vms[column].vm.size();
    for (const auto& [label, values] : rows) width = std::max(width, fmt::formatted_size("{}", values[column]));
    widths.push_back(width);
  }
  std::string out = fmt::format("{:<{}}", "counter", label_width);
  for (size_t column = 0; column < vms.size(); ++column) out += fmt::format("  {:>{}}", vms[column].vm, widths[column]);
  out += '\n';
  for (const auto& [label, values] : rows) {
    out += fmt::format("{:<{}}", label, label_width);
    for (size_t column = 0; column < vms.size(); ++column) out += fmt::format("  {:>{}}", values[column], widths[column]);
    out += '\n';
  }
  return out;
}

nlohmann::json counters_to_json(const std::vector<NamedVmCounters>& vms) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& vm : vms) {
    nlohmann::json exits = {{"total", vm.counters.total_exits()}};
    for (size_t i = 0; i < kExitReasonCount; ++i)
      exits[std::string(to_string(static_cast<ExitReason>(i)))] = vm.counters.exits[i];
    nlohmann::json entry = {{"name", vm.vm}, {"exits", exits}};
    for (const auto& field : kFields) entry[field.key] = vm.counters.*field.member;
    list.push_back(std::move(entry));
  }
  return {{"vms", list}};
}

std::vector<NamedVmCounters> counters_from_json(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("vms") || !json["vms"].is_array())
    throw CountersFormatError("counters: expected an object with a 'vms' array");
  std::vector<NamedVmCounters> vms;
  for (size_t index = 0; index < json["vms"].size(); ++index) {
    const nlohmann::json& entry = json["vms"][index];
    std::string where = fmt::format("counters: vms[{}]", index);
    if (!entry.is_object()) throw CountersFormatError(where + ": expected an object");
    if (!entry.contains("name") || !entry["name"].is_string())
      throw CountersFormatError(where + ": 'name' must be a string");
    NamedVmCounters vm;
    vm.vm = entry["name"].get<std::string>();
    where = fmt::format("counters: VM '{}'", vm.vm);
    if (!entry.contains("exits") || !entry["exits"].is_object())
      throw CountersFormatError(where + ": 'exits' must be an object");
    const nlohmann::json& exits = entry["exits"];
    for (auto it = exits.begin(); it != exits.end(); ++it)
      if (it.key() != "total" && !exit_reason_from_string(it.key()))
        throw CountersFormatError(fmt::format("{}: unknown exit reason '{}'", where, it.key()));
    for (size_t i = 0; i < kExitReasonCount; ++i)
      vm.counters.exits[i] = read_count(exits, std::string(to_string(static_cast<ExitReason>(i))), where + " exits");
    if (read_count(exits, "total", where + " exits") != vm.counters.total_exits())
      throw CountersFormatError(where + ": exits 'total' does not match the sum of the exit reasons");
    for (const auto& field : kFields) vm.counters.*field.member = read_count(entry, field.key, where);
    vms.push_back(std::move(vm));
  }
  return vms;
}

} // namespace nimbus::hypervisor
