#pragma once
// A minimal virtio-mmio driver for tests: initialises a transport through its registers and
// builds split-virtqueue rings and descriptors directly in a Bus's RAM, hostile ones included.
#include <gtest/gtest.h>

#include <cstring>

#include "machine/bus.hpp"
#include "machine/devices/virtio_mmio.hpp"

namespace nimbus::machine::testing {

class VirtioTestDriver {
public:
  static constexpr uint64_t kRamBase = 0x8000'0000;
  static constexpr uint64_t kDesc = kRamBase + 0x1000;
  static constexpr uint64_t kAvail = kRamBase + 0x2000;
  static constexpr uint64_t kUsed = kRamBase + 0x3000;
  static constexpr uint64_t kBuffers = kRamBase + 0x10000;
  using M = VirtioMmio;

  VirtioTestDriver(Bus& bus, VirtioMmio& transport, uint16_t queue_size = 8)
      : bus_(bus), t_(transport), size_(queue_size) {}

  uint32_t reg(uint64_t offset) {
    uint64_t v = 0;
    EXPECT_TRUE(t_.read(offset, 4, v));
    return static_cast<uint32_t>(v);
  }
  void set_reg(uint64_t offset, uint32_t v) { EXPECT_TRUE(t_.write(offset, 4, v)); }

  uint64_t device_features() {
    set_reg(M::kDeviceFeaturesSel, 0);
    uint64_t f = reg(M::kDeviceFeatures);
    set_reg(M::kDeviceFeaturesSel, 1);
    return f | (uint64_t{reg(M::kDeviceFeatures)} << 32);
  }

  // Runs the spec's initialisation sequence; returns whether FEATURES_OK stuck.
  bool init(uint64_t features) {
    set_reg(M::kStatus, 0);
    set_reg(M::kStatus, M::kStatusAcknowledge);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    set_reg(M::kDriverFeaturesSel, 0);
    set_reg(M::kDriverFeatures, static_cast<uint32_t>(features));
    set_reg(M::kDriverFeaturesSel, 1);
    set_reg(M::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
    if (!(reg(M::kStatus) & M::kStatusFeaturesOk)) return false;
    set_reg(M::kQueueSel, 0);
    set_reg(M::kQueueNum, size_);
    set_reg(M::kQueueDescLow, static_cast<uint32_t>(kDesc));
    set_reg(M::kQueueDescHigh, static_cast<uint32_t>(kDesc >> 32));
    set_reg(M::kQueueDriverLow, static_cast<uint32_t>(kAvail));
    set_reg(M::kQueueDriverHigh, 0);
    set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(kUsed));
    set_reg(M::kQueueDeviceHigh, 0);
    set_reg(M::kQueueReady, 1);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
    return reg(M::kQueueReady) == 1;
  }
  bool init() { return init(M::kFeatureVersion1 | M::kFeatureIndirectDesc); }
  // As xv6's virtio_disk_init: reads the device features with the select left at 0, writes back
  // the low 32 bits minus `cleared` (never touching DriverFeaturesSel, so VERSION_1 is not
  // accepted), sets FEATURES_OK and re-reads it; returns whether it stuck.
  bool init_low_32_bits(uint32_t cleared) {
    set_reg(M::kStatus, 0);
    set_reg(M::kStatus, M::kStatusAcknowledge);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    const uint32_t features = reg(M::kDeviceFeatures) & ~cleared;
    set_reg(M::kDriverFeatures, features);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
    if (!(reg(M::kStatus) & M::kStatusFeaturesOk)) return false;
    set_reg(M::kQueueSel, 0);
    if (reg(M::kQueueReady) != 0 || reg(M::kQueueNumMax) < size_) return false;
    set_reg(M::kQueueNum, size_);
    set_reg(M::kQueueDescLow, static_cast<uint32_t>(kDesc));
    set_reg(M::kQueueDescHigh, 0);
    set_reg(M::kQueueDriverLow, static_cast<uint32_t>(kAvail));
    set_reg(M::kQueueDriverHigh, 0);
    set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(kUsed));
    set_reg(M::kQueueDeviceHigh, 0);
    set_reg(M::kQueueReady, 1);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
    return reg(M::kQueueReady) == 1;
  }

  // Writes descriptor `index` of the table at `table` (the queue's own table by default).
  void set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0,
                uint64_t table = kDesc) {
    uint8_t d[16];
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
    ASSERT_TRUE(bus_.copy_to_ram(table + 16ull * index, d, 16));
  }
  void make_available(uint16_t head) {
    store16(kAvail + 4 + 2ull * (avail_idx_ % size_), head);
    ++avail_idx_;
    store16(kAvail + 2, avail_idx_);
  }
  void set_avail_index(uint16_t idx) {
    avail_idx_ = idx;
    store16(kAvail + 2, idx);
  }
  void notify(uint32_t queue = 0) { set_reg(M::kQueueNotify, queue); }

  uint16_t used_idx() { return load16(kUsed + 2); }
  // The used element for the request completed n-th (0-based).
  std::pair<uint32_t, uint32_t> used(uint16_t n) {
    uint32_t id = 0, len = 0;
    EXPECT_TRUE(bus_.copy_from_ram(kUsed + 4 + 8ull * (n % size_), &id, 4));
    EXPECT_TRUE(bus_.copy_from_ram(kUsed + 4 + 8ull * (n % size_) + 4, &len, 4));
    return {id, len};
  }
  bool needs_reset() { return (reg(M::kStatus) & M::kStatusNeedsReset) != 0; }

  void store16(uint64_t at, uint16_t v) { ASSERT_TRUE(bus_.copy_to_ram(at, &v, 2)); }
  uint16_t load16(uint64_t at) {
    uint16_t v = 0;
    EXPECT_TRUE(bus_.copy_from_ram(at, &v, 2));
    return v;
  }

private:
  Bus& bus_;
  VirtioMmio& t_;
  uint16_t size_;
  uint16_t avail_idx_ = 0;
};

} // namespace nimbus::machine::testing
