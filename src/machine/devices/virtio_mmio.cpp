#include "machine/devices/virtio_mmio.hpp"

#include <algorithm>

namespace nimbus::machine {
namespace {

void set_low(uint64_t& reg, uint32_t v) { reg = (reg & ~uint64_t{0xffffffff}) | v; }
void set_high(uint64_t& reg, uint32_t v) { reg = (reg & 0xffffffff) | (uint64_t{v} << 32); }

} // namespace

VirtioMmio::VirtioMmio(Bus& bus, std::unique_ptr<VirtioDevice> device, IrqLine irq, Layout layout)
    : bus_(bus), legacy_(layout == Layout::legacy), legacy_pfn_(device->queue_count(), 0),
      legacy_align_(device->queue_count(), 4096), device_(std::move(device)), irq_(std::move(irq)),
      queues_(device_->queue_count()) {}

void VirtioMmio::set_legacy_pfn(uint32_t pfn) {
  Virtqueue* q = selected_queue();
  if (!q) return;
  legacy_pfn_[queue_sel_] = pfn;
  if (pfn == 0) { // the driver takes the queue away
    q->reset();
    return;
  }
  if (q->size == 0) q->size = device_->max_queue_size(); // QueueNum left unset: the maximum
  const uint64_t base = uint64_t{pfn} * guest_page_size_;
  const uint64_t align = legacy_align_[queue_sel_];
  q->desc_addr = base;
  q->driver_addr = base + Virtqueue::kDescSize * q->size;
  const uint64_t avail_end = q->driver_addr + 6 + 2ull * q->size;
  q->device_addr = (avail_end + align - 1) & ~(align - 1);
  std::string error;
  if (!q->validate(bus_, device_->max_queue_size(), error)) {
    // The queue was possibly live at its old place: it must not stay ready at one that failed
    // the checks (found by tests/fuzz/fuzz_virtio_rng.cpp: such a state did not even restore).
    q->ready = false;
    fail("queue " + std::to_string(queue_sel_) + ": " + error);
    return;
  }
  q->ready = true;
}

uint32_t VirtioMmio::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::string VirtioMmio::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

Virtqueue* VirtioMmio::selected_queue() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

bool VirtioMmio::read(uint64_t offset, unsigned size, uint64_t& value) {
  std::lock_guard lock(mutex_);
  value = 0;
  if (offset >= kConfig) {
    // Configuration space allows byte, half-word and word accesses (and 64-bit for capacity).
    const std::vector<uint8_t> config = device_->config();
    const uint64_t at = offset - kConfig;
    for (unsigned i = 0; i < size; ++i)
      if (at + i < config.size()) value |= uint64_t{config[at + i]} << (8 * i);
    return true;
  }
  if (size != 4 || offset % 4 != 0) return false; // the spec requires 32-bit register accesses
  const Virtqueue* q = selected_queue();
  switch (offset) {
  case kMagicValue: value = kMagic; break;
  case kVersion: value = legacy_ ? 1 : 2; break;
  case kDeviceId: value = device_->device_id(); break;
  case kVendor: value = kVendorId; break;
  case kDeviceFeatures:
    // Legacy devices have 32 feature bits and no VERSION_1 (QEMU returns 0 for other words).
    if (legacy_) value = device_features_sel_ == 0 ? static_cast<uint32_t>(offered_features()) : 0;
    else value = device_features_sel_ == 0 ? static_cast<uint32_t>(offered_features())
            : device_features_sel_ == 1 ? static_cast<uint32_t>(offered_features() >> 32)
                                        : 0;
    break;
  case kQueueNumMax: value = q ? device_->max_queue_size() : 0; break;
  case kQueueNum: value = q ? q->size : 0; break;
  case kQueueReady: value = !legacy_ && q && q->ready; break;
  case kLegacyQueuePfn: value = legacy_ && q ? legacy_pfn_[queue_sel_] : 0; break;
  case kInterruptStatus: value = interrupt_status_; break;
  case kStatus: value = status_; break;
  case kQueueDescLow: value = q ? static_cast<uint32_t>(q->desc_addr) : 0; break;
  case kQueueDescHigh: value = q ? static_cast<uint32_t>(q->desc_addr >> 32) : 0; break;
  case kQueueDriverLow: value = q ? static_cast<uint32_t>(q->driver_addr) : 0; break;
  case kQueueDriverHigh: value = q ? static_cast<uint32_t>(q->driver_addr >> 32) : 0; break;
  case kQueueDeviceLow: value = q ? static_cast<uint32_t>(q->device_addr) : 0; break;
  case kQueueDeviceHigh: value = q ? static_cast<uint32_t>(q->device_addr >> 32) : 0; break;
  case kShmLenLow:
  case kShmLenHigh: value = 0xffffffff; break; // no shared memory regions
  case kConfigGeneration: value = config_generation_; break;   // bumped by each device-side change
  default: value = 0; break;
  }
  return true;
}

bool VirtioMmio::write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(mutex_);
  if (offset >= kConfig) {
    // Byte, half-word and word writes; the device decides which fields are writable.
    if (size == 1 || size == 2 || size == 4) device_->write_config(offset - kConfig, size, value);
    return true;
  }
  if (size != 4 || offset % 4 != 0) return false;
  const auto v = static_cast<uint32_t>(value);
  Virtqueue* q = selected_queue();
  // Queue layout registers are frozen while the queue is live (the spec forbids changing them).
  const bool queue_writable = q && !q->ready;
  switch (offset) {
  case kDeviceFeaturesSel: device_features_sel_ = v; break;
  case kDriverFeaturesSel: driver_features_sel_ = v; break;
  case kDriverFeatures:
    if (status_ & kStatusFeaturesOk) break; // features are fixed once accepted
    if (driver_features_sel_ == 0) set_low(driver_features_, v);
    if (driver_features_sel_ == 1 && !legacy_) set_high(driver_features_, v);
    break;
  case kLegacyGuestPageSize:
    // A power of two; anything else (or 0) leaves the page size alone.
    if (legacy_ && v != 0 && (v & (v - 1)) == 0) guest_page_size_ = v;
    break;
  case kLegacyQueueAlign:
    if (legacy_ && q && v != 0 && (v & (v - 1)) == 0) legacy_align_[queue_sel_] = v;
    break;
  case kLegacyQueuePfn:
    if (legacy_) set_legacy_pfn(v);
    break;
  case kQueueSel: queue_sel_ = v; break;
  case kQueueNum:
    if (queue_writable) q->size = v;
    break;
  case kQueueReady:
    if (!q || legacy_) break;
    if (v & 1) {
      std::string error;
      if (!q->validate(bus_, device_->max_queue_size(), error)) {
        fail("queue " + std::to_string(queue_sel_) + ": " + error);
        break;
      }
      q->ready = true;
    } else {
      q->ready = false;
    }
    break;
  case kQueueNotify:
    if (v < queues_.size()) notify(v);
    break;
  case kInterruptAck:
    interrupt_status_ &= ~v;
    break;
  case kStatus:
    if (v == 0) {
      reset();
      break;
    }
    {
      uint32_t next = v & ~kStatusNeedsReset; // only the device sets NEEDS_RESET
      // Legacy devices have no FEATURES_OK handshake: the status is what the driver wrote.
      if (!legacy_ && (next & kStatusFeaturesOk) && !(status_ & kStatusFeaturesOk)) {
        // Accept the features if they are a subset of ours (virtio 1.x 2.2.2: the device
        // SHOULD accept any valid subset, else it MUST leave FEATURES_OK clear). VERSION_1 is not
        // required: a device MAY refuse to work without it (6.2), QEMU 7.2's version 2 transport
        // does not (it validates features only when VERSION_1 was accepted), and drivers that
        // write only the low 32 feature bits (xv6) depend on that. Without VERSION_1 our
        // little-endian devices behave the same.
        if ((driver_features_ & ~offered_features()) != 0) next &= ~kStatusFeaturesOk;
      }
      if ((next & kStatusDriverOk) && !(status_ & kStatusDriverOk)) device_->driver_ok(driver_features_);
      status_ = next | (status_ & kStatusNeedsReset);
    }
    break;
  case kQueueDescLow:
    if (legacy_) break; // the legacy layout places the rings through QueuePFN
    if (queue_writable) set_low(q->desc_addr, v);
    break;
  case kQueueDescHigh:
    if (legacy_) break;
    if (queue_writable) set_high(q->desc_addr, v);
    break;
  case kQueueDriverLow:
    if (legacy_) break;
    if (queue_writable) set_low(q->driver_addr, v);
    break;
  case kQueueDriverHigh:
    if (legacy_) break;
    if (queue_writable) set_high(q->driver_addr, v);
    break;
  case kQueueDeviceLow:
    if (legacy_) break;
    if (queue_writable) set_low(q->device_addr, v);
    break;
  case kQueueDeviceHigh:
    if (legacy_) break;
    if (queue_writable) set_high(q->device_addr, v);
    break;
  default: break; // read-only or reserved
  }
  update_irq();
  return true;
}

void VirtioMmio::reset() {
  std::lock_guard lock(mutex_);
  for (Virtqueue& q : queues_) q.reset();
  std::fill(legacy_pfn_.begin(), legacy_pfn_.end(), 0);
  std::fill(legacy_align_.begin(), legacy_align_.end(), 4096);
  guest_page_size_ = 4096;
  device_features_sel_ = driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  status_ = 0;
  interrupt_status_ = 0;
  last_error_.clear();
  device_->reset();
  update_irq();
}

void VirtioMmio::fail(std::string error) {
  last_error_ = std::move(error);
  status_ |= kStatusNeedsReset;
  interrupt_status_ |= kInterruptConfigChange;
}

void VirtioMmio::poll() {
  std::lock_guard lock(mutex_);
  if (device_->take_config_change()) {
    ++config_generation_;
    // Only a driver that is up hears of it; one that starts later reads the new values anyway.
    if (status_ & kStatusDriverOk) {
      interrupt_status_ |= kInterruptConfigChange;
      update_irq(true);
    }
  }
  for (unsigned queue = 0; queue < queues_.size(); ++queue)
    if (device_->wants_service(queue)) serve(queue);
}

void VirtioMmio::notify(unsigned queue) { serve(queue); }

void VirtioMmio::serve(unsigned queue) {
  // A driver that has not finished initialisation or a broken device serves nothing.
  if (!(status_ & kStatusDriverOk) || (status_ & kStatusNeedsReset)) return;
  Virtqueue& q = queues_[queue];
  bool used = false;
  // At most one pass over the ring per notify: the driver notifies again for later requests.
  for (uint32_t served = 0; served < q.size; ++served) {
    std::string error;
    const Virtqueue::PopResult r = q.pop(bus_, chain_, error, device_->buffers_are_addresses(queue));
    if (r == Virtqueue::PopResult::kEmpty) break;
    if (r == Virtqueue::PopResult::kError) {
      fail("queue " + std::to_string(queue) + ": " + error);
      break;
    }
    const VirtioDevice::Result result = device_->process(queue, chain_);
    if (result.deferred) { // nothing for this buffer yet: it stays the driver's next one
      q.unpop();
      break;
    }
    // Harts drop decoded code only on the pages the device may have written.
    for (const DescriptorChain::Segment& segment : chain_.writable())
      if (segment.host != nullptr) bus_.note_dma_write(segment.paddr, segment.len);
    if (!result.ok) {
      fail("queue " + std::to_string(queue) + ": malformed request");
      break;
    }
    if (!q.push_used(bus_, chain_.head(), result.written, error)) {
      fail("queue " + std::to_string(queue) + ": " + error);
      break;
    }
    used = true;
  }
  // Harts are stopped while we run; the notices above name the buffers and the used ring, so
  // they drop only code on those pages (none, for a guest that does not run code from them).
  if (used) bus_.note_dma_write(q.device_addr, 6 + 8ull * q.size); // the used ring
  if (used) {
    interrupt_status_ |= kInterruptUsedBuffer;
    // Every batch of used buffers is a new request to the PLIC, even while the line is already
    // high (QEMU's virtio_notify raises its line each time): the PLIC pends on assertions, so a
    // driver that completed before acknowledging still hears about later buffers.
    update_irq(true);
  }
}

void VirtioMmio::update_irq(bool new_event) {
  const bool level = interrupt_status_ != 0;
  if (level != irq_level_ || (level && new_event)) {
    irq_level_ = level;
    if (irq_) irq_(level);
  }
}

} // namespace nimbus::machine
