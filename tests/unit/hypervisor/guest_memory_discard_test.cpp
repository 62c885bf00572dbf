// GuestMemory::discard (a balloon giving memory back): the pages read as zeros through the VM's
// view and through machine memory (what trap and hw modes address), the host stops holding them
// (host_resident_bytes falls), the frames stay the VM's, untouched pages stay unbacked, and a
// range outside RAM is refused.
#include "hypervisor/guest_memory.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace nimbus::hypervisor {
namespace {

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kFrame = 2 << 20;   // the VMM's frame size

TEST(GuestMemoryDiscard, PagesReadAsZerosAndTheHostLetsThemGo) {
  FramePool pool(16 * kFrame, kFrame);
  GuestMemory vm(pool, "a", kRamBase, 8 * kFrame);
  std::vector<uint8_t> bytes(kFrame + 8 * 4096, 0xab);
  ASSERT_EQ(vm.write(kRamBase, bytes.data(), bytes.size()), GuestMemoryStatus::ok);
  const uint64_t frames = pool.frames_owned_by(vm.vm_id());
  const uint64_t held = vm.host_resident_bytes();
  EXPECT_GE(held, bytes.size());

  // A range across the frame boundary, plus one never touched.
  ASSERT_TRUE(vm.discard(kFrame - 4 * 4096, 8 * 4096));
  ASSERT_TRUE(vm.discard(4 * kFrame, kFrame));
  EXPECT_EQ(vm.discarded_bytes(), 8u * 4096) << "only backed pages count as given back";
  EXPECT_EQ(pool.frames_owned_by(vm.vm_id()), frames) << "the frames stay the VM's; an untouched one is not taken";
  EXPECT_LE(vm.host_resident_bytes(), held - 8 * 4096);

  std::vector<uint8_t> back(12 * 4096);
  ASSERT_EQ(vm.read(kRamBase + kFrame - 6 * 4096, back.data(), back.size()), GuestMemoryStatus::ok);
  for (size_t i = 0; i < back.size(); ++i) {
    const bool discarded = i >= 2 * 4096 && i < 10 * 4096;
    ASSERT_EQ(back[i], discarded ? 0 : 0xab) << "byte " << i;
  }
  // Machine memory (trap and hw modes' view of the same frame) reads zeros too.
  uint64_t machine = 0;
  ASSERT_EQ(vm.machine_address(kRamBase + kFrame, machine), GuestMemoryStatus::ok);
  EXPECT_EQ(pool.base()[machine], 0);
  EXPECT_EQ(pool.base()[machine + 4 * 4096], 0xab);
  // A given-back page the guest touches again is an ordinary page.
  const uint32_t value = 7;
  ASSERT_EQ(vm.write(kRamBase + kFrame, &value, sizeof value), GuestMemoryStatus::ok);
  uint32_t read = 0;
  ASSERT_EQ(vm.read(kRamBase + kFrame, &read, sizeof read), GuestMemoryStatus::ok);
  EXPECT_EQ(read, 7u);
}

TEST(GuestMemoryDiscard, RangesOutsideRamAreRefused) {
  FramePool pool(4 * kFrame, kFrame);
  GuestMemory vm(pool, "a", kRamBase, 2 * kFrame);
  EXPECT_FALSE(vm.discard(2 * kFrame, 4096));
  EXPECT_FALSE(vm.discard(kFrame, kFrame + 4096));
  EXPECT_FALSE(vm.discard(~uint64_t{0} - 4095, 4096));
  EXPECT_FALSE(vm.discard(0, 0));
  EXPECT_EQ(pool.frames_owned_by(vm.vm_id()), 0u);
}

} // namespace
} // namespace nimbus::hypervisor
