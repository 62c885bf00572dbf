// The bare machine with its harts on their own host threads (Machine::run_parallel): three harts
// count with AMOs at once; hart 0 first sleeps in WFI until hart 1, done counting, sends it an IPI
// through the CLINT (a pin rising on another thread must wake it); the last hart to finish checks
// the total and powers the machine off through the test finisher, pass or fail.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "hart_assembler.hpp"
#include "machine/machine.hpp"

namespace nimbus::test {
namespace {

using namespace as;

class NullConsole final : public machine::ConsoleBackend {
public:
  void write(uint8_t) override {}
  std::optional<uint8_t> read() override { return std::nullopt; }
  void wait_for_input(std::chrono::nanoseconds max) override { usleep(static_cast<useconds_t>(max.count() / 1000)); }
};

constexpr uint32_t kMie = 0x304, kMip = 0x344;

std::vector<uint32_t> program() {
  return {
      auipc(t0, 0x1000),             // 0x00 t0 = counter (0x8000_1000), t0 + 8 = harts done
      addi(a2, zero, 1),          // 0x04
      addi(a3, zero, 500),        // 0x08 increments per hart
      lui(t2, 0x2000000),           // 0x0c CLINT: MSIP of hart 0
      bne(a0, zero, 28),          // 0x10 harts 1 and 2 count at once
      csrrsi(zero, kMie, 8),      // 0x14 hart 0: MSIE, then WFI until MSIP is pending
      wfi(),                      // 0x18
      csrrs(a4, kMip, zero),      // 0x1c
      andi(a4, a4, 8),            // 0x20
      beq(a4, zero, -12),         // 0x24
      sw(zero, t2, 0),            // 0x28 clear it
      amo(kAmoAdd, true, zero, t0, a2), // 0x2c count
      addi(a3, a3, -1),           // 0x30
      bne(a3, zero, -8),          // 0x34
      addi(a5, zero, 1),          // 0x38
      bne(a0, a5, 8),             // 0x3c
      sw(a2, t2, 0),              // 0x40 hart 1: IPI to hart 0
      addi(t1, t0, 8),            // 0x44
      amo(kAmoAdd, true, a4, t1, a2), // 0x48 a4 = harts done before this one
      addi(a5, zero, 2),          // 0x4c
      bne(a4, a5, 40),            // 0x50 not the last: park
      ld(a4, t0, 0),              // 0x54 the last: 1500 increments?
      addi(a5, zero, 1500),       // 0x58
      lui(s0, 0x100000),            // 0x5c test finisher
      lui(s1, 0x5000),              // 0x60
      addi(s1, s1, 0x555),        // 0x64 0x5555: pass
      beq(a4, a5, 12),            // 0x68
      lui(s1, 0x13000),             // 0x6c
      addi(s1, s1, 0x333),        // 0x70 0x3333 | 1 << 16: fail, exit code 1
      sw(s1, s0, 0),              // 0x74
      wfi(),                      // 0x78 park
      jal(zero, -4),              // 0x7c
  };
}

class MachineParallelTest : public ::testing::TestWithParam<bool> {};

TEST_P(MachineParallelTest, HartsOnThreadsCountAtomicallyAndWakeEachOtherWithIpis) {
  // One file per process: ctest runs the interpreter and JIT cases at once, and one case's
  // remove() must not take the other's program away.
  const std::string path = ::testing::TempDir() + "nimbus_parallel_program." + std::to_string(::getpid()) + ".bin";
  {
    const std::vector<uint32_t> code = program();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(code.data()), static_cast<std::streamsize>(code.size() * 4));
  }
  machine::MachineConfig config;
  config.ram_size = 16ull << 20;
  config.harts = 3;
  config.bios = "none";
  config.kernel = path;
  config.jit = GetParam();
  config.jit_threshold = 2;
  config.timeout = std::chrono::seconds(20);
  NullConsole console;
  machine::Machine machine(config, console);
  const machine::RunResult result = machine.run();
  std::remove(path.c_str());
  EXPECT_EQ(result.cause, machine::StopCause::PowerOff) << machine::to_string(result.cause);
  EXPECT_EQ(result.exit_code, 0) << "the harts counted a wrong total";
}

INSTANTIATE_TEST_SUITE_P(Tiers, MachineParallelTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& tier) { return tier.param ? "Jit" : "Interpreter"; });

} // namespace
} // namespace nimbus::test
