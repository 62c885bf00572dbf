// Random create / touch / destroy sequences across several VMs sharing one small frame pool,
// checked against a model of what each VM wrote: no frame is ever in two VMs, no frame leaks,
// and every byte a VM reads is one it wrote itself (or zero).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "hypervisor/guest_memory.hpp"

namespace nimbus::hypervisor {
namespace {

struct LiveVm {
  std::unique_ptr<GuestMemory> memory;
  std::map<uint64_t, uint8_t> written;   // gpa -> byte; unwritten bytes must read as zero
};

void check_pool_invariants(const FramePool& pool, const std::vector<LiveVm>& vms) {
  std::set<FrameNumber> all;
  uint64_t resident = 0;
  for (const LiveVm& vm : vms) {
    std::vector<FrameNumber> frames = vm.memory->frames();
    ASSERT_EQ(frames.size(), vm.memory->resident_pages());
    ASSERT_EQ(frames.size(), pool.frames_owned_by(vm.memory->vm_id()));
    for (FrameNumber frame : frames) {
      ASSERT_TRUE(all.insert(frame).second) << "frame " << frame << " mapped into two VMs";
      ASSERT_EQ(pool.owner_of(frame), vm.memory->vm_id());
    }
    resident += frames.size();
  }
  ASSERT_EQ(resident + pool.free_frames(), pool.total_frames()) << "frames leaked";
}

void run_sequence(uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 random(seed);
  auto below = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(random); };
  FramePool pool(48 * kFrameSize);
  std::vector<LiveVm> vms;
  int created = 0;
  uint64_t exhausted = 0;
  uint64_t refused = 0;

  for (int step = 0; step < 1500; ++step) {
    uint64_t op = below(100);
    if (vms.empty() || (op < 8 && vms.size() < 5)) {
      uint64_t base = 0x8000'0000 + below(4) * 0x1000'0000;
      uint64_t pages = 1 + below(32);
      vms.push_back({std::make_unique<GuestMemory>(pool, "vm" + std::to_string(created++), base, pages * kFrameSize), {}});
    } else if (op < 11) {   // rarer than creation, so the pool fills up
      vms.erase(vms.begin() + static_cast<long>(below(vms.size())));
    } else {
      LiveVm& vm = vms[below(vms.size())];
      const uint64_t base = vm.memory->ram_base();
      const uint64_t size = vm.memory->ram_size();
      // Mostly inside RAM, sometimes straddling or past either end.
      uint64_t len = 1 + below(op < 60 ? 16 : 6000);
      uint64_t gpa = base + below(size + 2 * kFrameSize) - kFrameSize;
      bool inside = gpa >= base && gpa + len <= base + size;
      std::vector<uint8_t> bytes(len);
      if (op < 60) {
        for (auto& b : bytes) b = static_cast<uint8_t>(1 + below(255));   // never zero, so a leak shows
        GuestMemoryStatus status = vm.memory->write(gpa, bytes.data(), len);
        if (!inside) {
          ASSERT_EQ(status, GuestMemoryStatus::outside_ram);
          ++refused;
        } else if (status == GuestMemoryStatus::frames_exhausted) {
          ++exhausted;
        } else {
          ASSERT_EQ(status, GuestMemoryStatus::ok);
          for (uint64_t i = 0; i < len; ++i) vm.written[gpa + i] = bytes[i];
        }
      } else {
        GuestMemoryStatus status = vm.memory->read(gpa, bytes.data(), len);
        if (!inside) {
          ASSERT_EQ(status, GuestMemoryStatus::outside_ram);
          ++refused;
        } else if (status == GuestMemoryStatus::frames_exhausted) {
          ++exhausted;
        } else {
          ASSERT_EQ(status, GuestMemoryStatus::ok);
          for (uint64_t i = 0; i < len; ++i) {
            auto it = vm.written.find(gpa + i);
            uint8_t expected = it == vm.written.end() ? 0 : it->second;
            ASSERT_EQ(bytes[i], expected) << vm.memory->vm_name() << " read a byte it did not write at 0x" << std::hex
                                          << gpa + i;
          }
        }
      }
    }
    check_pool_invariants(pool, vms);
    if (testing::Test::HasFatalFailure()) return;
  }
  vms.clear();
  EXPECT_EQ(pool.free_frames(), pool.total_frames());
  // The sequence must actually have exercised reuse, exhaustion and refusal.
  EXPECT_GT(created, 10);
  EXPECT_GT(exhausted, 0u);
  EXPECT_GT(refused, 0u);
}

TEST(GuestMemoryProperty, RandomSequencesNeverAliasLeakFramesOrLeakBytes) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    run_sequence(seed);
    if (HasFatalFailure()) return;
  }
}

} // namespace
} // namespace nimbus::hypervisor
