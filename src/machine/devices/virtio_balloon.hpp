#pragma once
// virtio-balloon (device ID 5, virtio 1.x section 5.5) with free page reporting: memory the guest
// does not use goes back to the host.
//
// - inflateq / deflateq: arrays of 32-bit page frame numbers (4 KiB pages). An inflated page is
//   released at once (Bus::discard_ram: the host memory behind it is freed and it reads as zeros
//   from then on); a deflated one is simply the guest's again (it faults in as a zero page).
// - statsq (VIRTIO_BALLOON_F_STATS_VQ): the driver's one buffer of (tag, value) pairs is read
//   when it arrives and kept (the chain stays in the available ring) until the host asks for
//   fresh figures (request_stats); then it goes back and the driver sends a new one.
// - reporting_vq (VIRTIO_BALLOON_F_PAGE_REPORTING): device-writable buffers that name free page
//   ranges (Linux reports 4 MiB pageblocks a few seconds after they are freed); each is
//   released like an inflated page. The buffers are never read or written, so the transport
//   does not make the host back them (buffers_are_addresses).
//
// The host asks for a size with set_target (any thread): num_pages in the configuration space
// changes and the transport raises a configuration-change interrupt on the machine's thread;
// the driver inflates or deflates towards it and reports its size in `actual`.
//
// A hostile or buggy driver cannot hurt the host: page numbers outside RAM (past its end, into
// MMIO), reports that are not whole aligned pages, more page numbers in one request than
// kMaxPagesPerRequest, a deflate of a page never inflated and an inflate of one already inflated
// are ignored and counted (Counters::ignored_*), never a crash; chains the transport cannot walk
// are its structural faults (DEVICE_NEEDS_RESET).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "machine/bus.hpp"
#include "machine/devices/virtio_device.hpp"

namespace nimbus::machine {

class VirtioBalloon : public VirtioDevice {
public:
  static constexpr uint32_t kDeviceId = 5;
  static constexpr uint64_t kFeatureMustTellHost = uint64_t{1} << 0;
  static constexpr uint64_t kFeatureStatsVq = uint64_t{1} << 1;
  static constexpr uint64_t kFeatureDeflateOnOom = uint64_t{1} << 2;
  static constexpr uint64_t kFeatureFreePageHint = uint64_t{1} << 3;
  static constexpr uint64_t kFeaturePagePoison = uint64_t{1} << 4;
  static constexpr uint64_t kFeaturePageReporting = uint64_t{1} << 5;
  static constexpr uint64_t kPageSize = 4096; // the balloon's unit, whatever the guest's page size
  // Linux sends at most 256 page numbers a request; a driver asking for more is ignored past this
  // (its VM's thread must not spend seconds on one notify).
  static constexpr uint32_t kMaxPagesPerRequest = 4096;
  static constexpr unsigned kStatsTags = 16; // VIRTIO_BALLOON_S_* tags 0..15 (spec 5.5.6.3)
  static constexpr uint16_t kStatsEntryBytes = 10;

  // What a queue is for once the features are known (queues are numbered in this order, the
  // ones whose feature was not negotiated left out, as Linux and QEMU number them).
  enum class Role { inflate, deflate, stats, reporting, none };

  struct Counters {
    uint64_t inflated_pages = 0;     // pages inflated (and released) in total
    uint64_t deflated_pages = 0;     // pages deflated in total
    uint64_t reported_bytes = 0;     // free page reports released, in bytes
    uint64_t reports = 0;            // report buffers served
    uint64_t ignored_pages = 0;      // page numbers outside RAM, or past kMaxPagesPerRequest
    uint64_t ignored_duplicates = 0; // inflate of an inflated page, deflate of one never inflated
    uint64_t ignored_reports = 0;    // report buffers that are not whole aligned pages
    uint64_t stats_updates = 0;      // statistics buffers read
  };

  // `bus` is where the guest's RAM is (and what releases it); it must outlive the device.
  explicit VirtioBalloon(Bus& bus);

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return kFeatureStatsVq | kFeatureDeflateOnOom | kFeaturePageReporting; }
  unsigned queue_count() const override { return 4; }
  uint16_t max_queue_size() const override { return 128; }
  std::vector<uint8_t> config() const override;
  void write_config(uint64_t offset, unsigned size, uint64_t value) override;
  Result process(unsigned queue, const DescriptorChain& chain) override;
  void reset() override;
  void driver_ok(uint64_t features) override;
  bool wants_service(unsigned queue) const override;
  bool take_config_change() override;
  bool buffers_are_addresses(unsigned queue) const override { return role(queue) == Role::reporting; }
  void save_state(snapshot::Writer& out) const override;
  void restore_state(snapshot::Reader& in) override;

  // The host's wish (any thread): the balloon should hold `pages` 4 KiB pages (0: give
  // everything back). Clamped to RAM.
  void set_target(uint32_t pages);
  uint32_t target() const { return target_.load(std::memory_order_relaxed); }
  // The driver's own count of pages in the balloon (`actual`).
  uint32_t actual() const { return actual_.load(std::memory_order_relaxed); }
  // Pages inflated and not deflated since, as the device saw them.
  uint64_t held_pages() const { return held_pages_.load(std::memory_order_relaxed); }
  // Asks the driver for fresh statistics (any thread); they arrive a moment later.
  void request_stats() { stats_wanted_.store(true, std::memory_order_release); }
  // The guest's last statistics: value per tag, and which tags it sent (bit per tag).
  struct Stats {
    uint64_t values[kStatsTags] = {};
    uint32_t present = 0;
  };
  Stats stats() const;
  Counters counters() const;
  Role role(unsigned queue) const;
  static std::string_view stat_name(unsigned tag);

private:
  void change_pages(const DescriptorChain& chain, bool inflate);
  void read_stats(const DescriptorChain& chain);
  void report(const DescriptorChain& chain);
  bool held(uint64_t page) const { return (held_[page / 64] >> (page % 64)) & 1; }

  Bus& bus_;
  uint64_t ram_pages_;
  std::atomic<uint32_t> target_{0};
  std::atomic<uint32_t> actual_{0};
  std::atomic<bool> config_changed_{false};
  std::atomic<bool> stats_wanted_{false};
  std::atomic<uint64_t> held_pages_{0};
  uint64_t negotiated_ = 0;
  bool driver_ok_ = false;
  std::vector<uint64_t> held_; // bit per RAM page: inflated and not deflated since
  mutable std::mutex mutex_;   // counters_ and stats_, read from other threads
  Counters counters_;
  Stats stats_;
};

} // namespace nimbus::machine
