#include "hypervisor/scheduler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace nimbus::hypervisor {

Scheduler::Scheduler(SchedulerOptions options) : options_(options) {
  if (options_.harts == 0) throw SchedulerError("scheduler: a host needs at least one hart");
  if (options_.quantum <= Nanoseconds(0)) throw SchedulerError("scheduler: the quantum must be positive");
  if (options_.period < options_.quantum)
    throw SchedulerError("scheduler: the accounting period must be at least one quantum");
  if (options_.min_slice < Nanoseconds(0) || options_.min_slice >= options_.quantum)
    throw SchedulerError("scheduler: the minimum slice must lie in [0, quantum)");
}

uint32_t Scheduler::set_cap(SchedVmIndex index, uint32_t cap_percent) {
  if (index >= vms_.size()) throw SchedulerError(fmt::format("no VM {}", index));
  VmSlot& vm = vms_[index];
  if (cap_percent != 0 && vm.spec.reservation_percent > cap_percent)
    throw SchedulerError(fmt::format("VM '{}': cap {} % is below its reservation {} %", vm.spec.name, cap_percent,
                                     vm.spec.reservation_percent));
  const uint32_t old = vm.spec.cap_percent;
  vm.spec.cap_percent = cap_percent;
  return old;
}

SchedVmIndex Scheduler::add_vm(const SchedulerVmSpec& spec) {
  if (spec.weight == 0) throw SchedulerError(fmt::format("VM '{}': weight must be at least 1", spec.name));
  if (spec.cap_percent != 0 && spec.reservation_percent > spec.cap_percent)
    throw SchedulerError(fmt::format("VM '{}': reservation {} % exceeds its cap {} %", spec.name,
                                     spec.reservation_percent, spec.cap_percent));
  const uint64_t available = uint64_t{100} * options_.harts;
  if (reserved_percent_ + spec.reservation_percent > available)
    throw SchedulerError(fmt::format("VM '{}': reservation {} % does not fit: {} % of the host's {} % are already "
                                     "reserved",
                                     spec.name, spec.reservation_percent, reserved_percent_, available));
  reserved_percent_ += spec.reservation_percent;
  VmSlot vm;
  vm.spec = spec;
  vms_.push_back(std::move(vm));
  return static_cast<SchedVmIndex>(vms_.size() - 1);
}

SchedVcpuIndex Scheduler::add_vcpu(SchedVmIndex vm, VcpuRun run) {
  if (vm >= vms_.size()) throw SchedulerError(fmt::format("scheduler: no VM with index {}", vm));
  if (!run) throw SchedulerError(fmt::format("VM '{}': a vCPU needs a run function", vms_[vm].spec.name));
  VcpuSlot vcpu;
  vcpu.vm = vm;
  vcpu.run = std::move(run);
  vcpu.state = State::waiting;
  vcpus_.push_back(std::move(vcpu));
  auto index = static_cast<SchedVcpuIndex>(vcpus_.size() - 1);
  vms_[vm].vcpus.push_back(index);
  become_runnable(vcpus_[index]);
  return index;
}

Nanoseconds Scheduler::allowance(uint32_t percent) const { return options_.period * percent / 100; }

Nanoseconds Scheduler::cap_room(const VmSlot& vm) const {
  Nanoseconds room = allowance(vm.spec.cap_percent) - vm.period_used - vm.in_flight;
  return std::max(room, Nanoseconds(0));
}

bool Scheduler::may_run(const VmSlot& vm) const {
  return vm.spec.cap_percent == 0 || cap_room(vm) > std::max(options_.min_slice, Nanoseconds(0));
}

std::optional<SchedVcpuIndex> Scheduler::runnable_vcpu(const VmSlot& vm) const {
  // Within a VM the vCPU that has run least goes first, so its vCPUs progress evenly.
  std::optional<SchedVcpuIndex> best;
  for (SchedVcpuIndex index : vm.vcpus) {
    const VcpuSlot& vcpu = vcpus_[index];
    if (vcpu.state != State::runnable) continue;
    if (!best || vcpu.runtime < vcpus_[*best].runtime) best = index;
  }
  return best;
}

double Scheduler::min_active_vruntime() const {
  double least = std::numeric_limits<double>::infinity();
  for (const VmSlot& vm : vms_)
    if (vm.active > 0) least = std::min(least, vm.vruntime);
  return least;
}

void Scheduler::become_runnable(VcpuSlot& vcpu) {
  VmSlot& vm = vms_[vcpu.vm];
  if (vm.active == 0) {
    // Waking from idle: no credit for the time asleep.
    double least = min_active_vruntime();
    if (least != std::numeric_limits<double>::infinity()) vm.vruntime = std::max(vm.vruntime, least);
  }
  ++vm.active;
  vcpu.state = State::runnable;
  vcpu.wake_at.reset();
}

void Scheduler::roll_period(Nanoseconds now) {
  if (now < period_start_ + options_.period) return;
  period_start_ = now - (now - period_start_) % options_.period;
  for (VmSlot& vm : vms_) {
    // A capped VM that overran (a real vCPU returning late) pays the excess from the next period.
    Nanoseconds carry{0};
    if (vm.spec.cap_percent != 0) carry = std::max(vm.period_used - allowance(vm.spec.cap_percent), Nanoseconds(0));
    vm.period_used = carry;
  }
}

void Scheduler::release_timers(Nanoseconds now) {
  for (VcpuSlot& vcpu : vcpus_)
    if (vcpu.state == State::waiting && vcpu.wake_at && *vcpu.wake_at <= now) become_runnable(vcpu);
}

std::optional<Scheduler::Dispatch> Scheduler::pick(Nanoseconds now) {
  roll_period(now);
  release_timers(now);

  std::optional<SchedVmIndex> chosen;
  // First, VMs still short of their reservation this period, the furthest behind first.
  double best_fraction = 1.0;
  for (SchedVmIndex index = 0; index < vms_.size(); ++index) {
    const VmSlot& vm = vms_[index];
    if (vm.spec.reservation_percent == 0 || !may_run(vm) || !runnable_vcpu(vm)) continue;
    double fraction = static_cast<double>((vm.period_used + vm.in_flight).count()) /
                      static_cast<double>(allowance(vm.spec.reservation_percent).count());
    if (fraction < best_fraction) {
      best_fraction = fraction;
      chosen = index;
    }
  }
  // Then by weight: the smallest virtual runtime, counting slices already handed out.
  if (!chosen) {
    double best_key = std::numeric_limits<double>::infinity();
    for (SchedVmIndex index = 0; index < vms_.size(); ++index) {
      const VmSlot& vm = vms_[index];
      if (!may_run(vm) || !runnable_vcpu(vm)) continue;
      double key = vm.vruntime + static_cast<double>(vm.in_flight.count()) / vm.spec.weight;
      if (key < best_key) {
        best_key = key;
        chosen = index;
      }
    }
  }
  if (!chosen) return std::nullopt;

  VmSlot& vm = vms_[*chosen];
  SchedVcpuIndex index = *runnable_vcpu(vm);
  VcpuSlot& vcpu = vcpus_[index];
  // Slices end at the period boundary so each period's accounting is exact.
  Nanoseconds budget = std::min(options_.quantum, period_start_ + options_.period - now);
  if (vm.spec.cap_percent != 0) budget = std::min(budget, cap_room(vm));
  budget = std::max(budget, Nanoseconds(1));
  vcpu.state = State::running;
  vcpu.budget = budget;
  vcpu.wake_pending = false;
  vm.in_flight += budget;
  ++vm.dispatches;
  return Dispatch{index, budget};
}

void Scheduler::complete(SchedVcpuIndex index, Nanoseconds now, const RunResult& result, Nanoseconds charged) {
  if (index >= vcpus_.size() || vcpus_[index].state != State::running)
    throw SchedulerError(fmt::format("scheduler: vCPU {} completed but was not running", index));
  VcpuSlot& vcpu = vcpus_[index];
  VmSlot& vm = vms_[vcpu.vm];
  charged = std::max(charged, Nanoseconds(0));
  // Charge the period the slice ran in before a boundary at `now` starts a new one.
  vm.in_flight -= vcpu.budget;
  vm.period_used += charged;
  vm.runtime += charged;
  vm.vruntime += static_cast<double>(charged.count()) / vm.spec.weight;
  vcpu.runtime += charged;
  vcpu.budget = Nanoseconds(0);
  switch (result.stop) {
  case RunResult::Stop::budget_spent: vcpu.state = State::runnable; break;
  case RunResult::Stop::wait:
    if (vcpu.wake_pending || (result.wake_after && *result.wake_after <= Nanoseconds(0))) {
      vcpu.state = State::runnable;
    } else {
      vcpu.state = State::waiting;
      --vm.active;
      if (result.wake_after) vcpu.wake_at = now + *result.wake_after;
    }
    break;
  case RunResult::Stop::halt:
    vcpu.state = State::halted;
    --vm.active;
    break;
  }
  vcpu.wake_pending = false;
  roll_period(now);
}

void Scheduler::wake(SchedVcpuIndex index, Nanoseconds now) {
  if (index >= vcpus_.size()) throw SchedulerError(fmt::format("scheduler: no vCPU with index {}", index));
  VcpuSlot& vcpu = vcpus_[index];
  if (vcpu.state == State::waiting) {
    roll_period(now);
    become_runnable(vcpu);
  } else if (vcpu.state == State::running) {
    vcpu.wake_pending = true;
  }
}

std::optional<Nanoseconds> Scheduler::next_change(Nanoseconds now) const {
  std::optional<Nanoseconds> next;
  auto consider = [&](Nanoseconds at) {
    at = std::max(at, now);
    if (!next || at < *next) next = at;
  };
  for (const VcpuSlot& vcpu : vcpus_)
    if (vcpu.state == State::waiting && vcpu.wake_at) consider(*vcpu.wake_at);
  for (const VmSlot& vm : vms_)
    if (!may_run(vm) && runnable_vcpu(vm)) consider(period_start_ + options_.period);
  return next;
}

bool Scheduler::all_halted() const {
  return std::all_of(vcpus_.begin(), vcpus_.end(), [](const VcpuSlot& v) { return v.state == State::halted; });
}

} // namespace nimbus::hypervisor
