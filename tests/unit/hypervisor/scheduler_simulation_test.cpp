// The scheduler's policy in virtual time: shares by weight, caps, reservations, idle VMs, across
// one and several harts. Deterministic, so the tolerances are tight.
#include <gtest/gtest.h>

#include "hypervisor/scheduler.hpp"
#include "hypervisor/simulated_host.hpp"
#include "hypervisor/synthetic_vcpu.hpp"

namespace nimbus::hypervisor {
namespace {

using std::chrono::milliseconds;

SchedulerVmSpec vm(std::string name, uint32_t weight, uint32_t cap = 0, uint32_t reservation = 0) {
  return SchedulerVmSpec{std::move(name), weight, cap, reservation};
}

double seconds(Nanoseconds time) { return std::chrono::duration<double>(time).count(); }

// Share of `total` host time (harts x elapsed) a VM received.
double share(const Scheduler& scheduler, SchedVmIndex index, Nanoseconds elapsed) {
  return seconds(scheduler.vm_runtime(index)) / seconds(elapsed * scheduler.options().harts);
}

TEST(SchedulerSimulation, TwoBusyVmsWeightedTwoToOneGetTwoToOne) {
  Scheduler scheduler({.harts = 1});
  auto a = scheduler.add_vm(vm("a", 200));
  auto b = scheduler.add_vm(vm("b", 100));
  scheduler.add_vcpu(a, simulated_busy_vcpu());
  scheduler.add_vcpu(b, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(2));
  double ratio = seconds(scheduler.vm_runtime(a)) / seconds(scheduler.vm_runtime(b));
  EXPECT_NEAR(ratio, 2.0, 0.1) << "2:1 within 5 %";
  EXPECT_NEAR(share(scheduler, a, host.now()) + share(scheduler, b, host.now()), 1.0, 0.01) << "work conserving";
}

TEST(SchedulerSimulation, WeightsHoldAcrossSeveralHartsAndVcpus) {
  Scheduler scheduler({.harts = 2});
  auto a = scheduler.add_vm(vm("a", 200));
  auto b = scheduler.add_vm(vm("b", 100));
  for (int i = 0; i < 2; ++i) {
    scheduler.add_vcpu(a, simulated_busy_vcpu());
    scheduler.add_vcpu(b, simulated_busy_vcpu());
  }
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(2));
  double ratio = seconds(scheduler.vm_runtime(a)) / seconds(scheduler.vm_runtime(b));
  EXPECT_NEAR(ratio, 2.0, 0.1);
  EXPECT_NEAR(host.hart_busy(0) / host.now(), 1.0, 0.01);
  EXPECT_NEAR(host.hart_busy(1) / host.now(), 1.0, 0.01);
}

TEST(SchedulerSimulation, ThreeWeightsThreeToTwoToOne) {
  Scheduler scheduler({.harts = 1});
  auto a = scheduler.add_vm(vm("a", 300));
  auto b = scheduler.add_vm(vm("b", 200));
  auto c = scheduler.add_vm(vm("c", 100));
  for (auto index : {a, b, c}) scheduler.add_vcpu(index, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(3));
  EXPECT_NEAR(share(scheduler, a, host.now()), 3.0 / 6, 0.025);
  EXPECT_NEAR(share(scheduler, b, host.now()), 2.0 / 6, 0.017);
  EXPECT_NEAR(share(scheduler, c, host.now()), 1.0 / 6, 0.008);
}

TEST(SchedulerSimulation, AVmWithFewerVcpusThanItsShareGetsWhatItCanUse) {
  // a deserves 2/3 of two harts but has one vCPU: it gets one hart, b gets the other.
  Scheduler scheduler({.harts = 2});
  auto a = scheduler.add_vm(vm("a", 200));
  auto b = scheduler.add_vm(vm("b", 100));
  scheduler.add_vcpu(a, simulated_busy_vcpu());
  scheduler.add_vcpu(b, simulated_busy_vcpu());
  scheduler.add_vcpu(b, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(1));
  EXPECT_NEAR(share(scheduler, a, host.now()), 0.5, 0.01);
  EXPECT_NEAR(share(scheduler, b, host.now()), 0.5, 0.01);
}

TEST(SchedulerSimulation, CappedVmNeverExceedsItsCapEvenOnAnIdleHost) {
  Scheduler scheduler({.harts = 2});
  auto capped = scheduler.add_vm(vm("capped", 100, 30));
  scheduler.add_vcpu(capped, simulated_busy_vcpu());
  scheduler.add_vcpu(capped, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  // Check every period, not only on average: a cap is a hard limit.
  Nanoseconds previous{0};
  for (int period = 1; period <= 50; ++period) {
    host.run_until(milliseconds(20) * period);
    Nanoseconds used = scheduler.vm_runtime(capped) - previous;
    previous = scheduler.vm_runtime(capped);
    EXPECT_LE(used, milliseconds(6)) << "period " << period;
    EXPECT_GE(used, milliseconds(5)) << "period " << period << ": the cap is a limit, not a share";
  }
}

// A VM whose vCPUs run on their own host threads (docs/smp.md) may be capped above one hart:
// 150 % of a hart is 30 ms of every 20 ms period, its two vCPUs together.
TEST(SchedulerSimulation, ATwoVcpuVmCappedAboveOneHartGetsItsCapOnTwoHarts) {
  Scheduler scheduler({.harts = 2});
  auto capped = scheduler.add_vm(vm("capped", 100, 150));
  scheduler.add_vcpu(capped, simulated_busy_vcpu());
  scheduler.add_vcpu(capped, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  Nanoseconds previous{0};
  for (int period = 1; period <= 20; ++period) {
    host.run_until(milliseconds(20) * period);
    Nanoseconds used = scheduler.vm_runtime(capped) - previous;
    previous = scheduler.vm_runtime(capped);
    EXPECT_LE(used, milliseconds(30)) << "period " << period;
    EXPECT_GE(used, milliseconds(29)) << "period " << period << ": more than one hart's worth";
  }
}

// ... and reserved above one hart: 150 % against a busy neighbour of weight 10000.
TEST(SchedulerSimulation, ATwoVcpuVmReservedAboveOneHartGetsItsReservation) {
  Scheduler scheduler({.harts = 2});
  auto reserved = scheduler.add_vm(vm("reserved", 1, 0, 150));
  auto other = scheduler.add_vm(vm("other", 10000));
  for (auto index : {reserved, reserved, other, other}) scheduler.add_vcpu(index, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(2));
  EXPECT_NEAR(share(scheduler, reserved, std::chrono::seconds(2)), 0.75, 0.01);
}

TEST(SchedulerSimulation, CapHoldsAgainstABusyNeighbourAndLeavesTheRestToIt) {
  Scheduler scheduler({.harts = 1});
  auto capped = scheduler.add_vm(vm("capped", 1000, 25));
  auto other = scheduler.add_vm(vm("other", 1));
  scheduler.add_vcpu(capped, simulated_busy_vcpu());
  scheduler.add_vcpu(other, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(1));
  EXPECT_LE(share(scheduler, capped, host.now()), 0.25 + 1e-9);
  EXPECT_GE(share(scheduler, capped, host.now()), 0.24);
  EXPECT_GE(share(scheduler, other, host.now()), 0.74);
}

TEST(SchedulerSimulation, ReservationHoldsUnderOvercommit) {
  // r's weight entitles it to 1/61 of two harts (3 %); its reservation guarantees 80 % of one.
  Scheduler scheduler({.harts = 2});
  auto r = scheduler.add_vm(vm("r", 1, 0, 80));
  scheduler.add_vcpu(r, simulated_busy_vcpu());
  std::vector<SchedVmIndex> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(scheduler.add_vm(vm("busy" + std::to_string(i), 20)));
    scheduler.add_vcpu(others.back(), simulated_busy_vcpu());
    scheduler.add_vcpu(others.back(), simulated_busy_vcpu());
  }
  SimulatedHost host(scheduler);
  Nanoseconds previous{0};
  for (int period = 1; period <= 50; ++period) {
    host.run_until(milliseconds(20) * period);
    Nanoseconds used = scheduler.vm_runtime(r) - previous;
    previous = scheduler.vm_runtime(r);
    EXPECT_GE(used, milliseconds(16)) << "period " << period;
  }
  // The rest is shared by weight among the others.
  for (auto index : others) EXPECT_NEAR(share(scheduler, index, host.now()), (2.0 - 0.8) / 2 / 3, 0.01);
}

TEST(SchedulerSimulation, ReservedVmWithLargerWeightStillGetsItsWeightedShare) {
  // A reservation is a floor, not a ceiling: with weight 3:1 r deserves 75 %, more than its 20 %.
  Scheduler scheduler({.harts = 1});
  auto r = scheduler.add_vm(vm("r", 300, 0, 20));
  auto b = scheduler.add_vm(vm("b", 100));
  scheduler.add_vcpu(r, simulated_busy_vcpu());
  scheduler.add_vcpu(b, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(2));
  EXPECT_NEAR(share(scheduler, r, host.now()), 0.75, 0.0375);
}

TEST(SchedulerSimulation, IdleVmGetsNothingAndHartsIdle) {
  Scheduler scheduler({.harts = 2});
  auto idle = scheduler.add_vm(vm("idle", 1000));
  auto busy = scheduler.add_vm(vm("busy", 1));
  for (int i = 0; i < 4; ++i) scheduler.add_vcpu(idle, simulated_idle_vcpu());
  scheduler.add_vcpu(busy, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(1));
  EXPECT_LT(share(scheduler, idle, host.now()), 0.0001);
  EXPECT_LE(scheduler.vm_dispatches(idle), 4u) << "a waiting vCPU must not be polled";
  EXPECT_NEAR(share(scheduler, busy, host.now()), 0.5, 0.01) << "one vCPU fills one of two harts";
}

TEST(SchedulerSimulation, AlternatingVmGetsWhatItAsksAndTheBusyOneTheRest) {
  Scheduler scheduler({.harts = 1});
  auto bursty = scheduler.add_vm(vm("bursty", 100));
  auto busy = scheduler.add_vm(vm("busy", 100));
  scheduler.add_vcpu(bursty, simulated_alternating_vcpu(milliseconds(3), milliseconds(9)));
  scheduler.add_vcpu(busy, simulated_busy_vcpu());
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(2));
  // Bursty wants 3 ms out of every 12 ms or more (its timer runs from when it waits).
  double bursty_share = share(scheduler, bursty, host.now());
  EXPECT_GT(bursty_share, 0.2);
  EXPECT_LT(bursty_share, 0.26);
  EXPECT_NEAR(bursty_share + share(scheduler, busy, host.now()), 1.0, 0.01);
}

TEST(SchedulerSimulation, SleepingBanksNoCredit) {
  // b sleeps for the first second; afterwards the two split the hart evenly, b does not take
  // the whole hart to "catch up".
  Scheduler scheduler({.harts = 1});
  auto a = scheduler.add_vm(vm("a", 100));
  auto b = scheduler.add_vm(vm("b", 100));
  scheduler.add_vcpu(a, simulated_busy_vcpu());
  bool sleeping = true;
  auto b_vcpu = scheduler.add_vcpu(b, [&](Nanoseconds budget) {
    if (sleeping) return RunResult{RunResult::Stop::wait, Nanoseconds(0), std::nullopt};
    return RunResult{RunResult::Stop::budget_spent, budget, std::nullopt};
  });
  SimulatedHost host(scheduler);
  host.run_until(std::chrono::seconds(1));
  sleeping = false;
  scheduler.wake(b_vcpu, host.now());
  Nanoseconds a_before = scheduler.vm_runtime(a);
  Nanoseconds b_before = scheduler.vm_runtime(b);
  host.run_until(std::chrono::milliseconds(1200));
  Nanoseconds a_gain = scheduler.vm_runtime(a) - a_before;
  Nanoseconds b_gain = scheduler.vm_runtime(b) - b_before;
  EXPECT_NEAR(seconds(a_gain) / seconds(a_gain + b_gain), 0.5, 0.05);
}

TEST(SchedulerSimulation, HaltedVcpusStopAndTimersWake) {
  Scheduler scheduler({.harts = 1});
  auto a = scheduler.add_vm(vm("a", 100));
  int runs = 0;
  scheduler.add_vcpu(a, [&](Nanoseconds) {
    ++runs;
    if (runs < 5) return RunResult{RunResult::Stop::wait, std::chrono::microseconds(10), milliseconds(10)};
    return RunResult{RunResult::Stop::halt, std::chrono::microseconds(10), std::nullopt};
  });
  SimulatedHost host(scheduler);
  host.run_until(milliseconds(35));
  EXPECT_EQ(runs, 4) << "timer wake-ups at ~10, ~20, ~30 ms";
  host.run_until(std::chrono::seconds(1));
  EXPECT_EQ(runs, 5);
  EXPECT_TRUE(scheduler.all_halted());
}

TEST(Scheduler, RejectsBadSetups) {
  EXPECT_THROW(Scheduler({.harts = 0}), SchedulerError);
  EXPECT_THROW(Scheduler({.harts = 1, .quantum = Nanoseconds(0)}), SchedulerError);
  EXPECT_THROW(Scheduler({.harts = 1, .quantum = milliseconds(5), .period = milliseconds(1)}), SchedulerError);
  Scheduler scheduler({.harts = 2});
  EXPECT_THROW(scheduler.add_vm(vm("zero", 0)), SchedulerError);
  EXPECT_THROW(scheduler.add_vm(vm("r>c", 100, 10, 20)), SchedulerError);
  scheduler.add_vm(vm("big", 100, 0, 150));
  EXPECT_THROW(scheduler.add_vm(vm("over", 100, 0, 51)), SchedulerError);
  EXPECT_NO_THROW(scheduler.add_vm(vm("fits", 100, 0, 50)));
  EXPECT_THROW(scheduler.add_vcpu(7, simulated_busy_vcpu()), SchedulerError);
  EXPECT_THROW(scheduler.add_vcpu(0, VcpuRun{}), SchedulerError);
  EXPECT_THROW(scheduler.complete(0, Nanoseconds(0), RunResult{}, Nanoseconds(0)), SchedulerError);
  EXPECT_THROW(scheduler.wake(99, Nanoseconds(0)), SchedulerError);
}

} // namespace
} // namespace nimbus::hypervisor
