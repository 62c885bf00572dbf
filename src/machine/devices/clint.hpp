#pragma once
// SiFive CLINT (core-local interruptor) as on QEMU's virt board: per-hart software interrupt
// (msip) and timer compare (mtimecmp) registers plus the shared mtime counter.
#include "machine/snapshot_format.hpp"
#include <cstdint>
#include <mutex>
#include <vector>

#include "machine/clock.hpp"
#include "machine/interrupt_pins.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::machine {

class Clint : public MmioDevice {
public:
  static constexpr uint64_t kBase = 0x0200'0000;
  static constexpr uint64_t kSize = 0x1'0000;
  static constexpr uint64_t kMsipOffset = 0x0;
  static constexpr uint64_t kMtimecmpOffset = 0x4000;
  static constexpr uint64_t kMtimeOffset = 0xbff8;
  static constexpr unsigned kMsipBit = 3;
  static constexpr unsigned kMtipBit = 7;
  static constexpr uint64_t kNoDeadline = ~uint64_t{0};

  Clint(Clock& clock, std::vector<InterruptPins*> hart_pins);

  std::string_view name() const override { return "clint"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t offset, unsigned size, uint64_t value) override;

  // Re-evaluates every hart's MTIP against the clock reading `now` (Clock::now() time base).
  // Power-on state (machine reset): no software interrupts, timers disarmed, no mtime offset.
  void reset();
  void tick(uint64_t now);
  // The earliest Clock::now() value at which some hart's timer fires, or kNoDeadline.
  uint64_t next_deadline() const;
  // mtime as the guest sees it (the clock plus any offset the guest wrote).
  uint64_t mtime() const;

  // Snapshots (devices/device_state.cpp): registers and internal state, not the wiring.
  // restore_state throws snapshot::FormatError for a payload that does not fit this device.
  void save_state(snapshot::Writer& out) const;
  void restore_state(snapshot::Reader& in);
private:
  unsigned harts() const { return static_cast<unsigned>(pins_.size()); }
  void update_timer_pin(unsigned hart, uint64_t guest_now);

  Clock& clock_;
  std::vector<InterruptPins*> pins_;
  std::vector<uint32_t> msip_;
  std::vector<uint64_t> mtimecmp_;
  uint64_t mtime_offset_ = 0; // guest writes to mtime shift its view of the clock (wraps)
  mutable std::mutex mutex_;
};

} // namespace nimbus::machine
