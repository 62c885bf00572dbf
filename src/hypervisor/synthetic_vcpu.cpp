#include "hypervisor/synthetic_vcpu.hpp"

#include <algorithm>
#include <atomic>
#include <memory>

namespace nimbus::hypervisor {

VcpuRun simulated_busy_vcpu() {
  return [](Nanoseconds budget) { return RunResult{RunResult::Stop::budget_spent, budget, std::nullopt}; };
}

VcpuRun simulated_idle_vcpu() {
  return [](Nanoseconds) { return RunResult{RunResult::Stop::wait, Nanoseconds(0), std::nullopt}; };
}

VcpuRun simulated_alternating_vcpu(Nanoseconds busy, Nanoseconds idle) {
  auto left = std::make_shared<Nanoseconds>(busy);
  return [left, busy, idle](Nanoseconds budget) {
    Nanoseconds used = std::min(budget, *left);
    *left -= used;
    if (*left > Nanoseconds(0)) return RunResult{RunResult::Stop::budget_spent, used, std::nullopt};
    *left = busy;
    return RunResult{RunResult::Stop::wait, used, idle};
  };
}

VcpuRun spinning_busy_vcpu() {
  return [](Nanoseconds budget) {
    auto start = std::chrono::steady_clock::now();
    auto end = start + budget;
    std::atomic<uint64_t> spins{0};   // keeps the loop from being optimized away
    while (std::chrono::steady_clock::now() < end) spins.fetch_add(1, std::memory_order_relaxed);
    return RunResult{RunResult::Stop::budget_spent, std::chrono::steady_clock::now() - start, std::nullopt};
  };
}

} // namespace nimbus::hypervisor
