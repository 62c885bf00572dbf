// What the JIT leaves out or folds (docs/jit.md, "Generated code"): a branch's per-block check
// done once for both ways out, W ops' sign extensions that nothing observes, the
// `slli 32; srli 32` zero extension as one move, and the data context's soft-TLB tables kept
// beside data_context_. Each program runs on an interpreting machine and two translating ones
// (jit_trio.hpp), compared after every step with budgets from 1 (the check fails at every
// block end) up.
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

// Loops whose back edges are a branch's taken side (0x08), its fall-through side (0x14 falls to
// 0x18, which jumps back) and both sides of an if/else (0x24): with budget 1 the check fails at
// every block end and the failed check must leave with the pc the branch takes.
TEST(JitPeephole, BranchCheckedOnceLeavesWithTheTakenWay) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        addi(11, 11, 1),     // 0x00
        andi(12, 11, 3),     // 0x04
        bne(12, 0, -8),      // 0x08 -> 0x00 three times in four
        addi(13, 13, 1),     // 0x0c
        andi(14, 13, 1),     // 0x10
        beq(14, 0, 0x14),    // 0x14 -> 0x28 every other time; else falls to 0x18
        addi(15, 15, 7),     // 0x18
        bltu(15, 16, -0x14), // 0x1c -> 0x08... (x12 is 0 here: falls through at 0x08)
        jal(0, -0x20),       // 0x20 -> 0x00
        0,                   // 0x24 (not reached)
        addi(17, 17, 1),     // 0x28
        blt(17, 18, -0x2c),  // 0x2c -> 0x00 while x17 < x18 (x18 from memory: one use)
        addi(17, 0, 0),      // 0x30
        jal(0, -0x34),       // 0x34 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(16, 5000);
    rig.hart.set_x(18, 300);
  });
  trio.run(300, kBudgets);
  EXPECT_GT(trio.units.hart.x(11), 100u);
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 0u);
}

// W ops whose sign extension is observed (a full-width read, a trap before the next write)
// next to ones where it is not (only W ops read the value before it is written again), and the
// zero extension `slli rd, rs, 32; srli rd, rd, 32`, with values whose bit 31 is set.
TEST(JitPeephole, SignExtensionsKeptWhereTheUpperHalfIsSeen) {
  Trio trio([](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        addw(5, 6, 7),        // 0x00 x6 + 1: bit 31 set in turn
        srli(8, 5, 32),       // 0x04 reads the upper half: the extension stays
        addiw(5, 5, 0),       // 0x08 x5 written again (after the full read)
        addw(9, 6, 7),        // 0x0c only addw reads it before the next write: left out
        addw(9, 9, 7),        // 0x10 read in full below: stays
        add(10, 10, 9),       // 0x14
        subw(18, 6, 19),      // 0x18 x6 + 1 again
        lw(20, 21, 0),        // 0x1c faults every other time: x18 must be extended at the trap
        addw(18, 18, 7),      // 0x20
        slli(22, 5, 32),      // 0x24 zero extension of x5 (bit 31 set): one move
        srli(22, 22, 32),     // 0x28
        slli(23, 6, 32),      // 0x2c and of x6, into another register
        srli(23, 23, 32),     // 0x30
        mulw(24, 6, 6),       // 0x34 only sraiw's low-half read before the next write
        sraiw(24, 24, 0),     // 0x38 sext.w: stays (read in full by the add)
        add(10, 10, 24),      // 0x3c
        slliw(25, 6, 1),      // 0x40 read by slli 32 (its upper half shifted out): left out
        slli(25, 25, 32),     // 0x44
        add(10, 10, 25),      // 0x48
        xor_(21, 21, 26),     // 0x4c toggles the load's address between RAM and nothing
        addi(6, 6, 0x123),    // 0x50
        addi(11, 11, 1),      // 0x54
        bltu(11, 12, -0x58),  // 0x58 -> 0x00
        addi(11, 0, 0),       // 0x5c
        jal(0, -0x60),        // 0x60 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(6, 0x7fffe000);
    rig.hart.set_x(7, 1);
    rig.hart.set_x(19, static_cast<uint64_t>(-1));
    rig.hart.set_x(21, kRamBase + 0x10000);
    rig.hart.set_x(26, (kRamBase + 0x10000) ^ 0x40000000); // 0xc0010000: unmapped
    rig.hart.set_x(12, 100000);
  });
  trio.run(200, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 10u); // loads faulted
  EXPECT_GT(h.x(6), 0x80000000u); // bit 31 of x6 + 1 was set in some iterations
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// An int accumulator (`sum += v`: x10 written only by `li` and addw, read only by addw, mulw and
// sw), the case a unit could keep without its sign extension ("Loop-carried W ops" in
// docs/jit.md): its value must be the sign-extended sum wherever the unit stores it, at its
// exits and at a load and a store that fault every other time (the skipping handler goes on).
// The sums cross bit 31 at every step. Compared with the interpreter after every step at every
// budget.
TEST(JitPeephole, IntAccumulatorIsExtendedWhereverItLeavesItsUnit) {
  Trio trio([](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        addi(10, 0, -5),      // 0x00 li: the unit's entry writes the accumulator first
        lw(14, 21, 0),        // 0x04 faults every other time
        addw(10, 10, 14),     // 0x08
        addw(10, 10, 7),      // 0x0c 0x7fff0001: bit 31 flips
        mulw(15, 10, 10),     // 0x10 read as a word
        sw(10, 21, 4),        // 0x14 stored as a word (faults with the load), read back below
        xor_(21, 21, 26),     // 0x18 toggles the address between RAM and nothing
        addi(11, 11, 1),      // 0x1c
        bltu(11, 12, -0x1c),  // 0x20 -> 0x04
        lw(16, 27, 4),        // 0x24 the last word stored
        addi(11, 0, 0),       // 0x28
        jal(0, -0x2c),        // 0x2c -> 0x00
    });
    const uint32_t value = 0x40000003;
    ASSERT_TRUE(rig.bus.copy_to_ram(kRamBase + 0x10000, &value, 4));
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(7, 0x7fff0001);
    rig.hart.set_x(21, kRamBase + 0x10000);
    rig.hart.set_x(26, (kRamBase + 0x10000) ^ 0x40000000); // x21 ^ x26 = 0x40000000: unmapped
    rig.hart.set_x(27, kRamBase + 0x10000);
    rig.hart.set_x(12, 40);
  });
  trio.run(300, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 10u); // loads faulted
  EXPECT_NE(h.x(16), 0u);  // a word was stored
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

// `sext.w` (addiw rd, rs, 0) is a move where the block's earlier ops left rs sign-extended (a
// narrow load, srliw, srli by 33, srai by 32, xor of two such values) and an extension where
// they did not (srli by 32, srai by 31, and with an unknown value, andi with a negative
// immediate, an addw, addiw or srliw by 0 whose own extension was left out, a value from
// another block: 0x18 is entered with x5 loaded by the block before it and with x5 = x6 from
// the branch at 0x08). Each of these, taken as extended, fails the comparison.
TEST(JitPeephole, SextWIsAMoveOnlyOfExtendedValues) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        add(5, 6, 0),         // 0x00 x5 = x6: not extended
        andi(15, 11, 1),      // 0x04
        bne(15, 0, 0x10),     // 0x08 -> 0x18 every other time
        sw(6, 21, 0),         // 0x0c
        lw(5, 21, 0),         // 0x10 x5 extended
        jal(0, 4),            // 0x14 -> 0x18: its own block
        addiw(5, 5, 0),       // 0x18 entered both ways: extends
        add(10, 10, 5),       // 0x1c
        lw(16, 21, 0),        // 0x20 extended
        srliw(7, 16, 8),      // 0x24 extended
        xor_(16, 16, 7),      // 0x28 extended ^ extended
        addiw(16, 16, 0),     // 0x2c a move: left out
        add(10, 10, 16),      // 0x30
        srli(8, 6, 32),       // 0x34 below 2^32 only
        addiw(8, 8, 0),       // 0x38
        add(10, 10, 8),       // 0x3c
        srli(9, 6, 33),       // 0x40 below 2^31
        addiw(9, 9, 0),       // 0x44 left out
        add(10, 10, 9),       // 0x48
        srai(13, 6, 31),      // 0x4c 33 significant bits
        addiw(13, 13, 0),     // 0x50
        add(10, 10, 13),      // 0x54
        srai(14, 6, 32),      // 0x58 32
        addiw(14, 14, 0),     // 0x5c left out
        add(10, 10, 14),      // 0x60
        and_(17, 16, 6),      // 0x64 extended & not
        addiw(17, 17, 0),     // 0x68
        add(10, 10, 17),      // 0x6c
        andi(18, 6, -16),     // 0x70 a negative immediate on a value not extended
        addiw(18, 18, 0),     // 0x74
        add(10, 10, 18),      // 0x78
        addw(19, 6, 26),      // 0x7c only the addiw reads it before it is written: no extension
        addiw(19, 19, 0),     // 0x80 so this one extends
        add(10, 10, 19),      // 0x84
        addw(20, 6, 26),      // 0x88 read in full below: extended
        addiw(22, 20, 0),     // 0x8c a move into another register
        add(10, 10, 20),      // 0x90
        add(10, 10, 22),      // 0x94
        addiw(23, 6, 5),      // 0x98 as 0x7c, an addiw
        addiw(23, 23, 0),     // 0x9c
        add(10, 10, 23),      // 0xa0
        srliw(24, 6, 0),      // 0xa4 as 0x7c, an srliw by 0 (which extends)
        addiw(24, 24, 0),     // 0xa8
        add(10, 10, 24),      // 0xac
        add(6, 6, 26),        // 0xb0 the next value
        addi(11, 11, 1),      // 0xb4
        bltu(11, 12, -0xb8),  // 0xb8 -> 0x00
        jal(0, 0),            // 0xbc
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(6, 0x80000000ffff8000);
    rig.hart.set_x(26, 0x9e3779b97f4a7c15);
    rig.hart.set_x(21, kRamBase + 0x10000);
    rig.hart.set_x(12, 400);
  });
  trio.run(300, kBudgets);
  EXPECT_EQ(trio.units.hart.x(11), 400u);
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 0u);
}

// Bit loops: `addi t, x, -1; and x, x, t` (one `blsr` on a host with BMI1, t computed beside),
// with the and's operands in either order, and t read afterwards.
TEST(JitPeephole, LowestSetBitClearedCountsBits) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        add(5, 6, 0),         // 0x00 x5 = the word
        addi(7, 0, 0),        // 0x04 count
        addi(8, 5, -1),       // 0x08 loop: t = x - 1
        and_(5, 5, 8),        // 0x0c x &= t
        addi(7, 7, 1),        // 0x10
        bne(5, 0, -12),       // 0x14 -> 0x08
        add(10, 10, 7),       // 0x18 the popcount
        add(10, 10, 8),       // 0x1c t after the loop (x - 1 of the last x)
        addi(9, 6, -1),       // 0x20 the other operand order, on x6's copy in x12
        and_(12, 9, 12),      // 0x24 x12 &= x6 - 1 (not the idiom: t is x6 - 1)
        addi(13, 12, -1),     // 0x28 t = x12 - 1
        and_(12, 13, 12),     // 0x2c x12 = t & x12: the idiom, operands swapped
        slli(6, 6, 1),        // 0x30 next word: shifted, plus a bit pattern
        xor_(6, 6, 11),       // 0x34
        addi(14, 14, 1),      // 0x38
        bltu(14, 15, -0x3c),  // 0x3c -> 0x00
        jal(0, 0),            // 0x40
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(6, 0x8000000000000001);
    rig.hart.set_x(11, 0x9e3779b97f4a7c15);
    rig.hart.set_x(12, ~uint64_t{0});
    rig.hart.set_x(15, 500);
  });
  trio.run(200, kBudgets);
  EXPECT_EQ(trio.units.hart.x(14), 500u);
  EXPECT_GT(trio.units.hart.x(10), 5000u);
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 0u);
}

// M-mode loads under MPRV with MPP=U go through U's soft-TLB context, where PMP denies a page
// that M may read: the inline path must follow the data context that each mstatus write sets.
TEST(JitPeephole, DataContextFollowsMprv) {
  constexpr uint64_t kData = kRamBase + 0x10000;
  Trio trio([&](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        csrrw(0, csr::kMstatus, 5), // 0x00 MPRV, MPP=U
        ld(6, 7, 0),                // 0x04 as U: PMP denies (access fault, skipped)
        add(10, 10, 6),             // 0x08
        csrrw(0, csr::kMstatus, 0), // 0x0c MPRV off
        ld(8, 7, 0),                // 0x10 as M: reads
        add(10, 10, 8),             // 0x14
        addi(11, 11, 1),            // 0x18
        bltu(11, 12, -0x1c),        // 0x1c -> 0x00
        jal(0, 0),                  // 0x20 stays
    });
    const uint64_t value = 0x1234;
    ASSERT_TRUE(rig.bus.copy_to_ram(kData, &value, 8));
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    // Entry 0: the data page, no access for S/U; entry 1: everything, RWX.
    rig.hart.set_csr(csr::kPmpaddr0, (kData >> 2) | 0x1ff);
    rig.hart.set_csr(csr::kPmpaddr0 + 1, ~uint64_t{0} >> 10);
    rig.hart.set_csr(csr::kPmpcfg0, 0x1f18);
    rig.hart.set_x(5, csr::mstatus::kMprv);
    rig.hart.set_x(7, kData);
    rig.hart.set_x(12, 2000);
  });
  trio.run(200, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u); // the MPRV loads faulted
  EXPECT_EQ(h.x(10), h.x(11) * 0x1234); // the M loads read
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

} // namespace
} // namespace nimbus::test
