#include "hypervisor/hw_mode/g_stage_table.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hypervisor/guest_memory.hpp"

namespace nimbus::hypervisor {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kRamBase = 0x8000'0000;

struct Fixture {
  FramePool pool{16 * kMiB, 2 * kMiB};
  GuestMemory ram{pool, "vm", kRamBase, 8 * kMiB};
  TablePages pages{pool, ram.vm_id(), 64};
  GStageTable table{pages, pool.base(), 0};
};

TEST(GStageTable, HgatpSelectsSv39x4WithVmidAndAlignedRoot) {
  Fixture f;
  const uint64_t hgatp = f.table.hgatp(5);
  EXPECT_EQ(hgatp >> 60, GStageTable::kModeSv39x4);
  EXPECT_EQ((hgatp >> 44) & 0x3fff, 5u);
  EXPECT_EQ(f.table.root() % (16 * 1024), 0u);
  EXPECT_EQ(f.pool.owner_of(static_cast<FrameNumber>(f.table.root() >> f.pool.frame_shift())), f.ram.vm_id());
}

TEST(GStageTable, MapsPagesAndMegapagesToTheVmsFrames) {
  Fixture f;
  uint64_t machine = 0;
  ASSERT_EQ(f.ram.machine_address(kRamBase, machine), GuestMemoryStatus::ok);
  const uint64_t rwx = GStageTable::kRead | GStageTable::kWrite | GStageTable::kExecute;
  ASSERT_EQ(f.table.map(kRamBase, machine, GStageTable::kMegapage, rwx), GStageTable::MapStatus::ok);
  EXPECT_EQ(f.table.translate(kRamBase + 0x12345), machine + 0x12345);
  uint64_t page = 0;
  ASSERT_EQ(f.ram.machine_address(kRamBase + 6 * kMiB + 0x3000, page), GuestMemoryStatus::ok);
  ASSERT_EQ(f.table.map(kRamBase + 6 * kMiB + 0x3000, page, 4096, GStageTable::kRead), GStageTable::MapStatus::ok);
  EXPECT_EQ(f.table.translate(kRamBase + 6 * kMiB + 0x3abc), page + 0xabc);
  EXPECT_FALSE(f.table.translate(kRamBase + 6 * kMiB + 0x4000));
  EXPECT_FALSE(f.table.translate(0x1000'0000));   // device addresses stay unmapped: they fault
  EXPECT_EQ(f.table.mapped_bytes(), GStageTable::kMegapage + 4096);
}

// The vCPUs of a hw VM run on threads of their own and fill the table at their own G-stage
// faults, often of the same pages (both touch a page at once): every page ends up mapped to its
// own frame once, the leaf tables are shared, and the bytes are counted once. Twenty trials:
// without the table's lock a lost leaf table shows in about one trial of four.
TEST(GStageTable, ConcurrentFillsFromSeveralVcpusMapEachPageOnce) {
  constexpr uint64_t kPages = 6 * kMiB / 4096;   // 6 MiB of RAM in 4 KiB pages: three leaf tables
  const uint64_t rw = GStageTable::kRead | GStageTable::kWrite;
  for (int trial = 0; trial < 20; ++trial) {
    Fixture f;
    std::vector<uint64_t> machine(kPages);
    for (uint64_t i = 0; i < kPages; ++i)
      ASSERT_EQ(f.ram.machine_address(kRamBase + i * 4096, machine[i]), GuestMemoryStatus::ok);
    std::vector<std::thread> vcpus;
    std::vector<int> failures(4, 0);
    for (unsigned t = 0; t < 4; ++t)
      vcpus.emplace_back([&, t] {
        // Each thread walks the pages in its own order; all of them map every page.
        for (uint64_t n = 0; n < kPages; ++n) {
          const uint64_t i = (n * (2 * t + 1) + t * 97) % kPages;
          if (f.table.map(kRamBase + i * 4096, machine[i], 4096, rw) != GStageTable::MapStatus::ok) ++failures[t];
        }
      });
    for (auto& v : vcpus) v.join();
    ASSERT_EQ(failures, std::vector<int>(4, 0));
    for (uint64_t i = 0; i < kPages; ++i) ASSERT_EQ(f.table.translate(kRamBase + i * 4096 + 8), machine[i] + 8) << i;
    ASSERT_EQ(f.table.mapped_bytes(), kPages * 4096);
  }
}

TEST(GStageTable, RefusesMisalignedOddAndConflictingMappings) {
  Fixture f;
  uint64_t machine = 0;
  ASSERT_EQ(f.ram.machine_address(kRamBase, machine), GuestMemoryStatus::ok);
  EXPECT_EQ(f.table.map(kRamBase + 4096, machine, GStageTable::kMegapage, GStageTable::kRead),
            GStageTable::MapStatus::bad_address);
  EXPECT_EQ(f.table.map(kRamBase, machine, 8192, GStageTable::kRead), GStageTable::MapStatus::bad_address);
  EXPECT_EQ(f.table.map(kRamBase, machine, 4096, GStageTable::kWrite), GStageTable::MapStatus::bad_address);
  EXPECT_EQ(f.table.map(uint64_t{1} << 41, machine, 4096, GStageTable::kRead), GStageTable::MapStatus::bad_address);
  ASSERT_EQ(f.table.map(kRamBase, machine, GStageTable::kMegapage, GStageTable::kRead), GStageTable::MapStatus::ok);
  EXPECT_EQ(f.table.map(kRamBase, machine, GStageTable::kMegapage, GStageTable::kRead), GStageTable::MapStatus::ok);
  EXPECT_EQ(f.table.map(kRamBase + 4096, machine + 4096, 4096, GStageTable::kRead), GStageTable::MapStatus::conflict);
  EXPECT_EQ(f.table.map(kRamBase, machine + GStageTable::kMegapage, GStageTable::kMegapage, GStageTable::kRead),
            GStageTable::MapStatus::conflict);
}

TEST(GStageTable, TablePagesAreCappedPerVm) {
  FramePool pool(16 * kMiB, 2 * kMiB);
  GuestMemory ram(pool, "vm", kRamBase, 8 * kMiB);
  TablePages pages(pool, ram.vm_id(), 5);   // the root (4 pages) and one more
  GStageTable table(pages, pool.base(), 0);
  uint64_t machine = 0;
  ASSERT_EQ(ram.machine_address(kRamBase, machine), GuestMemoryStatus::ok);
  // A 4 KiB page needs two intermediate tables: the second is over the cap.
  EXPECT_EQ(table.map(kRamBase, machine, 4096, GStageTable::kRead), GStageTable::MapStatus::no_table_memory);
  table.clear();
  EXPECT_EQ(table.map(kRamBase, machine, GStageTable::kMegapage, GStageTable::kRead), GStageTable::MapStatus::ok);
  EXPECT_EQ(table.translate(kRamBase + 5), machine + 5);
}

TEST(TablePages, PagesComeFromTheOwnersFramesAndGoBack) {
  FramePool pool(8 * kMiB, 2 * kMiB);
  const VmId vm = pool.register_vm();
  {
    TablePages pages(pool, vm, 1024);
    for (int i = 0; i < 600; ++i) ASSERT_TRUE(pages.allocate());   // more than one 2 MiB frame
    EXPECT_EQ(pages.frames_held(), 2u);
    EXPECT_EQ(pool.frames_owned_by(vm), 2u);
    const auto aligned = pages.allocate(4, 16 * 1024);
    ASSERT_TRUE(aligned);
    EXPECT_EQ(*aligned % (16 * 1024), 0u);
    EXPECT_NE(pages.host(*aligned), nullptr);
    EXPECT_EQ(pages.host(pool.bytes() - 1), nullptr);
  }
  EXPECT_EQ(pool.frames_owned_by(vm), 0u);
}

} // namespace
} // namespace nimbus::hypervisor
