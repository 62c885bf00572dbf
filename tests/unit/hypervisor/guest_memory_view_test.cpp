// GuestMemory as a bus's RAM: the contiguous view, large frames, machine addresses.
#include <gtest/gtest.h>

#include <cstring>

#include "hypervisor/guest_memory.hpp"
#include "machine/bus.hpp"

namespace nimbus::hypervisor {
namespace {

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kLarge = 2ull << 20;

TEST(GuestMemoryView, LargeFramesAreHandedOutPerFrameAndAliasMachineMemory) {
  FramePool pool(4 * kLarge, kLarge);
  ASSERT_EQ(pool.frame_size(), kLarge);
  GuestMemory vm(pool, "a", kRamBase, 3 * kLarge);
  EXPECT_EQ(vm.resident_pages(), 0u);
  const uint64_t gpa = kRamBase + kLarge + 0x1234;
  const uint32_t value = 0xC0FFEE;
  ASSERT_EQ(vm.write(gpa, &value, sizeof value), GuestMemoryStatus::ok);
  EXPECT_EQ(vm.resident_pages(), 1u);   // one 2 MiB frame, not the whole RAM
  uint64_t machine = 0;
  ASSERT_EQ(vm.machine_address(gpa, machine), GuestMemoryStatus::ok);
  EXPECT_EQ(machine % kLarge, 0x1234u);
  uint32_t seen = 0;
  std::memcpy(&seen, pool.base() + machine, sizeof seen);   // the same byte through machine memory
  EXPECT_EQ(seen, value);
  // A write through machine memory shows in the view: they are one frame.
  pool.base()[machine] = 0x77;
  uint8_t through_view = 0;
  ASSERT_EQ(vm.read(gpa, &through_view, 1), GuestMemoryStatus::ok);
  EXPECT_EQ(through_view, 0x77);
}

TEST(GuestMemoryView, BusOverGuestMemoryBacksPagesOnFirstAccess) {
  FramePool pool(8 * kFrameSize);
  GuestMemory vm(pool, "bus", kRamBase, 16 * kFrameSize);
  machine::Bus bus(kRamBase, 16 * kFrameSize, vm);
  EXPECT_EQ(vm.resident_pages(), 0u);
  ASSERT_TRUE(bus.write(kRamBase + 5 * kFrameSize + 8, 8, 0x1122334455667788ull));
  EXPECT_EQ(vm.resident_pages(), 1u);
  uint64_t back = 0;
  ASSERT_TRUE(bus.read(kRamBase + 5 * kFrameSize + 8, 8, back));
  EXPECT_EQ(back, 0x1122334455667788ull);
  uint64_t direct = 0;
  ASSERT_EQ(vm.read(kRamBase + 5 * kFrameSize + 8, &direct, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(direct, back);
  // A multi-page copy backs every page it spans.
  std::vector<uint8_t> data(3 * kFrameSize, 0x5A);
  ASSERT_TRUE(bus.copy_to_ram(kRamBase + 9 * kFrameSize - 7, data.data(), data.size()));
  EXPECT_EQ(vm.resident_pages(), 5u);
  EXPECT_FALSE(bus.is_ram(kRamBase + 16 * kFrameSize, 1));
}

TEST(GuestMemoryView, ExhaustedPoolIsAnAccessFaultNotACrash) {
  FramePool pool(2 * kFrameSize);
  GuestMemory vm(pool, "small", kRamBase, 8 * kFrameSize);
  machine::Bus bus(kRamBase, 8 * kFrameSize, vm);
  ASSERT_TRUE(bus.write(kRamBase, 4, 1));
  ASSERT_TRUE(bus.write(kRamBase + kFrameSize, 4, 2));
  EXPECT_FALSE(bus.write(kRamBase + 2 * kFrameSize, 4, 3));   // third frame: none left
  uint64_t value = 0;
  EXPECT_FALSE(bus.read(kRamBase + 7 * kFrameSize, 4, value));
  EXPECT_EQ(bus.ram_pointer(kRamBase + 3 * kFrameSize, 4), nullptr);
}

TEST(GuestMemoryView, ReleasedFramesReadAsZeroThroughANewOwnersView) {
  FramePool pool(1 * kLarge, kLarge);
  {
    GuestMemory first(pool, "first", kRamBase, kLarge);
    std::vector<uint8_t> secret(kLarge, 0xA5);
    ASSERT_EQ(first.write(kRamBase, secret.data(), secret.size()), GuestMemoryStatus::ok);
  }
  GuestMemory second(pool, "second", kRamBase, kLarge);
  std::vector<uint8_t> seen(kLarge, 0xFF);
  ASSERT_EQ(second.read(kRamBase, seen.data(), seen.size()), GuestMemoryStatus::ok);
  for (size_t i = 0; i < seen.size(); i += 511) ASSERT_EQ(seen[i], 0) << "byte " << i << " leaked";
}

TEST(GuestMemoryView, RejectsFrameSizesThatAreNotPowersOfTwo) {
  EXPECT_THROW(FramePool(3 * kFrameSize, 3 * kFrameSize), FramePoolError);
  EXPECT_THROW(FramePool(kFrameSize, 2048), FramePoolError);
  EXPECT_THROW(FramePool(3 * kFrameSize, 2 * kFrameSize), FramePoolError);   // not whole frames
}

} // namespace
} // namespace nimbus::hypervisor
