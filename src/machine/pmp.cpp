#include "machine/pmp.hpp"

#include <algorithm>

namespace nimbus::machine {
namespace {
constexpr uint8_t kRead = 1, kWrite = 2, kExec = 4, kLock = 0x80;
constexpr unsigned kModeShift = 3;
constexpr uint8_t kOff = 0, kTor = 1, kNa4 = 2, kNapot = 3;
constexpr uint64_t kAddrMask = (uint64_t{1} << 54) - 1; // pmpaddr holds physical address bits 55:2
unsigned mode_of(uint8_t cfg) { return (cfg >> kModeShift) & 3; }
} // namespace

void Pmp::reset() {
  cfg_.fill(0);
  addr_.fill(0);
  recompute();
}

uint64_t Pmp::read_cfg(unsigned index) const {
  if (index != 0 && index != 2) return 0;
  uint64_t value = 0;
  for (unsigned i = 0; i < 8; ++i) value |= uint64_t{cfg_[index * 4 + i]} << (8 * i);
  return value;
}

void Pmp::write_cfg(unsigned index, uint64_t value) {
  if (index != 0 && index != 2) return;
  for (unsigned i = 0; i < 8; ++i) {
    const unsigned entry = index * 4 + i;
    auto cfg = static_cast<uint8_t>(value >> (8 * i));
    if (cfg_[entry] & kLock) continue;
    cfg &= static_cast<uint8_t>(~0x60); // bits 6:5 are reserved (zero)
    if ((cfg & kWrite) && !(cfg & kRead)) continue; // R=0,W=1 is reserved: keep the old entry (as QEMU)
    cfg_[entry] = cfg;
  }
  recompute();
}

uint64_t Pmp::read_addr(unsigned index) const { return index < kEntries ? addr_[index] : 0; }

void Pmp::write_addr(unsigned index, uint64_t value) {
  if (index >= kEntries) return;
  if (cfg_[index] & kLock) return;
  // A locked TOR entry also locks the pmpaddr below it (its bottom bound).
  if (index + 1 < kEntries && (cfg_[index + 1] & kLock) && mode_of(cfg_[index + 1]) == kTor) return;
  addr_[index] = value & kAddrMask;
  recompute();
}

void Pmp::recompute() {
  memo_ = {};
  any_active_ = false;
  for (unsigned i = 0; i < kEntries; ++i) {
    const uint64_t addr = addr_[i];
    switch (mode_of(cfg_[i])) {
    case kTor:
      low_[i] = i == 0 ? 0 : addr_[i - 1] << 2;
      high_[i] = addr << 2;
      break;
    case kNa4:
      low_[i] = addr << 2;
      high_[i] = low_[i] + 4;
      break;
    case kNapot: {
      const uint64_t lowest_zero = ~addr & (addr + 1); // 2^(number of trailing ones)
      low_[i] = (addr & ~(lowest_zero - 1)) << 2;
      high_[i] = low_[i] + (lowest_zero << 3);
      break;
    }
    default:
      low_[i] = high_[i] = 0;
      break;
    }
    if (mode_of(cfg_[i]) != kOff) any_active_ = true;
  }
}

// The memo missed: it learns the range around paddr, whose answer is this access's unless the
// access runs past it (then the entries decide, byte range against byte range).
bool Pmp::allows_outside_memo(uint64_t paddr, uint64_t size, Access access, Privilege privilege) const {
  const uint64_t end = paddr + size; // exclusive
  Uniform& memo = memo_[static_cast<unsigned>(access) * 4 + static_cast<unsigned>(privilege)];
  memo.allowed = uniform_range(paddr, access, privilege, memo.lo, memo.hi);
  if (end <= memo.hi && end > paddr) return memo.allowed; // memo.lo <= paddr: uniform_range's promise
  for (unsigned i = 0; i < kEntries; ++i) {
    if (mode_of(cfg_[i]) == kOff) continue;
    if (end <= low_[i] || paddr >= high_[i]) continue; // no byte matches
    // The lowest-numbered entry that matches any byte must match all of them.
    if (paddr < low_[i] || end > high_[i]) return false;
    if (privilege == Privilege::Machine && !(cfg_[i] & kLock)) return true;
    const uint8_t needed = access == Access::Fetch ? kExec : access == Access::Load ? kRead : kWrite;
    return (cfg_[i] & needed) != 0;
  }
  return privilege == Privilege::Machine;
}

bool Pmp::uniform_range(uint64_t paddr, Access access, Privilege privilege, uint64_t& lo, uint64_t& hi) const {
  lo = 0;
  hi = ~uint64_t{0};
  if (!any_active_) return true;
  for (unsigned i = 0; i < kEntries; ++i) {
    if (mode_of(cfg_[i]) == kOff) continue;
    if (paddr >= low_[i] && paddr < high_[i]) { // the first entry an access at paddr matches
      lo = std::max(lo, low_[i]);
      hi = std::min(hi, high_[i]);
      if (privilege == Privilege::Machine && !(cfg_[i] & kLock)) return true;
      const uint8_t needed = access == Access::Fetch ? kExec : access == Access::Load ? kRead : kWrite;
      return (cfg_[i] & needed) != 0;
    }
    // Not matching paddr: an access that starts at or above high_, or ends at or below low_,
    // matches none of its bytes either (allows' test), so the range stops there.
    if (paddr >= high_[i])
      lo = std::max(lo, high_[i]);
    else
      hi = std::min(hi, low_[i]);
  }
  return privilege == Privilege::Machine;
}

} // namespace nimbus::machine
