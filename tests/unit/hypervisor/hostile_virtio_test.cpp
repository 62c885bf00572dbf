// Hostile virtio requests from a VM whose RAM is frames of the machine pool: descriptors past its
// RAM (where, in machine memory, a neighbour VM's frames lie), into MMIO, with huge lengths or in
// loops get a device error; the neighbour's bytes are never read or written, and the guest's own
// RAM outside the buffers stays untouched.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "hypervisor/guest_memory.hpp"
#include "machine/devices/virtio_entropy.hpp"
#include "machine/devices/virtio_test_driver.hpp"

namespace nimbus::hypervisor {
namespace {

using machine::VirtioMmio;
using machine::Virtqueue;
using machine::testing::VirtioTestDriver;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kRam = 2 * kMiB;   // one 2 MiB frame per VM

struct HostileVirtio : ::testing::Test {
  FramePool pool{8 * kMiB, 2 * kMiB};
  GuestMemory attacker{pool, "attacker", VirtioTestDriver::kRamBase, kRam};
  GuestMemory neighbour{pool, "neighbour", VirtioTestDriver::kRamBase, kRam};
  machine::Bus bus{VirtioTestDriver::kRamBase, kRam, attacker};
  std::unique_ptr<VirtioMmio> transport =
      std::make_unique<VirtioMmio>(bus, std::make_unique<machine::VirtioEntropy>(true), [](bool) {});
  VirtioTestDriver driver{bus, *transport};
  std::vector<uint8_t> secret = std::vector<uint8_t>(kRam, 0x5A);

  void SetUp() override {
    // The attacker's frame first (its rings), then the neighbour's, right after it in machine memory.
    ASSERT_EQ(attacker.write(VirtioTestDriver::kRamBase, "x", 1), GuestMemoryStatus::ok);
    ASSERT_EQ(neighbour.write(VirtioTestDriver::kRamBase, secret.data(), secret.size()), GuestMemoryStatus::ok);
    uint64_t a = 0, n = 0;
    ASSERT_EQ(attacker.machine_address(VirtioTestDriver::kRamBase, a), GuestMemoryStatus::ok);
    ASSERT_EQ(neighbour.machine_address(VirtioTestDriver::kRamBase, n), GuestMemoryStatus::ok);
    ASSERT_EQ(n, a + kRam) << "the neighbour's frame should follow the attacker's in machine memory";
    ASSERT_TRUE(driver.init());
  }
  void expect_rejected_and_neighbour_intact(uint16_t head) {
    driver.make_available(head);
    driver.notify();
    EXPECT_TRUE(driver.needs_reset()) << "the device accepted a hostile chain";
    EXPECT_FALSE(transport->last_error().empty());
    std::vector<uint8_t> now(kRam);
    ASSERT_EQ(neighbour.read(VirtioTestDriver::kRamBase, now.data(), now.size()), GuestMemoryStatus::ok);
    EXPECT_EQ(now, secret) << "the neighbour's memory changed";
    EXPECT_EQ(pool.frames_owned_by(attacker.vm_id()), 1u) << "the device made the attacker grow";
  }
};

TEST_F(HostileVirtio, BufferJustPastRamWhereTheNeighbourLivesIsRefused) {
  driver.set_desc(0, VirtioTestDriver::kRamBase + kRam, 64, Virtqueue::kDescWrite);
  expect_rejected_and_neighbour_intact(0);
}

TEST_F(HostileVirtio, BufferStraddlingTheEndOfRamIsRefused) {
  driver.set_desc(0, VirtioTestDriver::kRamBase + kRam - 16, 64, Virtqueue::kDescWrite);
  expect_rejected_and_neighbour_intact(0);
}

TEST_F(HostileVirtio, BufferInMmioIsRefused) {
  driver.set_desc(0, 0x1000'0000, 64, Virtqueue::kDescWrite);
  expect_rejected_and_neighbour_intact(0);
}

TEST_F(HostileVirtio, HugeLengthIsRefused) {
  driver.set_desc(0, VirtioTestDriver::kBuffers, 0xffff'ffff, Virtqueue::kDescWrite);
  expect_rejected_and_neighbour_intact(0);
}

TEST_F(HostileVirtio, LoopingChainIsRefused) {
  driver.set_desc(0, VirtioTestDriver::kBuffers, 8, Virtqueue::kDescWrite | Virtqueue::kDescNext, 1);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 8, 8, Virtqueue::kDescWrite | Virtqueue::kDescNext, 0);
  expect_rejected_and_neighbour_intact(0);
}

TEST_F(HostileVirtio, AnHonestRequestStillWorksAndStaysInItsBuffer) {
  driver.set_desc(0, VirtioTestDriver::kBuffers, 32, Virtqueue::kDescWrite);
  driver.make_available(0);
  driver.notify();
  EXPECT_FALSE(driver.needs_reset()) << transport->last_error();
  EXPECT_EQ(driver.used(0).second, 32u);
  uint8_t after = 0xEE;
  ASSERT_EQ(attacker.read(VirtioTestDriver::kBuffers + 32, &after, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(after, 0) << "wrote past the buffer";
}

} // namespace
} // namespace nimbus::hypervisor
