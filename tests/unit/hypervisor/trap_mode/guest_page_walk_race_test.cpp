// Trap mode's walker of the guest's page tables against another vCPU changing a PTE at the same
// time. Setting A/D must be one compare-and-swap with the PTE the walk checked (privileged spec
// 4.3.2), never an OR into whatever the PTE holds by then: the other vCPU may have cleared it
// (unmap) or made it a swap entry, whose bits 6-11 Linux uses, and A|D would corrupt it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "hypervisor/frame_pool.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/trap_mode/guest_page_walk.hpp"

namespace nimbus::test {
namespace {

using hypervisor::FramePool;
using hypervisor::GuestAccess;
using hypervisor::GuestMemory;
using hypervisor::GuestMemoryStatus;
using hypervisor::GuestTranslation;
using hypervisor::kFrameSize;
namespace pte = hypervisor::pte;

constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kRoot = kRamBase, kLevel1 = kRamBase + 0x1000, kLevel0 = kRamBase + 0x2000;
constexpr uint64_t kPage = kRamBase + 0x5000;
constexpr uint64_t kVirtual = 0x40001000; // Sv39: root[1] -> level1[0] -> level0[1]
constexpr uint64_t kLeafGpa = kLevel0 + 8;
constexpr uint64_t kCleanPte = ((kPage >> 12) << 10) | pte::kV | pte::kR | pte::kW;
constexpr int kWalks = 900000; // the walker's, while the other vCPU keeps changing the PTE
constexpr int kRounds = 300000; // the other vCPU's unmaps, at least

// About as long as a walk.
void pause() {
  for (int spin = 0; spin < 16; ++spin) asm volatile("pause");
}

void put(GuestMemory& memory, uint64_t gpa, uint64_t value) {
  ASSERT_EQ(memory.write(gpa, &value, 8), GuestMemoryStatus::ok);
}

TEST(GuestPageWalkRace, AccessedAndDirtyNeverLandInAPteAnotherVcpuCleared) {
  FramePool pool(16 * kFrameSize);
  GuestMemory memory(pool, "race", kRamBase, 8 * kFrameSize);
  put(memory, kRoot + 1 * 8, ((kLevel1 >> 12) << 10) | pte::kV);
  put(memory, kLevel1, ((kLevel0 >> 12) << 10) | pte::kV);
  put(memory, kLeafGpa, kCleanPte);
  uint8_t* host = nullptr;
  ASSERT_EQ(memory.host_page(kLeafGpa, host), GuestMemoryStatus::ok);
  std::atomic_ref<uint64_t> leaf(*reinterpret_cast<uint64_t*>(host)); // host_page: the byte at the address
  const uint64_t satp = uint64_t{8} << 60 | (kRoot >> 12);

  std::atomic<bool> done{false};
  std::atomic<int> walks{0};
  int translated = 0, wrong = 0; // the walker's: read after it is joined
  std::thread walker([&] {
    while (!done.load(std::memory_order_relaxed)) {
      const GuestTranslation t = hypervisor::walk_guest(memory, {satp, false, false, false}, kVirtual, GuestAccess::store);
      if (t.status == GuestTranslation::Status::ok) {
        ++translated;
        if (t.gpa != kPage || (t.pte & (pte::kA | pte::kD)) != (pte::kA | pte::kD)) ++wrong;
      } else if (t.status != GuestTranslation::Status::page_fault) {
        ++wrong;
      }
      walks.fetch_add(1, std::memory_order_relaxed);
    }
  });
  // The other vCPU: maps the page clean, unmaps it (zero), and maps it again, checking that
  // nothing wrote into the PTE while it was invalid; for as long as the walker makes kWalks walks
  // (at most a minute on a busy host), starting once the walker runs.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (walks.load() == 0 && std::chrono::steady_clock::now() < until) {
  }
  int rounds = 0, corrupted = 0;
  while ((walks.load(std::memory_order_relaxed) < kWalks || rounds < kRounds) && std::chrono::steady_clock::now() < until) {
    leaf.store(kCleanPte);
    pause(); // each state long enough for a walk to see it
    leaf.store(0);
    pause();
    if (leaf.exchange(kCleanPte) != 0) ++corrupted;
    ++rounds;
  }
  done.store(true);
  walker.join();
  EXPECT_EQ(corrupted, 0) << "invalid PTEs given A/D bits, in " << rounds << " unmaps during " << walks.load()
                          << " walks";
  EXPECT_EQ(wrong, 0) << "translations other than the page with A and D, or not a page fault";
  EXPECT_GE(walks.load(), kWalks);
  EXPECT_GT(translated, 0);
  EXPECT_GE(rounds, kRounds);
}

} // namespace
} // namespace nimbus::test
