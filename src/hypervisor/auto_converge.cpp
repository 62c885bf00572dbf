#include "hypervisor/auto_converge.hpp"

#include <algorithm>

namespace nimbus::hypervisor::migration {

AutoConverge::AutoConverge(uint32_t full, uint32_t floor)
    : full_(std::max<uint32_t>(full, 1)), floor_(std::clamp<uint32_t>(floor, 1, std::max<uint32_t>(full, 1))) {}

uint32_t AutoConverge::cut(uint32_t from, bool saturated) const {
  return std::max(saturated ? from / 4 : from / 2, floor_);
}

std::optional<uint32_t> AutoConverge::after_round(uint64_t dirtied, uint64_t last_sent) {
  const bool busy = last_sent != 0 && dirtied * 2 > last_sent;
  if (!busy) {
    busy_rounds_ = 0;
    return std::nullopt;
  }
  // Saturated: it re-dirtied (nearly) everything the round sent. A guest that rewrites a buffer
  // as fast as it can shows a few pages fewer than were sent (16424 of 16437 for a Linux guest
  // rewriting 64 MiB), so "at least as many" would miss it.
  const bool saturated = dirtied * 8 >= last_sent * 7;
  ++busy_rounds_;
  if (percent_ == 0 && busy_rounds_ < 2) return std::nullopt;   // not throttled yet: wait for a second busy round
  const uint32_t next = cut(percent_ == 0 ? full_ : percent_, saturated);
  last_saturated_ = saturated;
  if (percent_ != 0 && next >= percent_) return std::nullopt;   // at the floor
  percent_ = next;
  return percent_;
}

uint32_t AutoConverge::rebase(uint32_t full) {
  full_ = std::max<uint32_t>(full, 1);
  floor_ = std::min(floor_, full_);
  if (percent_ != 0) percent_ = cut(full_, last_saturated_);
  return percent_;
}

} // namespace nimbus::hypervisor::migration
