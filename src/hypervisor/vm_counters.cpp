#include "hypervisor/vm_counters.hpp"

#include <numeric>

namespace nimbus::hypervisor {

namespace {
constexpr std::array<std::string_view, kExitReasonCount> kExitReasonNames = {
    "sbi_call", "mmio", "privileged_instruction", "virtual_instruction", "guest_page_fault", "wfi", "preempted",
    "shutdown"};
}

std::string_view to_string(ExitReason reason) {
  auto index = static_cast<size_t>(reason);
  return index < kExitReasonCount ? kExitReasonNames[index] : "unknown";
}

std::optional<ExitReason> exit_reason_from_string(std::string_view name) {
  for (size_t i = 0; i < kExitReasonCount; ++i)
    if (kExitReasonNames[i] == name) return static_cast<ExitReason>(i);
  return std::nullopt;
}

uint64_t VmCountersSnapshot::total_exits() const { return std::accumulate(exits.begin(), exits.end(), uint64_t{0}); }

VmCountersSnapshot VmCounters::snapshot() const {
  VmCountersSnapshot out;
  for (size_t i = 0; i < kExitReasonCount; ++i) out.exits[i] = exits_[i].load(std::memory_order_relaxed);
  out.emulated_privileged_instructions = emulated_privileged_.load(std::memory_order_relaxed);
  out.shadow_page_faults = shadow_faults_.load(std::memory_order_relaxed);
  out.g_stage_faults = g_stage_faults_.load(std::memory_order_relaxed);
  out.tlb_flushes = tlb_flushes_.load(std::memory_order_relaxed);
  out.world_switches = world_switches_.load(std::memory_order_relaxed);
  out.instructions_retired = instructions_retired_.load(std::memory_order_relaxed);
  return out;
}

} // namespace nimbus::hypervisor
