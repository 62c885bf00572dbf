#pragma once
// Physical memory protection: 16 entries (pmpcfg0/pmpcfg2, pmpaddr0-15), OFF/TOR/NA4/NAPOT,
// locking, granularity 4 bytes. M-mode accesses are checked only against locked entries.
#include <array>
#include <cstdint>

#include "machine/hart_privilege.hpp"

namespace nimbus::machine {

class Pmp {
public:
  static constexpr unsigned kEntries = 16;

  // `index` is the pmpcfg register number (0 or 2 on RV64; others read zero, ignore writes).
  uint64_t read_cfg(unsigned index) const;
  void write_cfg(unsigned index, uint64_t value);
  uint64_t read_addr(unsigned index) const;
  void write_addr(unsigned index, uint64_t value);

  // Whether an access of `size` bytes at `paddr` is permitted. Like QEMU, a hart with no active
  // entry at all allows everything (so bare-metal S-mode tests need no PMP setup).
  bool allows(uint64_t paddr, uint64_t size, Access access, Privilege privilege) const {
    if (!any_active_) return true;
    // Inside a range where every access gets one answer (uniform_range), that answer.
    const Uniform& memo = memo_[static_cast<unsigned>(access) * 4 + static_cast<unsigned>(privilege)];
    const uint64_t end = paddr + size; // exclusive
    if (paddr >= memo.lo && end <= memo.hi && end > paddr) return memo.allowed;
    return allows_outside_memo(paddr, size, access, privilege);
  }
  // The bytes around `paddr` where allows() gives every access the answer a 1-byte access at
  // `paddr` gets: [lo, hi) inside the first entry matching paddr (or, matching none, inside no
  // entry) and clear of every lower-numbered entry. Returns that answer.
  bool uniform_range(uint64_t paddr, Access access, Privilege privilege, uint64_t& lo, uint64_t& hi) const;

  void reset();

private:
  bool allows_outside_memo(uint64_t paddr, uint64_t size, Access access, Privilege privilege) const;
  void recompute();
  std::array<uint8_t, kEntries> cfg_{};
  std::array<uint64_t, kEntries> addr_{};
  std::array<uint64_t, kEntries> low_{};  // inclusive
  std::array<uint64_t, kEntries> high_{}; // exclusive
  bool any_active_ = false;
  // allows()'s memo: the last uniform_range() around an access, for each kind of access and
  // privilege. Page walks and soft-TLB fills ask about the same tables and RAM again and again,
  // and OpenSBI's entries put RAM behind its own firmware's: several entries looked at each time
  // (1.8 % of a busybox workload's host time). Emptied whenever an entry changes.
  struct Uniform {
    uint64_t lo = 0, hi = 0; // [lo, hi): empty until filled
    bool allowed = false;
  };
  mutable std::array<Uniform, 12> memo_{}; // [access * 4 + privilege]
};

} // namespace nimbus::machine
