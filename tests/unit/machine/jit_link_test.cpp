// The JIT's block linking against invalidation (docs/jit.md): code that is rewritten, fenced or
// remapped while native blocks jump to each other directly (patched jumps inside a page) or
// through the lookup table (indirect jumps, other pages). Each program runs on an interpreting
// and a translating machine side by side; all state is compared after every run() step, and the
// guest's own result says the new code ran.
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

namespace csr = riscv::csr;
using namespace as;

constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kCode = kRamBase;               // hart 0's program
constexpr uint64_t kHandler = kRamBase + 0x8000;   // M-mode trap handler: stop in a loop
constexpr uint64_t kTables = kRamBase + 0x10000;   // Sv39 tables
constexpr uint64_t kFlag = kRamBase + 0x20000;     // a word two harts share

struct Rig {
  explicit Rig(unsigned harts) {
    for (unsigned i = 0; i < harts; ++i) hart.push_back(std::make_unique<machine::Hart>(i, bus, clock, reservations));
  }
  machine::Bus bus{kRamBase, 8ull << 20};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  std::vector<std::unique_ptr<machine::Hart>> hart;

  void put(uint64_t address, const std::vector<uint32_t>& words) {
    for (size_t i = 0; i < words.size(); ++i) ASSERT_TRUE(bus.copy_to_ram(address + 4 * i, &words[i], 4));
  }
  void put64(uint64_t address, uint64_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 8)); }
  void start(unsigned h, uint64_t pc) {
    hart[h]->reset(pc);
    hart[h]->set_csr(csr::kMtvec, kHandler);
  }
};

// The JIT side-by-side tests' comparison (pc, registers, instret, privilege, trap CSRs).
using jit_trio::compare;
using jit_trio::kR, jit_trio::kW, jit_trio::kX, jit_trio::leaf, jit_trio::pointer; // Sv39 entries

// The two machines, set up by `load`, hart 0 translating every block at its first run on the
// JIT machine. `step(rig, i)` runs one step on a machine; `run` compares after each.
struct Pair {
  Pair(unsigned harts, const std::function<void(Rig&)>& load) : interp(harts), jit(harts) {
    load(interp);
    load(jit);
    for (auto& h : jit.hart) h->set_jit(true, 1);
  }
  // Runs `steps` rounds of `budget` instructions on every hart in turn (hart 0 first).
  void run(unsigned steps, uint64_t budget) {
    for (unsigned s = 0; s < steps; ++s)
      for (size_t h = 0; h < interp.hart.size(); ++h) {
        const uint64_t a = interp.hart[h]->run(budget);
        const uint64_t b = jit.hart[h]->run(budget);
        ASSERT_EQ(a, b) << "retired, step " << s << " hart " << h;
        const std::string diff = compare(*interp.hart[h], *jit.hart[h]);
        ASSERT_EQ(diff, "") << "step " << s << " hart " << h;
      }
  }
  Rig interp, jit;
};

const std::vector<uint32_t> kHandlerCode = {jal(0, 0)}; // a trap parks the hart: mcause tells

// A store rewrites the first instruction of the block its own block jumps to directly (same
// page: a patched jump). After each rewrite the block must leave (the store hit code) and the
// successor must run as rewritten, never its old native code.
TEST(JitLink, SelfModifyingStoreRewritesLinkedSuccessor) {
  Pair pair(1, [](Rig& rig) {
    rig.put(kHandler, kHandlerCode);
    rig.put(kCode, {
        addi(11, 0, 20),          // 0x00 iterations per round
        addi(11, 11, -1),         // 0x04 loop: A
        jal(0, 8),                // 0x08 -> B (same page)
        ebreak(),                 // 0x0c
        addi(10, 10, 1),          // 0x10 B: rewritten to add 100, then 10000
        bne(11, 0, -16),          // 0x14 -> loop
        addi(13, 13, 1),          // 0x18 round done
        add(12, 12, 14),          // 0x1c the next encoding (+1 -> +100 -> +10000 via x14 steps)
        addi(11, 0, 20),          // 0x20
        sw(12, 4, 0x10),          // 0x24 rewrite B...
        jal(0, -0x18),            // 0x28 ...and jump straight to it (0x10), same page
    });
    rig.start(0, kCode);
    rig.hart[0]->set_x(4, kCode);
    rig.hart[0]->set_x(12, addi(10, 10, 1));
    // addi's immediate is bits 31:20: adding (99 << 20) turns +1 into +100, +100 into +199, ...
    rig.hart[0]->set_x(14, uint64_t{99} << 20);
  });
  pair.run(60, 37);
  const machine::Hart& h = *pair.jit.hart[0];
  EXPECT_GT(h.x(13), 3u);                       // several rounds
  EXPECT_GT(h.x(10), 20u + 100u * 20u);         // rewritten code ran
  EXPECT_EQ(h.csr(csr::kMcause), 0u);           // no trap
  EXPECT_GT(h.jit_linked_exits(), 0u);
}

// FENCE.I in a loop, and code written by another hart: hart 0 keeps its decoded (and linked)
// code until its own FENCE.I, then runs the new code. Hart 1 writes hart 0's callee and raises a
// flag; hart 0 fences when it sees the flag.
TEST(JitLink, FenceIAfterAnotherHartRewroteLinkedCode) {
  constexpr uint64_t kCallee = kCode + 0x1000; // another page: reached through the lookup table
  constexpr uint64_t kWriter = kCode + 0x2000;
  Pair pair(2, [](Rig& rig) {
    rig.put(kHandler, kHandlerCode);
    rig.put(kCode, {
        jal(1, 0x1000),           // 0x00 loop: call the callee (other page)
        addi(11, 11, 1),          // 0x04
        ld(14, 5, 0),             // 0x08 the flag
        beq(14, 0, -12),          // 0x0c no flag: loop
        fence_i(),                // 0x10
        sd(0, 5, 0),              // 0x14 flag down
        addi(15, 15, 1),          // 0x18 fences seen
        jal(0, -0x1c),            // 0x1c loop
    });
    rig.put(kCallee, {
        addi(10, 10, 1),          // rewritten by hart 1 to add 100
        jal(0, 8),                // same page: a patched jump
        ebreak(),
        jalr(0, 1, 0),            // return: the lookup table
    });
    rig.put(kWriter, {
        sw(12, 6, 0),             // rewrite the callee's first instruction
        addi(13, 0, 1),
        sd(13, 5, 0),             // flag up
        jal(0, 0),                // park
    });
    rig.start(0, kCode);
    rig.hart[0]->set_x(5, kFlag);
    rig.start(1, kWriter);
    rig.hart[1]->set_x(5, kFlag);
    rig.hart[1]->set_x(6, kCallee);
    rig.hart[1]->set_x(12, addi(10, 10, 100));
  });
  // Hart 0 alone first (its code gets linked), then both in turn.
  for (unsigned s = 0; s < 10; ++s) {
    const uint64_t a = pair.interp.hart[0]->run(50), b = pair.jit.hart[0]->run(50);
    ASSERT_EQ(a, b);
    ASSERT_EQ(compare(*pair.interp.hart[0], *pair.jit.hart[0]), "") << "step " << s;
  }
  const uint64_t before = pair.jit.hart[0]->x(10);
  EXPECT_GE(before, pair.jit.hart[0]->x(11)); // +1 per call so far (a step may end between the two)
  EXPECT_LE(before, pair.jit.hart[0]->x(11) + 1);
  pair.run(20, 50);
  const machine::Hart& h = *pair.jit.hart[0];
  EXPECT_EQ(h.x(15), 1u);                      // one fence
  EXPECT_GT(h.x(10), before + 100u * 10u);     // the new code ran after it
  EXPECT_EQ(h.csr(csr::kMcause), 0u);
  EXPECT_GT(h.jit_linked_exits(), 0u);
}

// A FENCE.I in every iteration of a linked loop with a store into the loop's own page: the
// JIT must retire and compute exactly what the interpreter does, however often code is dropped.
TEST(JitLink, FenceILoop) {
  Pair pair(1, [](Rig& rig) {
    rig.put(kHandler, kHandlerCode);
    rig.put(kCode, {
        addi(10, 10, 3),          // 0x00 loop
        jal(0, 8),                // 0x04 same page
        ebreak(),
        addi(11, 11, 1),          // 0x0c
        andi(12, 11, 7),          // 0x10
        bne(12, 0, 12),           // 0x14 every 8th iteration:
        fence_i(),                // 0x18   fence
        sw(0, 4, 0x100),          // 0x1c   and store into this page (not code: still a code page)
        jal(0, -0x20),            // 0x20 loop
    });
    rig.start(0, kCode);
    rig.hart[0]->set_x(4, kCode);
  });
  pair.run(50, 41);
  EXPECT_GT(pair.jit.hart[0]->x(11), 200u);
  EXPECT_EQ(pair.jit.hart[0]->csr(csr::kMcause), 0u);
  EXPECT_GT(pair.jit.hart[0]->jit_linked_exits(), 0u);
}

// S-mode under Sv39: a loop calls a page through a direct jump and an indirect one (both reach
// another page: the lookup table), and the callee has a linked chain inside its page. The loop
// then remaps the callee's virtual page to other code and runs the fence `fence` (code at 0x10,
// which ends with the remap: `sd x17, 0(x18)`, then the fence of it): the new code must run.
// x14 holds the virtual address of a data page the loop may load from and fence.
void remap_under_linked_chain(const std::vector<uint32_t>& fence, uint64_t budget) {
  constexpr uint64_t kCodeVa = 0x40000000, kCalleeVa = 0x40001000, kDataVa = 0x40002000;
  constexpr uint64_t kOld = kCode + 0x1000, kNew = kCode + 0x2000, kData = kCode + 0x3000;
  constexpr uint64_t root = kTables, level1 = kTables + 0x1000, level0 = kTables + 0x2000;
  std::vector<uint32_t> code = {
      jal(1, 0x1000),           // 0x00 loop: direct call into the other page
      jalr(1, 15, 0),           // 0x04 indirect call
      addi(11, 11, 1),          // 0x08
      bne(11, 16, -12),         // 0x0c
  };
  code.insert(code.end(), fence.begin(), fence.end());
  code.push_back(addi(11, 0, 0));  // iterations start again
  code.push_back(addi(19, 19, 1)); // remaps done
  code.push_back(jal(0, -4 * static_cast<int32_t>(code.size())));
  Pair pair(1, [&](Rig& rig) {
    rig.put(kHandler, kHandlerCode);
    rig.put64(root + 8 * 2, leaf(kRamBase, kR | kW)); // identity gigapage (page tables as data)
    rig.put64(root + 8 * 1, pointer(level1));
    rig.put64(level1 + 0, pointer(level0));
    rig.put64(level0 + 0, leaf(kCode, kR | kX));
    rig.put64(level0 + 8, leaf(kOld, kR | kX));
    rig.put64(level0 + 16, leaf(kData, kR | kW));
    rig.put(kCode, code);
    for (const auto& [page, add] : {std::pair{kOld, 1}, std::pair{kNew, 100}})
      rig.put(page, {addi(10, 10, add), jal(0, 8), ebreak(), jalr(0, 1, 0)});
    rig.start(0, kCodeVa);
    machine::Hart& h = *rig.hart[0];
    h.set_csr(csr::kSatp, (8ull << 60) | (root >> 12));
    h.set_privilege(1);
    h.set_x(14, kDataVa);
    h.set_x(15, kCalleeVa);
    h.set_x(16, 25);                  // iterations before each remap
    h.set_x(17, leaf(kNew, kR | kX)); // the new mapping
    h.set_x(18, level0 + 8);
  });
  pair.run(40, budget);
  const machine::Hart& h = *pair.jit.hart[0];
  EXPECT_GT(h.x(19), 2u);
  // 25 iterations of two calls at +1, then +100 for every call after the first remap (a step may
  // end between the calls and the count: up to two more calls).
  const uint64_t expected = 50u + 200u * (25u * (h.x(19) - 1) + h.x(11));
  EXPECT_GE(h.x(10), expected);
  EXPECT_LE(h.x(10), expected + 200u);
  EXPECT_EQ(h.csr(csr::kMcause), 0u);
  EXPECT_GT(h.jit_linked_exits(), 0u);
}

TEST(JitLink, PageRemapWithSfenceVmaUnderLinkedChain) { remap_under_linked_chain({sd(17, 18, 0), sfence_vma()}, 53); }

// The remap fenced by the callee's address only, after a load from and a fence of a data page no
// block was fetched from (which leaves block links and the lookup table in place): the calls
// into the callee page, direct and indirect, must reach its new code after the address fence.
TEST(JitLink, PageRemapWithOneAddressSfenceUnderLinkedChain) {
  remap_under_linked_chain({ld(12, 14, 0), sfence_vma(14, 0), sd(17, 18, 0), sfence_vma(15, 0)}, 59);
}

// SFENCE.VMA with an address inside a megapage must drop the soft-TLB entries of the whole
// megapage (they are kept per 4 KiB page), not only the named page's: a load through another
// 4 KiB page of the remapped megapage sees the new mapping. Both tiers share the TLB.
TEST(JitLink, SfenceVmaWithAddressDropsTheWholeSuperpage) {
  constexpr uint64_t root = kTables, level1 = kTables + 0x1000, level0 = kTables + 0x2000;
  constexpr uint64_t kOld = kRamBase + 0x200000, kNew = kRamBase + 0x400000; // 2 MiB aligned
  Pair pair(1, [&](Rig& rig) {
    rig.put(kHandler, kHandlerCode);
    rig.put64(root + 8 * 2, leaf(kRamBase, kR | kW)); // identity gigapage: page tables as data
    rig.put64(root + 8 * 1, pointer(level1));
    rig.put64(level1 + 0, pointer(level0));
    rig.put64(level0 + 0, leaf(kCode, kR | kX));      // code at VA 0x40000000
    rig.put64(level1 + 8, leaf(kOld, kR | kW));       // megapage VA 0x40200000
    rig.put64(kOld + 0x3000, 1);
    rig.put64(kNew + 0x3000, 2);
    rig.put(kCode, {
        ld(10, 20, 0),                     // through the old megapage: 1
        sd(21, 22, 0),                     // remap the megapage
        0x12000073u | (23u << 15),         // sfence.vma x23 (another 4 KiB page of it)
        ld(11, 20, 0),                     // the new mapping: 2
        jal(0, 0),
    });
    rig.start(0, 0x40000000);
    machine::Hart& h = *rig.hart[0];
    h.set_csr(csr::kSatp, (8ull << 60) | (root >> 12));
    h.set_privilege(1);
    h.set_x(20, 0x40203000);
    h.set_x(21, leaf(kNew, kR | kW));
    h.set_x(22, level1 + 8);
    h.set_x(23, 0x40300000);
  });
  pair.run(3, 10);
  EXPECT_EQ(pair.interp.hart[0]->x(10), 1u);
  EXPECT_EQ(pair.interp.hart[0]->x(11), 2u);
  EXPECT_EQ(pair.jit.hart[0]->x(11), 2u);
  EXPECT_EQ(pair.jit.hart[0]->csr(csr::kMcause), 0u);
}

// Two address spaces (Sv39, ASIDs 1 and 2) for the satp-switch tests: the identity gigapage at
// 0x80000000 (the program, the tables as data) is global in both; VA 0x40000000 is each space's
// own code (not global: A in space 1, B in space 2); VA 0x40001000 is a global page of code
// (C), the same in both, as a kernel's. Each code page returns its mark in x10.
struct TwoSpaces {
  static constexpr uint64_t kG = 32;
  static constexpr uint64_t kRoot1 = kTables, kRoot2 = kTables + 0x4000;
  static constexpr uint64_t kPageA = kRamBase + 0x30000, kPageB = kPageA + 0x1000, kPageC = kPageA + 0x2000,
                            kPageD = kPageA + 0x3000;
  static constexpr uint64_t kOwn = 0x40000000, kShared = 0x40001000;
  static constexpr uint64_t satp(uint64_t asid, uint64_t root) { return (8ull << 60) | asid << 44 | root >> 12; }
  static uint64_t level0(uint64_t root) { return root + 0x2000; }
  static void load(Rig& rig) {
    rig.put(kHandler, kHandlerCode);
    for (const auto& [root, own] : {std::pair{kRoot1, kPageA}, std::pair{kRoot2, kPageB}}) {
      rig.put64(root + 8 * 2, leaf(kRamBase, kR | kW | kX | kG));
      rig.put64(root + 8 * 1, pointer(root + 0x1000));
      rig.put64(root + 0x1000, pointer(level0(root)));
      rig.put64(level0(root) + 0, leaf(own, kR | kX));
      rig.put64(level0(root) + 8, leaf(kPageC, kR | kX | kG));
    }
    for (const auto& [page, mark] : {std::pair{kPageA, 1}, std::pair{kPageB, 2}, std::pair{kPageC, 7},
                                     std::pair{kPageD, 8}})
      rig.put(page, {addi(10, 0, mark), jalr(0, 1, 0)});
  }
  static void start(Rig& rig) {
    rig.start(0, kCode);
    machine::Hart& h = *rig.hart[0];
    h.set_csr(csr::kSatp, satp(1, kRoot1));
    h.set_privilege(1);
    h.set_x(20, satp(1, kRoot1));
    h.set_x(22, satp(1, kRoot1) ^ satp(2, kRoot2)); // x20 ^= x22 flips between the spaces
  }
};

// After a program that calls VA 0x40000000 once per pass and switches spaces after each call
// (x11 calls done, x12 the sum of the marks): every call ran the code of the space it was made
// in, 1 in space 1 (even calls), 2 in space 2, on both machines; a step may end between a
// call's sum and its count.
void expect_each_space_ran_its_own_code(const Pair& pair, uint64_t at_least) {
  for (const Rig* rig : {&pair.interp, &pair.jit}) {
    const machine::Hart& h = *rig->hart[0];
    const uint64_t calls = h.x(11);
    const uint64_t sum = calls / 2 * 3 + calls % 2;
    EXPECT_GT(calls, at_least);
    EXPECT_TRUE(h.x(12) == sum || h.x(12) == sum + (calls % 2 == 0 ? 1 : 2)) << h.x(12) << " after " << calls;
    EXPECT_EQ(h.csr(csr::kMcause), 0u);
  }
}

// One call site reaches VA 0x40000000 in both address spaces, in turn: after every satp switch
// the call must run the space's own code (1, then 2), never the other's through a link or a
// lookup remembered before the switch (only links into global code outlive it).
TEST(JitLink, ProcessCodeBehindOneCallSiteFollowsEachSatpSwitch) {
  Pair pair(1, [](Rig& rig) {
    TwoSpaces::load(rig);
    rig.put(kCode, {
        jalr(1, 15, 0),           // 0x00 loop: call VA 0x40000000
        add(12, 12, 10),          // 0x04 the sum of the marks
        xor_(20, 20, 22),         // 0x08 the other space
        csrrw(0, csr::kSatp, 20), // 0x0c
        addi(11, 11, 1),          // 0x10 calls done
        jal(0, -0x14),            // 0x14
    });
    TwoSpaces::start(rig);
    rig.hart[0]->set_x(15, TwoSpaces::kOwn);
  });
  pair.run(40, 23);
  expect_each_space_ran_its_own_code(pair, 20u);
}

// A call into global code (a kernel's page, the same in both spaces) keeps its link and lookup
// across satp switches; an SFENCE.VMA naming that page after its mapping changed must still end
// them: the calls after it run the new code (8, not 7).
TEST(JitLink, GlobalCodeLinkOutlivesSatpSwitchesUntilAFenceNamesItsPage) {
  Pair pair(1, [](Rig& rig) {
    TwoSpaces::load(rig);
    rig.put(kCode, {
        jalr(1, 15, 0),           // 0x00 loop: call VA 0x40001000 (global)
        add(12, 12, 10),          // 0x04 the sum of the marks
        xor_(20, 20, 22),         // 0x08 the other space
        csrrw(0, csr::kSatp, 20), // 0x0c
        addi(11, 11, 1),          // 0x10 calls done
        bne(11, 16, 16),          // 0x14 until the 30th call:
        sd(17, 18, 0),            // 0x18 remap the global page (both spaces share the leaf's
        sd(17, 19, 0),            // 0x1c value: one store per space's table)
        sfence_vma(15, 0),        // 0x20 fence by its address, every ASID
        jal(0, -0x24),            // 0x24
    });
    TwoSpaces::start(rig);
    machine::Hart& h = *rig.hart[0];
    h.set_x(15, TwoSpaces::kShared);
    h.set_x(16, 30);
    h.set_x(17, leaf(TwoSpaces::kPageD, kR | kX | TwoSpaces::kG));
    h.set_x(18, TwoSpaces::level0(TwoSpaces::kRoot1) + 8);
    h.set_x(19, TwoSpaces::level0(TwoSpaces::kRoot2) + 8);
  });
  pair.run(60, 19);
  for (const Rig* rig : {&pair.interp, &pair.jit}) {
    const machine::Hart& h = *rig->hart[0];
    const uint64_t calls = h.x(11);
    ASSERT_GT(calls, 40u);
    const uint64_t sum = 7 * 30 + 8 * (calls - 30);
    EXPECT_TRUE(h.x(12) == sum || h.x(12) == sum + 8) << h.x(12) << " after " << calls;
    EXPECT_EQ(h.csr(csr::kMcause), 0u);
  }
}

// A fetch the soft TLB does not keep (PMP not alike over its page: an NA4 entry inside each of
// the two spaces' own code pages) leaves another page's entry at the index, here a global one
// (VA 0x41000000, the same index as 0x40000000). The link to the fetched block must not take
// that entry's global bit: after each satp switch the call must still run the space's own code.
TEST(JitLink, AFetchTheSoftTlbDidNotKeepIsNeverLinkedAsGlobal) {
  constexpr uint64_t kAlias = 0x41000000; // soft-TLB index 0, as 0x40000000
  Pair pair(1, [&](Rig& rig) {
    TwoSpaces::load(rig);
    for (const uint64_t root : {TwoSpaces::kRoot1, TwoSpaces::kRoot2}) {
      // VA 0x41000000: the next level-0 table of the gigabyte at 0x40000000, global code C.
      rig.put64(root + 0x1000 + 8 * 8, pointer(root + 0x3000));
      rig.put64(root + 0x3000, leaf(TwoSpaces::kPageC, kR | kX | TwoSpaces::kG));
    }
    rig.put(kCode, {
        jalr(1, 16, 0),           // 0x00 loop: call the global page (installs index 0, global)
        jalr(1, 15, 0),           // 0x04 call VA 0x40000000 (translated, not kept)
        add(12, 12, 10),          // 0x08 the sum of the marks
        xor_(20, 20, 22),         // 0x0c the other space
        csrrw(0, csr::kSatp, 20), // 0x10
        addi(11, 11, 1),          // 0x14 calls done
        jal(0, -0x18),            // 0x18
    });
    TwoSpaces::start(rig);
    machine::Hart& h = *rig.hart[0];
    h.set_x(15, TwoSpaces::kOwn);
    h.set_x(16, kAlias);
    // NA4 entries (RWX) inside pages A and B, then everything (RWX): fetches allowed, pages not
    // alike for the soft TLB.
    h.set_csr(csr::kPmpaddr0, (TwoSpaces::kPageA + 0x800) >> 2);
    h.set_csr(csr::kPmpaddr0 + 1, (TwoSpaces::kPageB + 0x800) >> 2);
    h.set_csr(csr::kPmpaddr0 + 2, (uint64_t{1} << 54) - 1);
    h.set_csr(csr::kPmpcfg0, 0x17 | 0x17 << 8 | 0x1f << 16);
  });
  pair.run(40, 23);
  expect_each_space_ran_its_own_code(pair, 15u);
}

// Interrupts against the JIT's chain check (docs/jit.md, "Block ends and chaining"): native code
// rechecks pending interrupts only after an out-of-line call that went on with the block, and
// polls the timer itself at the dispatcher's poll points. Hart 0 raises its own software
// interrupt with a store to the CLINT's msip in the middle of a block; the interpreter takes it
// at the next block boundary, and so must the JIT (a store slow path that did not force the
// full check would run on to the end of the chain). Steps of 10000 instructions cross the
// 4096-instruction timer poll points inside native code.
constexpr uint64_t kIrqHandler = kRamBase + 0x9000;
const std::vector<uint32_t> kCountingHandler = {
    csrrs(21, csr::kMcause, 0),   // a software interrupt: cause 3 with the top bit set
    addi(22, 22, 1),              // interrupts taken
    csrrs(23, csr::kMepc, 0),
    add(24, 24, 23),              // sum of the interrupted pcs
    sw(0, 25, 0),                 // msip = 0
    csrrc(0, csr::kMstatus, 27),  // with x27 = MPIE: mret leaves interrupts masked
    mret(),
};

struct ClintRigs {
  std::vector<std::unique_ptr<machine::Clint>> clints; // one per machine of the pair
  void attach(Rig& rig) {
    clints.push_back(std::make_unique<machine::Clint>(rig.clock, std::vector<machine::InterruptPins*>{&rig.hart[0]->pins()}));
    rig.bus.map(machine::Clint::kBase, machine::Clint::kSize, clints.back().get());
  }
};

// `masked`: mstatus.MIE starts clear and the handler returns with it clear.
void start_with_interrupts(Rig& rig, bool masked) {
  rig.put(kIrqHandler, kCountingHandler);
  rig.start(0, kCode);
  machine::Hart& h = *rig.hart[0];
  h.set_csr(csr::kMtvec, kIrqHandler);
  h.set_csr(csr::kMie, 1u << machine::Clint::kMsipBit);
  if (!masked) h.set_csr(csr::kMstatus, h.csr(csr::kMstatus) | csr::mstatus::kMie);
  h.set_x(25, machine::Clint::kBase); // msip of hart 0
  h.set_x(26, 1);
  h.set_x(27, masked ? csr::mstatus::kMpie : 0);
}

TEST(JitLink, InterruptRaisedByAStoreMidBlockIsTakenAtTheNextBlock) {
  ClintRigs clints;
  Pair pair(1, [&](Rig& rig) {
    clints.attach(rig);
    rig.put(kCode, {
        addi(10, 10, 1),          // 0x00 loop
        andi(11, 10, 63),         // 0x04
        bne(11, 0, 24),           // 0x08 every 64th iteration:
        srli(26, 10, 6),          // 0x0c
        andi(26, 26, 1),          // 0x10
        sw(26, 25, 0),            // 0x14   msip = 0 or 1 in turn (MMIO, in the middle of this block)
        add(12, 12, 26),          // 0x18   the block goes on: interrupts raised
        addi(13, 13, 1),          // 0x1c
        addi(14, 14, 3),          // 0x20
        jal(0, -0x24),            // 0x24 loop: linked (when msip = 0, no interrupt comes between)
    });
    start_with_interrupts(rig, false);
  });
  pair.run(8, 10000);
  const machine::Hart& h = *pair.jit.hart[0];
  EXPECT_GT(h.x(22), 50u);                  // interrupts taken...
  EXPECT_EQ(h.x(24), h.x(22) * kCode);      // ...each at the block after the store's
  EXPECT_LE(h.x(22), h.x(12));              // a step may end between the store and the trap
  EXPECT_LE(h.x(12), h.x(22) + 1);
  EXPECT_GT(h.jit_linked_exits(), 0u);
}

// An interrupt pending and enabled in mie while mstatus.MIE masks it: native code runs on (it
// used to return to the dispatcher at every block), and the CSR write that unmasks it is followed
// by the trap at once, in both tiers.
TEST(JitLink, InterruptPendingWhileMaskedIsTakenWhenUnmasked) {
  ClintRigs clints;
  Pair pair(1, [&](Rig& rig) {
    clints.attach(rig);
    rig.put(kCode, {
        sw(26, 25, 0),            // 0x00 msip = 1, masked
        addi(11, 0, 500),         // 0x04
        addi(10, 10, 1),          // 0x08 inner loop, interrupt pending throughout
        addi(11, 11, -1),         // 0x0c
        bne(11, 0, -8),           // 0x10
        csrrsi(0, csr::kMstatus, 8), // 0x14 unmask: taken before the next instruction
        addi(12, 12, 1),          // 0x18
        jal(0, -0x1c),            // 0x1c
    });
    start_with_interrupts(rig, true);
  });
  pair.run(8, 10000);
  const machine::Hart& h = *pair.jit.hart[0];
  EXPECT_GT(h.x(22), 20u);
  EXPECT_EQ(h.x(24), h.x(22) * (kCode + 0x18));
  EXPECT_GE(h.x(12) + 1, h.x(22));
  EXPECT_GT(h.jit_translated_blocks(), 2u);
}

} // namespace
} // namespace nimbus::test
