#include "machine/devices/goldfish_rtc.hpp"

#include <chrono>

namespace nimbus::machine {

GoldfishRtc::GoldfishRtc(Clock& clock, IrqLine irq) : clock_(clock), irq_(std::move(irq)) {}

uint64_t GoldfishRtc::source_ns() const {
  if (clock_.deterministic()) return kDeterministicEpochNs + clock_.now() * (1'000'000'000 / Clock::kTimebaseHz);
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count());
}

uint64_t GoldfishRtc::time_ns() const { return source_ns() + static_cast<uint64_t>(offset_ns_); }

bool GoldfishRtc::read(uint64_t offset, unsigned size, uint64_t& value) {
  if (size != 4 || offset % 4 != 0) return false;
  std::lock_guard lock(mutex_);
  value = 0;
  switch (offset) {
  case kTimeLow: {
    // Reading the low half latches the high half, so a low/high pair is consistent.
    const uint64_t now = time_ns();
    time_high_latch_ = static_cast<uint32_t>(now >> 32);
    value = static_cast<uint32_t>(now);
    break;
  }
  case kTimeHigh: value = time_high_latch_; break;
  case kAlarmLow: value = static_cast<uint32_t>(alarm_ns_); break;
  case kAlarmHigh: value = static_cast<uint32_t>(alarm_ns_ >> 32); break;
  case kIrqEnabled: value = irq_enabled_; break;
  case kAlarmStatus: value = alarm_running_; break;
  default: break;
  }
  return true;
}

bool GoldfishRtc::write(uint64_t offset, unsigned size, uint64_t value) {
  if (size != 4 || offset % 4 != 0) return false;
  std::lock_guard lock(mutex_);
  const auto v = static_cast<uint32_t>(value);
  switch (offset) {
  case kTimeLow: {
    const uint64_t now = time_ns();
    const uint64_t wanted = (now & ~uint64_t{0xffffffff}) | v;
    offset_ns_ += static_cast<int64_t>(wanted - now);
    break;
  }
  case kTimeHigh: {
    const uint64_t now = time_ns();
    const uint64_t wanted = (now & 0xffffffff) | (uint64_t{v} << 32);
    offset_ns_ += static_cast<int64_t>(wanted - now);
    break;
  }
  case kAlarmLow:
    alarm_ns_ = (uint64_t{alarm_high_latch_} << 32) | v;
    alarm_running_ = true;
    break;
  case kAlarmHigh: alarm_high_latch_ = v; break;
  case kIrqEnabled: irq_enabled_ = v & 1; break;
  case kClearAlarm: alarm_running_ = false; break;
  case kClearInterrupt: irq_pending_ = false; break;
  default: break;
  }
  bool fired = false;
  if (alarm_running_ && time_ns() >= alarm_ns_) {
    alarm_running_ = false;
    irq_pending_ = fired = true;
  }
  update_irq(fired);
  return true;
}

void GoldfishRtc::tick() {
  std::lock_guard lock(mutex_);
  bool fired = false;
  if (alarm_running_ && time_ns() >= alarm_ns_) {
    alarm_running_ = false;
    irq_pending_ = fired = true;
  }
  update_irq(fired);
}

void GoldfishRtc::reset() {
  std::lock_guard lock(mutex_);
  offset_ns_ = 0;
  alarm_ns_ = 0;
  time_high_latch_ = alarm_high_latch_ = 0;
  alarm_running_ = irq_enabled_ = irq_pending_ = false;
  update_irq();
}

void GoldfishRtc::update_irq(bool fired) {
  const bool level = irq_pending_ && irq_enabled_;
  // An alarm that fires is a new assertion even if the previous one was never cleared (QEMU's
  // goldfish_rtc_update raises its line on every alarm); the PLIC pends on assertions.
  if (level != irq_level_ || (level && fired)) {
    irq_level_ = level;
    if (irq_) irq_(level);
  }
}

} // namespace nimbus::machine
