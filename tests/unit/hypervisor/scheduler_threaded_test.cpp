// The same policy on real worker threads, briefly and with looser tolerances: the host is shared
// and preempts our workers, but charged time still follows the weights, caps hold, and idle
// vCPUs cost no CPU because the workers sleep.
#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "hypervisor/scheduler.hpp"
#include "hypervisor/synthetic_vcpu.hpp"
#include "hypervisor/threaded_host.hpp"

namespace nimbus::hypervisor {
namespace {

using std::chrono::milliseconds;

double seconds(Nanoseconds time) { return std::chrono::duration<double>(time).count(); }

Nanoseconds process_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + Nanoseconds(ts.tv_nsec);
}

TEST(SchedulerThreaded, TwoBusyVmsWeightedTwoToOne) {
  Scheduler scheduler({.harts = 1, .quantum = milliseconds(1), .period = milliseconds(10)});
  auto a = scheduler.add_vm({"a", 200, 0, 0});
  auto b = scheduler.add_vm({"b", 100, 0, 0});
  scheduler.add_vcpu(a, spinning_busy_vcpu());
  scheduler.add_vcpu(b, spinning_busy_vcpu());
  ThreadedHost host(scheduler);
  host.run_for(milliseconds(400));
  double ratio = seconds(host.vm_runtime(a)) / seconds(host.vm_runtime(b));
  EXPECT_NEAR(ratio, 2.0, 0.2) << "2:1 within 10 % on real threads";
}

TEST(SchedulerThreaded, CappedVmStaysUnderItsCap) {
  Scheduler scheduler({.harts = 1, .quantum = milliseconds(1), .period = milliseconds(10)});
  auto capped = scheduler.add_vm({"capped", 100, 30, 0});
  scheduler.add_vcpu(capped, spinning_busy_vcpu());
  ThreadedHost host(scheduler);
  Nanoseconds ran = host.run_for(milliseconds(300));
  // The cap holds per 10 ms accounting period (checked exactly in the simulation). A window that
  // is not whole periods touches up to two more periods, each with its own allowance, and the
  // last slice can return late (the host preempts our worker) with no next period to pay it back;
  // on a loaded 2-core host that lateness is a host time slice (a few ms), so allow one period.
  // Without the cap the VM would run the whole 300 ms.
  EXPECT_LE(host.vm_runtime(capped), (ran + 2 * milliseconds(10)) * 30 / 100 + milliseconds(10));
  EXPECT_GE(host.vm_runtime(capped), ran * 15 / 100) << "the capped VM should still run";
}

TEST(SchedulerThreaded, IdleVcpusCostNoHostCpu) {
  Scheduler scheduler({.harts = 2});
  auto idle = scheduler.add_vm({"idle", 100, 0, 0});
  for (int i = 0; i < 4; ++i) scheduler.add_vcpu(idle, simulated_idle_vcpu());
  ThreadedHost host(scheduler);
  Nanoseconds cpu_before = process_cpu_time();
  host.run_for(milliseconds(200));
  Nanoseconds cpu_used = process_cpu_time() - cpu_before;
  EXPECT_LT(cpu_used, milliseconds(20)) << "workers must sleep, not poll";
  EXPECT_LE(scheduler.vm_dispatches(idle), 4u);
}

TEST(SchedulerThreaded, WakeRunsAWaitingVcpu) {
  Scheduler scheduler({.harts = 2});
  auto vm = scheduler.add_vm({"vm", 100, 0, 0});
  std::atomic<int> runs{0};
  auto vcpu = scheduler.add_vcpu(vm, [&](Nanoseconds) {
    runs.fetch_add(1);
    return RunResult{RunResult::Stop::wait, std::chrono::microseconds(1), std::nullopt};
  });
  ThreadedHost host(scheduler);
  std::thread interrupter([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(milliseconds(10));
      host.wake(vcpu);
    }
  });
  host.run_for(milliseconds(150));
  interrupter.join();
  // One run at start, then at most one per wake (a wake racing with the run may be merged).
  EXPECT_GE(runs.load(), 2);
  EXPECT_LE(runs.load(), 6);
}

TEST(SchedulerThreaded, AVcpuThatThrowsHaltsAloneAndTheOthersRun) {
  Scheduler scheduler({.harts = 1, .quantum = milliseconds(1), .period = milliseconds(10)});
  auto broken = scheduler.add_vm({"broken", 100, 0, 0});
  auto healthy = scheduler.add_vm({"healthy", 100, 0, 0});
  scheduler.add_vcpu(broken, [](Nanoseconds) -> RunResult { throw std::runtime_error("garbage instruction stream"); });
  scheduler.add_vcpu(healthy, spinning_busy_vcpu());
  ThreadedHost host(scheduler);
  Nanoseconds ran = host.run_for(milliseconds(100));
  auto failures = host.failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], "vCPU 0 of VM 'broken' halted: garbage instruction stream");
  EXPECT_GE(host.vm_runtime(healthy), ran / 2) << "the healthy VM keeps the hart";
}

} // namespace
} // namespace nimbus::hypervisor
