#include "machine/devices/virtio_balloon.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace nimbus::machine {

namespace {
constexpr uint64_t kConfigBytes = 16; // num_pages, actual, free_page_hint_cmd_id, poison_val
constexpr uint64_t kActualOffset = 4;

void put32(std::vector<uint8_t>& out, uint64_t at, uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
} // namespace

VirtioBalloon::VirtioBalloon(Bus& bus)
    : bus_(bus), ram_pages_(bus.ram_size() / kPageSize), held_((bus.ram_size() / kPageSize + 63) / 64, 0) {}

std::string_view VirtioBalloon::stat_name(unsigned tag) {
  // virtio 1.2, 5.5.6.3 (and Linux's include/uapi/linux/virtio_balloon.h for 8..10).
  static constexpr std::string_view kNames[kStatsTags] = {
      "swap_in",         "swap_out",     "major_faults",  "minor_faults", "free_memory",   "total_memory",
      "available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures", "", "", "", "", "", ""};
  return tag < kStatsTags ? kNames[tag] : "";
}

std::vector<uint8_t> VirtioBalloon::config() const {
  std::vector<uint8_t> bytes(kConfigBytes, 0);
  put32(bytes, 0, target());
  put32(bytes, kActualOffset, actual());
  return bytes;
}

void VirtioBalloon::write_config(uint64_t offset, unsigned size, uint64_t value) {
  // Only `actual` is the driver's to write (poison_val needs PAGE_POISON, which we do not offer);
  // a write may cover part of it, byte by byte.
  uint32_t actual = actual_.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < size; ++i) {
    const uint64_t at = offset + i;
    if (at < kActualOffset || at >= kActualOffset + 4) continue;
    const unsigned shift = 8 * static_cast<unsigned>(at - kActualOffset);
    actual = (actual & ~(uint32_t{0xff} << shift)) | (static_cast<uint32_t>((value >> (8 * i)) & 0xff) << shift);
  }
  actual_.store(actual, std::memory_order_relaxed);
}

VirtioBalloon::Role VirtioBalloon::role(unsigned queue) const {
  if (queue == 0) return Role::inflate;
  if (queue == 1) return Role::deflate;
  unsigned next = 2;
  if (negotiated_ & kFeatureStatsVq) {
    if (queue == next) return Role::stats;
    ++next;
  }
  if (negotiated_ & kFeaturePageReporting) {
    if (queue == next) return Role::reporting;
  }
  return Role::none;
}

void VirtioBalloon::driver_ok(uint64_t features) {
  negotiated_ = features;
  driver_ok_ = true;
}

void VirtioBalloon::reset() {
  // The driver starts over (a reboot): the balloon is empty, its pages the guest's again. The
  // host's wish stays.
  negotiated_ = 0;
  driver_ok_ = false;
  actual_.store(0, std::memory_order_relaxed);
  std::fill(held_.begin(), held_.end(), 0);
  held_pages_.store(0, std::memory_order_relaxed);
}

void VirtioBalloon::set_target(uint32_t pages) {
  const auto clamped = static_cast<uint32_t>(std::min<uint64_t>(pages, ram_pages_));
  target_.store(clamped, std::memory_order_relaxed);
  config_changed_.store(true, std::memory_order_release);
}

bool VirtioBalloon::take_config_change() { return config_changed_.exchange(false, std::memory_order_acq_rel); }

bool VirtioBalloon::wants_service(unsigned queue) const {
  return role(queue) == Role::stats && stats_wanted_.load(std::memory_order_acquire);
}

VirtioBalloon::Stats VirtioBalloon::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

VirtioBalloon::Counters VirtioBalloon::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

VirtioDevice::Result VirtioBalloon::process(unsigned queue, const DescriptorChain& chain) {
  switch (role(queue)) {
  case Role::inflate: change_pages(chain, true); return {true, 0};
  case Role::deflate: change_pages(chain, false); return {true, 0};
  case Role::stats:
    read_stats(chain);
    // Keep the buffer (it stays at the head of the ring) until the host wants fresh figures.
    if (!stats_wanted_.exchange(false, std::memory_order_acq_rel)) return {true, 0, true};
    return {true, 0};
  case Role::reporting: report(chain); return {true, 0};
  case Role::none: break;
  }
  return {false, 0}; // a queue the negotiated features do not have
}

void VirtioBalloon::change_pages(const DescriptorChain& chain, bool inflate) {
  const uint64_t entries = chain.readable_bytes() / 4;
  const auto count = static_cast<uint32_t>(std::min<uint64_t>(entries, kMaxPagesPerRequest));
  std::vector<uint32_t> pfns(count);
  chain.read(0, pfns.data(), count * 4ull);
  Counters delta;
  delta.ignored_pages = entries - count;
  // Runs of consecutive page numbers are released with one call each.
  uint64_t run_first = 0, run_pages = 0;
  auto flush = [&] {
    if (run_pages != 0) bus_.discard_ram(run_first * kPageSize, run_pages * kPageSize);
    run_pages = 0;
  };
  const uint64_t ram_first = bus_.ram_base() / kPageSize;
  for (const uint32_t pfn : pfns) {
    if (pfn < ram_first || pfn - ram_first >= ram_pages_) { // past RAM, into MMIO or below RAM
      ++delta.ignored_pages;
      continue;
    }
    const uint64_t page = pfn - ram_first;
    if (held(page) == inflate) { // inflating a page twice, or deflating one never inflated
      ++delta.ignored_duplicates;
      continue;
    }
    held_[page / 64] ^= uint64_t{1} << (page % 64);
    if (inflate) {
      ++delta.inflated_pages;
      if (run_pages != 0 && run_first + run_pages == pfn) {
        ++run_pages;
      } else {
        flush();
        run_first = pfn;
        run_pages = 1;
      }
    } else {
      ++delta.deflated_pages;
    }
  }
  flush();
  held_pages_.fetch_add(delta.inflated_pages - delta.deflated_pages, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  counters_.inflated_pages += delta.inflated_pages;
  counters_.deflated_pages += delta.deflated_pages;
  counters_.ignored_pages += delta.ignored_pages;
  counters_.ignored_duplicates += delta.ignored_duplicates;
}

void VirtioBalloon::read_stats(const DescriptorChain& chain) {
  Stats fresh;
  const uint64_t entries = std::min<uint64_t>(chain.readable_bytes() / kStatsEntryBytes, 64);
  for (uint64_t i = 0; i < entries; ++i) {
    uint8_t entry[kStatsEntryBytes];
    chain.read(i * kStatsEntryBytes, entry, sizeof entry);
    uint16_t tag;
    uint64_t value;
    std::memcpy(&tag, entry, 2);
    std::memcpy(&value, entry + 2, 8);
    if (tag >= kStatsTags) continue; // a tag from a newer spec: not ours to show
    fresh.values[tag] = value;
    fresh.present |= 1u << tag;
  }
  std::lock_guard lock(mutex_);
  stats_ = fresh;
  ++counters_.stats_updates;
}

void VirtioBalloon::report(const DescriptorChain& chain) {
  uint64_t released = 0, ignored = 0;
  for (const DescriptorChain::Segment& s : chain.writable()) {
    // discard_ram refuses ranges that are not whole aligned pages inside RAM.
    if (bus_.discard_ram(s.paddr, s.len)) released += s.len;
    else ++ignored;
  }
  // Readable buffers in a report are not ranges the driver gave up: nothing to do with them.
  ignored += chain.readable().size();
  std::lock_guard lock(mutex_);
  counters_.reported_bytes += released;
  counters_.ignored_reports += ignored;
  ++counters_.reports;
}

void VirtioBalloon::save_state(snapshot::Writer& out) const {
  out.u32(target());
  out.u32(actual());
  out.u64(negotiated_);
  out.boolean(driver_ok_);
  out.boolean(config_changed_.load(std::memory_order_acquire));
  // The held pages as runs: (first, count) pairs.
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  for (uint64_t page = 0; page < ram_pages_; ++page) {
    if (!held(page)) continue;
    if (!runs.empty() && runs.back().first + runs.back().second == page) ++runs.back().second;
    else runs.emplace_back(page, 1);
  }
  out.u64(runs.size());
  for (const auto& [first, count] : runs) {
    out.u64(first);
    out.u64(count);
  }
  const Counters c = counters();
  for (uint64_t v : {c.inflated_pages, c.deflated_pages, c.reported_bytes, c.reports, c.ignored_pages,
                     c.ignored_duplicates, c.ignored_reports, c.stats_updates})
    out.u64(v);
}

void VirtioBalloon::restore_state(snapshot::Reader& in) {
  const uint32_t target = in.u32();
  const uint32_t actual = in.u32();
  const uint64_t negotiated = in.u64();
  const bool driver_ok = in.boolean();
  const bool changed = in.boolean();
  if (target > ram_pages_) in.fail(fmt::format("balloon target of {} pages exceeds RAM's {}", target, ram_pages_));
  const uint64_t run_count = in.u64();
  if (run_count > (ram_pages_ + 1) / 2) in.fail(fmt::format("{} balloon page runs for {} pages of RAM", run_count, ram_pages_));
  std::vector<uint64_t> held((ram_pages_ + 63) / 64, 0);
  uint64_t held_pages = 0, previous_end = 0;
  for (uint64_t i = 0; i < run_count; ++i) {
    const uint64_t first = in.u64(), count = in.u64();
    if (count == 0 || first < previous_end || first >= ram_pages_ || count > ram_pages_ - first)
      in.fail(fmt::format("balloon page run {}+{} is empty, out of order or outside RAM", first, count));
    for (uint64_t page = first; page < first + count; ++page) held[page / 64] |= uint64_t{1} << (page % 64);
    held_pages += count;
    previous_end = first + count;
  }
  Counters c;
  for (uint64_t* v : {&c.inflated_pages, &c.deflated_pages, &c.reported_bytes, &c.reports, &c.ignored_pages,
                      &c.ignored_duplicates, &c.ignored_reports, &c.stats_updates})
    *v = in.u64();
  target_.store(target, std::memory_order_relaxed);
  actual_.store(actual, std::memory_order_relaxed);
  negotiated_ = negotiated;
  driver_ok_ = driver_ok;
  config_changed_.store(changed, std::memory_order_release);
  held_ = std::move(held);
  held_pages_.store(held_pages, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  counters_ = c;
}

} // namespace nimbus::machine
