// Access groups (docs/jit.md, "Access groups"): consecutive loads (or stores) through one base
// register share one soft-TLB lookup of the span they cover. Each program runs on an
// interpreting machine and two translating ones (jit_trio.hpp), compared after every step; the
// cases are the ones a shared lookup could get wrong: a span that leaves the page or RAM (the
// members before the faulting one must land, the ones after it must not), a load that moves the
// base in the middle, stores into the program's own page, negative offsets.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "hart_assembler.hpp"
#include "jit_trio.hpp"
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {
namespace {

using namespace jit_trio;

constexpr uint64_t kRamEnd = kRamBase + (8ull << 20);

// A loop over one group of three loads through x5 (offsets 0, 8, 16), x5 switching between an
// address whose span lies inside RAM and one 8 bytes lower than RAM's last 24 bytes: there the
// third load faults (RAM ends under it), after the first two have written x9 and x10.
TEST(JitAccessGroup, LoadGroupLeavingRamFaultsAtTheRightMember) {
  Trio trio([](Rig& rig) {
    for (uint64_t a = kRamEnd - 64; a < kRamEnd; a += 8) {
      const uint64_t value = a * 3 + 1;
      ASSERT_TRUE(rig.bus.copy_to_ram(a, &value, 8));
    }
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        xor_(5, 5, 7),        // 0x00 x5: kRamEnd - 48 or kRamEnd - 16 in turn
        ld(9, 5, 0),          // 0x04 the group: three loads through x5
        ld(10, 5, 8),         // 0x08
        ld(11, 5, 16),        // 0x0c faults when x5 = kRamEnd - 16
        add(12, 12, 9),       // 0x10
        add(12, 12, 10),      // 0x14
        add(12, 12, 11),      // 0x18
        addi(13, 13, 1),      // 0x1c
        bltu(13, 14, -0x20),  // 0x20 -> 0x00
        jal(0, 0),            // 0x24
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kRamEnd - 48);
    rig.hart.set_x(7, (kRamEnd - 48) ^ (kRamEnd - 16));
    rig.hart.set_x(14, 5000);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 1000u);          // the third load faulted every other round
  EXPECT_EQ(h.csr(csr::kMcause), 5u); // load access fault
  EXPECT_EQ(h.csr(csr::kMtval), kRamEnd);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// The same for stores at negative and positive offsets around x5, which switches between the
// middle of a page and its first byte: there the span (x5 - 8 .. x5 + 8) crosses into the page
// below, which is mapped too (both halves must be written), and the group runs member by member.
TEST(JitAccessGroup, StoreGroupAcrossAPageBoundaryWritesBothPages) {
  constexpr uint64_t kPage = kRamBase + 0x40000;
  Trio trio([](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        xor_(5, 5, 7),        // 0x00 x5: kPage + 0x800 or kPage in turn
        addi(9, 9, 3),        // 0x04
        sd(9, 5, -8),         // 0x08 the group: three stores through x5
        sw(9, 5, 0),          // 0x0c
        sb(9, 5, 7),          // 0x10
        ld(10, 5, -8),        // 0x14 read back: a group of loads
        lwu(11, 5, 0),        // 0x18
        lbu(12, 5, 7),        // 0x1c
        add(13, 13, 10),      // 0x20
        add(13, 13, 11),      // 0x24
        add(13, 13, 12),      // 0x28
        addi(14, 14, 1),      // 0x2c
        bltu(14, 15, -0x30),  // 0x30 -> 0x00
        jal(0, 0),            // 0x34
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kPage + 0x800);
    rig.hart.set_x(7, (kPage + 0x800) ^ kPage);
    rig.hart.set_x(15, 4000);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.x(14), 1000u);
  // What both places hold is the interpreter's (the last round wrote one, the one before the other).
  for (const uint64_t at : {kPage - 8, kPage + 0x7f8}) {
    uint64_t expected = 0;
    ASSERT_TRUE(trio.interp.bus.copy_from_ram(at, &expected, 8));
    EXPECT_GE(expected, h.x(9) - 3);
    for (Rig* rig : {&trio.units, &trio.alone}) {
      uint64_t got = 0;
      ASSERT_TRUE(rig->bus.copy_from_ram(at, &got, 8));
      EXPECT_EQ(got, expected) << std::hex << at;
    }
  }
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// A load that writes the base ends its group: `ld x5, 0(x5)` between loads through x5 makes the
// next one address from the loaded pointer (a ring of nodes in different pages).
TEST(JitAccessGroup, LoadThatMovesTheBaseEndsTheGroup) {
  const std::vector<uint64_t> nodes = {kRamBase + 0x20010, kRamBase + 0x31020, kRamBase + 0x25ff0};
  Trio trio([&](Rig& rig) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      const uint64_t next = nodes[(i + 1) % nodes.size()], value = 1000 + i;
      ASSERT_TRUE(rig.bus.copy_to_ram(nodes[i], &next, 8));
      ASSERT_TRUE(rig.bus.copy_to_ram(nodes[i] + 8, &value, 8));
    }
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(9, 5, 8),          // 0x00 this node's value
        ld(5, 5, 0),          // 0x04 x5 = next: ends the group
        ld(10, 5, 8),         // 0x08 the next node's value, through the new x5
        add(11, 11, 9),       // 0x0c
        add(12, 12, 10),      // 0x10
        addi(13, 13, 1),      // 0x14
        bltu(13, 14, -0x18),  // 0x18 -> 0x00
        jal(0, 0),            // 0x1c
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, nodes[0]);
    rig.hart.set_x(14, 3000);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  uint64_t first = 0, second = 0;
  for (uint64_t i = 0; i < h.x(13); ++i) {
    first += 1000 + i % nodes.size();
    second += 1000 + (i + 1) % nodes.size();
  }
  EXPECT_EQ(h.x(11), first);
  EXPECT_EQ(h.x(12), second);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// A group of stores into the program's own page rewrites the instruction after the group: the
// page is watched (no store entry), so the group runs member by member and the store into code
// ends the block, and the next round runs the new instruction as the interpreter does.
TEST(JitAccessGroup, StoreGroupIntoTheProgramsOwnPage) {
  Trio trio([](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        addi(9, 9, 1),        // 0x00
        sw(6, 5, 0),          // 0x04 the group: x5 = kCode + 0x14, the addi below
        sw(7, 5, 4),          // 0x08 a harmless word after it (the jal's own value)
        addi(13, 13, 1),      // 0x0c
        bltu(13, 14, -0x10),  // 0x10 -> 0x00
        addi(10, 10, 1),      // 0x14 rewritten to `addi x10, x10, 5`
        jal(0, -0x18),        // 0x18 -> 0x00 ... for a while
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kCode + 0x14);
    rig.hart.set_x(6, addi(10, 10, 5));
    rig.hart.set_x(7, jal(0, -0x18));
    rig.hart.set_x(14, 1000);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.x(10), 0u);
  EXPECT_EQ(h.x(10) % 5, 0u); // only the rewritten instruction ever ran
}

} // namespace
} // namespace nimbus::test
