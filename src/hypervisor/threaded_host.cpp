#include "hypervisor/threaded_host.hpp"

#include <fmt/format.h>

#include <exception>

namespace nimbus::hypervisor {

// Scheduler time runs from construction and never restarts, so it stays monotonic across
// several run_for calls and wake() is meaningful before the first one.
ThreadedHost::ThreadedHost(Scheduler& scheduler) : scheduler_(scheduler), start_(std::chrono::steady_clock::now()) {}

ThreadedHost::~ThreadedHost() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& thread : workers_)
    if (thread.joinable()) thread.join();
}

Nanoseconds ThreadedHost::run_for(Nanoseconds duration) {
  Nanoseconds began;
  {
    std::lock_guard lock(mutex_);
    began = elapsed();
  }
  start();
  std::this_thread::sleep_for(duration);
  Nanoseconds ran;
  {
    std::lock_guard lock(mutex_);
    ran = elapsed() - began;
  }
  stop();
  return ran;
}

void ThreadedHost::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  for (uint32_t i = 0; i < scheduler_.options().harts; ++i) workers_.emplace_back([this] { worker(); });
}

bool ThreadedHost::wait_all_halted(Nanoseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return scheduler_.all_halted(); });
}

void ThreadedHost::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& thread : workers_) thread.join();
  workers_.clear();
}

void ThreadedHost::wake(SchedVcpuIndex vcpu) {
  {
    std::lock_guard lock(mutex_);
    scheduler_.wake(vcpu, elapsed());
  }
  changed_.notify_all();
}

std::vector<std::string> ThreadedHost::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

uint32_t ThreadedHost::set_cap(SchedVmIndex vm, uint32_t cap_percent) {
  uint32_t old;
  {
    std::lock_guard lock(mutex_);
    old = scheduler_.set_cap(vm, cap_percent);
  }
  changed_.notify_all();   // a lifted cap lets a throttled VM run now
  return old;
}

Nanoseconds ThreadedHost::vm_runtime(SchedVmIndex vm) const {
  std::lock_guard lock(mutex_);
  return scheduler_.vm_runtime(vm);
}

void ThreadedHost::worker() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto dispatch = scheduler_.pick(elapsed());
    if (!dispatch) {
      auto next = scheduler_.next_change(elapsed());
      if (next) changed_.wait_until(lock, start_ + *next);
      else changed_.wait(lock);
      continue;
    }
    VcpuRun& run = scheduler_.runner(dispatch->vcpu);
    lock.unlock();
    auto began = std::chrono::steady_clock::now();
    RunResult result;
    std::string failure;
    try {
      result = run(dispatch->budget);
    } catch (const std::exception& error) {
      failure = error.what();
    } catch (...) {
      failure = "unknown exception";
    }
    auto ended = std::chrono::steady_clock::now();
    lock.lock();
    if (!failure.empty()) {
      result = RunResult{RunResult::Stop::halt, ended - began, std::nullopt};
      failures_.push_back(fmt::format("vCPU {} of VM '{}' halted: {}", dispatch->vcpu,
                                      scheduler_.vm_name(scheduler_.vcpu_vm(dispatch->vcpu)), failure));
    }
    scheduler_.complete(dispatch->vcpu, ended - start_, result, ended - began);
    changed_.notify_all();
  }
}

} // namespace nimbus::hypervisor
