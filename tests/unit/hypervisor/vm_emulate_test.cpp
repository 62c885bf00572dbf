// A Vm in emulate mode running tiny bare-metal S-mode guests assembled here: the VMM is their
// firmware, so they print through SBI DBCN and legacy putchar, start a second hart through HSM,
// sleep on the SBI timer and shut down through SRST. A garbage kernel fails its VM alone.
#include "hypervisor/vm.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hypervisor/fake_guest_cpu.hpp"
#include "hypervisor/guest_cpu_factory.hpp"
#include "machine/boot_test_files.hpp"
#include "machine/hart_assembler.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace nimbus::test::as;
using machine::testing::TempFile;
using testing::BufferConsole;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint32_t a6 = 16, a7 = 17, s2 = 18;

// ecall with a7 = eid, a6 = fid (a0-a5 already set).
void sbi_call(std::vector<uint32_t>& code, uint32_t eid, uint32_t fid) {
  li32(code, a7, eid);
  li32(code, a6, fid);
  code.push_back(ecall());
}

// The image: code at the start, `data` at offset 0x400.
std::vector<uint8_t> image(const std::vector<uint32_t>& code, const std::string& data = "") {
  std::vector<uint8_t> bytes(0x400 + data.size() + 8, 0);
  if (code.size() * 4 > 0x400) std::abort();
  std::memcpy(bytes.data(), code.data(), code.size() * 4);
  std::memcpy(bytes.data() + 0x400, data.data(), data.size());
  return bytes;
}

VmConfig config_for(const TempFile& kernel, uint32_t vcpus = 1) {
  VmConfig config;
  config.name = "bare";
  config.memory_bytes = 16 << 20;
  config.vcpus = vcpus;
  config.kernel = kernel.path();
  return config;
}

// Runs the VM until it halts, at most `rounds` scheduler slices of 100 ms, sleeping while it
// waits as the scheduler would.
RunResult run_to_halt(Vm& vm, int rounds = 50) {
  RunResult last;
  for (int i = 0; i < rounds; ++i) {
    last = vm.run(std::chrono::milliseconds(100));
    if (last.stop == RunResult::Stop::halt) break;
    if (last.stop == RunResult::Stop::wait)
      std::this_thread::sleep_for(last.wake_after.value_or(std::chrono::milliseconds(10)));
  }
  return last;
}

TEST(VmEmulate, GuestPrintsThroughSbiAndShutsDown) {
  const std::string hello = "hello from S-mode\n";
  std::vector<uint32_t> c;
  c.push_back(auipc(a1, 0));                  // a1 = image base (this instruction is at offset 0)
  c.push_back(addi(a1, a1, 0x400));           // a1 = the string
  li32(c, a0, static_cast<uint32_t>(hello.size()));
  c.push_back(addi(a2, zero, 0));
  sbi_call(c, 0x4442434E, 0);                 // DBCN console_write
  c.push_back(addi(s1, a1, 0));               // s1 = bytes written (a1)
  c.push_back(addi(a0, zero, '!'));
  sbi_call(c, 0x01, 0);                       // legacy putchar
  c.push_back(addi(a0, zero, '\n'));
  sbi_call(c, 0x01, 0);
  c.push_back(csrrs(s0, riscv::csr::kSstatus, zero)); // S-mode CSRs work in S-mode
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);                 // SRST shutdown, no reason
  c.push_back(jal(zero, 0));
  TempFile kernel(image(c, hello));

  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console);
  const RunResult result = run_to_halt(vm);
  EXPECT_EQ(result.stop, RunResult::Stop::halt);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(vm.exit_code(), 0);
  EXPECT_EQ(console.output, hello + "!\n");
  EXPECT_EQ(vm.vcpu(0).reg(s1), hello.size());
  EXPECT_EQ(vm.vcpu(0).reg(a0), 0u) << "SRST does not return on success";

  const VmCountersSnapshot counters = vm.counters().snapshot();
  EXPECT_EQ(counters.exits_for(ExitReason::sbi_call), 4u);
  EXPECT_EQ(counters.exits_for(ExitReason::shutdown), 1u);
  EXPECT_EQ(counters.exits_for(ExitReason::mmio), 0u);
  EXPECT_GE(counters.world_switches, 4u);
  EXPECT_GE(counters.instructions_retired, 20u); // ECALLs trap, so they do not retire
  EXPECT_EQ(counters.instructions_retired, vm.instructions());
  // Memory came from the pool, on demand.
  EXPECT_GT(pool.frames_owned_by(vm.memory().vm_id()), 0u);
}

// The same guest in hw mode (VS-mode over the VM's G-stage table): the SBI and the VM around it
// are the same; only the vCPU differs.
TEST(VmHw, GuestPrintsThroughSbiAndShutsDown) {
  const std::string hello = "hello from VS-mode\n";
  std::vector<uint32_t> c;
  c.push_back(auipc(a1, 0));
  c.push_back(addi(a1, a1, 0x400));
  li32(c, a0, static_cast<uint32_t>(hello.size()));
  c.push_back(addi(a2, zero, 0));
  sbi_call(c, 0x4442434E, 0);
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);
  TempFile kernel(image(c, hello));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  VmConfig config = config_for(kernel);
  config.mode = VirtMode::hw;
  Vm vm(config, pool, console);
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(console.output, hello);
  EXPECT_GE(vm.counters().snapshot().g_stage_faults, 1u);
}

TEST(VmEmulate, ShutdownReasonSystemFailureIsExitCodeOne) {
  std::vector<uint32_t> c;
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 1));
  sbi_call(c, 0x53525354, 0);
  TempFile kernel(image(c));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console);
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::powered_off);
  EXPECT_EQ(vm.exit_code(), 1);
}

TEST(VmEmulate, BootsWithHartIdAndDeviceTreeInA0A1) {
  std::vector<uint32_t> c;
  c.push_back(addi(s0, a0, 0));   // hart id
  c.push_back(addi(s1, a1, 0));   // DTB address
  c.push_back(lwu(s2, a1, 0));    // its first word: the FDT magic (big-endian d00dfeed)
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);
  TempFile kernel(image(c));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console);
  run_to_halt(vm);
  EXPECT_EQ(vm.vcpu(0).reg(s0), 0u);
  EXPECT_GE(vm.vcpu(0).reg(s1), kRamBase);
  EXPECT_LT(vm.vcpu(0).reg(s1), kRamBase + (16 << 20));
  EXPECT_EQ(vm.vcpu(0).reg(s2), 0xedfe0dd0u);
}

TEST(VmEmulate, SecondHartStartsThroughHsm) {
  std::vector<uint32_t> c;
  // hart 0: hart_start(1, base + 0x100, 0x42), then wait for ever.
  c.push_back(auipc(a1, 0));
  c.push_back(addi(a1, a1, 0x100));
  c.push_back(addi(a0, zero, 1));
  c.push_back(addi(a2, zero, 0x42));
  sbi_call(c, 0x48534D, 0);
  c.push_back(addi(s0, a0, 0));   // the SBI error code
  c.push_back(wfi());
  c.push_back(jal(zero, -4));
  while (c.size() < 0x100 / 4) c.push_back(addi(zero, zero, 0));
  // hart 1 at +0x100: print '0' + a0 (its hart id) and 'A' + a1 - 0x42 (the opaque), then shut down.
  c.push_back(addi(s1, a1, 0));
  c.push_back(addi(a0, a0, '0'));
  sbi_call(c, 0x01, 0);
  c.push_back(addi(a0, s1, 'A' - 0x42));
  sbi_call(c, 0x01, 0);
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);
  TempFile kernel(image(c));

  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel, 2), pool, console);
  EXPECT_FALSE(vm.vcpu(1).running()) << "secondary harts wait for HSM hart_start";
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(console.output, "1A");
  EXPECT_EQ(vm.vcpu(0).reg(s0), 0u);
}

// Linux's vDSO reads `time` in U-mode; with no SBI PMU driver to open scounteren, the VMM's
// boot state must allow it.
TEST(VmEmulate, UserModeMayReadTheCounters) {
  std::vector<uint32_t> c;
  c.push_back(auipc(t0, 0));
  c.push_back(addi(t0, t0, 0x200));
  c.push_back(csrrw(zero, riscv::csr::kStvec, t0));   // handler at +0x200
  c.push_back(auipc(t1, 0));
  c.push_back(addi(t1, t1, 0x100 - 12));
  c.push_back(csrrw(zero, riscv::csr::kSepc, t1));    // user code at +0x100
  c.push_back(sret());                                // sstatus.SPP = 0: to U-mode
  while (c.size() < 0x100 / 4) c.push_back(addi(zero, zero, 0));
  c.push_back(csrrs(s0, riscv::csr::kTime, zero));
  c.push_back(csrrs(s0, riscv::csr::kInstret, zero));
  c.push_back(addi(s1, zero, 1));
  c.push_back(ecall());                               // ECALL from U: the guest's own handler
  while (c.size() < 0x200 / 4) c.push_back(addi(zero, zero, 0));
  c.push_back(csrrs(s2, riscv::csr::kScause, zero));
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);
  TempFile kernel(image(c));
  for (const VirtMode mode : {VirtMode::emulate, VirtMode::hw}) {
    FramePool pool(64 << 20, 2 << 20);
    BufferConsole console;
    VmConfig config = config_for(kernel);
    config.mode = mode;
    Vm vm(config, pool, console);
    run_to_halt(vm);
    EXPECT_EQ(vm.state(), Vm::State::powered_off) << to_string(mode) << ": " << vm.reason();
    EXPECT_EQ(vm.vcpu(0).reg(s2), 8u) << to_string(mode) << ": scause should be ECALL from U, not illegal instruction";
    EXPECT_EQ(vm.vcpu(0).reg(s1), 1u) << to_string(mode);
  }
}

// The guest arms the SBI timer 1 ms ahead, enables only sie.STIE (interrupts stay globally off,
// so WFI wakes without trapping) and waits: the VM reports wait with the deadline, then resumes.
std::vector<uint32_t> timer_guest() {
  std::vector<uint32_t> c;
  c.push_back(csrrs(a0, riscv::csr::kTime, zero));
  li32(c, t0, 10000);                 // 1 ms of 10 MHz ticks
  c.push_back(add(a0, a0, t0));
  sbi_call(c, 0x54494D45, 0);       // TIME set_timer
  c.push_back(addi(t0, zero, 1 << 5));
  c.push_back(csrrs(zero, riscv::csr::kSie, t0));
  c.push_back(wfi());
  c.push_back(csrrs(s0, riscv::csr::kSip, zero));
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);
  return c;
}

TEST(VmEmulate, WfiWaitsForTheSbiTimer) {
  TempFile kernel(image(timer_guest()));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console);
  const RunResult first = vm.run(std::chrono::seconds(5));
  ASSERT_EQ(first.stop, RunResult::Stop::wait);
  ASSERT_TRUE(first.wake_after.has_value());
  EXPECT_LE(*first.wake_after, std::chrono::milliseconds(1));
  EXPECT_GE(vm.counters().snapshot().exits_for(ExitReason::wfi), 1u);
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_NE(vm.vcpu(0).reg(s0) & (1 << 5), 0u) << "STIP was pending after the wait";
}

TEST(VmEmulate, DeterministicVmSkipsIdleTime) {
  TempFile kernel(image(timer_guest()));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console, VmOptions{.deterministic = true});
  const RunResult result = vm.run(std::chrono::seconds(5));
  EXPECT_EQ(result.stop, RunResult::Stop::halt);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
}

TEST(VmEmulate, GarbageKernelFailsItsVmAlone) {
  TempFile garbage(std::vector<uint8_t>(4096, 0xff));
  std::vector<uint32_t> c;
  c.push_back(addi(a0, zero, 0));
  c.push_back(addi(a1, zero, 0));
  sbi_call(c, 0x53525354, 0);
  TempFile good(image(c));

  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console_a, console_b;
  VmConfig bad_config = config_for(garbage);
  bad_config.name = "garbage";
  Vm bad(bad_config, pool, console_a);
  Vm fine(config_for(good), pool, console_b);
  run_to_halt(bad);
  EXPECT_EQ(bad.state(), Vm::State::failed);
  EXPECT_NE(bad.reason().find("trap handler"), std::string::npos) << bad.reason();
  run_to_halt(fine);
  EXPECT_EQ(fine.state(), Vm::State::powered_off);
  EXPECT_EQ(fine.exit_code(), 0);
}

TEST(VmEmulate, GuestWhoseTrapHandlerFaultsFails) {
  // An M-mode CSR access from S-mode is an illegal instruction, delegated to the guest's own
  // handler, which here is zeros (illegal too): the guest can never make progress again.
  std::vector<uint32_t> c;
  c.push_back(auipc(t0, 0));
  c.push_back(addi(t0, t0, 0x40));
  c.push_back(csrrw(zero, riscv::csr::kStvec, t0)); // stvec = base + 0x40 (zeros: illegal)
  c.push_back(csrrw(zero, riscv::csr::kMstatus, zero)); // M-mode CSR from S-mode: illegal instruction
  TempFile kernel(image(c));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console);
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::failed);
  EXPECT_NE(vm.reason().find("scause=0x2"), std::string::npos) << vm.reason();
  EXPECT_NE(vm.reason().find("first fault: illegal instruction (cause 2) at pc=0x8000000c in S-mode"),
            std::string::npos)
      << vm.reason();
}

// A kernel written for M-mode (QEMU -bios none) reads mhartid first. Under the VMM it runs in
// S-mode: illegal instruction, delegated to stvec = 0, where the fetch faults for ever. The
// report names that first fault, not only the loop at 0 it ended in.
TEST(VmEmulate, MModeKernelNamesItsFirstFault) {
  std::vector<uint32_t> c;
  c.push_back(csrrs(a0, 0xf14, zero)); // csrr a0, mhartid
  c.push_back(addi(a1, zero, 0));
  TempFile kernel(image(c));
  for (const VirtMode mode : {VirtMode::emulate, VirtMode::hw, VirtMode::trap}) {
    FramePool pool(64 << 20, 2 << 20);
    BufferConsole console;
    VmConfig config = config_for(kernel);
    config.mode = mode;
    Vm vm(config, pool, console);
    run_to_halt(vm);
    EXPECT_EQ(vm.state(), Vm::State::failed) << to_string(mode);
    const std::string& why = vm.reason();
    EXPECT_NE(why.find("first fault: illegal instruction (cause 2) at pc=0x80000000 in "), std::string::npos)
        << to_string(mode) << ": " << why;
    EXPECT_NE(why.find("tval=0xf1402573"), std::string::npos) << to_string(mode) << ": " << why;
    EXPECT_NE(why.find("instruction 0xf1402573 (csrrs, CSR 0xf14 mhartid)"), std::string::npos)
        << to_string(mode) << ": " << why;
  }
}

// The first fault is forgotten when the handler returns: a guest that handled an illegal
// instruction and then died of a load access fault is reported with the load.
TEST(VmEmulate, FaultHandledWithSretIsNotTheFirstFault) {
  std::vector<uint32_t> c;
  c.push_back(auipc(t0, 0));
  c.push_back(addi(t0, t0, 0x200));
  c.push_back(csrrw(zero, riscv::csr::kStvec, t0));   // handler at +0x200
  c.push_back(csrrw(zero, riscv::csr::kMstatus, zero)); // +0xc: illegal, handled
  c.push_back(ld(t2, zero, 0));                          // +0x10: load access fault at 0, fatal
  while (c.size() < 0x200 / 4) c.push_back(addi(zero, zero, 0));
  // The handler skips the instruction, points stvec at zeros (illegal) and returns.
  c.push_back(csrrs(t1, riscv::csr::kSepc, zero));
  c.push_back(addi(t1, t1, 4));
  c.push_back(csrrw(zero, riscv::csr::kSepc, t1));
  c.push_back(addi(t0, t0, 0x100));
  c.push_back(csrrw(zero, riscv::csr::kStvec, t0));
  c.push_back(sret());
  TempFile kernel(image(c));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console);
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::failed);
  EXPECT_NE(vm.reason().find("first fault: load access fault (cause 5) at pc=0x80000010 in S-mode, tval=0x0"),
            std::string::npos)
      << vm.reason();
  EXPECT_NE(vm.reason().find("faults on itself"), std::string::npos) << vm.reason();
}

// bios = "none": the kernel starts at 0x8000_0000 in M-mode as on QEMU -bios none (through the
// reset ROM: a0 = hart id, a1 = the DTB); it may read mhartid, take its own M-mode traps and
// power off through the syscon. Its neighbour under the VMM's SBI is unaffected.
TEST(VmEmulate, BiosNoneRunsAnMModeKernel) {
  std::vector<uint32_t> c;
  c.push_back(csrrs(s0, 0xf14, zero));                 // csrr s0, mhartid
  c.push_back(csrrs(s1, riscv::csr::kMstatus, zero)); // M-mode CSR
  c.push_back(auipc(t0, 0));
  c.push_back(addi(t0, t0, 0x100 - 8));
  c.push_back(csrrw(zero, riscv::csr::kMtvec, t0));   // own M-mode handler at +0x100
  c.push_back(ecall());                               // ECALL from M: its own handler, not the VMM
  li32(c, t0, 0x100000);                                // syscon
  li32(c, t1, 0x5555);
  c.push_back(sw(t1, t0, 0));
  c.push_back(jal(zero, 0));
  while (c.size() < 0x100 / 4) c.push_back(addi(zero, zero, 0));
  c.push_back(csrrs(s2, riscv::csr::kMcause, zero));
  c.push_back(csrrs(t1, riscv::csr::kMepc, zero));
  c.push_back(addi(t1, t1, 4));
  c.push_back(csrrw(zero, riscv::csr::kMepc, t1));
  c.push_back(0x30200073); // mret
  TempFile kernel(image(c));
  std::vector<uint32_t> g;
  g.push_back(addi(a0, zero, 0));
  g.push_back(addi(a1, zero, 0));
  sbi_call(g, 0x53525354, 0);
  TempFile good(image(g));

  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console_a, console_b;
  VmConfig config = config_for(kernel, 2);
  config.bios = "none";
  Vm vm(config, pool, console_a, VmOptions{.deterministic = true});
  Vm neighbour(config_for(good), pool, console_b);
  run_to_halt(vm);
  run_to_halt(neighbour);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(vm.exit_code(), 0);
  EXPECT_EQ(vm.vcpu(0).reg(s0), 0u);
  EXPECT_EQ(vm.vcpu(0).reg(s2), 11u) << "its own handler saw ECALL from M";
  EXPECT_EQ(vm.counters().snapshot().exits_for(ExitReason::sbi_call), 0u) << "no SBI call reached the VMM";
  EXPECT_EQ(neighbour.state(), Vm::State::powered_off) << neighbour.reason();
}

TEST(VmEmulate, OwnFirmwareNeedsEmulateMode) {
  std::vector<uint32_t> c{jal(zero, 0)};
  TempFile kernel(image(c));
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  VmConfig config = config_for(kernel);
  config.bios = "none";
  config.mode = VirtMode::hw;
  try {
    Vm vm(config, pool, console);
    FAIL() << "expected an error";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("needs mode = emulate"), std::string::npos) << error.what();
  }
}

TEST(VmEmulate, MissingKernelNamesTheVm) {
  VmConfig config;
  config.name = "lost";
  config.memory_bytes = 16 << 20;
  config.kernel = "/nonexistent/Image";
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  try {
    Vm vm(config, pool, console);
    FAIL() << "a missing kernel must throw";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("VM 'lost'"), std::string::npos) << error.what();
  }
  EXPECT_EQ(pool.free_frames(), pool.total_frames()) << "the half-built VM gave its frames back";
}

TEST(VmEmulate, ModesNotBuiltAreReportedClearly) {
  std::vector<uint32_t> c = {wfi()};
  TempFile kernel(image(c));
  VmConfig config = config_for(kernel);
  config.mode = VirtMode::trap;
  FramePool pool(64 << 20, 2 << 20);
  BufferConsole console;
  try {
    Vm vm(config, pool, console);
    SUCCEED() << "trap mode is built";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("'trap' is not available"), std::string::npos) << error.what();
  }
}

} // namespace
} // namespace nimbus::hypervisor
