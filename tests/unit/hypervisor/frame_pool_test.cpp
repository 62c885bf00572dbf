#include "hypervisor/frame_pool.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

namespace nimbus::hypervisor {
namespace {

TEST(FramePool, RejectsBadSizes) {
  EXPECT_THROW(FramePool(0), FramePoolError);
  EXPECT_THROW(FramePool(4095), FramePoolError);
  EXPECT_THROW(FramePool(4096 * 3 + 1), FramePoolError);
  EXPECT_THROW(FramePool(uint64_t{1} << 45), FramePoolError);   // beyond 16 TiB of frames
}

TEST(FramePool, HandsOutEachFrameOnceUntilExhausted) {
  FramePool pool(8 * kFrameSize);
  VmId a = pool.register_vm();
  VmId b = pool.register_vm();
  EXPECT_NE(a, kNoVm);
  EXPECT_NE(a, b);
  std::set<FrameNumber> seen;
  for (int i = 0; i < 8; ++i) {
    auto frame = pool.allocate(i % 2 ? a : b);
    ASSERT_TRUE(frame);
    EXPECT_TRUE(seen.insert(*frame).second) << "frame " << *frame << " handed out twice";
    EXPECT_LT(*frame, 8u);
  }
  EXPECT_FALSE(pool.allocate(a));
  EXPECT_EQ(pool.free_frames(), 0u);
  EXPECT_EQ(pool.frames_owned_by(a), 4u);
  EXPECT_EQ(pool.frames_owned_by(b), 4u);
}

TEST(FramePool, OnlyTheOwnerMayRelease) {
  FramePool pool(4 * kFrameSize);
  VmId a = pool.register_vm();
  VmId b = pool.register_vm();
  auto frame = pool.allocate(a);
  ASSERT_TRUE(frame);
  EXPECT_EQ(pool.owner_of(*frame), a);
  EXPECT_THROW(pool.release(*frame, b), FramePoolError);
  EXPECT_THROW(pool.release(*frame, kNoVm), FramePoolError);
  EXPECT_THROW(pool.release(100, a), FramePoolError);
  EXPECT_THROW(pool.allocate(kNoVm), FramePoolError);
  EXPECT_THROW(pool.allocate(999), FramePoolError);
  pool.release(*frame, a);
  EXPECT_EQ(pool.owner_of(*frame), kNoVm);
  EXPECT_THROW(pool.release(*frame, a), FramePoolError) << "double release accepted";
  EXPECT_EQ(pool.free_frames(), 4u);
}

TEST(FramePool, ReturnedFrameComesBackZeroed) {
  FramePool pool(1 * kFrameSize);
  VmId a = pool.register_vm();
  VmId b = pool.register_vm();
  auto frame = pool.allocate(a);
  ASSERT_TRUE(frame);
  std::memset(pool.frame_data(*frame), 0xA5, kFrameSize);
  pool.release(*frame, a);
  auto again = pool.allocate(b);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *frame);   // only one frame exists
  for (uint64_t i = 0; i < kFrameSize; ++i) ASSERT_EQ(pool.frame_data(*again)[i], 0) << "byte " << i << " leaked";
}

} // namespace
} // namespace nimbus::hypervisor
