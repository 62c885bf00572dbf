#include "hypervisor/simulated_host.hpp"

#include <algorithm>

namespace nimbus::hypervisor {

SimulatedHost::SimulatedHost(Scheduler& scheduler) : scheduler_(scheduler), harts_(scheduler.options().harts) {}

void SimulatedHost::run_until(Nanoseconds end) {
  for (;;) {
    // Slices that end now come back first, in hart order, so the next choices see them.
    for (Hart& hart : harts_) {
      if (hart.busy && hart.until <= now_) {
        hart.busy = false;
        scheduler_.complete(hart.vcpu, now_, hart.result, hart.cost);
      }
    }
    bool any_idle = false;
    if (now_ < end) {
      for (Hart& hart : harts_) {
        if (hart.busy) continue;
        auto dispatch = scheduler_.pick(now_);
        if (!dispatch) {
          any_idle = true;
          continue;
        }
        RunResult result = scheduler_.runner(dispatch->vcpu)(dispatch->budget);
        // A simulated vCPU cannot run past its budget or take no time at all.
        Nanoseconds cost = std::clamp(result.used, kMinimumRunCost, std::max(dispatch->budget, kMinimumRunCost));
        hart.busy = true;
        hart.vcpu = dispatch->vcpu;
        hart.result = result;
        hart.cost = cost;
        hart.until = now_ + cost;
        hart.busy_total += cost;
      }
    }
    std::optional<Nanoseconds> next;
    for (const Hart& hart : harts_)
      if (hart.busy && (!next || hart.until < *next)) next = hart.until;
    if (any_idle && now_ < end) {
      auto change = scheduler_.next_change(now_);
      Nanoseconds wake = change ? std::min(*change, end) : end;
      if (wake > now_ && (!next || wake < *next)) next = wake;
    }
    if (!next) {
      now_ = std::max(now_, end);
      return;
    }
    now_ = std::max(*next, now_);
  }
}

} // namespace nimbus::hypervisor
