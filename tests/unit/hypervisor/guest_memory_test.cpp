#include "hypervisor/guest_memory.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <thread>

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;
constexpr uint64_t kRamBase = 0x8000'0000;

TEST(GuestMemory, FramesAreTakenOnFirstTouchOnly) {
  FramePool pool(16 * kFrameSize);
  GuestMemory vm(pool, "a", kRamBase, 64 * kFrameSize);   // more guest RAM than machine frames: overcommit
  EXPECT_EQ(vm.resident_pages(), 0u);
  EXPECT_EQ(pool.free_frames(), 16u);
  uint32_t value = 0x1234'5678;
  ASSERT_EQ(vm.write(kRamBase + 10, &value, sizeof value), GuestMemoryStatus::ok);
  ASSERT_EQ(vm.write(kRamBase + 100, &value, sizeof value), GuestMemoryStatus::ok);
  EXPECT_EQ(vm.resident_pages(), 1u);
  uint32_t back = 0;
  ASSERT_EQ(vm.read(kRamBase + 100, &back, sizeof back), GuestMemoryStatus::ok);
  EXPECT_EQ(back, value);
  ASSERT_EQ(vm.read(kRamBase + 63 * kFrameSize, &back, sizeof back), GuestMemoryStatus::ok);
  EXPECT_EQ(back, 0u);
  EXPECT_EQ(vm.resident_pages(), 2u);
  EXPECT_EQ(pool.frames_owned_by(vm.vm_id()), 2u);
}

TEST(GuestMemory, CopiesSpanPages) {
  FramePool pool(16 * kFrameSize);
  GuestMemory vm(pool, "a", kRamBase, 8 * kFrameSize);
  std::vector<uint8_t> data(3 * kFrameSize);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  const uint64_t at = kRamBase + kFrameSize - 5;
  ASSERT_EQ(vm.write(at, data.data(), data.size()), GuestMemoryStatus::ok);
  EXPECT_EQ(vm.resident_pages(), 4u);
  std::vector<uint8_t> back(data.size());
  ASSERT_EQ(vm.read(at, back.data(), back.size()), GuestMemoryStatus::ok);
  EXPECT_EQ(back, data);
  uint8_t* host = nullptr;
  ASSERT_EQ(vm.host_page(at + 5, host), GuestMemoryStatus::ok);
  EXPECT_EQ(*host, data[5]);
}

TEST(GuestMemory, AccessesOutsideRamAreRefusedNotWrapped) {
  FramePool pool(16 * kFrameSize);
  GuestMemory vm(pool, "edge", kRamBase, 4 * kFrameSize);
  uint64_t value = 1;
  const uint64_t end = kRamBase + 4 * kFrameSize;
  EXPECT_EQ(vm.write(kRamBase - 1, &value, 1), GuestMemoryStatus::outside_ram);
  EXPECT_EQ(vm.write(end, &value, 1), GuestMemoryStatus::outside_ram);
  EXPECT_EQ(vm.write(end - 4, &value, 8), GuestMemoryStatus::outside_ram);   // straddles the end
  EXPECT_EQ(vm.write(~uint64_t{0} - 2, &value, 8), GuestMemoryStatus::outside_ram);   // would wrap
  EXPECT_EQ(vm.read(0, &value, 8), GuestMemoryStatus::outside_ram);
  EXPECT_EQ(vm.read(kRamBase + (uint64_t{1} << 32), &value, 1), GuestMemoryStatus::outside_ram);
  uint8_t* host = nullptr;
  EXPECT_EQ(vm.host_page(end, host), GuestMemoryStatus::outside_ram);
  EXPECT_EQ(host, nullptr);
  EXPECT_EQ(vm.resident_pages(), 0u) << "a refused straddling write must not take frames";
  EXPECT_EQ(vm.write(end - 8, &value, 8), GuestMemoryStatus::ok);
  EXPECT_THAT(vm.describe(GuestMemoryStatus::outside_ram, end, 8),
              HasSubstr("VM 'edge': guest-physical access 0x80004000+8 lies outside its RAM [0x80000000, 0x80004000)"));
}

TEST(GuestMemory, RejectsBadWindows) {
  FramePool pool(4 * kFrameSize);
  EXPECT_THROW(GuestMemory(pool, "x", kRamBase, 0), FramePoolError);
  EXPECT_THROW(GuestMemory(pool, "x", kRamBase, 100), FramePoolError);
  EXPECT_THROW(GuestMemory(pool, "x", kRamBase + 1, kFrameSize), FramePoolError);
  EXPECT_THROW(GuestMemory(pool, "x", 0xFFFF'FFFF'FFFF'E000, 4 * kFrameSize), FramePoolError);
}

TEST(GuestMemory, ExhaustionFailsOnlyTheVmThatAsks) {
  FramePool pool(4 * kFrameSize);
  GuestMemory a(pool, "a", kRamBase, 8 * kFrameSize);
  GuestMemory b(pool, "b", kRamBase, 8 * kFrameSize);
  uint8_t byte = 0x5A;
  ASSERT_EQ(b.write(kRamBase, &byte, 1), GuestMemoryStatus::ok);
  for (uint64_t page = 0; page < 3; ++page)
    ASSERT_EQ(a.write(kRamBase + page * kFrameSize, &byte, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(a.write(kRamBase + 3 * kFrameSize, &byte, 1), GuestMemoryStatus::frames_exhausted);
  EXPECT_THAT(a.describe(GuestMemoryStatus::frames_exhausted, kRamBase + 3 * kFrameSize),
              HasSubstr("VM 'a': no machine frame left for guest-physical 0x80003000: all 4 frames"));
  // b keeps working on the pages it has; a keeps working on its own.
  uint8_t back = 0;
  EXPECT_EQ(b.read(kRamBase, &back, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(back, 0x5A);
  EXPECT_EQ(a.read(kRamBase + 2 * kFrameSize, &back, 1), GuestMemoryStatus::ok);
  // A multi-page write that cannot be backed moves no byte.
  std::array<uint8_t, 2 * kFrameSize> big{};
  big.fill(0xEE);
  EXPECT_EQ(a.write(kRamBase + 2 * kFrameSize, big.data(), big.size()), GuestMemoryStatus::frames_exhausted);
  EXPECT_EQ(a.read(kRamBase + 2 * kFrameSize, &back, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(back, 0x5A);
}

TEST(GuestMemory, DestroyingAVmReturnsEveryFrame) {
  FramePool pool(8 * kFrameSize);
  auto a = std::make_unique<GuestMemory>(pool, "a", kRamBase, 8 * kFrameSize);
  uint8_t byte = 1;
  for (uint64_t page = 0; page < 8; ++page) ASSERT_EQ(a->write(kRamBase + page * kFrameSize, &byte, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(pool.free_frames(), 0u);
  GuestMemory b(pool, "b", kRamBase, 8 * kFrameSize);
  EXPECT_EQ(b.write(kRamBase, &byte, 1), GuestMemoryStatus::frames_exhausted);
  a.reset();
  EXPECT_EQ(pool.free_frames(), 8u);
  EXPECT_EQ(b.write(kRamBase, &byte, 1), GuestMemoryStatus::ok);
}

TEST(GuestMemory, ConcurrentFirstTouchesOfOnePageShareOneFrame) {
  FramePool pool(64 * kFrameSize);
  GuestMemory vm(pool, "a", kRamBase, 16 * kFrameSize);
  std::array<uint8_t*, 4> seen{};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t)
    threads.emplace_back([&, t] {
      for (uint64_t page = 0; page < 16; ++page) {
        uint8_t* host = nullptr;
        ASSERT_EQ(vm.host_page(kRamBase + page * kFrameSize, host), GuestMemoryStatus::ok);
        if (page == 7) seen[t] = host;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(vm.resident_pages(), 16u);
  EXPECT_EQ(pool.frames_owned_by(vm.vm_id()), 16u);
  for (uint8_t* host : seen) EXPECT_EQ(host, seen[0]);
}

} // namespace
} // namespace nimbus::hypervisor
