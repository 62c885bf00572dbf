// GuestMemory snapshots: the memory file holds exactly the non-zero pages (sparse), and a
// restore maps it copy-on-write: the VM sees the bytes, its writes never reach the file, pages it
// never touched stay zero and untouched frames still come from the pool on demand.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "hypervisor/guest_memory.hpp"

namespace nimbus::hypervisor {
namespace {

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kLarge = 2ull << 20;

struct TempFile {
  std::string path;
  int fd = -1;
  TempFile() {
    char name[] = "/tmp/nimbus-memory-test.XXXXXX";
    fd = ::mkstemp(name);
    path = name;
  }
  ~TempFile() {
    ::close(fd);
    ::unlink(path.c_str());
  }
};

TEST(GuestMemorySnapshot, SavesOnlyNonZeroPagesAndRestoresThemCopyOnWrite) {
  FramePool pool(16 * kLarge, kLarge);
  GuestMemory source(pool, "src", kRamBase, 4 * kLarge);
  const uint64_t a = kRamBase + 0x3000, b = kRamBase + 2 * kLarge + 0x5008;
  const uint64_t va = 0x1122334455667788ull, vb = 0x99;
  ASSERT_EQ(source.write(a, &va, 8), GuestMemoryStatus::ok);
  ASSERT_EQ(source.write(b, &vb, 8), GuestMemoryStatus::ok);
  const uint64_t zero = 0;   // a touched page that holds only zeros is not written
  ASSERT_EQ(source.write(kRamBase + 3 * kLarge, &zero, 8), GuestMemoryStatus::ok);

  TempFile file;
  ASSERT_GE(file.fd, 0);
  const auto runs = source.save_pages(file.fd, file.path);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].first, 3u);
  EXPECT_EQ(runs[0].count, 1u);
  EXPECT_EQ(runs[1].first, (2 * kLarge + 0x5000) / 4096);
  struct stat st{};
  ASSERT_EQ(::fstat(file.fd, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 4 * kLarge);
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 64u * 1024) << "the memory file must be sparse";

  GuestMemory restored(pool, "dst", kRamBase, 4 * kLarge);
  restored.map_snapshot(file.fd, runs, file.path);
  EXPECT_TRUE(restored.snapshot_mapped());
  EXPECT_EQ(restored.resident_pages(), 2u) << "frames of the two saved pages are charged to the VM";
  uint64_t got = 0;
  ASSERT_EQ(restored.read(a, &got, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(got, va);
  ASSERT_EQ(restored.read(b, &got, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(got, vb);
  ASSERT_EQ(restored.read(b + 8, &got, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(got, 0u);
  // Writes stay private to the VM.
  const uint64_t changed = 0xdead;
  ASSERT_EQ(restored.write(a, &changed, 8), GuestMemoryStatus::ok);
  uint64_t in_file = 0;
  ASSERT_EQ(::pread(file.fd, &in_file, 8, 0x3000), 8);
  EXPECT_EQ(in_file, va);
  // A frame that was not in the snapshot is backed from the pool on first touch.
  ASSERT_EQ(restored.read(kRamBase + kLarge, &got, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(restored.resident_pages(), 3u);
  uint64_t machine = 0;
  EXPECT_THROW(restored.machine_address(a, machine), std::logic_error);
}

TEST(GuestMemorySnapshot, LoadCopiesPagesIntoFramesWithMachineAddresses) {
  FramePool pool(16 * kLarge, kLarge);
  GuestMemory source(pool, "src", kRamBase, 2 * kLarge);
  const uint64_t value = 0xfeedfacecafebeefull;
  ASSERT_EQ(source.write(kRamBase + kLarge + 0x10, &value, 8), GuestMemoryStatus::ok);
  TempFile file;
  const auto runs = source.save_pages(file.fd, file.path);
  GuestMemory restored(pool, "dst", kRamBase, 2 * kLarge);
  restored.load_snapshot(file.fd, runs, file.path);
  EXPECT_FALSE(restored.snapshot_mapped());
  EXPECT_EQ(restored.resident_pages(), 1u);
  uint64_t machine = 0;
  ASSERT_EQ(restored.machine_address(kRamBase + kLarge + 0x10, machine), GuestMemoryStatus::ok);
  uint64_t seen = 0;
  std::memcpy(&seen, pool.base() + machine, 8);
  EXPECT_EQ(seen, value) << "the bytes are in the VM's own frame";
  GuestMemory wrong(pool, "wrong", kRamBase, 4 * kLarge);
  EXPECT_THROW(wrong.load_snapshot(file.fd, runs, file.path), std::runtime_error) << "file size differs";
}

TEST(GuestMemorySnapshot, AttachFillsEachFrameFromTheFileOnItsFirstTouch) {
  // hw and trap modes' restore: frames are charged at once, filled by their first touch.
  FramePool pool(16 * kLarge, kLarge);
  GuestMemory source(pool, "src", kRamBase, 4 * kLarge);
  const uint64_t a = 0x1122334455667788ull, b = 0x99aabbccddeeff00ull;
  ASSERT_EQ(source.write(kRamBase + 0x3000, &a, 8), GuestMemoryStatus::ok);
  ASSERT_EQ(source.write(kRamBase + 2 * kLarge + 0x5008, &b, 8), GuestMemoryStatus::ok);
  ASSERT_EQ(source.write(kRamBase + 3 * kLarge + 0x10, &b, 8), GuestMemoryStatus::ok);
  TempFile file;
  const auto runs = source.save_pages(file.fd, file.path);
  const uint64_t free_before = pool.free_frames();
  GuestMemory restored(pool, "dst", kRamBase, 4 * kLarge);
  restored.attach_snapshot(file.fd, runs, file.path);
  EXPECT_EQ(pool.free_frames(), free_before - 3) << "every frame with saved pages is charged now";
  EXPECT_EQ(restored.resident_pages(), 3u);
  EXPECT_EQ(restored.snapshot_frames_waiting(), 3u);
  EXPECT_FALSE(restored.snapshot_mapped());
  uint64_t machine = 0;
  EXPECT_FALSE(restored.machine_address_if_backed(kRamBase + 0x3000, machine)) << "not read in yet";
  EXPECT_FALSE(restored.page_backed(3));

  // A machine-address touch (a shadow or G-stage fill) reads that frame in, and only it.
  ASSERT_EQ(restored.machine_address(kRamBase + 0x3000, machine), GuestMemoryStatus::ok);
  uint64_t seen = 0;
  std::memcpy(&seen, pool.base() + machine, 8);
  EXPECT_EQ(seen, a);
  std::memcpy(&seen, pool.base() + machine + 0x1000, 8);
  EXPECT_EQ(seen, 0u) << "a page not in the file is zeros";
  EXPECT_EQ(restored.snapshot_frames_waiting(), 2u);
  EXPECT_EQ(pool.free_frames(), free_before - 3) << "filling takes no further frame";
  // A frame given back before its first touch reads zeros, not the file's bytes.
  ASSERT_TRUE(restored.discard(3 * kLarge, kLarge));
  ASSERT_EQ(restored.read(kRamBase + 3 * kLarge + 0x10, &seen, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(seen, 0u);
  // A snapshot of the restored VM reads in what is still waiting and saves it all.
  TempFile again;
  const auto saved = restored.save_pages(again.fd, again.path);
  EXPECT_EQ(restored.snapshot_frames_waiting(), 0u);
  ASSERT_EQ(restored.read(kRamBase + 2 * kLarge + 0x5008, &seen, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(seen, b);
  EXPECT_EQ(saved.size(), 2u);
  GuestMemory wrong(pool, "wrong", kRamBase, 2 * kLarge);
  EXPECT_THROW(wrong.attach_snapshot(file.fd, runs, file.path), std::runtime_error) << "file size differs";

  // A pool without room for the saved frames refuses the restore and keeps nothing.
  FramePool small(2 * kLarge, kLarge);
  GuestMemory cramped(small, "cramped", kRamBase, 4 * kLarge);
  EXPECT_THROW(cramped.attach_snapshot(file.fd, runs, file.path), std::runtime_error);
  EXPECT_EQ(small.free_frames(), 2u);
  EXPECT_EQ(cramped.resident_pages(), 0u);
}

TEST(GuestMemorySnapshot, RefusesAWrongSizedFileAndBadRuns) {
  FramePool pool(8 * kLarge, kLarge);
  TempFile file;
  ASSERT_EQ(::ftruncate(file.fd, static_cast<off_t>(kLarge)), 0);
  GuestMemory vm(pool, "dst", kRamBase, 2 * kLarge);
  EXPECT_THROW(vm.map_snapshot(file.fd, {{0, 1}}, file.path), std::runtime_error);
  ASSERT_EQ(::ftruncate(file.fd, static_cast<off_t>(2 * kLarge)), 0);
  const uint64_t pages = 2 * kLarge / 4096;
  EXPECT_THROW(vm.map_snapshot(file.fd, {{pages, 1}}, file.path), std::runtime_error);
  EXPECT_THROW(vm.map_snapshot(file.fd, {{pages - 1, 2}}, file.path), std::runtime_error);
  EXPECT_THROW(vm.map_snapshot(file.fd, {{5, 1}, {2, 1}}, file.path), std::runtime_error);
  EXPECT_THROW(vm.map_snapshot(file.fd, {{5, 0}}, file.path), std::runtime_error);
  EXPECT_THROW(vm.map_snapshot(file.fd, {{~uint64_t{0}, 2}}, file.path), std::runtime_error);
  EXPECT_EQ(vm.resident_pages(), 0u);
}

} // namespace
} // namespace nimbus::hypervisor
