#include <gtest/gtest.h>

#include "machine/bus.hpp"

namespace nimbus::machine {
namespace {

class RecordingDevice : public MmioDevice {
public:
  std::string_view name() const override { return "recorder"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override {
    last_offset = offset;
    last_size = size;
    value = 0x1122334455667788ull;
    return offset < 0x10;
  }
  bool write(uint64_t offset, unsigned size, uint64_t value) override {
    last_offset = offset;
    last_size = size;
    last_value = value;
    return true;
  }
  uint64_t last_offset = ~0ull, last_value = 0;
  unsigned last_size = 0;
};

TEST(Bus, RamReadWriteIsLittleEndian) {
  Bus bus(0x80000000, 1 << 20);
  ASSERT_TRUE(bus.write(0x80000010, 4, 0xdeadbeef));
  uint64_t v = 0;
  ASSERT_TRUE(bus.read(0x80000010, 1, v));
  EXPECT_EQ(v, 0xefu);
  ASSERT_TRUE(bus.read(0x80000010, 8, v));
  EXPECT_EQ(v, 0xdeadbeefu);
}

TEST(Bus, AccessPastRamEndFails) {
  Bus bus(0x80000000, 1 << 20);
  uint64_t v = 0;
  EXPECT_FALSE(bus.read(0x80000000 + (1 << 20) - 4, 8, v));
  EXPECT_FALSE(bus.write(0x7ffffffc, 8, 0));
  EXPECT_EQ(bus.ram_pointer(~0ull - 3, 8), nullptr);
}

TEST(Bus, DispatchesToDeviceWithOffsetAndTruncatesWrites) {
  Bus bus(0x80000000, 1 << 20);
  RecordingDevice dev;
  bus.map(0x10000000, 0x100, &dev);
  ASSERT_TRUE(bus.write(0x10000004, 2, 0xabcdef));
  EXPECT_EQ(dev.last_offset, 4u);
  EXPECT_EQ(dev.last_size, 2u);
  EXPECT_EQ(dev.last_value, 0xcdefu);
  uint64_t v = 0;
  EXPECT_FALSE(bus.read(0x10000020, 4, v)); // device refuses
  EXPECT_FALSE(bus.read(0x100000fe, 4, v)); // crosses the window end
  EXPECT_FALSE(bus.read(0x20000000, 4, v)); // nothing there
}

TEST(Bus, RejectsOverlappingWindows) {
  Bus bus(0x80000000, 1 << 20);
  RecordingDevice a, b;
  bus.map(0x10000000, 0x1000, &a);
  EXPECT_THROW(bus.map(0x10000800, 0x1000, &b), std::invalid_argument);
  EXPECT_THROW(bus.map(0x80000000, 0x1000, &b), std::invalid_argument);
}

TEST(Bus, CopyToRamBumpsDmaGeneration) {
  Bus bus(0x80000000, 1 << 20);
  const uint64_t before = bus.dma_generation();
  const char data[] = "hello";
  ASSERT_TRUE(bus.copy_to_ram(0x80000100, data, sizeof data));
  EXPECT_GT(bus.dma_generation(), before);
  EXPECT_FALSE(bus.copy_to_ram(0x80000000 + (1 << 20) - 2, data, sizeof data));
}

} // namespace
} // namespace nimbus::machine
