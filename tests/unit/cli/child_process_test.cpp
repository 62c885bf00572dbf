// sample_memory: what `nimbus bench` counts as a process's host memory, read from this test's
// own /proc/self/smaps.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>

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

// A hart's host-mapped window maps single pages of guest RAM again, at other addresses: those
// are guest RAM, not memory beyond it. Single pages of another shared file mapped alike count,
// as do private mappings; a second mapping of the same file range (a code cache's two views)
// counts once. Read from smaps text of that shape.
TEST(SampleMemory, MoreMappingsOfGuestRamsFileAreGuestRam) {
  const auto mapping = [](const char* range, const char* perms, const char* offset, const char* inode,
                          const char* name, uint64_t size_kib, uint64_t rss_kib) {
    return std::string(range) + " " + perms + " " + offset + " 00:01 " + inode + " " + name + "\n" +
           "Size:           " + std::to_string(size_kib) + " kB\n" + "Rss:            " + std::to_string(rss_kib) +
           " kB\nPss:            1 kB\n";
  };
  std::string text = mapping("7f0000000000-7f0000800000", "rw-s", "00000000", "1025", "/dev/zero (deleted)", 8192, 6000);
  // Guest RAM's pages in a window: 100 views of one page each.
  for (int i = 0; i < 100; ++i) {
    char offset[16];
    std::snprintf(offset, sizeof offset, "%08x", i * 0x3000);
    text += mapping("7e0000000000-7e0000001000", "rw-s", offset, "1025", "/dev/zero (deleted)", 4, 4);
  }
  text += mapping("7d0000000000-7d0000001000", "rw-s", "00000000", "2048", "/memfd:other (deleted)", 4, 4);
  text += mapping("7d0000002000-7d0000003000", "rw-s", "00002000", "2048", "/memfd:other (deleted)", 4, 4);
  text += mapping("7c0000000000-7c0000100000", "rw-s", "00000000", "3072", "/dev/zero (deleted)", 1024, 512); // code, writable
  text += mapping("7c0000200000-7c0000300000", "r-xs", "00000000", "3072", "/dev/zero (deleted)", 1024, 512); // code, executable
  text += mapping("560000000000-560000010000", "rw-p", "00000000", "0", "[heap]", 64, 40);
  std::istringstream in(text);
  const ProcessMemory m = parse_smaps(in, 8u << 20);
  EXPECT_EQ(m.guest_ram_rss, 6000u * 1024);
  EXPECT_EQ(m.overhead(), (4u + 4u + 512u + 40u) * 1024); // the window's 400 KiB not among them
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
