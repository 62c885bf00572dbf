// The dirty log's bitmap (dirty_log.hpp), and the bus write paths that feed it: RAM writes
// through Bus::write and copy_to_ram mark their pages, device windows and reads do not.
#include "machine/dirty_log.hpp"

#include <gtest/gtest.h>

#include "machine/bus.hpp"

namespace nimbus::machine {
namespace {

std::vector<uint64_t> pages_of(const std::vector<uint64_t>& bits) {
  std::vector<uint64_t> pages;
  for (size_t w = 0; w < bits.size(); ++w)
    for (unsigned b = 0; b < 64; ++b)
      if (bits[w] >> b & 1) pages.push_back(w * 64 + b);
  return pages;
}

TEST(DirtyLog, MarksEveryPageARangeTouchesAndTakeClears) {
  DirtyLog log(1 << 20);   // 256 pages
  EXPECT_EQ(log.pages(), 256u);
  log.mark(4095, 2);          // pages 0 and 1
  log.mark(100 * 4096, 1);    // page 100
  log.mark(1 << 20, 4096);    // beyond RAM: ignored
  log.mark((1 << 20) - 1, 100);   // the last byte: page 255, the rest ignored
  EXPECT_EQ(log.count(), 4u);
  EXPECT_EQ(pages_of(log.take()), (std::vector<uint64_t>{0, 1, 100, 255}));
  EXPECT_EQ(log.count(), 0u);
  EXPECT_TRUE(pages_of(log.take()).empty());
  DirtyLog odd(70 * 4096);
  odd.mark_all();
  EXPECT_EQ(odd.count(), 70u);
}

TEST(DirtyLog, BusRamWritesMarkTheirPages) {
  Bus bus(0x8000'0000, 1 << 20);
  DirtyLog log(1 << 20);
  EXPECT_TRUE(bus.write(0x8000'0000 + 5 * 4096, 8, 1));   // not logging yet
  bus.set_dirty_log(&log);
  uint64_t value = 0;
  EXPECT_TRUE(bus.read(0x8000'0000 + 7 * 4096, 8, value));   // reads mark nothing
  EXPECT_TRUE(bus.write(0x8000'0000 + 9 * 4096 + 4092, 8, 1));   // spans pages 9 and 10
  const uint8_t data[10] = {};
  EXPECT_TRUE(bus.copy_to_ram(0x8000'0000 + 20 * 4096, data, sizeof data));
  bus.mark_dirty(0x1000, 8);   // below RAM: ignored
  EXPECT_EQ(pages_of(log.take()), (std::vector<uint64_t>{9, 10, 20}));
  bus.set_dirty_log(nullptr);
  EXPECT_TRUE(bus.write(0x8000'0000, 8, 1));
  EXPECT_EQ(log.count(), 0u);
}

} // namespace
} // namespace nimbus::machine
