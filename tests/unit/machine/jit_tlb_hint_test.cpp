// The soft-TLB hint of loads through computed addresses (docs/jit.md, "Loads and stores"): a
// site indexes the soft TLB by the index it used last when that is the address's own index. The
// program runs on an interpreting machine and two translating ones (as jit_region_test.cpp),
// compared after every step.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hart_assembler.hpp"
#include "jit_trio.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/devices/clint.hpp"
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {
namespace {

using namespace jit_trio;

// One load site alternating between two addresses: x5 and x5 + x7 (x6 flips between 0 and x7),
// 1000 times round a loop and then again from the start; a faulting access is skipped by the
// handler (which counts it in x29).
void put_alternating_load(Rig& rig, uint64_t base, uint64_t step) {
  rig.hart.set_jit_flat_ram(false); // M-mode: the soft TLB's own paths, not the flat-RAM slot
  rig.put(kHandler, kSkippingHandler);
  rig.put(kCode + 0x100, {
      xor_(6, 6, 7),            // 0x00 0 and `step` in turn
      add(8, 5, 6),             // 0x04 the address, computed: a hinted site
      ld(9, 8, 0),              // 0x08 the load: base, or base + step
      add(10, 10, 9),           // 0x0c
      addi(11, 11, 1),          // 0x10
      bltu(11, 12, -0x14),      // 0x14 -> 0x00
      addi(11, 0, 0),           // 0x18
      jal(0, -0x1c),            // 0x1c -> 0x00
  });
  rig.hart.reset(kCode + 0x100);
  rig.hart.set_csr(csr::kMtvec, kHandler);
  rig.hart.set_x(5, base);
  rig.hart.set_x(7, step);
  rig.hart.set_x(12, 1000);
}

// Table elements, `slli t, x, k; add t, t, b; l* d, imm(t)` (docs/jit.md, "Loads and
// stores"): the access reads [addend + b + x << k + imm] with x copied before the shift. Words,
// doublewords at -8, halfwords at +6 and bytes at +1 of tables crossing two page boundaries,
// with t apart from x, t as x (the shift overwrites x), the add's operands either way round
// and its sum into a third register (not the base's: then no plan), and a byte table whose
// base turns into an unmapped address every other pass (the load faults, the handler skips it:
// t must hold the address). Each part of the element's host address left out (the scale, the
// base, the offset, the copy of x) fails the comparison, as does a plan whose sum overwrote b.
TEST(JitTlbHint, TableElementLoadsReadTheElementTheirAddressNames) {
  constexpr uint64_t kTable = kRamBase + 0x20ff0;
  Trio trio([&](Rig& rig) {
    rig.hart.set_jit_flat_ram(false); // M-mode: the soft TLB's hints, not the flat-RAM slot
    rig.put(kHandler, kSkippingHandler);
    std::vector<uint32_t> words(0x6000 / 4);
    for (size_t j = 0; j < words.size(); ++j) words[j] = static_cast<uint32_t>(j * 0x9e3779b9u + (j >> 3));
    rig.put(kRamBase + 0x20000, words);
    rig.put(kCode, {
        addi(6, 6, 0x35b),     // 0x00 the index: 0-2047, in no order
        andi(6, 6, 0x7ff),     // 0x04
        slli(7, 6, 2),         // 0x08 t apart from x
        add(7, 7, 20),         // 0x0c
        lw(7, 7, 0),           // 0x10
        add(10, 10, 7),        // 0x14
        slli(8, 6, 3),         // 0x18
        add(8, 20, 8),         // 0x1c the add's operands the other way round
        ld(8, 8, -8),          // 0x20
        add(10, 10, 8),        // 0x24
        add(9, 6, 0),          // 0x28 mv
        slli(9, 9, 1),         // 0x2c t as x
        add(9, 9, 20),         // 0x30
        lhu(9, 9, 6),          // 0x34
        add(10, 10, 9),        // 0x38
        slli(13, 6, 3),        // 0x3c
        add(13, 13, 22),       // 0x40 the table, or an unmapped address every other pass
        lb(13, 13, 1),         // 0x44
        add(10, 10, 13),       // 0x48
        xor_(22, 22, 26),      // 0x4c
        add(10, 10, 6),        // 0x50 x after the loads
        slli(16, 6, 2),        // 0x54 the sum into another register
        add(17, 20, 16),       // 0x58
        lw(18, 17, 4),         // 0x5c
        add(10, 10, 18),       // 0x60
        add(10, 10, 16),       // 0x64 the shifted index and the element's address after the load
        add(10, 10, 17),       // 0x68
        add(19, 20, 0),        // 0x6c mv: the base into the register the sum goes to
        slli(16, 6, 2),        // 0x70
        add(19, 16, 19),       // 0x74 the sum overwrites the base: not a table element's plan
        lw(18, 19, 0),         // 0x78
        add(10, 10, 18),       // 0x7c
        addi(14, 14, 1),       // 0x80
        bltu(14, 15, -0x84),   // 0x84 -> 0x00
        jal(0, 0),             // 0x88
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(20, kTable);
    rig.hart.set_x(22, kTable);
    rig.hart.set_x(26, kTable ^ 0x40000000); // x22 ^ x26: unmapped
    rig.hart.set_x(15, 3000);
  });
  trio.run(300, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(14), 3000u);
  EXPECT_GT(h.x(29), 100u); // the byte loads faulted
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// One site loads 8 bytes at RAM's first byte and at 4 bytes below it in turn: the second access
// crosses from an unmapped page into the page the site's hint names, and must fault as in the
// interpreter (a hint checked against the last byte's page instead of the first's would take
// the RAM page's entry and read host memory below guest RAM).
TEST(JitTlbHint, LoadCrossingIntoTheHintedPageStillFaults) {
  Trio trio([](Rig& rig) {
    put_alternating_load(rig, kRamBase, static_cast<uint64_t>(-4)); // RAM's first 8 bytes, or 4 below: faults
  });
  trio.run(40, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u);                 // crossing loads faulted
  EXPECT_EQ(h.csr(csr::kMcause), 5u);       // load access fault
  EXPECT_EQ(h.csr(csr::kMtval), kRamBase - 4);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// One site loads 8 bytes at RAM's last 8 bytes and 4 bytes further in turn: the second access
// starts in the page the site's hint names (its entry's tag matches the first byte's page) but
// is misaligned and crosses RAM's end, and must fault as in the interpreter (the hint alone
// would read host memory past guest RAM).
TEST(JitTlbHint, MisalignedLoadLeavingTheHintedPageStillFaults) {
  constexpr uint64_t kRamEnd = kRamBase + (8ull << 20);
  Trio trio([](Rig& rig) {
    const uint64_t last = 0x1122334455667788;
    ASSERT_TRUE(rig.bus.copy_to_ram(kRamEnd - 8, &last, 8));
    put_alternating_load(rig, kRamEnd - 8, 4); // RAM's last 8 bytes, or 4 further: crosses RAM's end
  });
  trio.run(40, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u);                 // crossing loads faulted
  EXPECT_EQ(h.csr(csr::kMcause), 5u);       // load access fault
  EXPECT_EQ(h.csr(csr::kMtval), kRamEnd); // the first byte outside RAM
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// One site loads from two RAM pages in turn: its hint names the other page's entry at every
// step, so after its budget of wrong hints it is rewritten to index by the address, and loads
// the same values as the interpreter before and after.
TEST(JitTlbHint, TableLookupOverTwoPagesIsRewrittenToIndexByTheAddress) {
  Trio trio([](Rig& rig) {
    const uint64_t a = 11, b = 7;
    ASSERT_TRUE(rig.bus.copy_to_ram(kRamBase + 0x40000, &a, 8));
    ASSERT_TRUE(rig.bus.copy_to_ram(kRamBase + 0x41000, &b, 8));
    put_alternating_load(rig, kRamBase + 0x40000, 0x1000);
  });
  trio.run(40, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
  EXPECT_GT(h.jit_rewritten_sites(), 0u);
  EXPECT_GT(trio.alone.hart.jit_rewritten_sites(), 0u);
}

// Two addresses in one page: the hint is the address's own index at every step (its first
// misses were soft-TLB misses, not wrong hints), so the site keeps it.
TEST(JitTlbHint, TableLookupInOnePageKeepsItsHint) {
  Trio trio([](Rig& rig) { put_alternating_load(rig, kRamBase + 0x40000, 0x800); });
  trio.run(40, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
  EXPECT_EQ(h.jit_rewritten_sites(), 0u);
}

// After the rewrite the site still sends an access crossing into a mapped page from an unmapped
// one to the slow path: 8 bytes at RAM's second page, or 4 bytes below RAM (a fault), in turn.
TEST(JitTlbHint, RewrittenSiteStillFaultsOnALoadCrossingIntoRam) {
  Trio trio([](Rig& rig) {
    put_alternating_load(rig, kRamBase + 0x1000, static_cast<uint64_t>(-0x1004)); // or 4 below RAM: faults
  });
  trio.run(40, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u);
  EXPECT_EQ(h.csr(csr::kMcause), 5u);
  EXPECT_EQ(h.csr(csr::kMtval), kRamBase - 4);
  EXPECT_GT(h.jit_rewritten_sites(), 0u);
}

// A pointer chase at kCode (`ld x5, 8(x5)`, `lw x6, 0(x5)`: addend-hint sites) summing the
// nodes' values into x10 and counting steps in x11 up to x12; the hart starts at `pc` (kCode's
// virtual address) with the skipping handler.
// `stepped`: another block of the loop also adds to x5 (and takes it back), as compilers reuse
// a chase's register for address arithmetic (a hash chain's walk: bucket + 8 * h, then loads).
void put_chase(Rig& rig, uint64_t pc, bool stepped = false) {
  rig.put(kHandler, kSkippingHandler);
  if (stepped)
    rig.put(kCode, {
        ld(5, 5, 8),          // 0x00 x5 = x5->next
        lw(6, 5, 0),          // 0x04 x5->value: x5 was loaded last
        add(10, 10, 6),       // 0x08
        addi(11, 11, 1),      // 0x0c
        bgeu(11, 12, 0x14),   // 0x10 -> 0x24 when done
        addi(5, 5, 16),       // 0x14 another block: x5 moved by an add...
        addi(5, 5, -16),      // 0x18 ...and back
        jal(0, -0x1c),        // 0x1c -> 0x00
        jal(0, 0),            // 0x20
        jal(0, 0),            // 0x24
    });
  else
    rig.put(kCode, {
        ld(5, 5, 8),          // 0x00 x5 = x5->next
        lw(6, 5, 0),          // 0x04 x5->value
        add(10, 10, 6),       // 0x08
        addi(11, 11, 1),      // 0x0c
        bltu(11, 12, -0x10),  // 0x10 -> 0x00
        jal(0, 0),            // 0x14
    });
  rig.hart.reset(pc);
  rig.hart.set_csr(csr::kMtvec, kHandler);
}

// A pointer chase (`ld x5, 8(x5)`, `lw x6, 0(x5)`: addend-hint sites) through a ring of nodes in
// two pages mapped to unrelated physical pages and in the identity-mapped RAM, so consecutive
// nodes' pages have different addends (the prediction is wrong at every step), with one node
// whose next pointer crosses from one page into the other (a miss: the slow path). S-mode,
// Sv39. A prediction taken without comparing it with the entry's addend reads the wrong page.
void chase_through_two_pages(bool stepped) {
  constexpr uint64_t root = kRamBase + 0x10000, level1 = root + 0x1000, level0 = root + 0x2000;
  constexpr uint64_t kCodeVa = 0x40000000, kPageA = 0x40001000, kPageB = 0x40002000;
  constexpr uint64_t kPaA = kRamBase + 0x20000, kPaB = kRamBase + 0x50000, kRing = kRamBase + 0x30040;
  const auto pa_of = [&](uint64_t va) {
    if (va >= kPageA && va < kPageA + 0x1000) return kPaA + (va - kPageA);
    if (va >= kPageB && va < kPageB + 0x1000) return kPaB + (va - kPageB);
    return va; // the identity gigapage
  };
  // Nodes {u32 value, u32 pad, u64 next}; the fourth's `next` spans the end of page A.
  const std::vector<uint64_t> nodes = {kPageA + 0x100, kPageB + 0x200, kRing, kPageA + 0xff4, kPageB + 0x80};
  Trio trio([&](Rig& rig) {
    const auto poke = [&](uint64_t va, uint64_t value, unsigned size) {
      for (unsigned i = 0; i < size; ++i) {
        const auto byte = static_cast<uint8_t>(value >> (8 * i));
        ASSERT_TRUE(rig.bus.copy_to_ram(pa_of(va + i), &byte, 1));
      }
    };
    poke(root + 8 * 2, leaf(kRamBase, kR | kW), 8); // identity gigapage at 0x80000000
    poke(root + 8 * 1, pointer(level1), 8);
    poke(level1, pointer(level0), 8);
    poke(level0 + 0, leaf(kCode, kR | kX), 8);
    poke(level0 + 8, leaf(kPaA, kR | kW), 8);
    poke(level0 + 16, leaf(kPaB, kR | kW), 8);
    for (size_t i = 0; i < nodes.size(); ++i) {
      poke(nodes[i], 100 + i, 4);
      poke(nodes[i] + 8, nodes[(i + 1) % nodes.size()], 8);
    }
    put_chase(rig, kCodeVa, stepped);
    rig.hart.set_csr(csr::kSatp, (8ull << 60) | (root >> 12));
    rig.hart.set_privilege(1);
    rig.hart.set_x(5, nodes[0]);
    rig.hart.set_x(12, 20000);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u); // no trap
  EXPECT_GT(h.x(11), 1000u);
  // Values 101, 102, 103, 104, 100 in turn from the second node on.
  uint64_t expected = 0;
  for (uint64_t i = 0; i < h.x(11); ++i) expected += 100 + (i + 1) % nodes.size();
  EXPECT_EQ(h.x(10), expected);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
  // Wrong at nearly every step: the sites were rewritten to look the addend up directly.
  EXPECT_GT(h.jit_rewritten_sites(), 0u);
  EXPECT_GT(trio.alone.hart.jit_rewritten_sites(), 0u);
}

TEST(JitTlbHint, PointerChaseThroughPagesWithDifferentAddends) { chase_through_two_pages(false); }

// The same chase where another block of the loop also adds to x5: the value's load (x5 loaded
// just before, in its block) still takes the hint, so it mispredicts across the pages and is
// rewritten; the pointer's own load (x5 from the adding block) keeps the direct lookup. Until
// 2026-12-06 any add into a register anywhere in the unit kept all its loads off the hint, and
// no site of this loop was rewritten.
TEST(JitTlbHint, ChaseThroughARegisterAlsoUsedForAddressArithmeticTakesTheHint) { chase_through_two_pages(true); }

// The same chase through a ring of nodes in one page: the prediction holds (one addend), so no
// site is rewritten.
TEST(JitTlbHint, PointerChaseInOnePageKeepsItsPrediction) {
  constexpr uint64_t kRing = kRamBase + 0x30000;
  constexpr unsigned kNodes = 7;
  Trio trio([&](Rig& rig) {
    rig.hart.set_jit_flat_ram(false); // M-mode: the soft TLB's hints, not the flat-RAM slot
    for (unsigned i = 0; i < kNodes; ++i) {
      const uint64_t node = kRing + 0x200 * i, next = kRing + 0x200 * ((i + 3) % kNodes), value = 10 + i;
      ASSERT_TRUE(rig.bus.copy_to_ram(node, &value, 4));
      ASSERT_TRUE(rig.bus.copy_to_ram(node + 8, &next, 8));
    }
    put_chase(rig, kCode);
    rig.hart.set_x(5, kRing);
    rig.hart.set_x(12, 20000);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.x(11), 1000u);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
  EXPECT_EQ(h.jit_rewritten_sites(), 0u);
}

} // namespace
} // namespace nimbus::test
