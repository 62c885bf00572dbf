// virtio-console: what the guest transmits reaches the console backend; host input pushed to the
// device fills the driver's receive buffers in order, and receive buffers are held while there is
// none; a receive buffer the device cannot write, or a huge transmit, does not crash or flood the
// host.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "machine/bus.hpp"
#include "machine/devices/virtio_console.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "machine/devices/virtio_test_driver.hpp"

namespace nimbus::machine {
namespace {

using M = VirtioMmio;
using testing::VirtioTestDriver;

class StringConsole : public ConsoleBackend {
public:
  void write(uint8_t byte) override { out.push_back(static_cast<char>(byte)); }
  std::optional<uint8_t> read() override { return std::nullopt; }
  void wait_for_input(std::chrono::nanoseconds) override {}
  std::string out;
};

struct VirtioConsoleTest : ::testing::Test {
  Bus bus{VirtioTestDriver::kRamBase, 1 << 20};
  StringConsole console;
  VirtioConsole* device = nullptr;
  std::unique_ptr<M> transport = make();
  VirtioTestDriver driver{bus, *transport};

  std::unique_ptr<M> make() {
    auto dev = std::make_unique<VirtioConsole>(console);
    device = dev.get();
    return std::make_unique<M>(bus, std::move(dev), [](bool) {});
  }
  // Sets up the transmit queue (1) in the driver's ring place; the receive queue stays off.
  bool init_transmit() {
    driver.set_reg(M::kStatus, 0);
    driver.set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    driver.set_reg(M::kDriverFeaturesSel, 1);
    driver.set_reg(M::kDriverFeatures, 1); // VERSION_1
    driver.set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
    driver.set_reg(M::kQueueSel, 1);
    driver.set_reg(M::kQueueNum, 8);
    driver.set_reg(M::kQueueDescLow, static_cast<uint32_t>(VirtioTestDriver::kDesc));
    driver.set_reg(M::kQueueDriverLow, static_cast<uint32_t>(VirtioTestDriver::kAvail));
    driver.set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(VirtioTestDriver::kUsed));
    driver.set_reg(M::kQueueReady, 1);
    driver.set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
    return driver.reg(M::kQueueReady) == 1;
  }
};

TEST_F(VirtioConsoleTest, IsDeviceThreeWithoutMultiport) {
  EXPECT_EQ(driver.reg(M::kDeviceId), 3u);
  EXPECT_EQ(driver.device_features() & 0x7u, 0u) << "no SIZE, MULTIPORT or EMERG_WRITE";
}

TEST_F(VirtioConsoleTest, TransmittedBytesReachTheBackend) {
  ASSERT_TRUE(init_transmit());
  const std::string hello = "hello from hvc\n";
  ASSERT_TRUE(bus.copy_to_ram(VirtioTestDriver::kBuffers, hello.data(), hello.size()));
  ASSERT_TRUE(bus.copy_to_ram(VirtioTestDriver::kBuffers + 0x100, "two", 3));
  driver.set_desc(0, VirtioTestDriver::kBuffers, 6, Virtqueue::kDescNext, 1);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 6, static_cast<uint32_t>(hello.size() - 6), 0);
  driver.make_available(0);
  driver.set_desc(2, VirtioTestDriver::kBuffers + 0x100, 3, 0);
  driver.make_available(2);
  driver.notify(1);
  EXPECT_EQ(console.out, hello + "two");
  EXPECT_EQ(driver.used_idx(), 2);
  EXPECT_EQ(device->bytes_written(), hello.size() + 3);
}

TEST_F(VirtioConsoleTest, HugeTransmitIsCutAndCounted) {
  ASSERT_TRUE(init_transmit());
  driver.set_desc(0, VirtioTestDriver::kBuffers, 512 * 1024, 0);
  driver.make_available(0);
  driver.notify(1);
  EXPECT_EQ(console.out.size(), VirtioConsole::kMaxWrite);
  EXPECT_EQ(device->bytes_dropped(), 512u * 1024 - VirtioConsole::kMaxWrite);
  EXPECT_FALSE(driver.needs_reset());
}

TEST_F(VirtioConsoleTest, ReceiveBuffersWithoutInputAreHeldAndReadableOnesBreakTheDevice) {
  ASSERT_TRUE(driver.init(M::kFeatureVersion1)); // queue 0: receive
  driver.set_desc(0, VirtioTestDriver::kBuffers, 64, Virtqueue::kDescWrite);
  driver.make_available(0);
  driver.notify(0);
  EXPECT_EQ(driver.used_idx(), 0) << "no input: the buffer waits";
  EXPECT_FALSE(driver.needs_reset());
  // The held buffer stays first in line: start over (a reset) with a readable one first.
  VirtioTestDriver fresh{bus, *transport};
  ASSERT_TRUE(fresh.init(M::kFeatureVersion1));
  fresh.set_desc(0, VirtioTestDriver::kBuffers, 64, 0);
  fresh.make_available(0);
  fresh.notify(0);
  EXPECT_TRUE(fresh.needs_reset());
  EXPECT_TRUE(console.out.empty());
}

TEST_F(VirtioConsoleTest, HostInputFillsReceiveBuffersInOrder) {
  ASSERT_TRUE(driver.init(M::kFeatureVersion1)); // queue 0: receive
  driver.set_desc(0, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescWrite);
  driver.make_available(0);
  driver.notify(0);
  EXPECT_EQ(driver.used_idx(), 0) << "no input yet: the buffer waits";
  EXPECT_FALSE(device->wants_service(0));
  for (char c : std::string("echo hi\n")) {
    ASSERT_TRUE(device->can_accept_input());
    device->push_input(static_cast<uint8_t>(c));
  }
  EXPECT_TRUE(device->wants_service(0));
  transport->poll(); // the run loop's poll: the first 4 bytes fill the posted buffer
  ASSERT_EQ(driver.used_idx(), 1);
  EXPECT_EQ(driver.used(0).second, 4u);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 0x100, 64, Virtqueue::kDescWrite);
  driver.make_available(1);
  driver.notify(0); // the rest goes into the next buffer at once
  ASSERT_EQ(driver.used_idx(), 2);
  EXPECT_EQ(driver.used(1).second, 4u);
  char got[9] = {};
  ASSERT_TRUE(bus.copy_from_ram(VirtioTestDriver::kBuffers, got, 4));
  ASSERT_TRUE(bus.copy_from_ram(VirtioTestDriver::kBuffers + 0x100, got + 4, 4));
  EXPECT_STREQ(got, "echo hi\n");
  EXPECT_EQ(device->bytes_read(), 8u);
  EXPECT_FALSE(device->wants_service(0));
}

TEST_F(VirtioConsoleTest, InputWaitsForTheDriverIsBoundedAndAResetDropsIt) {
  EXPECT_FALSE(device->can_accept_input()) << "no driver yet: input stays with the console";
  device->push_input('x');
  EXPECT_FALSE(device->wants_service(0));
  ASSERT_TRUE(driver.init(M::kFeatureVersion1));
  for (size_t i = 0; i < VirtioConsole::kInputBytes; ++i) {
    ASSERT_TRUE(device->can_accept_input());
    device->push_input('x');
  }
  EXPECT_FALSE(device->can_accept_input());
  device->push_input('y'); // past the bound: not kept
  ASSERT_TRUE(driver.init(M::kFeatureVersion1)); // a reset drops what waited
  EXPECT_TRUE(device->can_accept_input());
  EXPECT_FALSE(device->wants_service(0));
}

} // namespace
} // namespace nimbus::machine
