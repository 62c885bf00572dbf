// The bus's code watch (bus.hpp): once harts run on a bus, a DMA notice reaches them only for
// pages they decoded code from. Receive buffers (data) cost no invalidation; DMA into a page
// with decoded or translated code still makes every hart that holds it run the new bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "hart_assembler.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"

namespace nimbus::test {
namespace {

using namespace as;

constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kCode = kRamBase + 0x3000;
constexpr uint64_t kData = kRamBase + 0x5000;

TEST(BusCodeWatch, WithoutHartsEveryNoticeIsLogged) {
  machine::Bus bus(kRamBase, 1 << 20); // a device bus the VMM forwards (trap and hw modes)
  const uint64_t seen = bus.dma_generation();
  const uint32_t word = 7;
  ASSERT_TRUE(bus.copy_to_ram(kData, &word, 4));
  EXPECT_EQ(bus.dma_generation(), seen + 1);
}

// Two harts (one interpreting, one translating) loop on one page; DMA into a data page leaves
// the generation alone, DMA into the code page makes both run the new instruction, and again
// after they decoded it anew (the page is watched again).
TEST(BusCodeWatch, DmaIntoCodeStillInvalidatesEveryHart) {
  machine::Bus bus(kRamBase, 1 << 20);
  machine::Clock clock(true);
  machine::ReservationSet reservations;
  std::vector<std::unique_ptr<machine::Hart>> harts;
  for (unsigned i = 0; i < 2; ++i) harts.push_back(std::make_unique<machine::Hart>(i, bus, clock, reservations));
  harts[1]->set_jit(true, 1);
  const std::vector<uint32_t> loop = {addi(10, 10, 1), jal(0, -4)};
  for (size_t i = 0; i < loop.size(); ++i) ASSERT_TRUE(bus.copy_to_ram(kCode + 4 * i, &loop[i], 4));
  for (auto& h : harts) h->reset(kCode);
  const auto run_all = [&] {
    for (auto& h : harts) ASSERT_EQ(h->run(100), 100u);
  };
  run_all();
  for (auto& h : harts) EXPECT_EQ(h->x(10), 50u);
  EXPECT_GT(harts[1]->jit_translated_blocks(), 0u);

  const uint64_t seen = bus.dma_generation();
  const uint32_t frame = 0xdeadbeef;
  ASSERT_TRUE(bus.copy_to_ram(kData, &frame, 4));
  EXPECT_EQ(bus.dma_generation(), seen) << "no hart holds code on the data page";
  run_all();
  for (auto& h : harts) EXPECT_EQ(h->x(10), 100u);

  for (const int32_t step : {100, 1000}) {
    const uint32_t add = addi(10, 10, step);
    const uint64_t before = harts[0]->x(10);
    ASSERT_TRUE(bus.copy_to_ram(kCode, &add, 4));
    EXPECT_GT(bus.dma_generation(), seen);
    run_all();
    for (auto& h : harts) EXPECT_EQ(h->x(10), before + 50u * static_cast<uint64_t>(step)) << "step " << step;
  }
}

} // namespace
} // namespace nimbus::test
