// Frames a balloon gave back return to the machine's frame pool (GuestMemory::set_release_given_back,
// emulate mode): a frame left all holes by discards leaves the VM at the next boundary (the pool
// counts it free, another VM can take it, and it reads as zeros there); a frame touched again
// before the boundary, or only partly given back, stays; the guest's next touch takes a fresh
// zeroed frame; and when the pool has none left, that touch is refused and the refusal is kept
// for the VM to stop on (take_exhaustion).
#include "hypervisor/guest_memory.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kFrame = 2 << 20;   // the VMM's frame size

void fill(GuestMemory& vm, uint64_t offset, uint64_t len, uint8_t value) {
  std::vector<uint8_t> bytes(len, value);
  ASSERT_EQ(vm.write(kRamBase + offset, bytes.data(), bytes.size()), GuestMemoryStatus::ok);
}

TEST(GuestMemoryGivenBack, WholeFramesReturnToThePoolAndComeBackZeroed) {
  FramePool pool(4 * kFrame, kFrame);
  GuestMemory a(pool, "a", kRamBase, 4 * kFrame);
  a.set_release_given_back(true);
  fill(a, 0, 4 * kFrame, 0xab);
  ASSERT_EQ(pool.free_frames(), 0u);

  // Frame 1 wholly (in two reports), frame 2 only in part, frame 3 wholly but touched again.
  ASSERT_TRUE(a.discard(kFrame, kFrame / 2));
  ASSERT_TRUE(a.discard(kFrame + kFrame / 2, kFrame / 2));
  ASSERT_TRUE(a.discard(2 * kFrame, kFrame - 4096));
  ASSERT_TRUE(a.discard(3 * kFrame, kFrame));
  EXPECT_TRUE(a.given_back_pending());
  fill(a, 3 * kFrame + 8192, 1, 0x11);
  EXPECT_EQ(a.release_given_back(), 1u);
  EXPECT_FALSE(a.given_back_pending());
  EXPECT_EQ(pool.free_frames(), 1u);
  EXPECT_EQ(a.frames_given_back(), 1u);
  EXPECT_EQ(a.resident_pages(), 3u);
  EXPECT_FALSE(a.page_backed(kFrame / 4096));
  EXPECT_TRUE(a.page_backed(2 * kFrame / 4096)) << "a partly given-back frame stays";
  EXPECT_TRUE(a.page_backed(3 * kFrame / 4096)) << "a frame touched again before the boundary stays";

  // Another VM takes it and reads zeros; the first VM's pool is then exhausted, and its touch
  // of the given-back page is refused and remembered.
  {
    GuestMemory b(pool, "b", kRamBase, kFrame);
    uint64_t word = 1;
    ASSERT_EQ(b.read(kRamBase + 64, &word, sizeof word), GuestMemoryStatus::ok);
    EXPECT_EQ(word, 0u);
    EXPECT_FALSE(a.take_exhaustion());
    EXPECT_EQ(a.write(kRamBase + kFrame, &word, sizeof word), GuestMemoryStatus::frames_exhausted);
    const auto refused = a.take_exhaustion();
    ASSERT_TRUE(refused);
    EXPECT_THAT(*refused, HasSubstr("VM 'a': no machine frame left for guest-physical 0x80200000"));
    EXPECT_FALSE(a.take_exhaustion()) << "reported once";
  }
  // Once b is gone the guest's touch takes a fresh frame.
  const uint64_t word = 5;
  EXPECT_EQ(a.write(kRamBase + kFrame, &word, sizeof word), GuestMemoryStatus::ok);
  EXPECT_EQ(pool.free_frames(), 0u);
}

TEST(GuestMemoryGivenBack, RetouchTakesAFreshZeroedFrame) {
  FramePool pool(2 * kFrame, kFrame);
  GuestMemory a(pool, "a", kRamBase, 2 * kFrame);
  a.set_release_given_back(true);
  fill(a, 0, 2 * kFrame, 0xcd);
  ASSERT_TRUE(a.discard(0, kFrame));
  ASSERT_EQ(a.release_given_back(), 1u);
  ASSERT_EQ(pool.free_frames(), 1u);
  std::vector<uint8_t> back(kFrame, 0xff);
  ASSERT_EQ(a.read(kRamBase, back.data(), back.size()), GuestMemoryStatus::ok);
  for (size_t i = 0; i < back.size(); i += 4096) ASSERT_EQ(back[i], 0) << "byte " << i;
  EXPECT_EQ(pool.free_frames(), 0u);
  EXPECT_EQ(a.resident_pages(), 2u);
  uint8_t kept = 0;
  ASSERT_EQ(a.read(kRamBase + kFrame + 5, &kept, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(kept, 0xcd);
}

TEST(GuestMemoryGivenBack, OffByDefaultAndWhileADirtyLogIsOn) {
  FramePool pool(2 * kFrame, kFrame);
  GuestMemory a(pool, "a", kRamBase, 2 * kFrame);
  fill(a, 0, 2 * kFrame, 1);
  ASSERT_TRUE(a.discard(0, kFrame));
  EXPECT_FALSE(a.given_back_pending()) << "trap and hw modes keep their frames";
  a.set_release_given_back(true);
  machine::DirtyLog log(2 * kFrame);
  a.set_dirty_log(&log);
  fill(a, 0, kFrame, 1);
  ASSERT_TRUE(a.discard(0, kFrame));
  EXPECT_EQ(a.release_given_back(), 0u) << "a migration's sender may be reading the frame";
  a.set_dirty_log(nullptr);
  EXPECT_EQ(pool.free_frames(), 0u);
}

} // namespace
} // namespace nimbus::hypervisor
