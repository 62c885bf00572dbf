// Bus::dma_pages_since: harts learn which pages DMA wrote, so they drop only the code on them.
#include <gtest/gtest.h>

#include "machine/bus.hpp"

namespace nimbus::machine {
namespace {

TEST(BusDmaPages, NamesThePagesWrittenSinceAGeneration) {
  Bus bus(0x80000000, 1 << 20);
  const uint64_t seen = bus.dma_generation();
  bus.note_dma_write(0x80001ff0, 0x20); // straddles two pages
  const char b = 1;
  ASSERT_TRUE(bus.copy_to_ram(0x80005000, &b, 1));
  std::vector<Bus::DmaPages> pages;
  ASSERT_TRUE(bus.dma_pages_since(seen, pages));
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].first, 0x80001u);
  EXPECT_EQ(pages[0].last, 0x80002u);
  EXPECT_EQ(pages[1].first, 0x80005u);
  EXPECT_EQ(pages[1].last, 0x80005u);
  ASSERT_TRUE(bus.dma_pages_since(bus.dma_generation(), pages));
  EXPECT_TRUE(pages.empty());
}

TEST(BusDmaPages, UnknownWritesAndOverflowMeanEverything) {
  Bus bus(0x80000000, 1 << 20);
  std::vector<Bus::DmaPages> pages;
  uint64_t seen = bus.dma_generation();
  bus.note_dma_write(0x80001000, 8);
  bus.note_dma_write(); // "anything may have changed"
  EXPECT_FALSE(bus.dma_pages_since(seen, pages));
  seen = bus.dma_generation();
  for (int i = 0; i < 1000; ++i) bus.note_dma_write(0x80001000, 8);
  EXPECT_FALSE(bus.dma_pages_since(seen, pages)) << "older entries were overwritten";
  seen = bus.dma_generation();
  bus.note_dma_write(0x80001000, 0); // nothing written: no notice
  EXPECT_EQ(bus.dma_generation(), seen);
}

// Found by fuzz_virtio_net: an empty frame's copy passed a null pointer to memcpy (undefined
// even for zero bytes). Nothing is written and no page is named.
TEST(BusDmaPages, AnEmptyCopyWritesNothing) {
  Bus bus(0x80000000, 1 << 20);
  const uint64_t seen = bus.dma_generation();
  EXPECT_TRUE(bus.copy_to_ram(0x80003000, nullptr, 0));
  std::vector<Bus::DmaPages> pages;
  ASSERT_TRUE(bus.dma_pages_since(seen, pages));
  EXPECT_TRUE(pages.empty());
}

} // namespace
} // namespace nimbus::machine
