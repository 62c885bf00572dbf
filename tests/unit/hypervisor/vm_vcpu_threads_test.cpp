// The vCPUs of one VM, each on its own host thread under a ThreadedHost of two workers
// (Vm::run_vcpu_thread), in every mode (emulate; trap, whose vCPUs have shadow tables of their
// own; hw, whose vCPUs fill one G-stage table) and both tiers: AMO and LR/SC counters incremented
// by both vCPUs at once lose no increment, and SBI IPI (waking a vCPU that waits in WFI on
// another thread) and RFENCE (waiting for a running target) reach the other vCPU.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "hypervisor/fake_guest_cpu.hpp"
#include "hypervisor/scheduler.hpp"
#include "hypervisor/threaded_host.hpp"
#include "hypervisor/vm.hpp"
#include "machine/boot_test_files.hpp"
#include "machine/hart_assembler.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace nimbus::test::as;
using machine::testing::TempFile;
using testing::BufferConsole;

constexpr uint32_t a6 = 16, a7 = 17, s2 = 18, t3 = 28;
constexpr uint32_t kHsm = 0x48534D, kIpi = 0x735049, kRfence = 0x52464E43, kSrst = 0x53525354;
constexpr uint32_t kIterations = 40000;   // per loop and vCPU
// Data offsets from the image's base (addi reaches them from s0).
constexpr int32_t kCounter = 0x700, kReady = 0x708, kDone = 0x710, kFenced = 0x718;
constexpr uint32_t kTime = 0x54494D45;

// Branch to instruction index `to` from the next instruction's index.
uint32_t branch_to(std::vector<uint32_t>& c, uint32_t (*op)(uint32_t, uint32_t, int32_t), uint32_t a, uint32_t b,
                   size_t to) {
  return op(a, b, static_cast<int32_t>(to * 4) - static_cast<int32_t>(c.size() * 4));
}
void sbi_call(std::vector<uint32_t>& c, uint32_t eid, uint32_t fid) {
  li32(c, a7, eid);
  li32(c, a6, fid);
  c.push_back(ecall());
}
// Shut down with reason 0 if a5 == expected, else 1 (system failure: exit code 1).
void shutdown_if_equal(std::vector<uint32_t>& c, uint32_t expected) {
  li32(c, t3, expected);
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  c.push_back(beq(a5, t3, 8));
  c.push_back(addi(a1, zero, 1));
  sbi_call(c, kSrst, 0);
}
std::vector<uint8_t> image(const std::vector<uint32_t>& code) {
  std::vector<uint8_t> bytes(0x800, 0);
  if (code.size() * 4 > 0x700) std::abort();
  std::memcpy(bytes.data(), code.data(), code.size() * 4);
  return bytes;
}

// Both vCPUs: s0 = the image base, s1 = the hart id. Hart 0 starts hart 1 at +0x400.
void boot_both(std::vector<uint32_t>& c, size_t common) {
  c.push_back(auipc(s0, 0));
  c.push_back(addi(s1, a0, 0));
  c.push_back(addi(a1, s0, 0x400));
  c.push_back(addi(a0, zero, 1));
  c.push_back(addi(a2, zero, 0));
  sbi_call(c, kHsm, 0);
  c.push_back(jal(zero, static_cast<int32_t>(common * 4) - static_cast<int32_t>(c.size() * 4)));
}

struct ParallelHost {
  explicit ParallelHost(Vm& vm) : vm(vm), scheduler(options()), host(scheduler) {
    const SchedVmIndex index = scheduler.add_vm(SchedulerVmSpec{"bare", 100, 0, 0});
    for (unsigned i = 0; i < vm.vcpu_count(); ++i)
      scheduler.add_vcpu(index, [&vm, i](Nanoseconds budget) { return vm.run_vcpu_thread(i, budget); });
    vm.set_vcpu_waker([this](unsigned i) { host.wake(i); });
  }
  ~ParallelHost() { vm.set_vcpu_waker({}); }
  static SchedulerOptions options() {
    SchedulerOptions o;
    o.harts = 2;
    return o;
  }
  bool run(std::chrono::seconds timeout = std::chrono::seconds(120)) {
    host.start();
    const bool halted = host.wait_all_halted(timeout);
    host.stop();
    return halted;
  }
  Vm& vm;
  Scheduler scheduler;
  ThreadedHost host;
};

class VmVcpuThreadsTest : public ::testing::TestWithParam<std::tuple<VirtMode, bool>> {
protected:
  VmConfig config(const TempFile& kernel) {
    VmConfig c;
    c.name = "bare";
    c.memory_bytes = 16 << 20;
    c.vcpus = 2;
    c.mode = std::get<0>(GetParam());
    c.kernel = kernel.path();
    return c;
  }
  VmOptions options() {
    VmOptions o;
    o.jit = std::get<1>(GetParam());
    o.jit_threshold = 2;
    return o;
  }
  FramePool pool{64 << 20, 2 << 20};
  BufferConsole console;
};

TEST_P(VmVcpuThreadsTest, AmoAndLrScIncrementsFromTwoVcpusAreNeverLost) {
  std::vector<uint32_t> c;
  boot_both(c, 0x100 / 4);
  while (c.size() < 0x100 / 4) c.push_back(addi(zero, zero, 0));
  // Common code: both meet (ready == 2), then kIterations AMO adds and kIterations LR/SC
  // increments of one counter, then count themselves done.
  c.push_back(addi(a1, s0, kCounter));
  c.push_back(addi(a2, zero, 1));
  c.push_back(addi(t1, s0, kReady));
  c.push_back(amo(kAmoAdd, true, zero, t1, a2));
  const size_t meet = c.size();
  c.push_back(ld(t2, t1, 0));
  c.push_back(addi(t2, t2, -2));
  c.push_back(branch_to(c, bne, t2, zero, meet));
  li32(c, a3, kIterations);
  const size_t amo_loop = c.size();
  c.push_back(amo(kAmoAdd, true, zero, a1, a2));
  c.push_back(addi(a3, a3, -1));
  c.push_back(branch_to(c, bne, a3, zero, amo_loop));
  li32(c, a3, kIterations);
  const size_t lr_sc_loop = c.size();
  c.push_back(amo(kLr, true, a0, a1, zero));
  c.push_back(addi(a0, a0, 1));
  c.push_back(amo(kSc, true, a4, a1, a0));
  c.push_back(branch_to(c, bne, a4, zero, lr_sc_loop));
  c.push_back(addi(a3, a3, -1));
  c.push_back(branch_to(c, bne, a3, zero, lr_sc_loop));
  c.push_back(addi(t1, s0, kDone));
  c.push_back(amo(kAmoAdd, true, zero, t1, a2));
  // Hart 1 stops itself (HSM hart_stop); hart 0 waits for both, reads the counter, shuts down.
  const size_t skip = c.size();
  c.push_back(0);   // beq s1, zero, past the stop (patched below)
  sbi_call(c, kHsm, 1);
  c.push_back(jal(zero, 0));   // hart_stop does not return
  c[skip] = beq(s1, zero, static_cast<int32_t>((c.size() - skip) * 4));
  const size_t wait_done = c.size();
  c.push_back(ld(t2, t1, 0));
  c.push_back(addi(t2, t2, -2));
  c.push_back(branch_to(c, bne, t2, zero, wait_done));
  c.push_back(ld(a5, a1, 0));
  shutdown_if_equal(c, 4 * kIterations);
  while (c.size() < 0x400 / 4) c.push_back(addi(zero, zero, 0));
  // Hart 1's entry at +0x400: a0 = 1.
  c.push_back(auipc(s0, 0));
  c.push_back(addi(s0, s0, -0x400));
  c.push_back(addi(s1, a0, 0));
  c.push_back(jal(zero, 0x100 - 0x40c));
  TempFile kernel(image(c));

  Vm vm(config(kernel), pool, console, options());
  ASSERT_TRUE(vm.vcpus_in_parallel());
  ParallelHost host(vm);
  ASSERT_TRUE(host.run()) << "the VM did not halt: " << vm.vcpu_states()[0] << "; " << vm.vcpu_states()[1];
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(vm.vcpu(0).reg(a5), 4u * kIterations) << "an increment was lost";
  EXPECT_EQ(vm.exit_code(), 0);
}

// Hart 1 spins while hart 0 sends it both remote fences (each waits until hart 1, running on the
// other thread, has done it), then waits in WFI for hart 0's IPI, which must wake it through the
// scheduler.
TEST_P(VmVcpuThreadsTest, RfenceReachesARunningVcpuAndAnIpiWakesOneInWfi) {
  std::vector<uint32_t> c;
  boot_both(c, 0x100 / 4);
  while (c.size() < 0x100 / 4) c.push_back(addi(zero, zero, 0));
  const size_t to_hart1 = c.size();
  c.push_back(0);   // bne s1, zero, hart 1's code (patched below)
  // Hart 0: wait until hart 1 is up.
  c.push_back(addi(t1, s0, kReady));
  const size_t wait_ready = c.size();
  c.push_back(ld(t2, t1, 0));
  c.push_back(branch_to(c, beq, t2, zero, wait_ready));
  c.push_back(addi(a5, zero, 0));   // the sum of the SBI error codes
  for (uint32_t fid : {1u, 0u}) {    // remote_sfence_vma (whole space), remote_fence_i
    c.push_back(addi(a0, zero, 2));
    c.push_back(addi(a1, zero, 0));
    c.push_back(addi(a2, zero, 0));
    c.push_back(addi(a3, zero, -1));
    sbi_call(c, kRfence, fid);
    c.push_back(add(a5, a5, a0));
  }
  c.push_back(addi(t1, s0, kFenced));
  c.push_back(addi(t2, zero, 1));
  c.push_back(sd(t2, t1, 0));
  c.push_back(addi(a0, zero, 2));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, kIpi, 0);
  c.push_back(add(a5, a5, a0));
  c.push_back(addi(t1, s0, kDone));
  const size_t wait_done = c.size();
  c.push_back(ld(t2, t1, 0));
  c.push_back(branch_to(c, beq, t2, zero, wait_done));
  shutdown_if_equal(c, 0);
  // Hart 1: no timer, SSIE on; up; spin until fenced; WFI until SSIP; done; stop.
  c[to_hart1] = bne(s1, zero, static_cast<int32_t>((c.size() - to_hart1) * 4));
  c.push_back(addi(a0, zero, -1));
  sbi_call(c, kTime, 0);
  c.push_back(csrrsi(zero, riscv::csr::kSie, 2));
  c.push_back(addi(t1, s0, kReady));
  c.push_back(addi(t2, zero, 1));
  c.push_back(sd(t2, t1, 0));
  c.push_back(addi(t1, s0, kFenced));
  const size_t spin = c.size();
  c.push_back(ld(t2, t1, 0));
  c.push_back(branch_to(c, beq, t2, zero, spin));
  const size_t sleep = c.size();
  c.push_back(csrrs(t0, riscv::csr::kSip, zero));
  c.push_back(andi(t0, t0, 2));
  c.push_back(bne(t0, zero, 12));
  c.push_back(wfi());
  c.push_back(jal(zero, static_cast<int32_t>(sleep * 4) - static_cast<int32_t>(c.size() * 4)));
  c.push_back(addi(t1, s0, kDone));
  c.push_back(addi(t2, zero, 1));
  c.push_back(sd(t2, t1, 0));
  sbi_call(c, kHsm, 1);
  c.push_back(jal(zero, 0));
  while (c.size() < 0x400 / 4) c.push_back(addi(zero, zero, 0));
  c.push_back(auipc(s0, 0));
  c.push_back(addi(s0, s0, -0x400));
  c.push_back(addi(s1, a0, 0));
  c.push_back(jal(zero, 0x100 - 0x40c));
  TempFile kernel(image(c));

  Vm vm(config(kernel), pool, console, options());
  ASSERT_TRUE(vm.vcpus_in_parallel());
  ParallelHost host(vm);
  ASSERT_TRUE(host.run()) << "the VM did not halt: " << vm.vcpu_states()[0] << "; " << vm.vcpu_states()[1];
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(vm.exit_code(), 0) << "an SBI call failed";
}

// Hart 0 (hart 1 never starts) sets its timer a few ticks ahead (1 to 64 in turn) and waits in
// WFI for it, kTimerWaits times. The clock moves on between the vCPU's WFI and its thread's choice
// of how long to sleep (the housekeeping between them advances it; a migration's catch-up moves it
// by milliseconds at once): a deadline passed in between is a pending, enabled interrupt, not a
// masked one, and must not leave the vCPU asleep with nothing to wake it (a two-vCPU Linux guest
// hung so after live migrations, rarely: 1 run of test_migrate in 192).
TEST_P(VmVcpuThreadsTest, TimerDueWhileTheVcpuGoesToSleepStillWakesIt) {
  constexpr uint32_t kTimerWaits = 3000;
  std::vector<uint32_t> c;
  li32(c, a0, riscv::csr::irq::kStip);
  c.push_back(csrrs(zero, riscv::csr::kSie, a0));   // STIE; sstatus.SIE stays 0: WFI wakes, no trap
  li32(c, s2, kTimerWaits);
  c.push_back(addi(a5, zero, 0));                   // timer interrupts seen
  const size_t next = c.size();
  c.push_back(csrrs(a0, riscv::csr::kTime, zero));
  c.push_back(andi(t1, s2, 63));
  c.push_back(add(a0, a0, t1));
  c.push_back(addi(a0, a0, 1));
  sbi_call(c, kTime, 0);                            // set_timer(time + 1..64)
  const size_t sleep = c.size();
  c.push_back(csrrs(t0, riscv::csr::kSip, zero));
  li32(c, t2, riscv::csr::irq::kStip);
  c.push_back(and_(t0, t0, t2));
  c.push_back(bne(t0, zero, 12));
  c.push_back(wfi());
  c.push_back(jal(zero, static_cast<int32_t>(sleep * 4) - static_cast<int32_t>(c.size() * 4)));
  c.push_back(addi(a5, a5, 1));
  c.push_back(addi(s2, s2, -1));
  c.push_back(branch_to(c, bne, s2, zero, next));
  shutdown_if_equal(c, kTimerWaits);
  TempFile kernel(image(c));

  Vm vm(config(kernel), pool, console, options());
  ASSERT_TRUE(vm.vcpus_in_parallel());
  ParallelHost host(vm);
  ASSERT_TRUE(host.run(std::chrono::seconds(30)))
      << "the VM did not halt (a timer interrupt was lost): " << vm.vcpu_states()[0] << "; a5 = " << vm.vcpu(0).reg(a5);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(vm.exit_code(), 0);
}

INSTANTIATE_TEST_SUITE_P(ModesAndTiers, VmVcpuThreadsTest,
                         ::testing::Combine(::testing::Values(VirtMode::emulate, VirtMode::trap, VirtMode::hw),
                                            ::testing::Values(false, true)),
                         [](const ::testing::TestParamInfo<std::tuple<VirtMode, bool>>& p) {
                           return std::string(to_string(std::get<0>(p.param))) +
                                  (std::get<1>(p.param) ? "Jit" : "Interpreter");
                         });

} // namespace
} // namespace nimbus::hypervisor
