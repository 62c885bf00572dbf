// Pmp::uniform_range (the flat-RAM slot's range, docs/jit.md "Flat RAM") and Pmp::allows (which
// answers from a memo of such ranges) against the spec's rule applied byte by byte to the CSRs:
// every access of 1, 2, 4 or 8 bytes lying inside a range must get the answer the range was
// given, and allows() must give the spec's answer for any sequence of accesses and entry writes.
// Random configurations of every kind (OFF, TOR including empty and reversed ones, NA4, NAPOT,
// locked or not) over a small address space, so that regions overlap and touch.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "machine/pmp.hpp"

namespace nimbus::test {
namespace {

using machine::Access;
using machine::Pmp;
using machine::Privilege;

// The privileged spec's rule (3.7.1) from the CSRs' values, byte by byte: the lowest-numbered
// entry matching any byte of the access must match all of them and grant it; none matching, only
// M-mode may; no active entry at all, everything is allowed (as QEMU).
bool spec_allows(const Pmp& pmp, uint64_t paddr, unsigned size, Access access, Privilege privilege) {
  const auto cfg_of = [&](unsigned i) { return static_cast<uint8_t>(pmp.read_cfg(i / 8 * 2) >> (8 * (i % 8))); };
  bool any = false;
  for (unsigned i = 0; i < Pmp::kEntries; ++i) any = any || ((cfg_of(i) >> 3) & 3) != 0;
  if (!any) return true;
  for (unsigned i = 0; i < Pmp::kEntries; ++i) {
    const uint8_t cfg = cfg_of(i);
    const unsigned mode = (cfg >> 3) & 3;
    const uint64_t addr = pmp.read_addr(i);
    uint64_t lo = 0, hi = 0;
    if (mode == 1) { // TOR
      lo = i == 0 ? 0 : pmp.read_addr(i - 1) << 2;
      hi = addr << 2;
    } else if (mode == 2) { // NA4
      lo = addr << 2;
      hi = lo + 4;
    } else if (mode == 3) { // NAPOT: trailing ones give the size
      unsigned ones = 0;
      while ((addr >> ones) & 1) ++ones;
      lo = (addr >> ones << ones) << 2;
      hi = lo + (uint64_t{8} << ones);
    } else {
      continue;
    }
    unsigned inside = 0;
    for (uint64_t b = paddr; b < paddr + size; ++b) inside += b >= lo && b < hi;
    if (inside == 0) continue;
    if (inside != size) return false;
    if (privilege == Privilege::Machine && !(cfg & 0x80)) return true;
    const uint8_t needed = access == Access::Fetch ? 4 : access == Access::Load ? 1 : 2;
    return (cfg & needed) != 0;
  }
  return privilege == Privilege::Machine;
}

// A random entry: pmpaddr in a 16 KiB space (bits 55:2 of addresses below 0x4000), NAPOT sizes small.
void write_random_entry(Pmp& pmp, std::mt19937_64& rng) {
  const unsigned entry = static_cast<unsigned>(rng() % Pmp::kEntries);
  pmp.write_addr(entry, rng() % 0x1000);
  const uint64_t mode = rng() % 4, perms = rng() % 8, lock = (rng() % 4 == 0) ? 0x80 : 0;
  const uint64_t cfg = (perms == 2 || perms == 6 ? perms | 1 : perms) | mode << 3 | lock; // W without R is reserved
  const unsigned reg = entry / 8 * 2;
  pmp.write_cfg(reg, (pmp.read_cfg(reg) & ~(uint64_t{0xff} << (8 * (entry % 8)))) | cfg << (8 * (entry % 8)));
}

// allows() in long runs of nearby accesses (its memo's hits), entries rewritten now and then
// (the memo must forget), against the spec's rule.
TEST(PmpAllows, AnySequenceOfAccessesAndWritesGetsTheSpecsAnswers) {
  std::mt19937_64 rng(20261208);
  const Access accesses[] = {Access::Load, Access::Store, Access::Fetch};
  const Privilege privileges[] = {Privilege::User, Privilege::Supervisor, Privilege::Machine};
  const unsigned sizes[] = {1, 2, 4, 8};
  unsigned allowed = 0, denied = 0;
  for (unsigned config = 0; config < 200; ++config) {
    Pmp pmp;
    const unsigned active = static_cast<unsigned>(rng() % 6);
    for (unsigned i = 0; i < active; ++i) write_random_entry(pmp, rng);
    uint64_t paddr = rng() % 0x4400;
    for (unsigned step = 0; step < 2000; ++step) {
      if (rng() % 500 == 0) write_random_entry(pmp, rng);
      paddr = rng() % 8 == 0 ? rng() % 0x4400 : (paddr + rng() % 64) % 0x4400;
      const unsigned size = sizes[rng() % 4];
      const Access access = accesses[rng() % 3];
      const Privilege privilege = privileges[rng() % 3];
      const bool expected = spec_allows(pmp, paddr, size, access, privilege);
      ASSERT_EQ(pmp.allows(paddr, size, access, privilege), expected)
          << "config " << config << " step " << step << ": " << size << " bytes at " << paddr;
      ++(expected ? allowed : denied);
    }
  }
  EXPECT_GT(allowed, 50000u);
  EXPECT_GT(denied, 50000u);
}

TEST(PmpUniformRange, EveryAccessInsideTheRangeGetsItsAnswer) {
  std::mt19937_64 rng(20261207);
  const Access accesses[] = {Access::Load, Access::Store, Access::Fetch};
  const Privilege privileges[] = {Privilege::User, Privilege::Supervisor, Privilege::Machine};
  const unsigned sizes[] = {1, 2, 4, 8};
  unsigned checked = 0;
  for (unsigned config = 0; config < 200; ++config) {
    Pmp pmp;
    const unsigned active = static_cast<unsigned>(rng() % 6);
    for (unsigned i = 0; i < active; ++i) write_random_entry(pmp, rng);
    for (unsigned probe = 0; probe < 20; ++probe) {
      const uint64_t paddr = rng() % 0x4400;
      const Access access = accesses[rng() % 3];
      const Privilege privilege = privileges[rng() % 3];
      uint64_t lo = 0, hi = 0;
      const bool answer = pmp.uniform_range(paddr, access, privilege, lo, hi);
      ASSERT_LE(lo, paddr);
      ASSERT_GT(hi, paddr);
      ASSERT_EQ(answer, spec_allows(pmp, paddr, 1, access, privilege)) << "config " << config << " at " << paddr;
      const uint64_t from = paddr - lo > 24 ? paddr - 24 : lo;
      for (uint64_t x = from; x < paddr + 24 && x < hi; ++x) {
        for (const unsigned size : sizes) {
          if (hi - x < size) continue;
          ASSERT_EQ(answer, spec_allows(pmp, x, size, access, privilege))
              << "config " << config << " range [" << lo << ", " << hi << ") around " << paddr << ": " << size
              << " bytes at " << x;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 50000u);
}

// Without any active entry every access is allowed (as QEMU): the range is everything.
TEST(PmpUniformRange, NoEntryMeansEverything) {
  Pmp pmp;
  uint64_t lo = 1, hi = 0;
  EXPECT_TRUE(pmp.uniform_range(0x80001234, Access::Store, Privilege::User, lo, hi));
  EXPECT_EQ(lo, 0u);
  EXPECT_EQ(hi, ~uint64_t{0});
}

} // namespace
} // namespace nimbus::test
