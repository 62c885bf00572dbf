// Shadow tables without a hart: table pages from the VM's frames, the limit, address-space
// cache, fences and the SUM bookkeeping.
#include "hypervisor/trap_mode/shadow_page_tables.hpp"

#include <gtest/gtest.h>

#include "hypervisor/trap_mode/guest_page_walk.hpp"

namespace nimbus::hypervisor {
namespace {

constexpr uint64_t kSv39 = uint64_t{8} << 60;

TEST(ShadowTablePages, CarvesTheOwnersFramesUpToTheLimitAndReturnsThem) {
  FramePool pool(16 * (2ull << 20), 2ull << 20);   // 2 MiB frames: 512 table pages each
  const VmId vm = pool.register_vm();
  {
    ShadowTablePages pages(pool, vm, 600);
    std::vector<uint64_t> got;
    for (int i = 0; i < 600; ++i) {
      const auto page = pages.allocate();
      ASSERT_TRUE(page.has_value());
      EXPECT_EQ(pool.owner_of(static_cast<FrameNumber>(*page >> pool.frame_shift())), vm);
      EXPECT_EQ(*page % 4096, 0u);
      got.push_back(*page);
    }
    EXPECT_FALSE(pages.allocate().has_value()); // the limit
    EXPECT_EQ(pages.frames_held(), 2u);
    EXPECT_EQ(pool.frames_owned_by(vm), 2u);
    pages.entries(got[5])[3] = 42;               // a used page comes back zeroed
    pages.release_all();
    EXPECT_EQ(pages.in_use(), 0u);
    for (int i = 0; i < 600; ++i) {
      const auto page = pages.allocate();
      ASSERT_TRUE(page.has_value());
      for (unsigned e = 0; e < 512; ++e) ASSERT_EQ(pages.entries(*page)[e], 0u);
    }
  }
  EXPECT_EQ(pool.frames_owned_by(vm), 0u);
}

class ShadowTablesTest : public ::testing::Test {
protected:
  FramePool pool{8ull << 20};
  VmId vm = pool.register_vm();
  ShadowTablePages pages{pool, vm, 256};
  ShadowPageTables shadows{pages, 4};
  using Root = ShadowPageTables::Root;

  ShadowPageTables::Leaf leaf(uint64_t machine, bool global = false, bool sum_user = false) {
    ShadowPageTables::Leaf l;
    l.machine_page = machine;
    l.read = l.write = true;
    l.global = global;
    l.sum_user = sum_user;
    return l;
  }
};

TEST_F(ShadowTablesTest, LeavesAreUserPagesWithAccessedAndDirtyPreset) {
  shadows.select(kSv39 | 1);
  ASSERT_EQ(shadows.map(Root::supervisor, 0x4000'1000, leaf(0x707000)), ShadowPageTables::Result::ok);
  const uint64_t pte_value = shadows.lookup(Root::supervisor, 0x4000'1000);
  EXPECT_EQ((pte_value >> 10) << 12, 0x707000u);
  EXPECT_EQ(pte_value & (pte::kV | pte::kU | pte::kA | pte::kD | pte::kR | pte::kW),
            pte::kV | pte::kU | pte::kA | pte::kD | pte::kR | pte::kW);
  EXPECT_EQ(pte_value & pte::kX, 0u);
  EXPECT_EQ(shadows.lookup(Root::user, 0x4000'1000), 0u); // the other root is separate
}

TEST_F(ShadowTablesTest, SpacesAreCachedLeastRecentlyUsedFirstOut) {
  for (uint64_t asid = 1; asid <= 4; ++asid) {
    shadows.select(kSv39 | (asid << 44));
    shadows.map(Root::user, 0x1000, leaf(0x700000 + 0x1000 * asid));
  }
  EXPECT_EQ(shadows.spaces(), 4u);
  shadows.select(kSv39 | (uint64_t{2} << 44));
  EXPECT_EQ((shadows.lookup(Root::user, 0x1000) >> 10) << 12, 0x702000u);
  shadows.select(kSv39 | (uint64_t{9} << 44)); // a fifth space evicts the least recent (bare at boot, then ASID 1)
  EXPECT_EQ(shadows.spaces(), 4u);
  shadows.select(kSv39 | (uint64_t{2} << 44));
  EXPECT_NE(shadows.lookup(Root::user, 0x1000), 0u);
}

TEST_F(ShadowTablesTest, AsidFenceKeepsGlobalLeavesAddressFenceHitsEverySpace) {
  shadows.select(kSv39 | (uint64_t{1} << 44));
  shadows.map(Root::supervisor, 0x4000'0000, leaf(0x701000, /*global=*/true));
  shadows.map(Root::supervisor, 0x4000'1000, leaf(0x702000));
  shadows.invalidate_asid(1);
  EXPECT_NE(shadows.lookup(Root::supervisor, 0x4000'0000), 0u);
  EXPECT_EQ(shadows.lookup(Root::supervisor, 0x4000'1000), 0u);
  shadows.select(kSv39 | (uint64_t{2} << 44));
  shadows.map(Root::supervisor, 0x4000'0000, leaf(0x701000, true));
  shadows.invalidate_address(0x4000'0000);
  EXPECT_EQ(shadows.lookup(Root::supervisor, 0x4000'0000), 0u);
  shadows.select(kSv39 | (uint64_t{1} << 44));
  EXPECT_EQ(shadows.lookup(Root::supervisor, 0x4000'0000), 0u);
}

TEST_F(ShadowTablesTest, SumLeavesAreDroppedWhenSumClearsAndStayBounded) {
  shadows.select(kSv39 | (uint64_t{1} << 44));
  EXPECT_FALSE(shadows.clear_sum_leaves());
  shadows.map(Root::supervisor, 0x1000, leaf(0x701000, false, true));
  shadows.map(Root::supervisor, 0x4000'0000, leaf(0x702000)); // a kernel page
  EXPECT_TRUE(shadows.clear_sum_leaves());
  EXPECT_EQ(shadows.lookup(Root::supervisor, 0x1000), 0u);
  EXPECT_NE(shadows.lookup(Root::supervisor, 0x4000'0000), 0u);
  // A guest that keeps SUM set and refills one page forever does not grow the list.
  for (size_t i = 0; i < 3 * ShadowPageTables::kMaxSumSlots; ++i) {
    ASSERT_EQ(shadows.map(Root::supervisor, 0x1000 * (i % 64 + 1), leaf(0x701000, false, true)),
              ShadowPageTables::Result::ok);
  }
  EXPECT_TRUE(shadows.clear_sum_leaves());
  for (uint64_t page = 1; page <= 64; ++page) EXPECT_EQ(shadows.lookup(Root::supervisor, 0x1000 * page), 0u);
}

TEST_F(ShadowTablesTest, TheLimitResetsEverythingAndReportsIt) {
  ShadowTablePages small(pool, vm, 4);
  ShadowPageTables tables(small, 4);
  tables.select(kSv39 | (uint64_t{1} << 44));
  // Root + L1 + L0 for the first; the second 1 GiB region needs two more: over the limit.
  EXPECT_EQ(tables.map(Root::supervisor, 0x0000'1000, leaf(0x701000)), ShadowPageTables::Result::ok);
  EXPECT_EQ(tables.map(Root::supervisor, 0x4000'1000, leaf(0x702000)), ShadowPageTables::Result::reset);
  EXPECT_EQ(tables.resets(), 1u);
  EXPECT_EQ(tables.lookup(Root::supervisor, 0x0000'1000), 0u);
  EXPECT_NE(tables.lookup(Root::supervisor, 0x4000'1000), 0u);
  EXPECT_LE(small.in_use(), 4u);
}

} // namespace
} // namespace nimbus::hypervisor

namespace nimbus::hypervisor {
namespace {

// Found by fuzz_shadow_tables: with fewer table pages than one walk needs, map() reset and
// restarted forever. It now fails after one reset (the caller reports the VM out of shadow
// memory) and a walk that fits still works.
TEST(ShadowTableLimit, AWalkThatCannotFitFailsInsteadOfLooping) {
  FramePool pool{8ull << 20};
  const VmId vm = pool.register_vm();
  ShadowTablePages pages{pool, vm, 3};
  ShadowPageTables shadows{pages, 2};
  ShadowPageTables::Leaf leaf;
  leaf.machine_page = 0x5000;
  leaf.read = true;
  shadows.select(uint64_t{10} << 60);   // Sv57: a walk needs 5 table pages
  EXPECT_EQ(shadows.map(ShadowPageTables::Root::user, 0x4000, leaf), ShadowPageTables::Result::failed);
  EXPECT_LE(shadows.table_pages(), 3u);
  shadows.select(uint64_t{8} << 60);    // Sv39: 3 pages fit, after the reset the failure left
  EXPECT_NE(shadows.map(ShadowPageTables::Root::user, 0x4000, leaf), ShadowPageTables::Result::failed);
  EXPECT_NE(shadows.lookup(ShadowPageTables::Root::user, 0x4000), 0u);
}

} // namespace
} // namespace nimbus::hypervisor

namespace nimbus::hypervisor {
namespace {

// Found by fuzz_shadow_tables: an ASID fence forgot every SUM leaf, also the global ones it
// kept, so a guest user page marked global stayed reachable from the guest kernel after it
// cleared SUM (the guest's own protection, not the host's, but a difference from hardware).
TEST_F(ShadowTablesTest, AGlobalSumLeafKeptByAnAsidFenceStillGoesWhenSumClears) {
  shadows.select(kSv39 | uint64_t{1} << 44);
  ASSERT_EQ(shadows.map(Root::supervisor, 0x10000, leaf(0x7000, /*global=*/true, /*sum_user=*/true)),
            ShadowPageTables::Result::ok);
  ASSERT_EQ(shadows.map(Root::supervisor, 0x11000, leaf(0x8000, /*global=*/false, /*sum_user=*/true)),
            ShadowPageTables::Result::ok);
  shadows.invalidate_asid(1);
  EXPECT_NE(shadows.lookup(Root::supervisor, 0x10000), 0u); // global: survives the fence
  EXPECT_EQ(shadows.lookup(Root::supervisor, 0x11000), 0u);
  shadows.clear_sum_leaves();
  EXPECT_EQ(shadows.lookup(Root::supervisor, 0x10000), 0u);
}

} // namespace
} // namespace nimbus::hypervisor
