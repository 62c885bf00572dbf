#pragma once
// The LR/SC reservations of the harts of one machine (or VM), one per hart.
//
// LR records the address and the value it loaded; SC stores only if the reservation is still
// there and memory still holds that value, with one host compare-and-swap (hart_execute.cpp), so
// a store by any other hart between LR and SC, on any host thread, makes the SC fail. (A store of
// the very value LR read goes unnoticed, as in QEMU's multi-threaded TCG; it cannot break the
// atomicity of the read-modify-write.)
//
// Harts interleaved on one host thread additionally lose their reservations whenever another hart
// gets the thread (switch_to), which keeps the single-threaded machine deterministic whatever the
// values. With harts on their own threads (set_parallel) there is no "other hart got the
// thread": each entry is then only touched by its own hart's thread.
#include <cstdint>
#include <vector>

#include "machine/snapshot_format.hpp"

namespace nimbus::machine {

class ReservationSet {
public:
  // LR on `hart` read `value` (zero-extended to its size) at `paddr`.
  void reserve(unsigned hart, uint64_t paddr, uint64_t value) {
    Entry& e = entry(hart);
    e.address = paddr;
    e.value = value;
    e.value_known = true;
    e.valid = true;
  }
  // SC: true only for the hart's live reservation of exactly this address; always clears it.
  // `expected` is the value LR read; `value_known` is false for a reservation restored from a
  // snapshot (whose value was not saved): then whatever memory holds is expected.
  bool claim(unsigned hart, uint64_t paddr, uint64_t& expected, bool& value_known) {
    Entry& e = entry(hart);
    const bool ok = e.valid && e.address == paddr;
    expected = e.value;
    value_known = e.value_known;
    e.valid = false;
    return ok;
  }
  // A trap or xRET on `hart` ends its reservation.
  void clear(unsigned hart) {
    if (hart < entries_.size()) entries_[hart].valid = false;
  }
  // Every hart's (restore, reset: only while no hart runs).
  void clear() {
    for (Entry& e : entries_) e.valid = false;
  }
  // Called whenever `hart` starts a run slice.
  void switch_to(unsigned hart) {
    if (parallel_) return;
    if (last_runner_ != hart) {
      clear();
      last_runner_ = hart;
      ++switches_;
    }
  }
  // Harts run on their own host threads from now on (set before they start, cleared after they
  // stopped).
  void set_parallel(bool on) {
    parallel_ = on;
    if (!on) last_runner_ = ~0u;
  }
  bool parallel() const { return parallel_; }
  // Sizes the table for harts 0..count-1.
  void reserve_harts(unsigned count) {
    if (count > entries_.size()) entries_.resize(count);
  }
  // How often the thread went from one hart to another: unchanged means no other hart ran (and
  // so none wrote memory) in between (FENCE.I keeps decoded code then). Meaningless with
  // parallel harts (any other hart may be writing at any time).
  uint64_t switches() const { return switches_; }
  // Whether any hart holds a reservation (tests).
  bool valid() const {
    for (const Entry& e : entries_)
      if (e.valid) return true;
    return false;
  }

  // Snapshots: owner, last runner, address, valid (the format of a single reservation: a
  // machine is saved with its harts stopped, and the first live reservation is kept; dropping
  // the others only makes their SC fail, which the ISA allows).
  void save_state(snapshot::Writer& out) const {
    unsigned owner = 0;
    const Entry* live = nullptr;
    for (unsigned i = 0; i < entries_.size(); ++i)
      if (entries_[i].valid) {
        owner = i;
        live = &entries_[i];
        break;
      }
    out.u32(owner);
    out.u32(last_runner_);
    out.u64(live ? live->address : 0);
    out.boolean(live != nullptr);
  }
  void restore_state(snapshot::Reader& in) {
    const uint32_t owner = in.u32(), last = in.u32();
    const uint64_t address = in.u64();
    const bool valid = in.boolean();
    in.expect_end();
    clear();
    last_runner_ = last;
    if (valid) {
      Entry& e = entry(owner);
      e.address = address;
      e.valid = true;
      e.value_known = false;
    }
  }

private:
  struct Entry {
    uint64_t address = 0;
    uint64_t value = 0;
    bool value_known = false;
    bool valid = false;
  };
  // Every Hart sizes the table for its id when it is built (reserve_harts), before any thread
  // runs: entries never move while harts run in parallel.
  Entry& entry(unsigned hart) {
    if (hart >= entries_.size()) entries_.resize(hart + 1);
    return entries_[hart];
  }
  std::vector<Entry> entries_;
  unsigned last_runner_ = ~0u;
  uint64_t switches_ = 0; // not architectural: not in snapshots
  bool parallel_ = false;
};

} // namespace nimbus::machine
