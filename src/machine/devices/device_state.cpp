// Device snapshots (docs/migration.md, sections UART, PLIC, CLNT, RTC_, VIRT). Interrupt line
// levels are restored as they were, without signalling the PLIC: the PLIC's own state (line,
// pending and claimed bits) is restored beside them, and the harts' pins with the harts.
#include <fmt/format.h>

#include "machine/devices/clint.hpp"
#include "machine/devices/goldfish_rtc.hpp"
#include "machine/devices/plic.hpp"
#include "machine/devices/uart_16550.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "machine/devices/virtqueue.hpp"

namespace nimbus::machine {

// ---- UART

void Uart16550::save_state(snapshot::Writer& out) const {
  std::lock_guard lock(mutex_);
  out.u32(static_cast<uint32_t>(rx_fifo_.size()));
  for (uint8_t b : rx_fifo_) out.u8(b);
  for (uint8_t r : {ier_, fcr_, lcr_, mcr_, scr_, dll_, dlm_, msr_deltas_}) out.u8(r);
  out.boolean(overrun_);
  out.boolean(thr_interrupt_);
  out.boolean(irq_level_);
}

void Uart16550::restore_state(snapshot::Reader& in) {
  std::lock_guard lock(mutex_);
  const uint32_t n = in.count(kFifoSize, "receive FIFO length");
  std::deque<uint8_t> fifo;
  for (uint32_t i = 0; i < n; ++i) fifo.push_back(in.u8());
  uint8_t regs[8];
  for (auto& r : regs) r = in.u8();
  const bool overrun = in.boolean(), thr = in.boolean(), level = in.boolean();
  in.expect_end();
  rx_fifo_ = std::move(fifo);
  ier_ = regs[0], fcr_ = regs[1], lcr_ = regs[2], mcr_ = regs[3], scr_ = regs[4], dll_ = regs[5], dlm_ = regs[6];
  msr_deltas_ = regs[7];
  overrun_ = overrun;
  thr_interrupt_ = thr;
  irq_level_ = level;
}

// ---- PLIC

void Plic::save_state(snapshot::Writer& out) const {
  std::lock_guard lock(mutex_);
  out.u32(kSources);
  for (uint32_t p : priority_) out.u32(p);
  for (const Bits* bits : {&line_, &pending_, &claimed_})
    for (uint32_t w : *bits) out.u32(w);
  out.u32(static_cast<uint32_t>(contexts_.size()));
  for (const Context& c : contexts_) {
    for (uint32_t w : c.enable) out.u32(w);
    out.u32(c.threshold);
  }
}

void Plic::restore_state(snapshot::Reader& in) {
  std::lock_guard lock(mutex_);
  if (in.u32() != kSources) in.fail("PLIC source count differs");
  std::array<uint32_t, kSources> priority{};
  for (auto& p : priority) {
    p = in.u32();
    if (p > kMaxPriority) in.fail(fmt::format("priority {} above {}", p, kMaxPriority));
  }
  Bits line{}, pending{}, claimed{};
  for (Bits* bits : {&line, &pending, &claimed})
    for (auto& w : *bits) w = in.u32();
  if (in.u32() != contexts_.size()) in.fail(fmt::format("PLIC context count differs (this board has {})", contexts_.size()));
  std::vector<Context> contexts(contexts_.size());
  for (Context& c : contexts) {
    for (auto& w : c.enable) w = in.u32();
    c.threshold = in.u32();
    if (c.threshold > kMaxPriority) in.fail("threshold out of range");
  }
  in.expect_end();
  priority_ = priority;
  line_ = line;
  pending_ = pending;
  claimed_ = claimed;
  contexts_ = std::move(contexts);
  update_outputs();
}

// ---- CLINT

void Clint::save_state(snapshot::Writer& out) const {
  std::lock_guard lock(mutex_);
  out.u32(harts());
  for (unsigned h = 0; h < harts(); ++h) {
    out.u32(msip_[h]);
    out.u64(mtimecmp_[h]);
  }
  out.u64(mtime_offset_);
}

void Clint::restore_state(snapshot::Reader& in) {
  std::lock_guard lock(mutex_);
  if (in.u32() != harts()) in.fail(fmt::format("CLINT hart count differs (this board has {})", harts()));
  std::vector<uint32_t> msip(harts());
  std::vector<uint64_t> cmp(harts());
  for (unsigned h = 0; h < harts(); ++h) {
    msip[h] = in.u32() & 1;
    cmp[h] = in.u64();
  }
  const uint64_t offset = in.u64();
  in.expect_end();
  msip_ = std::move(msip);
  mtimecmp_ = std::move(cmp);
  mtime_offset_ = offset;
  for (unsigned h = 0; h < harts(); ++h) {
    pins_[h]->set(kMsipBit, msip_[h] != 0);
    update_timer_pin(h, clock_.now() + mtime_offset_);
  }
}

// ---- RTC

void GoldfishRtc::save_state(snapshot::Writer& out) const {
  std::lock_guard lock(mutex_);
  out.u64(static_cast<uint64_t>(offset_ns_));
  out.u64(alarm_ns_);
  out.u32(time_high_latch_);
  out.u32(alarm_high_latch_);
  out.boolean(alarm_running_);
  out.boolean(irq_enabled_);
  out.boolean(irq_pending_);
  out.boolean(irq_level_);
}

void GoldfishRtc::restore_state(snapshot::Reader& in) {
  std::lock_guard lock(mutex_);
  const auto offset = static_cast<int64_t>(in.u64());
  const uint64_t alarm = in.u64();
  const uint32_t time_high = in.u32(), alarm_high = in.u32();
  const bool running = in.boolean(), enabled = in.boolean(), pending = in.boolean(), level = in.boolean();
  in.expect_end();
  offset_ns_ = offset;
  alarm_ns_ = alarm;
  time_high_latch_ = time_high;
  alarm_high_latch_ = alarm_high;
  alarm_running_ = running;
  irq_enabled_ = enabled;
  irq_pending_ = pending;
  irq_level_ = level;
}

// ---- virtio

void Virtqueue::save_state(snapshot::Writer& out) const {
  out.u32(size);
  out.boolean(ready);
  out.u64(desc_addr);
  out.u64(driver_addr);
  out.u64(device_addr);
  out.u16(last_avail_);
  out.u16(used_index_);
}

void Virtqueue::restore_state(snapshot::Reader& in) {
  size = in.u32();
  ready = in.boolean();
  desc_addr = in.u64();
  driver_addr = in.u64();
  device_addr = in.u64();
  last_avail_ = in.u16();
  used_index_ = in.u16();
}

void VirtioMmio::save_state(snapshot::Writer& out) const {
  std::lock_guard lock(mutex_);
  out.u32(device_->device_id());
  out.boolean(legacy_);
  out.u32(guest_page_size_);
  out.u32(static_cast<uint32_t>(queues_.size()));
  for (size_t q = 0; q < queues_.size(); ++q) {
    queues_[q].save_state(out);
    out.u32(legacy_pfn_[q]);
    out.u32(legacy_align_[q]);
  }
  out.u32(device_features_sel_);
  out.u32(driver_features_sel_);
  out.u64(driver_features_);
  out.u32(queue_sel_);
  out.u32(status_);
  out.u32(interrupt_status_);
  out.boolean(irq_level_);
  out.string(last_error_);
  snapshot::Writer device;
  device_->save_state(device);
  out.u32(static_cast<uint32_t>(device.data().size()));
  out.bytes(device.data().data(), device.data().size());
}

void VirtioMmio::restore_state(snapshot::Reader& in) {
  std::lock_guard lock(mutex_);
  const uint32_t id = in.u32();
  if (id != device_->device_id())
    in.fail(fmt::format("holds a virtio device of type {} but this slot has type {}", id, device_->device_id()));
  if (in.boolean() != legacy_) in.fail("virtio-mmio layout (legacy or modern) differs");
  const uint32_t page_size = in.u32();
  if (in.u32() != queues_.size()) in.fail("virtio queue count differs");
  std::vector<Virtqueue> queues(queues_.size());
  std::vector<uint32_t> pfn(queues_.size()), align(queues_.size());
  for (size_t q = 0; q < queues.size(); ++q) {
    queues[q].restore_state(in);
    // As on the live device, only a ready queue must have a valid size and place: a driver may
    // leave any QueueNum in a queue it never enables (found by tests/fuzz/fuzz_virtio_rng.cpp,
    // whose saved state of such a queue did not restore).
    std::string error;
    if (queues[q].ready && !queues[q].validate(bus_, device_->max_queue_size(), error))
      in.fail(fmt::format("queue {}: {}", q, error));
    pfn[q] = in.u32();
    align[q] = in.u32();
  }
  const uint32_t dev_sel = in.u32(), drv_sel = in.u32();
  const uint64_t driver_features = in.u64();
  const uint32_t queue_sel = in.u32(), status = in.u32(), interrupt_status = in.u32();
  const bool level = in.boolean();
  std::string last_error = in.string();
  const uint32_t device_len = in.count(1u << 20, "device state length");
  std::vector<uint8_t> device_state(device_len);
  in.bytes(device_state.data(), device_len);
  in.expect_end();
  snapshot::Reader device_in(device_state, in.what() + " device");
  device_->restore_state(device_in);
  device_in.expect_end();
  queues_ = std::move(queues);
  legacy_pfn_ = std::move(pfn);
  legacy_align_ = std::move(align);
  guest_page_size_ = page_size;
  device_features_sel_ = dev_sel;
  driver_features_sel_ = drv_sel;
  driver_features_ = driver_features;
  queue_sel_ = queue_sel;
  status_ = status;
  interrupt_status_ = interrupt_status;
  irq_level_ = level;
  last_error_ = std::move(last_error);
}

} // namespace nimbus::machine
