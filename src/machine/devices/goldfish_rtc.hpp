#pragma once
// Google's goldfish RTC at 0x10_1000, IRQ 11: nanoseconds since the Unix epoch plus a one-shot
// alarm. Time comes from the host's wall clock, or in deterministic mode from a fixed epoch
// plus mtime so runs repeat exactly.
#include "machine/snapshot_format.hpp"
#include <cstdint>
#include <mutex>

#include "machine/clock.hpp"
#include "machine/devices/irq_line.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::machine {

class GoldfishRtc : public MmioDevice {
public:
  static constexpr uint64_t kBase = 0x10'1000;
  static constexpr uint64_t kSize = 0x1000;
  static constexpr unsigned kIrq = 11;
  // 2024-01-01T00:00:00Z: the wall-clock start of every deterministic run.
  static constexpr uint64_t kDeterministicEpochNs = 1'704'067'200ull * 1'000'000'000ull;

  enum Register : uint64_t {
    kTimeLow = 0x00,
    kTimeHigh = 0x04,
    kAlarmLow = 0x08,
    kAlarmHigh = 0x0c,
    kIrqEnabled = 0x10,
    kClearAlarm = 0x14,
    kAlarmStatus = 0x18,
    kClearInterrupt = 0x1c,
  };

  GoldfishRtc(Clock& clock, IrqLine irq);

  std::string_view name() const override { return "goldfish-rtc"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t offset, unsigned size, uint64_t value) override;

  // Fires the alarm once its time has come; called by the board's tick.
  void tick();
  // Power-on state: alarm and interrupt off, guest time offset dropped.
  void reset();
  // Nanoseconds since the Unix epoch as the guest sees it.
  uint64_t time_ns() const;

  // Snapshots (devices/device_state.cpp): registers and internal state, not the wiring.
  // restore_state throws snapshot::FormatError for a payload that does not fit this device.
  void save_state(snapshot::Writer& out) const;
  void restore_state(snapshot::Reader& in);
private:
  uint64_t source_ns() const;
  void update_irq(bool fired = false);

  Clock& clock_;
  IrqLine irq_;
  int64_t offset_ns_ = 0; // guest writes to TIME move its view of the clock
  uint64_t alarm_ns_ = 0;
  uint32_t time_high_latch_ = 0;  // TIME_HIGH as of the last TIME_LOW read
  uint32_t alarm_high_latch_ = 0; // ALARM_HIGH written before ALARM_LOW arms the alarm
  bool alarm_running_ = false;
  bool irq_enabled_ = false;
  bool irq_pending_ = false;
  bool irq_level_ = false;
  mutable std::mutex mutex_;
};

} // namespace nimbus::machine
