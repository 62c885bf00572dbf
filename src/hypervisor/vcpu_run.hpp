#pragma once
// What the scheduler needs from a vCPU: run it for at most a budget of host time and say how it
// stopped, as KVM_RUN does. A real vCPU runs its hart until the budget is spent or the guest
// waits (WFI) or shuts down; the synthetic vCPUs of the tests only pretend.
#include <chrono>
#include <functional>
#include <optional>

namespace nimbus::hypervisor {

using Nanoseconds = std::chrono::nanoseconds;

struct RunResult {
  enum class Stop {
    budget_spent,   // still runnable: preempted when its slice ran out
    wait,           // WFI: blocks until woken (Scheduler::wake) or until wake_after elapses
    halt,           // shut down: never runs again
  };
  Stop stop = Stop::budget_spent;
  Nanoseconds used{0};                      // host time consumed, as the vCPU saw it
  std::optional<Nanoseconds> wake_after;    // for wait: the guest's timer deadline, from the end of the run
};

using VcpuRun = std::function<RunResult(Nanoseconds budget)>;

} // namespace nimbus::hypervisor
