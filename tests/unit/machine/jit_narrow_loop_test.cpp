// Word results extended where they are read (docs/jit.md, "Word results extended where they are
// read"): a block that loops to itself and carries a W op's result around the loop is emitted a
// second time, entered by its back edge with that register narrow (its host register's low half
// right, the upper half anything). Every way the value can be seen whole must see it extended:
// full-width ops, a branch's compare, traps and budget ends inside the loop, the way out of the
// loop into another block of the unit, the unit's exits. Each program runs on an interpreting
// machine and two translating ones (jit_trio.hpp), compared after every step with budgets from 1
// up; every value crosses bit 31.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "hart_assembler.hpp"
#include "jit_trio.hpp"
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {
namespace {

using namespace jit_trio;

constexpr uint64_t kData = kRamBase + 0x10000;   // halfwords and bytes the loops read
constexpr uint64_t kScratch = kRamBase + 0x20000; // words they store and read back

void put_data(Rig& rig) {
  for (uint64_t i = 0; i < 64; ++i) {
    const uint64_t v = 0x8000'7fff'c001'9e37ull * (i + 3) ^ (i << 29);
    ASSERT_TRUE(rig.bus.copy_to_ram(kData + 8 * i, &v, 8));
  }
}

// A 32-bit sum of products carried around a self-loop (a matrix row times a column), with a load
// in the loop that faults every other pass: the trap leaves while the sum is narrow. After the
// loop the sum is read whole and stored as a word.
TEST(JitNarrowLoop, WordSumCarriedAroundItsLoopIsExtendedWhereverItIsSeen) {
  Trio trio([](Rig& rig) {
    put_data(rig);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        addi(12, 0, 0),      // 0x00 sum = 0
        lh(15, 13, 0),       // 0x04 the loop: a5 = *p
        lw(14, 21, 0),       // 0x08 faults every other pass
        mulw(15, 15, 7),     // 0x0c
        addw(12, 12, 15),    // 0x10 sum += a5: carried narrow
        xor_(21, 21, 26),    // 0x14 toggles the address between RAM and nothing
        addi(13, 13, 2),     // 0x18
        addi(11, 11, 1),     // 0x1c
        bltu(11, 16, -0x1c), // 0x20 -> 0x04
        add(10, 10, 12),     // 0x24 the sum read whole
        sw(12, 27, 0),       // 0x28
        lw(8, 27, 0),        // 0x2c
        add(10, 10, 8),      // 0x30
        addi(11, 0, 0),      // 0x34
        addi(13, 17, 0),     // 0x38
        jal(0, -0x3c),       // 0x3c -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(7, 0x10001);
    rig.hart.set_x(13, kData);
    rig.hart.set_x(17, kData);
    rig.hart.set_x(16, 40);
    rig.hart.set_x(21, kScratch + 0x100);
    rig.hart.set_x(26, (kScratch + 0x100) ^ 0x40000000); // x21 ^ x26 = 0x40000000: unmapped
    rig.hart.set_x(27, kScratch);
  });
  trio.run(300, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 10u); // loads faulted
  EXPECT_NE(h.x(10), 0u);
  EXPECT_GT(h.jit_narrow_loops(), 0u);
  EXPECT_GT(trio.alone.hart.jit_narrow_loops(), 0u);
}

// An FNV-style hash, h = (h ^ c) * p: the xor of a narrow value and a loaded byte is narrow, a
// move copies it narrow, ori and a negative andi keep it narrow, sw stores its low half; after
// the loop the copies are read whole.
TEST(JitNarrowLoop, NarrowValuesFlowThroughXorMovesAndBitwiseImmediates) {
  Trio trio([](Rig& rig) {
    put_data(rig);
    rig.put(kCode, {
        addi(15, 0, -1),     // 0x00 h
        lbu(12, 13, 0),      // 0x04 the loop: c = *p
        addi(13, 13, 1),     // 0x08
        xor_(15, 15, 12),    // 0x0c h ^= c
        mulw(15, 20, 15),    // 0x10 h *= p: carried narrow
        add(12, 0, 15),      // 0x14 mv a2, h
        ori(14, 15, -16),    // 0x18
        andi(9, 15, -256),   // 0x1c
        sw(9, 27, 0),        // 0x20
        bne(13, 16, -0x20),  // 0x24 -> 0x04
        add(10, 10, 12),     // 0x28 the copies read whole
        add(10, 10, 14),     // 0x2c
        add(10, 10, 9),      // 0x30
        lw(8, 27, 0),        // 0x34
        add(10, 10, 8),      // 0x38
        addi(13, 17, 0),     // 0x3c
        jal(0, -0x40),       // 0x40 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(20, 16777619);
    rig.hart.set_x(13, kData);
    rig.hart.set_x(17, kData);
    rig.hart.set_x(16, kData + 100);
    rig.hart.set_x(27, kScratch);
  });
  trio.run(300, kBudgets);
  EXPECT_NE(trio.units.hart.x(10), 0u);
  EXPECT_GT(trio.units.hart.jit_narrow_loops(), 0u);
}

// The carried register read whole inside its loop (an address's shift: settled in place), a
// loop whose way out is another block of the unit that compares the register (a branch reads
// it whole), and a back edge into the loop from that other block, which enters the second copy
// only with the register extended.
TEST(JitNarrowLoop, SettledInsideTheLoopAndOnTheWaysIntoOtherBlocks) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        addi(12, 0, 5),      // 0x00
        addiw(12, 12, 0x7ff), // 0x04 the loop: carried narrow
        slli(14, 12, 2),     // 0x08 read whole
        add(10, 10, 14),     // 0x0c
        addw(12, 12, 7),     // 0x10 narrow again
        andi(15, 11, 3),     // 0x14
        addi(11, 11, 1),     // 0x18
        bne(15, 0, -0x18),   // 0x1c -> 0x04 three times in four, else on to 0x20 (the unit's)
        blt(12, 19, 8),      // 0x20 compares the sum whole -> 0x28
        addi(10, 10, 1),     // 0x24
        add(10, 10, 12),     // 0x28
        bltu(11, 16, -0x28), // 0x2c -> 0x04 from another block
        addi(11, 0, 0),      // 0x30
        jal(0, -0x34),       // 0x34 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(7, 0x3fff'ffff);
    rig.hart.set_x(16, 200);
    rig.hart.set_x(19, 0x1000);
  });
  trio.run(300, kBudgets);
  EXPECT_NE(trio.units.hart.x(10), 0u);
  EXPECT_GT(trio.units.hart.jit_narrow_loops(), 0u);
}

// A value made narrow from the carried one (an xor with x0) but written last by another op is
// not one the second copy takes narrow: the back edge settles it, and the next pass reads it
// whole before writing it.
TEST(JitNarrowLoop, NarrowValuesTheLoopDoesNotCarryAreSettledOnItsBackEdge) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        addi(12, 0, 1),      // 0x00
        add(10, 10, 14),     // 0x04 the loop: x14 read whole first
        addw(12, 12, 7),     // 0x08 carried narrow
        xor_(14, 12, 0),     // 0x0c narrow too, not carried
        addi(11, 11, 1),     // 0x10
        bltu(11, 16, -0x10), // 0x14 -> 0x04
        add(10, 10, 12),     // 0x18
        addi(11, 0, 0),      // 0x1c
        jal(0, -0x20),       // 0x20 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(7, 0x6000'0001);
    rig.hart.set_x(16, 30);
  });
  trio.run(300, kBudgets);
  EXPECT_NE(trio.units.hart.x(10), 0u);
  EXPECT_GT(trio.units.hart.jit_narrow_loops(), 0u);
}

// A store's rd field holds immediate bits (sw x8, 8(x27): rd 8): a store of a narrow value must
// not make the emitter forget that the register it names is narrow (found by a campaign of the
// random loops below, seed 1393 of JIT_SEED_BASE=1000).
TEST(JitNarrowLoop, AStoreWhoseOffsetNamesANarrowRegisterKeepsItNarrow) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        addi(8, 0, 3),       // 0x00
        addw(8, 8, 7),       // 0x04 the loop: x8 carried narrow
        sw(8, 27, 8),        // 0x08 its rd field is 8
        sd(8, 27, 8),        // 0x0c a whole read: settles
        addw(8, 8, 7),       // 0x10 narrow again
        sh(8, 27, 8),        // 0x14 rd 8 again, then the back edge with x8 narrow
        addi(11, 11, 1),     // 0x18
        bltu(11, 16, -0x18), // 0x1c -> 0x04
        add(10, 10, 8),      // 0x20
        addi(11, 0, 0),      // 0x24
        jal(0, -0x28),       // 0x28 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_x(7, 0x7000'0001);
    rig.hart.set_x(16, 30);
    rig.hart.set_x(27, kScratch);
  });
  trio.run(300, kBudgets);
  EXPECT_NE(trio.units.hart.x(10), 0u);
  EXPECT_GT(trio.units.hart.jit_narrow_loops(), 0u);
}

// A branch comparing a narrow register with x0 or with a value known extended compares the low
// halves (sign extension keeps signed and unsigned order and equality): counters that cross bit
// 31 and count down to zero, each loop's exit where the interpreter takes it.
TEST(JitNarrowLoop, BranchesCompareNarrowRegistersByTheirLowHalves) {
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        lui(11, INT32_MIN),     // 0x00 0xffffffff80000000
        addiw(11, 11, -16),    // 0x04 0x7ffffff0
        addiw(11, 11, 1),      // 0x08 loop 1: carried narrow, crosses bit 31
        lui(12, INT32_MIN),     // 0x0c extended
        addiw(12, 12, 8),      // 0x10 0xffffffff80000008
        add(10, 10, 13),       // 0x14
        bne(11, 12, -0x10),    // 0x18 -> 0x08 until x11 is 0x80000008 sign-extended
        addi(13, 0, 40),       // 0x1c
        addiw(13, 13, -1),     // 0x20 loop 2: counts down
        add(10, 10, 11),       // 0x24
        blt(0, 13, -8),        // 0x28 -> 0x20 while x13 > 0
        addi(14, 0, 30),       // 0x2c
        addiw(14, 14, -3),     // 0x30 loop 3: below zero at the end
        sltu(15, 14, 12),      // 0x34 a whole read of x14: settled
        add(10, 10, 15),       // 0x38
        bge(14, 0, -0xc),      // 0x3c -> 0x30 while x14 >= 0
        addi(16, 0, 9),        // 0x40
        addiw(16, 16, -1),     // 0x44 loop 4: unsigned compare with an extended bound
        lui(17, -4096),        // 0x48 0xfffffffffffff000
        bltu(16, 17, -8),      // 0x4c -> 0x44 while x16 below 0xfffffffffffff000
        add(10, 10, 16),       // 0x50
        jal(0, -0x54),         // 0x54 -> 0x00
    });
    rig.hart.reset(kCode);
  });
  trio.run(400, kBudgets);
  EXPECT_NE(trio.units.hart.x(10), 0u);
  EXPECT_GT(trio.units.hart.jit_narrow_loops(), 2u);
}

// Random self-loops of W ops, bitwise ops, moves, shifts, full-width reads, narrow and wide
// loads and stores and a load that faults every other pass, over eight registers: whatever the
// mix, the JIT's state is the interpreter's after every step at every budget.
class NarrowLoopProgram {
public:
  explicit NarrowLoopProgram(uint32_t seed) : rng_(seed) {}
  std::vector<uint32_t> code() {
    std::vector<uint32_t> c;
    for (const unsigned r : kRegs) c.push_back(addi(r, r, 0)); // 0x00.. (the entry block)
    const size_t head = c.size();
    const unsigned n = 4 + pick(10);
    for (unsigned i = 0; i < n; ++i) c.push_back(op());
    const unsigned counting = pick(3); // up to x16 (25), or down to 0 on a narrow counter (x11 from 25)
    if (counting == 0) {
      c.push_back(addi(11, 11, 1));
      c.push_back(bltu(11, 16, -4 * static_cast<int32_t>(c.size() - head)));
    } else {
      c.push_back(addiw(11, 11, -1));
      const int32_t back = -4 * static_cast<int32_t>(c.size() - head);
      c.push_back(counting == 1 ? bne(11, 0, back) : blt(0, 11, back));
    }
    for (const unsigned r : kRegs) c.push_back(add(10, 10, r)); // each read whole
    c.push_back(addi(11, 0, counting == 0 ? 0 : 25));
    c.push_back(jal(0, -4 * static_cast<int32_t>(c.size())));
    return c;
  }

private:
  static constexpr unsigned kRegs[8] = {5, 6, 7, 8, 9, 12, 14, 15};
  unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }
  unsigned reg() { return kRegs[pick(8)]; }
  int32_t imm() {
    static constexpr int32_t kImms[] = {1, -1, 0x7ff, -0x800, 3, 31, -256, 0x555};
    return kImms[pick(8)];
  }
  uint32_t op() {
    const unsigned d = reg(), a = reg(), b = reg();
    if (pick(3) == 0) { // a word result, which the loop may carry narrow
      switch (pick(4)) {
      case 0: return addw(d, d, a);
      case 1: return mulw(d, a, d);
      case 2: return addiw(d, d, imm());
      default: return subw(d, a, b);
      }
    }
    switch (pick(22)) {
    case 0: return addw(d, a, b);
    case 1: return subw(d, a, b);
    case 2: return mulw(d, a, b);
    case 3: return sllw(d, a, b);
    case 4: return sraw(d, a, b);
    case 5: return addiw(d, a, imm());
    case 6: return slliw(d, a, pick(32));
    case 7: return srliw(d, a, pick(32));
    case 8: return xor_(d, a, b);
    case 9: return and_(d, a, b);
    case 10: return or_(d, a, b);
    case 11: return andi(d, a, imm());
    case 12: return xori(d, a, imm());
    case 13: return add(d, 0, a); // a move
    case 14: return add(d, a, b); // whole reads
    case 15: return slli(d, a, pick(64));
    case 16: return sw(a, 27, 4 * static_cast<int32_t>(pick(8)));
    case 17: return sd(a, 27, 8 * static_cast<int32_t>(pick(4)));
    case 18: return lw(d, 27, 4 * static_cast<int32_t>(pick(8)));
    case 19: return lbu(d, 27, static_cast<int32_t>(pick(32)));
    case 20: return lw(d, 21, 0); // faults every other pass (the xor below toggles x21)
    default: return xor_(21, 21, 26);
    }
  }
  std::mt19937 rng_;
};

TEST(JitNarrowLoop, RandomSelfLoopsMatchTheInterpreterAtEveryBudget) {
  uint64_t narrow_loops = 0;
  uint32_t first = 1, programs = 200;
  if (const char* many = getenv("JIT_STREAMS")) // a longer campaign than CI's, as jit_differential_test's
    programs = static_cast<uint32_t>(std::strtoul(many, nullptr, 0));
  if (const char* base = getenv("JIT_SEED_BASE")) first += static_cast<uint32_t>(std::strtoul(base, nullptr, 0));
  for (uint32_t seed = first; seed < first + programs; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<uint32_t> code = NarrowLoopProgram(seed).code();
    Trio trio([&](Rig& rig) {
      put_data(rig);
      rig.put(kHandler, kSkippingHandler);
      rig.put(kCode, code);
      rig.hart.reset(kCode);
      rig.hart.set_csr(csr::kMtvec, kHandler);
      const uint64_t seeds[] = {0x7fff'fff0, 0xffff'ffff'8000'0003ull, 0x1234'5678'9abc'def0ull, 0x8000'0000,
                                0xdead'beef, 0xffff'ffff'ffff'fffbull, 0x40, 0x0000'0001'7fff'ffffull};
      for (unsigned i = 0; i < 8; ++i) rig.hart.set_x(std::vector<unsigned>{5, 6, 7, 8, 9, 12, 14, 15}[i], seeds[i]);
      rig.hart.set_x(16, 25);
      rig.hart.set_x(11, 25); // a countdown's start (an upward count starts at 0 after its first pass)
      rig.hart.set_x(21, kScratch + 0x100);
      rig.hart.set_x(26, (kScratch + 0x100) ^ 0x40000000);
      rig.hart.set_x(27, kData);
    });
    trio.run(120, kBudgets);
    if (HasFatalFailure()) return;
    narrow_loops += trio.units.hart.jit_narrow_loops();
  }
  EXPECT_GT(narrow_loops, 10u); // most programs' loops carry a word result
}

} // namespace
} // namespace nimbus::test
