#pragma once
// QEMU's sifive_test device at 0x10_0000, which Linux drives as a syscon (syscon-poweroff
// writes 0x5555, syscon-reboot 0x7777) and bare-metal tests use to end a run with a code.
#include <atomic>
#include <cstdint>

#include "machine/devices/shutdown_request.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::machine {

class TestFinisher : public MmioDevice {
public:
  static constexpr uint64_t kBase = 0x10'0000;
  static constexpr uint64_t kSize = 0x1000;
  static constexpr uint32_t kFail = 0x3333;
  static constexpr uint32_t kPass = 0x5555;
  static constexpr uint32_t kReset = 0x7777;

  std::string_view name() const override { return "test-finisher"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t offset, unsigned size, uint64_t value) override;

  // The latest request; the run loop polls it and stops or resets the machine.
  ShutdownRequest request() const;
  void clear();

private:
  std::atomic<uint32_t> kind_{0};
  std::atomic<uint32_t> code_{0};
};

} // namespace nimbus::machine
