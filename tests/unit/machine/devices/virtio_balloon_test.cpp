// virtio-balloon: configuration space and the host's target, inflate/deflate releasing pages
// (they read as zeros, the dirty log hears of it), free page reports that never make the host
// back the pages they name, the stats buffer held until the host asks, snapshots, and a driver
// that lies about its pages (outside RAM, into MMIO, duplicated, too many, unaligned), which is
// ignored and counted, never a crash or a write outside the pages it names.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "machine/bus.hpp"
#include "machine/devices/virtio_balloon.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "machine/dirty_log.hpp"
#include "machine/snapshot_format.hpp"

namespace nimbus::machine {
namespace {

using M = VirtioMmio;
using B = VirtioBalloon;
constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 4 << 20;
constexpr uint64_t kPage = 4096;
constexpr uint16_t kQueueSize = 8;
constexpr uint64_t kArrays = kRamBase + 0x40000; // page number arrays
constexpr uint64_t kVictim = kRamBase + 0x100000; // pages the tests give back

// A RAM backing (as a VM's GuestMemory) that records which bytes anyone asked it to back.
class RecordingBacking : public RamBacking {
public:
  RecordingBacking() : ram(kRamSize, 0) {}
  uint8_t* view() override { return ram.data(); }
  bool commit(uint64_t offset, uint64_t len) override {
    committed.emplace_back(offset, len);
    return true;
  }
  bool discard(uint64_t offset, uint64_t len) override {
    std::memset(ram.data() + offset, 0, len);
    discarded.emplace_back(offset, len);
    return true;
  }
  bool committed_any(uint64_t offset, uint64_t len) const {
    for (const auto& [o, l] : committed)
      if (o < offset + len && offset < o + l) return true;
    return false;
  }
  std::vector<uint8_t> ram;
  std::vector<std::pair<uint64_t, uint64_t>> committed, discarded;
};

struct VirtioBalloonTest : ::testing::Test {
  RecordingBacking backing;
  Bus bus{kRamBase, kRamSize, backing};
  B* balloon = nullptr;
  int irqs = 0;
  std::unique_ptr<M> transport = make();
  uint16_t avail[4] = {};
  uint16_t next_desc[4] = {};

  std::unique_ptr<M> make() {
    auto dev = std::make_unique<B>(bus);
    balloon = dev.get();
    return std::make_unique<M>(bus, std::move(dev), [this](bool level) { irqs += level; });
  }
  static uint64_t desc(unsigned q) { return kRamBase + 0x1000 + q * 0x4000; }
  static uint64_t avail_ring(unsigned q) { return desc(q) + 0x1000; }
  static uint64_t used_ring(unsigned q) { return desc(q) + 0x2000; }

  uint32_t reg(uint64_t offset) {
    uint64_t v = 0;
    EXPECT_TRUE(transport->read(offset, 4, v));
    return static_cast<uint32_t>(v);
  }
  void set_reg(uint64_t offset, uint32_t v) { EXPECT_TRUE(transport->write(offset, 4, v)); }
  // As Linux: the queues of the negotiated features, numbered without gaps.
  void init(uint64_t features = B::kFeatureStatsVq | B::kFeaturePageReporting | M::kFeatureVersion1) {
    set_reg(M::kStatus, 0);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    set_reg(M::kDriverFeaturesSel, 0);
    set_reg(M::kDriverFeatures, static_cast<uint32_t>(features));
    set_reg(M::kDriverFeaturesSel, 1);
    set_reg(M::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
    ASSERT_TRUE(reg(M::kStatus) & M::kStatusFeaturesOk);
    const unsigned queues = 2 + ((features & B::kFeatureStatsVq) ? 1 : 0) + ((features & B::kFeaturePageReporting) ? 1 : 0);
    for (unsigned q = 0; q < queues; ++q) {
      set_reg(M::kQueueSel, q);
      set_reg(M::kQueueNum, kQueueSize);
      set_reg(M::kQueueDescLow, static_cast<uint32_t>(desc(q)));
      set_reg(M::kQueueDescHigh, 0);
      set_reg(M::kQueueDriverLow, static_cast<uint32_t>(avail_ring(q)));
      set_reg(M::kQueueDriverHigh, 0);
      set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(used_ring(q)));
      set_reg(M::kQueueDeviceHigh, 0);
      set_reg(M::kQueueReady, 1);
    }
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
  }
  // A chain of (addr, len, flags) descriptors on queue q, made available.
  void post(unsigned q, const std::vector<std::tuple<uint64_t, uint32_t, uint16_t>>& parts) {
    const uint16_t head = next_desc[q] % kQueueSize;
    for (size_t i = 0; i < parts.size(); ++i) {
      const uint16_t index = next_desc[q]++ % kQueueSize;
      auto [addr, len, flags] = parts[i];
      uint16_t next = 0;
      if (i + 1 < parts.size()) {
        flags |= 1; // NEXT
        next = next_desc[q] % kQueueSize;
      }
      uint8_t d[16];
      std::memcpy(d, &addr, 8);
      std::memcpy(d + 8, &len, 4);
      std::memcpy(d + 12, &flags, 2);
      std::memcpy(d + 14, &next, 2);
      EXPECT_TRUE(bus.copy_to_ram(desc(q) + 16ull * index, d, 16));
    }
    store16(avail_ring(q) + 4 + 2ull * (avail[q] % kQueueSize), head);
    ++avail[q];
    store16(avail_ring(q) + 2, avail[q]);
  }
  // Sends page numbers on the inflate (0) or deflate (1) queue.
  void send_pfns(unsigned q, const std::vector<uint32_t>& pfns) {
    ASSERT_TRUE(bus.copy_to_ram(kArrays, pfns.data(), pfns.size() * 4));
    post(q, {{kArrays, static_cast<uint32_t>(pfns.size() * 4), 0}});
    set_reg(M::kQueueNotify, q);
  }
  static uint32_t pfn(uint64_t paddr) { return static_cast<uint32_t>(paddr / kPage); }
  void store16(uint64_t at, uint16_t v) { ASSERT_TRUE(bus.copy_to_ram(at, &v, 2)); }
  uint16_t used_idx(unsigned q) {
    uint16_t v = 0;
    EXPECT_TRUE(bus.copy_from_ram(used_ring(q) + 2, &v, 2));
    return v;
  }
  void fill(uint64_t at, uint64_t len, uint8_t byte) {
    std::vector<uint8_t> v(len, byte);
    ASSERT_TRUE(bus.copy_to_ram(at, v.data(), len));
  }
  bool all(uint64_t at, uint64_t len, uint8_t byte) {
    std::vector<uint8_t> v(len);
    EXPECT_TRUE(bus.copy_from_ram(at, v.data(), len));
    for (uint8_t b : v)
      if (b != byte) return false;
    return true;
  }
  bool broken() { return (reg(M::kStatus) & M::kStatusNeedsReset) != 0; }
  uint32_t config32(uint64_t offset) {
    uint64_t v = 0;
    EXPECT_TRUE(transport->read(M::kConfig + offset, 4, v));
    return static_cast<uint32_t>(v);
  }
};

TEST_F(VirtioBalloonTest, OffersStatsDeflateOnOomAndReportingButNotHints) {
  EXPECT_EQ(reg(M::kDeviceId), 5u);
  set_reg(M::kDeviceFeaturesSel, 0);
  const uint32_t low = reg(M::kDeviceFeatures);
  EXPECT_TRUE(low & B::kFeatureStatsVq);
  EXPECT_TRUE(low & B::kFeatureDeflateOnOom);
  EXPECT_TRUE(low & B::kFeaturePageReporting);
  EXPECT_FALSE(low & B::kFeatureFreePageHint);
  EXPECT_FALSE(low & B::kFeatureMustTellHost);
  EXPECT_FALSE(low & B::kFeaturePagePoison);
}

TEST_F(VirtioBalloonTest, HostTargetRaisesConfigInterruptAndDriverWritesActual) {
  init();
  const uint32_t generation = reg(M::kConfigGeneration);
  EXPECT_EQ(config32(0), 0u);
  balloon->set_target(100);
  const int before = irqs;
  transport->poll();
  EXPECT_EQ(config32(0), 100u);
  EXPECT_GT(irqs, before);
  EXPECT_TRUE(reg(M::kInterruptStatus) & M::kInterruptConfigChange);
  EXPECT_NE(reg(M::kConfigGeneration), generation);
  // The driver reports its size, a byte at a time or whole.
  ASSERT_TRUE(transport->write(M::kConfig + 4, 4, 60));
  EXPECT_EQ(balloon->actual(), 60u);
  ASSERT_TRUE(transport->write(M::kConfig + 5, 1, 1));
  EXPECT_EQ(balloon->actual(), 60u + 256u);
  // num_pages is the device's: a driver write does not move it.
  ASSERT_TRUE(transport->write(M::kConfig + 0, 4, 7));
  EXPECT_EQ(config32(0), 100u);
  // A target beyond RAM is clamped to RAM.
  balloon->set_target(~0u);
  EXPECT_EQ(balloon->target(), kRamSize / kPage);
}

TEST_F(VirtioBalloonTest, InflatedPagesReadAsZerosAndDeflateGivesThemBack) {
  init();
  fill(kVictim, 3 * kPage, 0xaa);
  fill(kVictim + 3 * kPage, kPage, 0xbb);
  DirtyLog log(kRamSize);
  bus.set_dirty_log(&log);
  send_pfns(0, {pfn(kVictim), pfn(kVictim + kPage), pfn(kVictim + 2 * kPage)});
  bus.set_dirty_log(nullptr);
  const std::vector<uint64_t> dirty = log.take();
  auto is_dirty = [&](uint64_t paddr) {
    const uint64_t page = (paddr - kRamBase) / kPage;
    return ((dirty[page / 64] >> (page % 64)) & 1) != 0;
  };
  EXPECT_TRUE(is_dirty(kVictim) && is_dirty(kVictim + kPage) && is_dirty(kVictim + 2 * kPage))
      << "a migration must send the zeros";
  EXPECT_FALSE(is_dirty(kVictim + 3 * kPage));
  EXPECT_EQ(used_idx(0), 1);
  EXPECT_TRUE(all(kVictim, 3 * kPage, 0));
  EXPECT_TRUE(all(kVictim + 3 * kPage, kPage, 0xbb)) << "the neighbour page is untouched";
  ASSERT_EQ(backing.discarded.size(), 1u) << "consecutive pages are released in one call";
  EXPECT_EQ(backing.discarded[0], std::make_pair(kVictim - kRamBase, 3 * kPage));
  EXPECT_EQ(balloon->held_pages(), 3u);
  send_pfns(1, {pfn(kVictim + kPage)});
  EXPECT_EQ(used_idx(1), 1);
  EXPECT_EQ(balloon->held_pages(), 2u);
  const B::Counters c = balloon->counters();
  EXPECT_EQ(c.inflated_pages, 3u);
  EXPECT_EQ(c.deflated_pages, 1u);
  EXPECT_EQ(c.ignored_pages + c.ignored_duplicates, 0u);
  EXPECT_FALSE(broken());
}

TEST_F(VirtioBalloonTest, LyingPageNumbersAreIgnoredAndCounted) {
  init();
  fill(kRamBase + 0x80000, 0x80000, 0x5a); // everything but the rings and arrays
  const std::vector<uint32_t> lies = {
      pfn(kRamBase + kRamSize),        // just past RAM
      0xffffffffu,                     // far past it
      pfn(0x1000'1000),                // a virtio-mmio window
      pfn(0x0c00'0000),                // the PLIC
      0,                               // below RAM
      pfn(kRamBase) - 1,               // the page before RAM
  };
  send_pfns(0, lies);
  EXPECT_EQ(used_idx(0), 1);
  EXPECT_FALSE(broken()) << "a lie is the driver's problem, not a broken ring";
  EXPECT_TRUE(backing.discarded.empty());
  EXPECT_TRUE(all(kRamBase + 0x80000, 0x80000, 0x5a));
  B::Counters c = balloon->counters();
  EXPECT_EQ(c.ignored_pages, lies.size());
  EXPECT_EQ(c.inflated_pages, 0u);

  // Duplicates: the same page twice in one request and again later; deflating pages never
  // inflated (or twice).
  send_pfns(0, {pfn(kVictim), pfn(kVictim), pfn(kVictim)});
  send_pfns(0, {pfn(kVictim)});
  send_pfns(1, {pfn(kVictim + kPage), pfn(kVictim), pfn(kVictim)});
  c = balloon->counters();
  EXPECT_EQ(c.inflated_pages, 1u);
  EXPECT_EQ(c.deflated_pages, 1u);
  EXPECT_EQ(c.ignored_duplicates, 2u + 1u + 2u);
  EXPECT_EQ(balloon->held_pages(), 0u);
  EXPECT_FALSE(broken());
}

TEST_F(VirtioBalloonTest, HugePageArraysAreCutAtTheLimit) {
  init();
  // 64 Ki page numbers (256 KiB, fits in RAM after the arrays' place): all of RAM many times.
  std::vector<uint32_t> pfns(64 * 1024);
  for (size_t i = 0; i < pfns.size(); ++i) pfns[i] = pfn(kVictim) + static_cast<uint32_t>(i % 256);
  ASSERT_TRUE(bus.copy_to_ram(kArrays, pfns.data(), pfns.size() * 4));
  post(0, {{kArrays, static_cast<uint32_t>(pfns.size() * 4), 0}});
  set_reg(M::kQueueNotify, 0);
  EXPECT_EQ(used_idx(0), 1);
  const B::Counters c = balloon->counters();
  EXPECT_EQ(c.inflated_pages, 256u);
  EXPECT_EQ(c.ignored_duplicates, B::kMaxPagesPerRequest - 256u);
  EXPECT_EQ(c.ignored_pages, pfns.size() - B::kMaxPagesPerRequest);
  // A request whose length is not whole page numbers: the odd bytes are not a page number.
  fill(kArrays, 4, 0);
  post(0, {{kArrays, 3, 0}});
  set_reg(M::kQueueNotify, 0);
  EXPECT_EQ(used_idx(0), 2);
  EXPECT_FALSE(broken());
}

TEST_F(VirtioBalloonTest, FreePageReportsAreReleasedWithoutBeingBacked) {
  init();
  fill(kVictim, 16 * kPage, 0x77);
  backing.committed.clear();
  const uint64_t report = kRamBase + 0x200000; // never touched by the test
  post(3, {{kVictim, static_cast<uint32_t>(16 * kPage), 2}, {report, static_cast<uint32_t>(0x100000), 2}});
  set_reg(M::kQueueNotify, 3);
  EXPECT_EQ(used_idx(3), 1);
  EXPECT_FALSE(broken());
  EXPECT_FALSE(backing.committed_any(report - kRamBase, 0x100000)) << "the reported range was backed";
  EXPECT_FALSE(backing.committed_any(kVictim - kRamBase, 16 * kPage));
  EXPECT_TRUE(all(kVictim, 16 * kPage, 0));
  const B::Counters c = balloon->counters();
  EXPECT_EQ(c.reported_bytes, 16 * kPage + 0x100000);
  EXPECT_EQ(c.reports, 1u);
}

TEST_F(VirtioBalloonTest, BadReportsAreIgnoredOrBreakTheDevice) {
  init();
  fill(kVictim, 2 * kPage, 0x33);
  // Not whole aligned pages: ignored, nothing released.
  post(3, {{kVictim + 8, static_cast<uint32_t>(kPage), 2}, {kVictim, 100, 2}});
  set_reg(M::kQueueNotify, 3);
  EXPECT_EQ(used_idx(3), 1);
  EXPECT_TRUE(all(kVictim, 2 * kPage, 0x33));
  EXPECT_EQ(balloon->counters().ignored_reports, 2u);
  EXPECT_FALSE(broken());
  // A range past the end of RAM (or into MMIO) is a structural fault: the ring cannot be trusted.
  post(3, {{kRamBase + kRamSize - kPage, static_cast<uint32_t>(2 * kPage), 2}});
  set_reg(M::kQueueNotify, 3);
  EXPECT_TRUE(broken());
  EXPECT_TRUE(all(kVictim, 2 * kPage, 0x33));
}

TEST_F(VirtioBalloonTest, ReportingQueueMovesUpWithoutStats) {
  init(B::kFeaturePageReporting | M::kFeatureVersion1);
  EXPECT_EQ(balloon->role(2), B::Role::reporting);
  EXPECT_EQ(balloon->role(3), B::Role::none);
  fill(kVictim, kPage, 0x11);
  post(2, {{kVictim, static_cast<uint32_t>(kPage), 2}});
  set_reg(M::kQueueNotify, 2);
  EXPECT_TRUE(all(kVictim, kPage, 0));
  EXPECT_EQ(balloon->counters().reported_bytes, kPage);
}

TEST_F(VirtioBalloonTest, StatsBufferIsHeldUntilTheHostAsks) {
  init();
  // Three (tag, value) pairs of 10 bytes, plus an unknown tag.
  uint8_t stats[40] = {};
  auto put = [&](unsigned i, uint16_t tag, uint64_t value) {
    std::memcpy(stats + 10 * i, &tag, 2);
    std::memcpy(stats + 10 * i + 2, &value, 8);
  };
  put(0, 4, 123 << 20); // free_memory
  put(1, 5, 256 << 20); // total_memory
  put(2, 99, 1);        // not a tag we know
  put(3, 6, 200 << 20); // available_memory
  ASSERT_TRUE(bus.copy_to_ram(kArrays, stats, sizeof stats));
  post(2, {{kArrays, sizeof stats, 0}});
  set_reg(M::kQueueNotify, 2);
  EXPECT_EQ(used_idx(2), 0) << "the device keeps the buffer";
  B::Stats s = balloon->stats();
  EXPECT_EQ(s.values[4], 123u << 20);
  EXPECT_EQ(s.values[5], 256u << 20);
  EXPECT_EQ(s.values[6], 200u << 20);
  EXPECT_EQ(s.present, (1u << 4) | (1u << 5) | (1u << 6));
  transport->poll();
  EXPECT_EQ(used_idx(2), 0) << "nobody asked";
  balloon->request_stats();
  transport->poll();
  EXPECT_EQ(used_idx(2), 1) << "the host asked: the buffer goes back for a refill";
  EXPECT_FALSE(broken());
}

TEST_F(VirtioBalloonTest, SnapshotCarriesTargetActualAndHeldPages) {
  init();
  balloon->set_target(40);
  ASSERT_TRUE(transport->write(M::kConfig + 4, 4, 3));
  send_pfns(0, {pfn(kVictim), pfn(kVictim + kPage), pfn(kVictim + 5 * kPage)});
  snapshot::Writer w;
  transport->save_state(w);
  const std::vector<uint8_t> bytes = w.take();

  RecordingBacking other_backing;
  Bus other_bus{kRamBase, kRamSize, other_backing};
  auto dev = std::make_unique<B>(other_bus);
  B* restored = dev.get();
  M other(other_bus, std::move(dev), [](bool) {});
  snapshot::Reader r(bytes, "balloon");
  other.restore_state(r);
  EXPECT_EQ(restored->target(), 40u);
  EXPECT_EQ(restored->actual(), 3u);
  EXPECT_EQ(restored->held_pages(), 3u);
  EXPECT_EQ(restored->counters().inflated_pages, 3u);
  EXPECT_EQ(restored->role(3), B::Role::reporting);

  // A payload that claims held pages outside RAM does not restore.
  snapshot::Writer bad;
  bad.u32(0);
  bad.u32(0);
  bad.u64(0);
  bad.boolean(false);
  bad.boolean(false);
  bad.u64(1);
  bad.u64(kRamSize / kPage);
  bad.u64(1);
  const std::vector<uint8_t> bad_bytes = bad.take();
  snapshot::Reader bad_in(bad_bytes, "balloon device");
  EXPECT_THROW(restored->restore_state(bad_in), snapshot::FormatError);
}

TEST_F(VirtioBalloonTest, ResetEmptiesTheBalloonButKeepsTheTarget) {
  init();
  balloon->set_target(10);
  send_pfns(0, {pfn(kVictim)});
  set_reg(M::kStatus, 0);
  EXPECT_EQ(balloon->held_pages(), 0u);
  EXPECT_EQ(balloon->actual(), 0u);
  EXPECT_EQ(balloon->target(), 10u);
}

TEST(BusDiscardTest, OwnRamReadsZerosAfterDiscardAndRefusesBadRanges) {
  Bus bus(kRamBase, 1 << 20);
  std::vector<uint8_t> data(2 * kPage, 0xcd);
  ASSERT_TRUE(bus.copy_to_ram(kRamBase + kPage, data.data(), data.size()));
  EXPECT_TRUE(bus.discard_ram(kRamBase + kPage, kPage));
  std::vector<uint8_t> back(2 * kPage);
  ASSERT_TRUE(bus.copy_from_ram(kRamBase + kPage, back.data(), back.size()));
  EXPECT_EQ(back[0], 0);
  EXPECT_EQ(back[kPage - 1], 0);
  EXPECT_EQ(back[kPage], 0xcd);
  EXPECT_FALSE(bus.discard_ram(kRamBase + 1, kPage)) << "unaligned";
  EXPECT_FALSE(bus.discard_ram(kRamBase, kPage + 1)) << "not whole pages";
  EXPECT_FALSE(bus.discard_ram(kRamBase + (1 << 20) - kPage, 2 * kPage)) << "past RAM";
  EXPECT_FALSE(bus.discard_ram(0x1000'0000, kPage)) << "MMIO";
  EXPECT_FALSE(bus.discard_ram(kRamBase, 0));
}

} // namespace
} // namespace nimbus::machine
