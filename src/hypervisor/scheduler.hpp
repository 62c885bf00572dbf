#pragma once
// Proportional-share scheduling of vCPUs onto host harts, with per-VM weights, caps and
// reservations (issue 3, item 4). This class is the policy only: no threads and no clock. A
// driver asks pick() for work whenever a hart is free, runs the vCPU for the budget it was given,
// and reports back with complete(). Two drivers exist: SimulatedHost (virtual time, for
// deterministic tests) and ThreadedHost (real worker threads, one per host hart).
//
// The policy, per VM (a VM's vCPUs share its entitlement):
//  - weight: CPU time beyond reservations is divided in proportion to weights. Each VM has a
//    virtual runtime that advances by (time used / weight); the VM furthest behind runs next.
//    A VM that wakes from idle starts at the smallest virtual runtime of the busy VMs, so sleeping
//    banks no credit.
//  - cap: a hard limit in percent of one host hart. Per accounting period a capped VM gets at
//    most cap% of the period, summed over its vCPUs and counting slices still running; then its
//    vCPUs wait for the next period even if harts are idle.
//  - reservation: a guaranteed percent of one host hart. Until a VM has had its reservation in the
//    current period, its runnable vCPUs go before every vCPU scheduled by weight.
//  - a vCPU that waits (WFI) is not runnable and costs nothing until woken or its timer is due.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hypervisor/vcpu_run.hpp"

namespace nimbus::hypervisor {

class SchedulerError : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

struct SchedulerOptions {
  uint32_t harts = 1;
  Nanoseconds quantum = std::chrono::milliseconds(2);   // longest slice between decisions
  Nanoseconds period = std::chrono::milliseconds(20);   // accounting period for caps and reservations
  Nanoseconds min_slice = std::chrono::microseconds(20);   // smaller cap remainders wait for the next period
};

struct SchedulerVmSpec {
  std::string name;
  uint32_t weight = 100;
  uint32_t cap_percent = 0;           // 0 = no cap
  uint32_t reservation_percent = 0;
};

using SchedVmIndex = uint32_t;
using SchedVcpuIndex = uint32_t;

class Scheduler {
public:
  explicit Scheduler(SchedulerOptions options);

  // Throws SchedulerError for a zero weight, a reservation above the cap, or reservations that
  // add up to more than the harts can give.
  SchedVmIndex add_vm(const SchedulerVmSpec& spec);
  // A new vCPU starts runnable. Throws SchedulerError if the VM index is unknown or the VM's
  // cap or reservation exceeds 100 % per vCPU it has.
  SchedVcpuIndex add_vcpu(SchedVmIndex vm, VcpuRun run);
  // Changes a VM's cap while it runs (0 = none): live migration's auto-converge throttles a VM
  // that dirties memory faster than the link copies it. Returns the cap it had. Throws
  // SchedulerError for an unknown VM or a cap below its reservation.
  uint32_t set_cap(SchedVmIndex vm, uint32_t cap_percent);

  struct Dispatch {
    SchedVcpuIndex vcpu;
    Nanoseconds budget;
  };
  // The next vCPU to run on a free hart at time `now`, marked running; nullopt if none may run.
  std::optional<Dispatch> pick(Nanoseconds now);
  // The vCPU handed out by pick() came back after `charged` host time (the driver's measure).
  void complete(SchedVcpuIndex vcpu, Nanoseconds now, const RunResult& result, Nanoseconds charged);
  // An interrupt for a waiting vCPU (from a device, timer or IPI). Waking a running vCPU makes its
  // next wait return at once, so a wake-up racing with WFI is never lost.
  void wake(SchedVcpuIndex vcpu, Nanoseconds now);
  // The earliest time after `now` at which a vCPU that may not run now could become runnable (a
  // timer due, a throttled VM's next period); nullopt if only wake() can change anything.
  std::optional<Nanoseconds> next_change(Nanoseconds now) const;

  VcpuRun& runner(SchedVcpuIndex vcpu) { return vcpus_.at(vcpu).run; }
  const SchedulerOptions& options() const { return options_; }
  size_t vm_count() const { return vms_.size(); }
  size_t vcpu_count() const { return vcpus_.size(); }
  bool all_halted() const;

  // Host time charged so far.
  Nanoseconds vm_runtime(SchedVmIndex vm) const { return vms_.at(vm).runtime; }
  Nanoseconds vcpu_runtime(SchedVcpuIndex vcpu) const { return vcpus_.at(vcpu).runtime; }
  uint64_t vm_dispatches(SchedVmIndex vm) const { return vms_.at(vm).dispatches; }
  const std::string& vm_name(SchedVmIndex vm) const { return vms_.at(vm).spec.name; }
  SchedVmIndex vcpu_vm(SchedVcpuIndex vcpu) const { return vcpus_.at(vcpu).vm; }

private:
  enum class State { runnable, running, waiting, halted };
  struct VcpuSlot {
    SchedVmIndex vm;
    VcpuRun run;
    State state = State::runnable;
    std::optional<Nanoseconds> wake_at;   // while waiting: timer deadline
    bool wake_pending = false;            // woken while running
    Nanoseconds budget{0};                // while running: the slice granted
    Nanoseconds runtime{0};
  };
  struct VmSlot {
    SchedulerVmSpec spec;
    std::vector<SchedVcpuIndex> vcpus;
    double vruntime = 0;                  // nanoseconds used / weight
    Nanoseconds in_flight{0};             // budgets of its running vCPUs
    Nanoseconds period_used{0};           // charged in the current period
    Nanoseconds runtime{0};
    uint64_t dispatches = 0;
    uint32_t active = 0;                  // vCPUs runnable or running
  };

  void roll_period(Nanoseconds now);
  void release_timers(Nanoseconds now);
  void become_runnable(VcpuSlot& vcpu);
  Nanoseconds allowance(uint32_t percent) const;
  Nanoseconds cap_room(const VmSlot& vm) const;   // what a capped VM may still start this period
  bool may_run(const VmSlot& vm) const;
  std::optional<SchedVcpuIndex> runnable_vcpu(const VmSlot& vm) const;
  double min_active_vruntime() const;

  SchedulerOptions options_;
  std::vector<VmSlot> vms_;
  std::vector<VcpuSlot> vcpus_;
  Nanoseconds period_start_{0};
  uint64_t reserved_percent_ = 0;
};

} // namespace nimbus::hypervisor
