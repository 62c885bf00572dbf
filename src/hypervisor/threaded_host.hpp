#pragma once
// Runs a Scheduler's vCPUs on real host worker threads, one per host hart. A worker with nothing
// runnable sleeps on a condition variable until a vCPU is woken or a timer or period is due, so
// idle VMs cost no host CPU. The time charged for a slice is the wall time it really took, so a
// vCPU that overruns its budget pays for it.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hypervisor/scheduler.hpp"

namespace nimbus::hypervisor {

class ThreadedHost {
public:
  explicit ThreadedHost(Scheduler& scheduler);
  ~ThreadedHost();
  ThreadedHost(const ThreadedHost&) = delete;
  ThreadedHost& operator=(const ThreadedHost&) = delete;

  // Starts the workers, lets them run for `duration`, then stops them after their current
  // slices and joins them. Returns the wall time between start and stop.
  Nanoseconds run_for(Nanoseconds duration);

  // The same in steps, for a VMM that runs until its VMs are done: start() starts the workers
  // and returns; wait_all_halted() blocks until every vCPU halted (true) or `timeout` passed
  // (false); stop() stops the workers after their current slices and joins them.
  void start();
  bool wait_all_halted(Nanoseconds timeout);
  void stop();

  // Thread-safe: an interrupt for a vCPU (callable from any thread while running).
  void wake(SchedVcpuIndex vcpu);
  // Scheduler::set_cap under the host's lock (while the workers run).
  uint32_t set_cap(SchedVmIndex vm, uint32_t cap_percent);

  // Thread-safe reads of the scheduler's accounting.
  Nanoseconds vm_runtime(SchedVmIndex vm) const;

  // A vCPU whose run function throws is halted alone (its VM's other vCPUs and all other VMs
  // keep running); the failures are kept here, one line per vCPU.
  std::vector<std::string> failures() const;

private:
  void worker();
  Nanoseconds elapsed() const { return std::chrono::steady_clock::now() - start_; }

  Scheduler& scheduler_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::thread> workers_;
  std::vector<std::string> failures_;
};

} // namespace nimbus::hypervisor
