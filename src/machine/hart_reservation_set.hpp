#pragma once
// The LR/SC reservation shared by all harts of a machine. Harts run interleaved on one host
// thread, so a reservation only survives while its owner keeps running: when another hart gets
// the thread, that hart's stores might hit the reserved address, and the reservation is dropped.
#include <cstdint>

#include "machine/snapshot_format.hpp"

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
      ++switches_;
    }
  }
  // How often the thread went from one hart to another: unchanged means no other hart ran (and
  // so none wrote memory) in between (FENCE.I keeps decoded code then).
  uint64_t switches() const { return switches_; }
  bool valid() const { return valid_; }

  // Snapshots: owner, last runner, address, valid.
  void save_state(snapshot::Writer& out) const {
    out.u32(owner_);
    out.u32(last_runner_);
    out.u64(address_);
    out.boolean(valid_);
  }
  void restore_state(snapshot::Reader& in) {
    const uint32_t owner = in.u32(), last = in.u32();
    const uint64_t address = in.u64();
    const bool valid = in.boolean();
    in.expect_end();
    owner_ = owner, last_runner_ = last, address_ = address, valid_ = valid;
  }

private:
  unsigned owner_ = 0;
  unsigned last_runner_ = ~0u;
  uint64_t address_ = 0;
  bool valid_ = false;
  uint64_t switches_ = 0; // not architectural: not in snapshots
};

} // namespace nimbus::machine
