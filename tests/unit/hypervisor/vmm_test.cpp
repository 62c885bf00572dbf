// The VMM end to end with bare-metal guests on worker threads: VMs run side by side, one failing
// does not stop the other, the exit code and stats.json say what happened, a spinning VM ends at
// the timeout.
#include "hypervisor/vmm.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "hypervisor/vm_counters_report.hpp"
#include "machine/boot_test_files.hpp"
#include "machine/hart_assembler.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace nimbus::test::as;
using machine::testing::TempFile;
namespace fs = std::filesystem;

constexpr uint32_t a6 = 16, a7 = 17;

std::vector<uint8_t> bytes_of(const std::vector<uint32_t>& code) {
  std::vector<uint8_t> bytes(code.size() * 4);
  std::memcpy(bytes.data(), code.data(), bytes.size());
  return bytes;
}

// Prints `c` through legacy putchar, then SRST shutdown with `reason`.
std::vector<uint8_t> print_and_shut_down(char c, uint32_t reason) {
  return bytes_of({addi(a0, zero, c), addi(a7, zero, 1), addi(a6, zero, 0), ecall(),
                   addi(a0, zero, 0), addi(a1, zero, static_cast<int32_t>(reason)),
                   lui(a7, 0x53525000), addiw(a7, a7, 0x354), addi(a6, zero, 0), ecall()});
}

VmConfig config(const std::string& name, const TempFile& kernel) {
  VmConfig c;
  c.name = name;
  c.memory_bytes = 16 << 20;
  c.kernel = kernel.path();
  return c;
}

class VmmTest : public ::testing::Test {
protected:
  VmmTest() {
    char name[] = "/tmp/nimbus-vmm-XXXXXX";
    dir_ = mkdtemp(name);
    options_.state_dir = dir_;
    options_.log_dir = dir_;
    options_.host_harts = 2;
    options_.timeout = std::chrono::seconds(60);
    options_.log = [this](const std::string& line) { log_ += line + "\n"; };
  }
  ~VmmTest() override { fs::remove_all(dir_); }

  std::string read(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  VmmOptions options_;
  std::string log_;
};

TEST_F(VmmTest, VmsRunSideBySideAndAFailingOneStopsAlone) {
  TempFile good(print_and_shut_down('G', 0));
  TempFile garbage(std::vector<uint8_t>(4096, 0xff));
  TempFile failing(print_and_shut_down('F', 1));
  Vmm vmm({config("good", good), config("garbage", garbage), config("failing", failing)}, options_);
  const VmmResult result = vmm.run();

  ASSERT_EQ(result.vms.size(), 3u);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.vms[0].state, Vm::State::powered_off);
  EXPECT_EQ(result.vms[0].exit_code, 0);
  EXPECT_EQ(result.vms[1].state, Vm::State::failed);
  EXPECT_EQ(result.vms[2].state, Vm::State::powered_off);
  EXPECT_EQ(result.vms[2].exit_code, 1);
  EXPECT_EQ(result.exit_code(), 1) << "the first VM (in order) with a non-zero code: the failed one";
  EXPECT_EQ(read(dir_ / "good.log"), "G");
  EXPECT_EQ(read(dir_ / "failing.log"), "F");
  EXPECT_NE(log_.find("VM 'garbage' failed"), std::string::npos) << log_;
  EXPECT_FALSE(fs::exists(dir_ / "good.console")) << "sockets go away with their VMs";

  const auto json = nlohmann::json::parse(read(Vmm::stats_path(dir_)));
  const auto counters = counters_from_json(json);
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[0].counters.exits_for(ExitReason::shutdown), 1u);
  EXPECT_EQ(counters[0].counters.exits_for(ExitReason::sbi_call), 2u);
  EXPECT_EQ(json["vms"][0]["state"], "powered off");
  EXPECT_EQ(json["vms"][1]["state"], "failed");
  EXPECT_EQ(json["vms"][2]["exit_code"], 1);
  EXPECT_EQ(json["pid"], getpid());
}

TEST_F(VmmTest, AllPoweredOffCleanlyIsExitZero) {
  TempFile a(print_and_shut_down('a', 0));
  TempFile b(print_and_shut_down('b', 0));
  Vmm vmm({config("a", a), config("b", b)}, options_);
  EXPECT_EQ(vmm.run().exit_code(), 0);
}

TEST_F(VmmTest, SpinningVmEndsAtTheTimeout) {
  TempFile spin(bytes_of({jal(zero, 0)}));
  TempFile quick(print_and_shut_down('q', 0));
  options_.timeout = std::chrono::seconds(3);   // ample for the quick VM even on a loaded host
  Vmm vmm({config("spin", spin), config("quick", quick)}, options_);
  const VmmResult result = vmm.run();
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.exit_code(), kVmmExitTimeout);
  EXPECT_EQ(result.vms[0].state, Vm::State::running);
  EXPECT_EQ(result.vms[1].state, Vm::State::powered_off) << "the spinning VM does not keep the other from running";
  EXPECT_NE(log_.find("VM 'spin' still running at the timeout"), std::string::npos) << log_;
}

TEST_F(VmmTest, VmThatCannotBeBuiltFailsAtStartOthersRun) {
  TempFile good(print_and_shut_down('G', 0));
  VmConfig missing = config("missing", good);
  missing.kernel = "/nonexistent/kernel";
  Vmm vmm({missing, config("good", good)}, options_);
  const VmmResult result = vmm.run();
  EXPECT_EQ(result.vms[0].state, Vm::State::failed);
  EXPECT_EQ(result.vms[1].state, Vm::State::powered_off);
  EXPECT_EQ(result.exit_code(), 1);
  EXPECT_NE(log_.find("failed to start: VM 'missing'"), std::string::npos) << log_;
}

} // namespace
} // namespace nimbus::hypervisor
