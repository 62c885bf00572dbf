#pragma once
// Live migration's auto-converge policy (docs/migration.md, Pre-copy): how far to throttle a VM
// whose guest writes memory faster than the link copies it. Pure arithmetic over the rounds'
// page counts, no clock and no VM: send_vm applies the answer as the VM's scheduler cap.
//
// A round is "busy" when the guest dirtied more than half of what the round before copied.
// Two busy rounds in a row start the throttle (one is often a burst); from then on every busy
// round cuts the VM's share again. A cut quarters the share when the guest re-dirtied 7/8 or
// more of what the round copied (the count saturates there: the guest may have dirtied the same
// pages many times over, as a JIT guest does, so its real rate can be far above the link's),
// and halves it otherwise. The share never goes below `floor` percent.
#include <cstdint>
#include <optional>

namespace nimbus::hypervisor::migration {

class AutoConverge {
public:
  // `full` is the VM's share before any throttle, in percent of one host hart (its own cap, or
  // 100 per vCPU without one); `floor` the least it may be cut to (at least 1).
  AutoConverge(uint32_t full, uint32_t floor);

  // After a pre-copy round found `dirtied` pages to send where the round before sent
  // `last_sent` (0: there was none to compare with). Returns the new share to set, or nullopt
  // to leave the VM as it is.
  std::optional<uint32_t> after_round(uint64_t dirtied, uint64_t last_sent);

  // The VM's share is `full` after all (its own cap turned out lower than assumed): the next
  // cut starts from there. Returns the share to set now: `full` cut once if a throttle is on.
  uint32_t rebase(uint32_t full);

  uint32_t full() const { return full_; }
  // The share last returned (0: never throttled).
  uint32_t percent() const { return percent_; }

private:
  uint32_t cut(uint32_t from, bool saturated) const;

  uint32_t full_;
  uint32_t floor_;
  uint32_t percent_ = 0;
  uint32_t busy_rounds_ = 0;
  bool last_saturated_ = false;
};

} // namespace nimbus::hypervisor::migration
