#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "machine/devices/virtio_test_driver.hpp"
#include "machine/devices/virtio_entropy.hpp"

namespace nimbus::machine {
namespace {

using testing::VirtioTestDriver;
using M = VirtioMmio;

// A device that records what it was asked and echoes the readable bytes into the writable part.
class EchoDevice : public VirtioDevice {
public:
  uint32_t device_id() const override { return 42; }
  uint64_t features() const override { return uint64_t{1} << 3; }
  unsigned queue_count() const override { return 1; }
  uint16_t max_queue_size() const override { return 8; }
  std::vector<uint8_t> config() const override { return {0x11, 0x22, 0x33, 0x44, 0x55}; }
  Result process(unsigned, const DescriptorChain& chain) override {
    ++requests;
    std::vector<uint8_t> data(chain.readable_bytes());
    chain.read(0, data.data(), data.size());
    last_readable = data;
    return {true, static_cast<uint32_t>(chain.write(0, data.data(), data.size()))};
  }
  void reset() override { ++resets; }
  int requests = 0, resets = 0;
  std::vector<uint8_t> last_readable;
};

struct VirtioMmioTest : ::testing::Test {
  Bus bus{VirtioTestDriver::kRamBase, 1 << 20};
  EchoDevice* echo = nullptr;
  bool irq = false;
  std::unique_ptr<M> transport = make();
  VirtioTestDriver driver{bus, *transport};

  std::unique_ptr<M> make() {
    auto dev = std::make_unique<EchoDevice>();
    echo = dev.get();
    return std::make_unique<M>(bus, std::move(dev), [this](bool level) { irq = level; });
  }
  void put(uint64_t at, const std::string& s) { ASSERT_TRUE(bus.copy_to_ram(at, s.data(), s.size())); }
  std::string get(uint64_t at, size_t n) {
    std::string s(n, '\0');
    EXPECT_TRUE(bus.copy_from_ram(at, s.data(), n));
    return s;
  }
  // Posts a chain, notifies and expects the device to reject it without crashing.
  void expect_rejected(uint16_t head) {
    driver.make_available(head);
    driver.notify();
    EXPECT_TRUE(driver.needs_reset()) << transport->last_error();
    EXPECT_FALSE(transport->last_error().empty());
    EXPECT_EQ(driver.reg(M::kInterruptStatus) & M::kInterruptConfigChange, M::kInterruptConfigChange);
    EXPECT_TRUE(irq);
    EXPECT_EQ(echo->requests, 0);
  }
};

TEST_F(VirtioMmioTest, IdentifiesAsModernTransport) {
  EXPECT_EQ(driver.reg(M::kMagicValue), 0x74726976u);
  EXPECT_EQ(driver.reg(M::kVersion), 2u);
  EXPECT_EQ(driver.reg(M::kDeviceId), 42u);
  EXPECT_EQ(driver.reg(M::kVendor), M::kVendorId);
  EXPECT_EQ(driver.device_features(), (uint64_t{1} << 3) | M::kFeatureVersion1 | M::kFeatureIndirectDesc);
}

TEST_F(VirtioMmioTest, QueueNumMaxIsZeroForAbsentQueues) {
  driver.set_reg(M::kQueueSel, 0);
  EXPECT_EQ(driver.reg(M::kQueueNumMax), 8u);
  driver.set_reg(M::kQueueSel, 1);
  EXPECT_EQ(driver.reg(M::kQueueNumMax), 0u);
}

TEST_F(VirtioMmioTest, ConfigSpaceIsByteAddressable) {
  uint64_t v = 0;
  ASSERT_TRUE(transport->read(M::kConfig + 1, 1, v));
  EXPECT_EQ(v, 0x22u);
  ASSERT_TRUE(transport->read(M::kConfig + 2, 4, v));
  EXPECT_EQ(v, 0x00554433u) << "bytes past the config read as zero";
}

TEST_F(VirtioMmioTest, RegistersNeedWordAccess) {
  uint64_t v = 0;
  EXPECT_FALSE(transport->read(M::kMagicValue, 1, v));
  EXPECT_FALSE(transport->read(M::kMagicValue + 2, 4, v));
}

// Virtio 1.x 6.2 lets a device refuse to work without VERSION_1; QEMU 7.2's version 2 transport
// accepts, and drivers that only know the low 32 feature bits (xv6) rely on it.
TEST_F(VirtioMmioTest, FeaturesWithoutVersion1AreAccepted) {
  EXPECT_TRUE(driver.init(M::kFeatureIndirectDesc));
  EXPECT_TRUE(driver.init(0));
}

TEST_F(VirtioMmioTest, DriverWritingOnlyTheLow32BitsWorks) {
  ASSERT_TRUE(driver.init_low_32_bits(M::kFeatureIndirectDesc));
  EXPECT_EQ(driver.reg(M::kStatus) & M::kStatusFeaturesOk, M::kStatusFeaturesOk);
  put(VirtioTestDriver::kBuffers, "xv6");
  driver.set_desc(0, VirtioTestDriver::kBuffers, 3, Virtqueue::kDescNext, 1);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 0x100, 8, Virtqueue::kDescWrite);
  driver.make_available(0);
  driver.notify();
  ASSERT_FALSE(driver.needs_reset()) << transport->last_error();
  EXPECT_EQ(driver.used(0), (std::pair<uint32_t, uint32_t>{0, 3}));
  EXPECT_EQ(get(VirtioTestDriver::kBuffers + 0x100, 3), "xv6");
}

// The legacy layout (virtio 1.x 4.2.4), QEMU 7.2's default: version 1, 32 feature bits, no
// FEATURES_OK handshake, rings placed by GuestPageSize/QueueAlign/QueuePFN. Driven as the 2020
// xv6-riscv virtio_disk_init did.
TEST_F(VirtioMmioTest, LegacyLayoutServesAQueuePlacedByPfn) {
  bool legacy_irq = false;
  auto dev = std::make_unique<EchoDevice>();
  EchoDevice* legacy_echo = dev.get();
  M t(bus, std::move(dev), [&](bool level) { legacy_irq = level; }, M::Layout::legacy);
  auto reg = [&](uint64_t o) {
    uint64_t v = 0;
    EXPECT_TRUE(t.read(o, 4, v));
    return static_cast<uint32_t>(v);
  };
  auto set = [&](uint64_t o, uint32_t v) { EXPECT_TRUE(t.write(o, 4, v)); };
  EXPECT_EQ(reg(M::kVersion), 1u);
  set(M::kDeviceFeaturesSel, 1);
  EXPECT_EQ(reg(M::kDeviceFeatures), 0u) << "no VERSION_1, no high word";
  set(M::kDeviceFeaturesSel, 0);
  EXPECT_EQ(reg(M::kDeviceFeatures), (1u << 3) | static_cast<uint32_t>(M::kFeatureIndirectDesc));
  set(M::kStatus, M::kStatusAcknowledge);
  set(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
  set(M::kDriverFeatures, 1u << 3);
  set(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
  set(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
  set(M::kLegacyGuestPageSize, 4096);
  set(M::kQueueSel, 0);
  EXPECT_EQ(reg(M::kLegacyQueuePfn), 0u);
  EXPECT_EQ(reg(M::kQueueNumMax), 8u);
  set(M::kQueueNum, 8);
  const uint64_t base = VirtioTestDriver::kRamBase + 0x4000;
  set(M::kLegacyQueuePfn, static_cast<uint32_t>(base >> 12));
  EXPECT_EQ(reg(M::kLegacyQueuePfn), base >> 12);
  ASSERT_FALSE(t.status() & M::kStatusNeedsReset) << t.last_error();
  // desc at base, avail at base + 16 * 8, used at the next 4 KiB boundary.
  auto put16 = [&](uint64_t at, uint16_t v) { ASSERT_TRUE(bus.copy_to_ram(at, &v, 2)); };
  put(VirtioTestDriver::kBuffers, "legacy");
  driver.set_desc(0, VirtioTestDriver::kBuffers, 6, Virtqueue::kDescNext, 1, base);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 0x100, 8, Virtqueue::kDescWrite, 0, base);
  put16(base + 128 + 4, 0); // ring[0] = descriptor 0
  put16(base + 128 + 2, 1); // avail idx
  set(M::kQueueNotify, 0);
  ASSERT_FALSE(t.status() & M::kStatusNeedsReset) << t.last_error();
  EXPECT_EQ(legacy_echo->requests, 1);
  EXPECT_EQ(get(VirtioTestDriver::kBuffers + 0x100, 6), "legacy");
  uint16_t used_idx = 0;
  uint32_t used_len = 0;
  ASSERT_TRUE(bus.copy_from_ram(base + 0x1000 + 2, &used_idx, 2));
  ASSERT_TRUE(bus.copy_from_ram(base + 0x1000 + 8, &used_len, 4));
  EXPECT_EQ(used_idx, 1);
  EXPECT_EQ(used_len, 6u);
  EXPECT_TRUE(legacy_irq);
  EXPECT_EQ(reg(M::kQueueReady), 0u) << "QueueReady is not a legacy register";
  set(M::kLegacyQueuePfn, 0);
  EXPECT_EQ(reg(M::kLegacyQueuePfn), 0u) << "PFN 0 takes the queue away";
}

TEST_F(VirtioMmioTest, ModernLayoutIgnoresLegacyRegisters) {
  ASSERT_TRUE(driver.init());
  driver.set_reg(M::kLegacyQueuePfn, 0x80004);
  EXPECT_EQ(driver.reg(M::kLegacyQueuePfn), 0u);
  EXPECT_EQ(driver.reg(M::kQueueReady), 1u);
}

TEST_F(VirtioMmioTest, UnofferedFeaturesAreRefused) {
  // QEMU 7.2 silently drops unoffered bits and sets FEATURES_OK; the spec (2.2.2) has the device
  // leave FEATURES_OK clear for a set it does not accept, and so do we.
  EXPECT_FALSE(driver.init(M::kFeatureVersion1 | 1u << 7));
  EXPECT_FALSE(driver.init(1u << 7));
}

TEST_F(VirtioMmioTest, EachBatchOfUsedBuffersIsANewInterruptRequest) {
  std::vector<bool> levels;
  auto t = std::make_unique<M>(bus, std::make_unique<EchoDevice>(), [&](bool level) { levels.push_back(level); });
  VirtioTestDriver d{bus, *t};
  ASSERT_TRUE(d.init());
  for (uint16_t i = 0; i < 2; ++i) {
    d.set_desc(i, VirtioTestDriver::kBuffers + 0x100 * i, 8, Virtqueue::kDescWrite);
    d.make_available(i);
    d.notify(); // not acknowledged in between: the line stays high but is asserted again
  }
  EXPECT_EQ(levels, (std::vector<bool>{true, true}));
  d.set_reg(M::kInterruptAck, M::kInterruptUsedBuffer);
  EXPECT_EQ(levels.back(), false);
}

TEST_F(VirtioMmioTest, ServesChainAndRaisesUsedBufferInterrupt) {
  ASSERT_TRUE(driver.init());
  put(VirtioTestDriver::kBuffers, "hello");
  driver.set_desc(0, VirtioTestDriver::kBuffers, 3, Virtqueue::kDescNext, 1);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 3, 2, Virtqueue::kDescNext, 2);
  driver.set_desc(2, VirtioTestDriver::kBuffers + 0x100, 16, Virtqueue::kDescWrite);
  driver.make_available(0);
  EXPECT_EQ(echo->requests, 0) << "nothing happens before the notify";
  const uint64_t generation = bus.dma_generation();
  driver.notify();
  EXPECT_EQ(echo->requests, 1);
  EXPECT_EQ(driver.used_idx(), 1);
  EXPECT_EQ(driver.used(0), (std::pair<uint32_t, uint32_t>{0, 5}));
  EXPECT_EQ(get(VirtioTestDriver::kBuffers + 0x100, 5), "hello");
  EXPECT_GT(bus.dma_generation(), generation);
  EXPECT_TRUE(irq);
  EXPECT_EQ(driver.reg(M::kInterruptStatus), M::kInterruptUsedBuffer);
  driver.set_reg(M::kInterruptAck, M::kInterruptUsedBuffer);
  EXPECT_FALSE(irq);
}

TEST_F(VirtioMmioTest, IndirectTable) {
  ASSERT_TRUE(driver.init());
  const uint64_t table = VirtioTestDriver::kBuffers + 0x1000;
  put(VirtioTestDriver::kBuffers, "abc");
  driver.set_desc(0, VirtioTestDriver::kBuffers, 3, Virtqueue::kDescNext, 1, table);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 0x100, 8, Virtqueue::kDescWrite, 0, table);
  driver.set_desc(5, table, 32, Virtqueue::kDescIndirect);
  driver.make_available(5);
  driver.notify();
  ASSERT_FALSE(driver.needs_reset()) << transport->last_error();
  EXPECT_EQ(driver.used(0), (std::pair<uint32_t, uint32_t>{5, 3}));
  EXPECT_EQ(get(VirtioTestDriver::kBuffers + 0x100, 3), "abc");
}

TEST_F(VirtioMmioTest, ManyRequestsInOneNotifyWrapTheRing) {
  ASSERT_TRUE(driver.init());
  for (int round = 0; round < 3; ++round) {
    for (uint16_t i = 0; i < 8; ++i) {
      driver.set_desc(i, VirtioTestDriver::kBuffers + 64 * i, 4, 0);
      driver.make_available(i);
    }
    const uint64_t generation = bus.dma_generation();
    driver.notify();
    EXPECT_EQ(bus.dma_generation(), generation + 1) << "one DMA notice per batch";
  }
  EXPECT_EQ(echo->requests, 24);
  EXPECT_EQ(driver.used_idx(), 24);
  EXPECT_FALSE(driver.needs_reset());
}

TEST_F(VirtioMmioTest, NotifyBeforeDriverOkIsIgnored) {
  driver.set_desc(0, VirtioTestDriver::kBuffers, 4, 0);
  driver.make_available(0);
  driver.notify();
  EXPECT_EQ(echo->requests, 0);
}

TEST_F(VirtioMmioTest, StatusZeroResetsEverything) {
  ASSERT_TRUE(driver.init());
  const int resets_before = echo->resets;
  driver.set_reg(M::kStatus, 0);
  EXPECT_EQ(driver.reg(M::kStatus), 0u);
  EXPECT_EQ(driver.reg(M::kQueueReady), 0u);
  EXPECT_EQ(driver.reg(M::kQueueNum), 0u);
  EXPECT_EQ(echo->resets, resets_before + 1);
}

TEST_F(VirtioMmioTest, RingsOutsideRamAreRefusedAtQueueReady) {
  ASSERT_TRUE(driver.init());
  driver.set_reg(M::kStatus, 0);
  driver.set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
  driver.set_reg(M::kQueueNum, 8);
  driver.set_reg(M::kQueueDescLow, 0x10000000); // the UART, not RAM
  driver.set_reg(M::kQueueDriverLow, static_cast<uint32_t>(VirtioTestDriver::kAvail));
  driver.set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(VirtioTestDriver::kUsed));
  driver.set_reg(M::kQueueReady, 1);
  EXPECT_EQ(driver.reg(M::kQueueReady), 0u);
  EXPECT_TRUE(driver.needs_reset());
}

TEST_F(VirtioMmioTest, QueueSizeMustBePowerOfTwoWithinMax) {
  ASSERT_TRUE(driver.init());
  driver.set_reg(M::kStatus, 0);
  driver.set_reg(M::kQueueNum, 6);
  driver.set_reg(M::kQueueDescLow, static_cast<uint32_t>(VirtioTestDriver::kDesc));
  driver.set_reg(M::kQueueDriverLow, static_cast<uint32_t>(VirtioTestDriver::kAvail));
  driver.set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(VirtioTestDriver::kUsed));
  driver.set_reg(M::kQueueReady, 1);
  EXPECT_EQ(driver.reg(M::kQueueReady), 0u);
  EXPECT_TRUE(driver.needs_reset());
}

TEST_F(VirtioMmioTest, BufferInMmioIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, 0x10000000, 16, Virtqueue::kDescWrite);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, BufferPastRamEndIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, VirtioTestDriver::kRamBase + (1 << 20) - 8, 16, 0);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, AddressThatWrapsAroundIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, ~uint64_t{0} - 4, 16, 0);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, HugeLengthIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, VirtioTestDriver::kBuffers, 0xffffffff, Virtqueue::kDescWrite);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, LoopingChainIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescNext, 1);
  driver.set_desc(1, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescNext, 0);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, NextPastTableIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescNext, 200);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, HeadPastTableIsRejected) {
  ASSERT_TRUE(driver.init());
  expect_rejected(9);
}

TEST_F(VirtioMmioTest, AvailIndexJumpingPastQueueSizeIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_avail_index(100);
  driver.notify();
  EXPECT_TRUE(driver.needs_reset());
  EXPECT_EQ(echo->requests, 0);
}

TEST_F(VirtioMmioTest, NestedIndirectIsRejected) {
  ASSERT_TRUE(driver.init());
  const uint64_t table = VirtioTestDriver::kBuffers + 0x1000;
  driver.set_desc(0, table, 16, Virtqueue::kDescIndirect, 0, table);
  driver.set_desc(0, table, 16, Virtqueue::kDescIndirect);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, IndirectTableOutsideRamIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, 0x0c000000, 64, Virtqueue::kDescIndirect);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, IndirectTableWithOddLengthIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, VirtioTestDriver::kBuffers + 0x1000, 20, Virtqueue::kDescIndirect);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, LoopInsideIndirectTableIsRejected) {
  ASSERT_TRUE(driver.init());
  const uint64_t table = VirtioTestDriver::kBuffers + 0x1000;
  driver.set_desc(0, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescNext, 1, table);
  driver.set_desc(1, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescNext, 0, table);
  driver.set_desc(0, table, 32, Virtqueue::kDescIndirect);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, ReadableAfterWritableIsRejected) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, VirtioTestDriver::kBuffers, 4, Virtqueue::kDescWrite | Virtqueue::kDescNext, 1);
  driver.set_desc(1, VirtioTestDriver::kBuffers + 64, 4, 0);
  expect_rejected(0);
}

TEST_F(VirtioMmioTest, BrokenDeviceServesNothingUntilReset) {
  ASSERT_TRUE(driver.init());
  driver.set_desc(0, 0x10000000, 16, 0);
  expect_rejected(0);
  driver.set_desc(1, VirtioTestDriver::kBuffers, 4, 0);
  driver.make_available(1);
  driver.notify();
  EXPECT_EQ(echo->requests, 0);
  // A fresh initialisation brings it back.
  VirtioTestDriver fresh(bus, *transport);
  ASSERT_TRUE(fresh.init());
  EXPECT_FALSE(fresh.needs_reset());
  fresh.set_desc(0, VirtioTestDriver::kBuffers, 4, 0);
  fresh.make_available(0);
  fresh.notify();
  EXPECT_EQ(echo->requests, 1);
}

TEST(VirtioEntropy, DeterministicModeRepeatsAndFillsWritableBuffers) {
  auto run = [] {
    Bus bus(VirtioTestDriver::kRamBase, 1 << 20);
    VirtioMmio t(bus, std::make_unique<VirtioEntropy>(true), {});
    VirtioTestDriver d(bus, t);
    EXPECT_TRUE(d.init());
    d.set_desc(0, VirtioTestDriver::kBuffers, 37, Virtqueue::kDescWrite);
    d.make_available(0);
    d.notify();
    EXPECT_EQ(d.used(0).second, 37u);
    std::vector<uint8_t> out(40);
    EXPECT_TRUE(bus.copy_from_ram(VirtioTestDriver::kBuffers, out.data(), out.size()));
    return out;
  };
  const std::vector<uint8_t> a = run(), b = run();
  EXPECT_EQ(a, b);
  EXPECT_NE(std::count(a.begin(), a.begin() + 37, 0), 37);
  EXPECT_EQ(a[37], 0) << "wrote past the buffer";
}

TEST(VirtioEntropy, HostModeDiffersBetweenRuns) {
  VirtioEntropy e1(false), e2(false);
  Bus bus(VirtioTestDriver::kRamBase, 1 << 20);
  DescriptorChain c1, c2;
  c1.add_writable({bus.ram(), 32});
  c2.add_writable({bus.ram() + 32, 32});
  EXPECT_EQ(e1.process(0, c1).written, 32u);
  EXPECT_EQ(e2.process(0, c2).written, 32u);
  EXPECT_NE(std::memcmp(bus.ram(), bus.ram() + 32, 32), 0);
  EXPECT_EQ(e1.device_id(), 4u);
}

} // namespace
} // namespace nimbus::machine

namespace nimbus::machine {
namespace {

// Found by fuzz_virtio_rng: moving a live legacy queue (QueuePFN written again) to a place that
// is not RAM failed the device, but left the queue ready at the bad address; that state did not
// even restore from its own snapshot ("descriptor table ... is not 16-byte aligned guest RAM").
TEST(VirtioMmioLegacy, AFailedQueueMoveLeavesTheQueueNotReadyAndTheStateRestorable) {
  Bus bus{VirtioTestDriver::kRamBase, 1 << 20};
  M t(bus, std::make_unique<VirtioEntropy>(true), [](bool) {}, M::Layout::legacy);
  auto set = [&](uint64_t o, uint32_t v) { EXPECT_TRUE(t.write(o, 4, v)); };
  set(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusDriverOk);
  set(M::kLegacyGuestPageSize, 4096);
  set(M::kQueueSel, 0);
  set(M::kQueueNum, 8);
  set(M::kLegacyQueuePfn, static_cast<uint32_t>((VirtioTestDriver::kRamBase + 0x4000) >> 12));
  ASSERT_FALSE(t.status() & M::kStatusNeedsReset) << t.last_error();
  set(M::kLegacyQueuePfn, 0x80); // 0x80000: below RAM
  EXPECT_TRUE(t.status() & M::kStatusNeedsReset);
  EXPECT_NE(t.last_error().find("descriptor table"), std::string::npos) << t.last_error();
  snapshot::Writer w;
  t.save_state(w);
  const std::vector<uint8_t> state = w.take();
  M fresh(bus, std::make_unique<VirtioEntropy>(true), [](bool) {}, M::Layout::legacy);
  snapshot::Reader in(state, "virtio");
  EXPECT_NO_THROW(fresh.restore_state(in));
}

} // namespace
} // namespace nimbus::machine

namespace nimbus::machine {
namespace {

// Found by fuzz_virtio_rng: a QueueNum above QueueNumMax in a queue never made ready is what a
// driver may leave behind (the device checks it only when the queue goes live), but the
// snapshot of that state was refused ("queue 0 size ... too large").
TEST(VirtioMmioSnapshot, AQueueNumNeverEnabledRestores) {
  Bus bus{VirtioTestDriver::kRamBase, 1 << 20};
  for (const auto layout : {M::Layout::modern, M::Layout::legacy}) {
    M t(bus, std::make_unique<VirtioEntropy>(true), [](bool) {}, layout);
    EXPECT_TRUE(t.write(M::kQueueSel, 4, 0));
    EXPECT_TRUE(t.write(M::kQueueNum, 4, 0x5600'0000));
    snapshot::Writer w;
    t.save_state(w);
    const std::vector<uint8_t> state = w.take();
    M fresh(bus, std::make_unique<VirtioEntropy>(true), [](bool) {}, layout);
    snapshot::Reader in(state, "virtio");
    EXPECT_NO_THROW(fresh.restore_state(in));
    snapshot::Writer again;
    fresh.save_state(again);
    EXPECT_EQ(again.data(), state);
  }
}

} // namespace
} // namespace nimbus::machine
