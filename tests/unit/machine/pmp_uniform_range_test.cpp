// Pmp::uniform_range (the flat-RAM slot's range, docs/jit.md "Flat RAM") against Pmp::allows:
// every access of 1, 2, 4 or 8 bytes lying inside the range must get the answer the range was
// given. Random configurations of every kind (OFF, TOR including empty and reversed ones, NA4,
// NAPOT, locked or not) over a small address space, so that regions overlap and touch.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "machine/pmp.hpp"

namespace nimbus::test {
namespace {

using machine::Access;
using machine::Pmp;
using machine::Privilege;

TEST(PmpUniformRange, EveryAccessInsideTheRangeGetsItsAnswer) {
  std::mt19937_64 rng(20261207);
  const Access accesses[] = {Access::Load, Access::Store, Access::Fetch};
  const Privilege privileges[] = {Privilege::User, Privilege::Supervisor, Privilege::Machine};
  const unsigned sizes[] = {1, 2, 4, 8};
  unsigned checked = 0;
  for (unsigned config = 0; config < 200; ++config) {
    Pmp pmp;
    const unsigned active = static_cast<unsigned>(rng() % 6);
    for (unsigned i = 0; i < active; ++i) {
      const unsigned entry = static_cast<unsigned>(rng() % Pmp::kEntries);
      // pmpaddr in a 16 KiB space (bits 55:2 of addresses below 0x4000), NAPOT sizes small.
      pmp.write_addr(entry, rng() % 0x1000);
      const uint64_t mode = rng() % 4, perms = rng() % 8, lock = (rng() % 4 == 0) ? 0x80 : 0;
      const uint64_t cfg = (perms == 2 || perms == 6 ? perms | 1 : perms) | mode << 3 | lock; // W without R is reserved
      const unsigned reg = entry / 8 * 2;
      pmp.write_cfg(reg, (pmp.read_cfg(reg) & ~(uint64_t{0xff} << (8 * (entry % 8)))) | cfg << (8 * (entry % 8)));
    }
    for (unsigned probe = 0; probe < 20; ++probe) {
      const uint64_t paddr = rng() % 0x4400;
      const Access access = accesses[rng() % 3];
      const Privilege privilege = privileges[rng() % 3];
      uint64_t lo = 0, hi = 0;
      const bool answer = pmp.uniform_range(paddr, access, privilege, lo, hi);
      ASSERT_LE(lo, paddr);
      ASSERT_GT(hi, paddr);
      ASSERT_EQ(answer, pmp.allows(paddr, 1, access, privilege)) << "config " << config << " at " << paddr;
      const uint64_t from = paddr - lo > 24 ? paddr - 24 : lo;
      for (uint64_t x = from; x < paddr + 24 && x < hi; ++x) {
        for (const unsigned size : sizes) {
          if (hi - x < size) continue;
          ASSERT_EQ(answer, pmp.allows(x, size, access, privilege))
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
