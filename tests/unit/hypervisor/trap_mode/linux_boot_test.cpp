// Boots the real Linux guest in trap mode through Vm, when asked to (it takes a while):
//   NIMBUS_TRAP_LINUX_BOOT=1 NIMBUS_GUEST_KERNEL=... NIMBUS_GUEST_INITRD=...
//   nimbus_hypervisor_tests --gtest_filter='TrapModeLinux.*'
// The console goes to stderr; the VM's counters are printed at the end. The integration test
// tests/integration/test_vm_trap_boot.sh covers the same through `nimbus run --virt trap`.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "hypervisor/vm.hpp"
#include "hypervisor/vm_counters_report.hpp"

namespace nimbus::hypervisor::test {
namespace {

class StderrConsole final : public machine::ConsoleBackend {
public:
  void write(uint8_t byte) override {
    std::fputc(byte, stderr);
    output.push_back(static_cast<char>(byte));
  }
  void flush() override { std::fflush(stderr); }
  std::optional<uint8_t> read() override { return std::nullopt; }
  void wait_for_input(std::chrono::nanoseconds) override {}
  std::string output;
};

TEST(TrapModeLinux, BootsToTheTestVerdict) {
  const char* enabled = std::getenv("NIMBUS_TRAP_LINUX_BOOT");
  const char* kernel = std::getenv("NIMBUS_GUEST_KERNEL");
  const char* initrd = std::getenv("NIMBUS_GUEST_INITRD");
  if (enabled == nullptr || kernel == nullptr || initrd == nullptr) GTEST_SKIP() << "set NIMBUS_TRAP_LINUX_BOOT=1";
  const char* mode = std::getenv("NIMBUS_TRAP_LINUX_MODE");
  FramePool pool(512ull << 20, 2ull << 20);
  VmConfig config;
  config.name = "linux";
  config.memory_bytes = 256ull << 20;
  const char* vcpus = std::getenv("NIMBUS_TRAP_LINUX_VCPUS");
  if (vcpus != nullptr) config.vcpus = static_cast<uint32_t>(std::atoi(vcpus));
  config.mode = mode != nullptr && std::string(mode) == "emulate" ? VirtMode::emulate : VirtMode::trap;
  config.kernel = kernel;
  config.initrd = initrd;
  const char* append = std::getenv("NIMBUS_TRAP_LINUX_APPEND"); // e.g. nimbus.mode=micro
  config.append = append != nullptr ? append : "console=ttyS0 nimbus.mode=test nimbus.disk=none";
  StderrConsole console;
  VmOptions options;
  options.deterministic = std::getenv("NIMBUS_TRAP_LINUX_DETERMINISTIC") != nullptr;
  Vm vm(config, pool, console, options);
  const auto began = std::chrono::steady_clock::now();
  while (vm.state() == Vm::State::running &&
         std::chrono::steady_clock::now() - began < std::chrono::seconds(600)) {
    const RunResult result = vm.run(std::chrono::milliseconds(50));
    if (result.stop == RunResult::Stop::wait)
      std::this_thread::sleep_for(result.wake_after ? std::min(*result.wake_after, Nanoseconds(std::chrono::milliseconds(5)))
                                                    : Nanoseconds(std::chrono::milliseconds(1)));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::fprintf(stderr, "\n--- %s after %.1f s: %s (%s), %llu instructions\n", std::string(to_string(config.mode)).c_str(),
               seconds, std::string(to_string(vm.state())).c_str(), vm.reason().c_str(),
               static_cast<unsigned long long>(vm.instructions()));
  std::fprintf(stderr, "%s\n", format_counters_table({{"linux", vm.counters().snapshot()}}).c_str());
  if (append == nullptr) {
    EXPECT_NE(console.output.find("NIMBUS-TEST: PASS"), std::string::npos);
  }
}

} // namespace
} // namespace nimbus::hypervisor::test
