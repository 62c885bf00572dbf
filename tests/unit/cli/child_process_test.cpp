// sample_memory: what `nimbus bench` counts as a process's host memory, read from this test's
// own /proc/self/smaps.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "cli/child_process.hpp"

namespace nimbus::cli {
namespace {

constexpr size_t kBytes = 8u << 20;

// A memfd of kBytes, every page written, mapped `views` times (as a JIT maps its code cache
// writable and executable); returns the mappings.
std::vector<void*> map_memfd(int fd, int views) {
  std::vector<void*> maps;
  for (int i = 0; i < views; ++i) {
    void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(p, MAP_FAILED);
    maps.push_back(p);
  }
  std::memset(maps[0], 0x5a, kBytes);
  for (void* p : maps) {  // fault every view's pages in
    volatile const char* c = static_cast<const char*>(p);
    uint64_t sum = 0;
    for (size_t off = 0; off < kBytes; off += 4096) sum += c[off];
    EXPECT_EQ(sum, 0x5aull * (kBytes / 4096));
  }
  return maps;
}

TEST(SampleMemory, PagesMappedTwiceCountOnceAndGuestRamIsTheMappingOfItsSize) {
  const int fd = memfd_create("sample-memory-test", 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, kBytes), 0);
  const ProcessMemory before = sample_memory(getpid(), kBytes);
  auto maps = map_memfd(fd, 2);
  const ProcessMemory after = sample_memory(getpid(), kBytes);
  const int64_t grew = static_cast<int64_t>(after.total_rss) - static_cast<int64_t>(before.total_rss);
  // One copy of the pages (plus a little for the test's own allocations), not two.
  EXPECT_GE(grew, static_cast<int64_t>(kBytes));
  EXPECT_LT(grew, static_cast<int64_t>(kBytes + kBytes / 2));
  // The mapping of exactly the RAM size is guest RAM: the overhead excludes it.
  EXPECT_EQ(after.guest_ram_rss, kBytes);
  EXPECT_LT(after.overhead(), after.total_rss);
  for (void* p : maps) munmap(p, kBytes);
  close(fd);
}

// A hart's host-mapped window maps single pages of guest RAM's file again, at other addresses:
// those are guest RAM, not memory beyond it. Pages of another file mapped alike do count.
TEST(SampleMemory, MoreMappingsOfGuestRamsFileAreGuestRam) {
  const int ram_fd = memfd_create("sample-memory-ram", 0), other_fd = memfd_create("sample-memory-other", 0);
  ASSERT_GE(ram_fd, 0);
  ASSERT_GE(other_fd, 0);
  ASSERT_EQ(ftruncate(ram_fd, kBytes), 0);
  ASSERT_EQ(ftruncate(other_fd, kBytes), 0);
  auto ram = map_memfd(ram_fd, 1);
  const ProcessMemory before = sample_memory(getpid(), kBytes);
  std::vector<void*> pages;
  for (int fd : {ram_fd, other_fd})
    for (off_t page = 0; page < 64; page += 2) { // apart: each its own mapping
      void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page * 4096);
      ASSERT_NE(p, MAP_FAILED);
      static_cast<volatile char*>(p)[0] = 1;
      pages.push_back(p);
    }
  const ProcessMemory after = sample_memory(getpid(), kBytes);
  EXPECT_EQ(after.guest_ram_rss, kBytes);
  const int64_t grew = static_cast<int64_t>(after.overhead()) - static_cast<int64_t>(before.overhead());
  EXPECT_GE(grew, 32 * 4096); // the other file's 32 pages
  EXPECT_LT(grew, 32 * 4096 + 96 * 1024); // not guest RAM's 32 as well (a little for the test's own)
  for (void* p : pages) munmap(p, 4096);
  for (void* p : ram) munmap(p, kBytes);
  close(ram_fd);
  close(other_fd);
}

TEST(SampleMemory, PrivateMappingsEachCount) {
  const ProcessMemory before = sample_memory(getpid(), 1);
  std::vector<void*> maps;
  for (int i = 0; i < 2; ++i) {
    void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    std::memset(p, 1, kBytes);
    maps.push_back(p);
  }
  const ProcessMemory after = sample_memory(getpid(), 1);
  EXPECT_GE(after.total_rss, before.total_rss + 2 * kBytes);
  for (void* p : maps) munmap(p, kBytes);
}

TEST(SampleMemory, AGoneProcessIsZero) {
  const ProcessMemory m = sample_memory(999999999, 1);
  EXPECT_EQ(m.total_rss, 0u);
  EXPECT_EQ(m.overhead(), 0u);
}

} // namespace
} // namespace nimbus::cli
