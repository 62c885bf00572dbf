#include "machine/devices/clint.hpp"

#include "machine/devices/register_access.hpp"

namespace nimbus::machine {

Clint::Clint(Clock& clock, std::vector<InterruptPins*> hart_pins)
    : clock_(clock), pins_(std::move(hart_pins)) {
  reset();
}

void Clint::reset() {
  std::lock_guard lock(mutex_);
  msip_.assign(pins_.size(), 0);
  // All-ones keeps MTIP low until firmware arms the timer (QEMU only raises MTIP once written).
  mtimecmp_.assign(pins_.size(), kNoDeadline);
  mtime_offset_ = 0;
  for (InterruptPins* p : pins_) {
    p->set(kMsipBit, false);
    p->set(kMtipBit, false);
  }
}

uint64_t Clint::mtime() const { return clock_.now() + mtime_offset_; }

bool Clint::read(uint64_t offset, unsigned size, uint64_t& value) {
  std::lock_guard lock(mutex_);
  if (offset < kMtimecmpOffset) {
    const uint64_t hart = offset / 4;
    if (hart >= harts()) {
      value = 0;
      return true;
    }
    if (!fits_register(offset, size, 4)) return false;
    value = msip_[hart];
    return true;
  }
  if (offset >= kMtimecmpOffset && offset < kMtimeOffset) {
    const uint64_t hart = (offset - kMtimecmpOffset) / 8;
    if (hart >= harts()) {
      value = 0;
      return true;
    }
    return read_subword(mtimecmp_[hart], offset & 7, size, value);
  }
  if (offset >= kMtimeOffset && offset < kMtimeOffset + 8) return read_subword(mtime(), offset & 7, size, value);
  value = 0;
  return true;
}

bool Clint::write(uint64_t offset, unsigned size, uint64_t value) {
  std::lock_guard lock(mutex_);
  if (offset < kMtimecmpOffset) {
    const uint64_t hart = offset / 4;
    if (hart >= harts()) return true;
    if (!fits_register(offset, size, 4)) return false;
    msip_[hart] = static_cast<uint32_t>(value & 1);
    pins_[hart]->set(kMsipBit, msip_[hart] != 0);
    return true;
  }
  if (offset >= kMtimecmpOffset && offset < kMtimeOffset) {
    const uint64_t hart = (offset - kMtimecmpOffset) / 8;
    if (hart >= harts()) return true;
    if (!write_subword(mtimecmp_[hart], offset & 7, size, value)) return false;
    update_timer_pin(static_cast<unsigned>(hart), mtime());
    return true;
  }
  if (offset >= kMtimeOffset && offset < kMtimeOffset + 8) {
    uint64_t guest_time = mtime();
    if (!write_subword(guest_time, offset & 7, size, value)) return false;
    mtime_offset_ = guest_time - clock_.now();
    for (unsigned h = 0; h < harts(); ++h) update_timer_pin(h, guest_time);
    return true;
  }
  return true; // reserved space reads as zero and ignores writes, as QEMU does
}

void Clint::update_timer_pin(unsigned hart, uint64_t guest_now) {
  pins_[hart]->set(kMtipBit, guest_now >= mtimecmp_[hart]);
}

void Clint::tick(uint64_t now) {
  std::lock_guard lock(mutex_);
  const uint64_t guest_now = now + mtime_offset_;
  for (unsigned h = 0; h < harts(); ++h) update_timer_pin(h, guest_now);
}

uint64_t Clint::next_deadline() const {
  std::lock_guard lock(mutex_);
  uint64_t earliest = kNoDeadline;
  for (uint64_t cmp : mtimecmp_) {
    if (cmp == kNoDeadline) continue;
    // Convert from the guest's view back to the clock's time base (the offset is signed: the
    // guest may set mtime behind the clock). A compare the clock only reaches past 2^64 never
    // fires, rather than wrapping to a time in the past (found by fuzz_clint).
    uint64_t clock_time;
    if (static_cast<int64_t>(mtime_offset_) >= 0) {   // the guest's mtime is ahead of the clock
      if (cmp < mtime_offset_) return 0;               // due before the clock started: now
      clock_time = cmp - mtime_offset_;
    } else {                                          // behind: cmp is later on the clock
      const uint64_t behind = 0 - mtime_offset_;
      if (cmp >= kNoDeadline - behind) continue;       // past 2^64 on the clock: never
      clock_time = cmp + behind;
    }
    if (clock_time < earliest) earliest = clock_time;
  }
  return earliest;
}

} // namespace nimbus::machine
