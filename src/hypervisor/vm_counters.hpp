#pragma once
// Per-VM event counters (issue 3, item 5): exits by reason, emulated privileged instructions,
// shadow and G-stage faults, TLB flushes, world switches, instructions retired. The vCPU threads
// bump them with relaxed atomics (no ordering is needed for statistics); readers take a snapshot.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nimbus::hypervisor {

// Why a vCPU came back to the VMM.
enum class ExitReason : uint8_t {
  sbi_call,                // ecall to the VMM's SBI
  mmio,                    // access to a virtual device
  privileged_instruction,  // trap mode: CSR access, SRET, SFENCE.VMA ... to emulate
  virtual_instruction,     // hw mode: virtual-instruction exception
  guest_page_fault,        // shadow miss (trap) or G-stage fault (hw)
  wfi,                     // the guest waits for an interrupt
  preempted,               // its slice ran out
  shutdown,                // the guest powered off or reset
};
inline constexpr size_t kExitReasonCount = 8;

std::string_view to_string(ExitReason reason);
std::optional<ExitReason> exit_reason_from_string(std::string_view name);

// Plain values, for printing, JSON and comparisons.
struct VmCountersSnapshot {
  std::array<uint64_t, kExitReasonCount> exits{};
  uint64_t emulated_privileged_instructions = 0;
  uint64_t shadow_page_faults = 0;
  uint64_t g_stage_faults = 0;
  uint64_t tlb_flushes = 0;
  uint64_t world_switches = 0;
  uint64_t instructions_retired = 0;

  uint64_t exits_for(ExitReason reason) const { return exits[static_cast<size_t>(reason)]; }
  uint64_t total_exits() const;
  bool operator==(const VmCountersSnapshot&) const = default;
};

class VmCounters {
public:
  void count_exit(ExitReason reason, uint64_t n = 1) { bump(exits_[static_cast<size_t>(reason)], n); }
  void count_emulated_privileged_instruction(uint64_t n = 1) { bump(emulated_privileged_, n); }
  void count_shadow_page_fault(uint64_t n = 1) { bump(shadow_faults_, n); }
  void count_g_stage_fault(uint64_t n = 1) { bump(g_stage_faults_, n); }
  void count_tlb_flush(uint64_t n = 1) { bump(tlb_flushes_, n); }
  void count_world_switch(uint64_t n = 1) { bump(world_switches_, n); }
  void count_instructions_retired(uint64_t n) { bump(instructions_retired_, n); }

  VmCountersSnapshot snapshot() const;

private:
  static void bump(std::atomic<uint64_t>& counter, uint64_t n) { counter.fetch_add(n, std::memory_order_relaxed); }

  std::array<std::atomic<uint64_t>, kExitReasonCount> exits_{};
  std::atomic<uint64_t> emulated_privileged_{0};
  std::atomic<uint64_t> shadow_faults_{0};
  std::atomic<uint64_t> g_stage_faults_{0};
  std::atomic<uint64_t> tlb_flushes_{0};
  std::atomic<uint64_t> world_switches_{0};
  std::atomic<uint64_t> instructions_retired_{0};
};

} // namespace nimbus::hypervisor
