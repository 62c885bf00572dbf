// A VM whose vCPUs run each on its own host thread (docs/smp.md): vCPU i's scheduler entry calls
// run_vcpu_thread(i). Every thread runs only its own vCPU's hart; whatever touches the whole VM
// (device time, console, snapshots, migration rounds, frames given back) is housekeeping, done
// by whichever vCPU thread takes its turn, with the other vCPUs paused when it needs them still.
#include <fmt/format.h>

#include <thread>

#include "hypervisor/vcpu_requests.hpp"
#include "hypervisor/vm.hpp"

namespace nimbus::hypervisor {

namespace {

// Instructions a vCPU runs between two looks at its requests and the VM's housekeeping.
constexpr uint64_t kSlice = 4096;
// The housekeeper ticks device time and polls devices and the console at least this often while
// any vCPU runs (as Machine::run_parallel; a pin a device raises wakes a waiting vCPU at once).
constexpr auto kServiceInterval = std::chrono::microseconds(250);

} // namespace

void Vm::set_vcpu_waker(std::function<void(unsigned)> wake) {
  std::lock_guard lock(waker_mutex_);
  vcpu_waker_ = std::move(wake);
}

void Vm::wake_vcpu(unsigned index) {
  std::lock_guard lock(waker_mutex_);
  if (vcpu_waker_) vcpu_waker_(index);
}

// Once, on the first run_vcpu_thread (every vCPU thread waits for it in call_once): from here on
// the VM runs only this way.
void Vm::start_parallel() {
  if (!parallel_capable_)
    throw std::logic_error(fmt::format("VM '{}' cannot run its vCPUs on their own threads", config_.name));
  std::vector<GuestCpu*> raw;
  for (auto& cpu : vcpus_) raw.push_back(cpu.get());
  requests_ = std::make_unique<VcpuRequests>(raw, [this](unsigned index) { wake_vcpu(index); });
  requests_->refresh_status();
  sbi_->set_remote_harts(requests_.get());
  reservations_->set_parallel(true);
  doorbells_.resize(vcpus_.size());
  for (unsigned i = 0; i < vcpus_.size(); ++i) {
    doorbells_[i].vm = this;
    doorbells_[i].index = i;
    vcpus_[i]->pins().set_waker(&doorbells_[i]);
  }
}

void Vm::pause_vcpus() {
  pause_.store(true, std::memory_order_seq_cst);
  // A vCPU in the guest leaves it within a slice (or an RFENCE it waits for, which its targets
  // answer when their slices end).
  for (unsigned i = 0; i < vcpus_.size(); ++i)
    while (requests_->in_guest(i)) std::this_thread::yield();
}

void Vm::resume_vcpus() {
  pause_.store(false, std::memory_order_seq_cst);
  // The vCPUs that found the VM paused went back to the scheduler waiting.
  for (unsigned i = 0; i < vcpus_.size(); ++i) wake_vcpu(i);
}

void Vm::housekeep(bool service_now) {
  std::unique_lock turn(housekeeping_mutex_, std::try_to_lock);
  if (!turn.owns_lock()) return;   // another vCPU thread has it
  if (memory_->exhaustion_pending()) {
    // release_all unmaps RAM: no vCPU may be in the guest.
    pause_vcpus();
    stop_if_memory_exhausted();
    resume_vcpus();
    return;
  }
  if (boundary_work_due()) {
    pause_vcpus();
    const uint64_t retired = parallel_retired_.exchange(0, std::memory_order_relaxed);
    instructions_ += retired;
    clock_->retire(retired);
    try {
      at_round_boundary();
    } catch (...) {
      resume_vcpus();
      throw;
    }
    resume_vcpus();
    if (state() != State::running) return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!service_now && now - last_service_ < kServiceInterval) return;
  last_service_ = now;
  const uint64_t retired = parallel_retired_.exchange(0, std::memory_order_relaxed);
  instructions_ += retired;
  clock_->retire(retired);
  service_devices(clock_->now());
  if (state() == State::running && requests_->all_stopped())
    finish(State::failed, 1, "every vCPU is stopped (HSM hart_stop on the last running hart)");
}

RunResult Vm::run_vcpu_thread(unsigned index, Nanoseconds budget) {
  const auto began = std::chrono::steady_clock::now();
  auto result = [&](RunResult::Stop stop, std::optional<Nanoseconds> wake_after = std::nullopt) {
    if (stop == RunResult::Stop::budget_spent) counters_.count_exit(ExitReason::preempted);
    return RunResult{stop, std::chrono::steady_clock::now() - began, wake_after};
  };
  if (state() != State::running) return result(RunResult::Stop::halt);
  try {
    std::call_once(parallel_started_, [this] { start_parallel(); });
    if (index >= vcpus_.size()) throw std::out_of_range(fmt::format("no vCPU {}", index));
    GuestCpu& cpu = *vcpus_[index];
    housekeep(true);   // woken: a device deadline or console input may be what woke it
    for (;;) {
      if (state() != State::running) return result(RunResult::Stop::halt);
      requests_->enter(index);
      if (pause_.load(std::memory_order_seq_cst)) {
        requests_->leave(index);
        return result(RunResult::Stop::wait);   // resume_vcpus wakes it
      }
      uint64_t retired = 0;
      bool stopped = false;
      std::optional<uint64_t> waiting_until;   // the vCPU waits (WFI) until this tick at the latest
      try {
        requests_->perform(index);
        if (cpu.running() && !cpu.waiting()) {
          retired = run_vcpu(index, kSlice);
          requests_->perform(index);
        }
        if (!cpu.running())
          stopped = true;
        else if (cpu.waiting())
          waiting_until = cpu.timer_deadline();
      } catch (...) {
        requests_->leave(index);
        throw;
      }
      requests_->leave(index);
      parallel_retired_.fetch_add(retired, std::memory_order_relaxed);
      housekeep(false);
      if (state() != State::running) return result(RunResult::Stop::halt);
      // HSM-stopped: only a hart_start (which wakes it) makes it run again.
      if (stopped) return result(RunResult::Stop::wait);
      if (waiting_until) {
        // Wake for its own timer or the board's next deadline (which the housekeeping of the
        // thread that wakes handles), whichever is first; a pin rising wakes it earlier.
        const uint64_t now = clock_->now();
        // The clock moved on since the vCPU found nothing pending (the housekeeping above, a
        // migration's catch-up by milliseconds): its timer may have fallen due in between. Looked
        // at again after `now`, a vCPU still waiting with its deadline at or before `now` has that
        // interrupt masked (Linux leaves stimecmp behind and clears sie.STIE in its timer
        // interrupt), and its deadline cannot wake it; one no longer waiting runs at once.
        requests_->enter(index);
        const bool still_waiting = pause_.load(std::memory_order_seq_cst) || !cpu.running() || cpu.waiting();
        requests_->leave(index);
        if (!still_waiting) continue;
        uint64_t deadline = *waiting_until > now ? *waiting_until : ~uint64_t{0};
        if (const uint64_t board = board_->next_deadline(); board > now) deadline = std::min(deadline, board);
        return result(RunResult::Stop::wait, idle_wake(deadline, now));
      }
      if (std::chrono::steady_clock::now() - began >= budget) return result(RunResult::Stop::budget_spent);
    }
  } catch (const std::exception& error) {
    finish(State::failed, 1, fmt::format("VMM error: {}", error.what()));
    return result(RunResult::Stop::halt);
  }
}

} // namespace nimbus::hypervisor
