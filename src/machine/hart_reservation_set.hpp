#pragma once
// The LR/SC reservation shared by all harts of a machine. Harts run interleaved on one host
// thread, so a reservation only survives while its owner keeps running: when another hart gets
// the thread, that hart's stores might hit the reserved address, and the reservation is dropped.
#include <cstdint>

namespace nimbus::machine {

class ReservationSet {
public:
  void reserve(unsigned hart, uint64_t paddr) {
    owner_ = hart;
    address_ = paddr;
    valid_ = true;
  }
  // SC: succeeds only on the owner's live reservation for exactly this address; always clears.
  bool claim(unsigned hart, uint64_t paddr) {
    const bool ok = valid_ && owner_ == hart && address_ == paddr;
    valid_ = false;
    return ok;
  }
  void clear() { valid_ = false; }
  // Called whenever `hart` starts a run slice.
  void switch_to(unsigned hart) {
    if (last_runner_ != hart) {
      valid_ = false;
      last_runner_ = hart;
    }
  }
  bool valid() const { return valid_; }

private:
  unsigned owner_ = 0;
  unsigned last_runner_ = ~0u;
  uint64_t address_ = 0;
  bool valid_ = false;
};

} // namespace nimbus::machine
