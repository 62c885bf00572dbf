#pragma once
// A virtio-mmio transport (virtio 1.x section 4.2) in one of QEMU virt's slots at
// 0x1000_1000 + n * 0x1000, IRQ 1 + n: the modern layout ("version 2") by default, or the legacy
// one ("version 1", section 4.2.4: GuestPageSize, QueueAlign, QueuePFN, no FEATURES_OK), which is
// what QEMU 7.2 presents unless told -global virtio-mmio.force-legacy=false. Requests are
// processed synchronously when the driver writes QueueNotify, which keeps runs deterministic.
#include "machine/snapshot_format.hpp"
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "machine/bus.hpp"
#include "machine/devices/irq_line.hpp"
#include "machine/devices/virtio_device.hpp"
#include "machine/devices/virtqueue.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::machine {

class VirtioMmio : public MmioDevice {
public:
  static constexpr uint64_t kFirstSlotBase = 0x1000'1000;
  static constexpr uint64_t kSlotSize = 0x1000;
  static constexpr unsigned kSlots = 8;
  static constexpr unsigned kFirstIrq = 1;
  static constexpr uint32_t kMagic = 0x74726976;    // "virt"
  static constexpr uint32_t kVendorId = 0x554d4551; // "QEMU", as QEMU reports
  static constexpr unsigned kMaxQueues = 8;

  static constexpr uint64_t kFeatureIndirectDesc = uint64_t{1} << 28;
  static constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;

  enum Register : uint64_t {
    kMagicValue = 0x000,
    kVersion = 0x004,
    kDeviceId = 0x008,
    kVendor = 0x00c,
    kDeviceFeatures = 0x010,
    kDeviceFeaturesSel = 0x014,
    kDriverFeatures = 0x020,
    kDriverFeaturesSel = 0x024,
    kLegacyGuestPageSize = 0x028, // legacy only
    kQueueSel = 0x030,
    kQueueNumMax = 0x034,
    kQueueNum = 0x038,
    kLegacyQueueAlign = 0x03c, // legacy only
    kLegacyQueuePfn = 0x040,   // legacy only
    kQueueReady = 0x044,
    kQueueNotify = 0x050,
    kInterruptStatus = 0x060,
    kInterruptAck = 0x064,
    kStatus = 0x070,
    kQueueDescLow = 0x080,
    kQueueDescHigh = 0x084,
    kQueueDriverLow = 0x090,
    kQueueDriverHigh = 0x094,
    kQueueDeviceLow = 0x0a0,
    kQueueDeviceHigh = 0x0a4,
    kShmSel = 0x0ac,
    kShmLenLow = 0x0b0,
    kShmLenHigh = 0x0b4,
    kShmBaseLow = 0x0b8,
    kShmBaseHigh = 0x0bc,
    kConfigGeneration = 0x0fc,
    kConfig = 0x100,
  };
  // Device status bits.
  static constexpr uint32_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4, kStatusFeaturesOk = 8,
                            kStatusNeedsReset = 64, kStatusFailed = 128;
  static constexpr uint32_t kInterruptUsedBuffer = 1, kInterruptConfigChange = 2;

  enum class Layout { modern, legacy };
  VirtioMmio(Bus& bus, std::unique_ptr<VirtioDevice> device, IrqLine irq, Layout layout = Layout::modern);
  bool legacy() const { return legacy_; }

  std::string_view name() const override { return "virtio-mmio"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t offset, unsigned size, uint64_t value) override;

  VirtioDevice& device() { return *device_; }
  // Serves the queues the device asks for (VirtioDevice::wants_service): frames that arrived
  // for a network device; and raises a configuration-change interrupt for a device that changed
  // its configuration (a balloon's new target). Called by the run loop between slices, on the
  // machine's thread.
  void poll();
  // Machine reset: the same as the driver writing 0 to Status.
  void reset();
  uint32_t status() const;
  // Why the device last entered DEVICE_NEEDS_RESET (empty if it has not).
  std::string last_error() const;

  // Snapshots (devices/device_state.cpp): registers and internal state, not the wiring.
  // restore_state throws snapshot::FormatError for a payload that does not fit this device.
  void save_state(snapshot::Writer& out) const;
  void restore_state(snapshot::Reader& in);
private:
  void notify(unsigned queue);
  void serve(unsigned queue);
  void fail(std::string error);
  // Drives the line; with new_event a high line is asserted again (a fresh request).
  void update_irq(bool new_event = false);
  uint64_t offered_features() const { return device_->features() | kFeatureVersion1 | kFeatureIndirectDesc; }
  Virtqueue* selected_queue();

  // Legacy QueuePFN write: the queue at pfn * GuestPageSize (desc, then avail, then used at the
  // next QueueAlign boundary), or off for 0.
  void set_legacy_pfn(uint32_t pfn);

  Bus& bus_;
  bool legacy_ = false;
  uint32_t guest_page_size_ = 4096;
  std::vector<uint32_t> legacy_pfn_, legacy_align_; // per queue
  std::unique_ptr<VirtioDevice> device_;
  IrqLine irq_;
  std::vector<Virtqueue> queues_;
  DescriptorChain chain_; // reused between requests to avoid allocation
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t status_ = 0;
  uint32_t interrupt_status_ = 0;
  uint32_t config_generation_ = 0;
  bool irq_level_ = false;
  std::string last_error_;
  mutable std::recursive_mutex mutex_;
};

} // namespace nimbus::machine
