#pragma once
// Runs a Scheduler's vCPUs on N simulated harts in virtual time: a discrete-event loop where a
// slice lasts exactly what the vCPU reports. Deterministic, so tests can demand tight shares.
#include <cstdint>
#include <vector>

#include "hypervisor/scheduler.hpp"

namespace nimbus::hypervisor {

class SimulatedHost {
public:
  // A zero-time run would let the loop spin without time advancing; every dispatch costs at
  // least this much, standing for the world switch.
  static constexpr Nanoseconds kMinimumRunCost = std::chrono::microseconds(1);

  explicit SimulatedHost(Scheduler& scheduler);

  // Advances virtual time to `end`: no slice starts at or after `end`, and slices started
  // before it are completed (so now() may pass `end` by less than one quantum).
  void run_until(Nanoseconds end);

  Nanoseconds now() const { return now_; }
  Nanoseconds hart_busy(uint32_t hart) const { return harts_.at(hart).busy_total; }

private:
  struct Hart {
    bool busy = false;
    Nanoseconds until{0};
    SchedVcpuIndex vcpu = 0;
    RunResult result;
    Nanoseconds cost{0};
    Nanoseconds busy_total{0};
  };
  Scheduler& scheduler_;
  std::vector<Hart> harts_;
  Nanoseconds now_{0};
};

} // namespace nimbus::hypervisor
