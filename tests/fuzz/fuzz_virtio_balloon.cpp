// Fuzz target: virtio-balloon with statistics and free page reporting
// (machine/devices/virtio_balloon.*) behind a modern virtio-mmio transport, all four queues live,
// a driver that lies about its pages (numbers past RAM, into MMIO, repeated, deflates of pages
// never inflated, reports that are not whole pages, huge requests) and a host that changes its
// target and asks for statistics at any time.
//
// Beyond "no crash" (ASan sees one byte past guest RAM, a heap buffer here):
//  - the balloon's bookkeeping adds up: pages inflated - deflated = pages held now + pages a
//    reset gave back; it never holds more pages than RAM has; reports release whole pages;
//  - the same input gives the same RAM and transport state twice; the state restores into a
//    fresh transport and saves back identically.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_support.hpp"
#include "machine/devices/virtio_balloon.hpp"
#include "multi_queue_harness.hpp"

using namespace nimbus::machine;
using nimbus::fuzz::ByteReader;
using nimbus::fuzz::MultiQueueLayout;
using nimbus::fuzz::MultiQueueRun;

namespace {

constexpr uint64_t kRamPages = MultiQueueLayout::kRamSize / VirtioBalloon::kPageSize;
constexpr uint32_t kFirstPfn = static_cast<uint32_t>(MultiQueueLayout::kRamBase / VirtioBalloon::kPageSize);

// The balloon, noting the pages every reset gives back, whatever resets it: the harness's reset
// op or the driver writing 0 to the status register.
class CountingBalloon final : public VirtioBalloon {
public:
  using VirtioBalloon::VirtioBalloon;
  void reset() override {
    given_back_by_resets += held_pages();
    VirtioBalloon::reset();
  }
  uint64_t given_back_by_resets = 0;
};

struct Outcome {
  std::vector<uint8_t> ram, state;
  VirtioBalloon::Counters counters;
};

Outcome run_once(const uint8_t* data, size_t size, bool check_restore) {
  CountingBalloon* balloon = nullptr;
  MultiQueueRun run(
      [&](Bus& bus) {
        auto d = std::make_unique<CountingBalloon>(bus);
        balloon = d.get();
        return d;
      },
      [&](uint8_t event, ByteReader& in) {
        if (event < 16) balloon->set_target(in.u16() % (2 * kRamPages + 2)); // past RAM: clamped
        else balloon->request_stats();
      });
  ByteReader in(data, size);
  run.run(in);
  const VirtioBalloon::Counters c = balloon->counters();
  FUZZ_CHECK(balloon->held_pages() <= kRamPages);
  FUZZ_CHECK(c.inflated_pages - c.deflated_pages == balloon->held_pages() + balloon->given_back_by_resets);
  FUZZ_CHECK(c.reported_bytes % VirtioBalloon::kPageSize == 0);
  FUZZ_CHECK(balloon->target() <= kRamPages);
  Outcome out{run.ram(), nimbus::fuzz::transport_state(run.transport()), c};
  if (check_restore)
    nimbus::fuzz::check_state_restores([](Bus& bus) { return std::make_unique<VirtioBalloon>(bus); }, out.ram, out.state);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  using L = MultiQueueLayout;
  // Linux's driver: the host asks for 4 pages; the driver inflates 4 (one bad, one repeated),
  // deflates one, sends its statistics, then reports a free 8 KiB range.
  nimbus::fuzz::MultiQueueSeed s;
  s.host(0);
  s.w.u16(4);
  std::vector<uint8_t> pfns;
  for (uint32_t pfn : {kFirstPfn + 10, kFirstPfn + 11, kFirstPfn + 11, 0xfffffu}) {
    for (int i = 0; i < 4; ++i) pfns.push_back(static_cast<uint8_t>(pfn >> (8 * i)));
  }
  s.ram(static_cast<uint16_t>(L::kBuffers - L::kRamBase), pfns);
  s.desc(0, 0, L::kBuffers, 16, 0, 0);
  s.available(0, 0);
  s.ram(static_cast<uint16_t>(L::kBuffers - L::kRamBase + 0x40), pfns); // deflate the first
  s.desc(1, 0, L::kBuffers + 0x40, 4, 0, 0);
  s.available(1, 0);
  std::vector<uint8_t> stats(20, 0);
  stats[0] = 4; // VIRTIO_BALLOON_S_MEMFREE
  stats[2] = 0x10;
  s.ram(static_cast<uint16_t>(L::kBuffers - L::kRamBase + 0x80), stats);
  s.desc(2, 0, L::kBuffers + 0x80, 20, 0, 0);
  s.available(2, 0);
  s.host(16);
  s.poll();
  s.desc(3, 0, L::kRamBase + 0xc000, 0x2000, Virtqueue::kDescWrite, 0);
  s.available(3, 0);
  // The seed does what it says (an encoding slip once made it inflate nothing): two pages in,
  // one out, a bad and a repeated page ignored, one whole-page report.
  const VirtioBalloon::Counters c = run_once(s.w.out.data(), s.w.out.size(), false).counters;
  FUZZ_CHECK(c.inflated_pages == 2 && c.deflated_pages == 1 && c.ignored_pages == 1 && c.ignored_duplicates == 1);
  FUZZ_CHECK(c.reports == 1 && c.reported_bytes == 0x2000);
  nimbus::fuzz::write_seed("balloon_driver", s.w.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Outcome first = run_once(data, size, true);
  const Outcome second = run_once(data, size, false);
  FUZZ_CHECK(first.ram == second.ram);
  FUZZ_CHECK(first.state == second.state);
  return 0;
}
