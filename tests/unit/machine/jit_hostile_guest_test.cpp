// Guests that do what no compiler emits, against the JIT (issue 11's "bad input"): fetching from
// MMIO and from holes in the physical map, entering a 32-bit instruction at its second half, and
// running more code than the decoded-block cache and the native code cache hold. Each program runs
// on the interpreter and on both translating machines of jit_trio.hpp, compared after every step:
// the guest gets exactly what the interpreter (the reference) gives it.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "hart_assembler.hpp"
#include "jit_trio.hpp"
#include "machine/block_cache.hpp"
#include "machine/devices/clint.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {
namespace {

using namespace jit_trio;

// Fetching from a device (the CLINT) or from an address nothing is mapped at is an instruction
// access fault with mtval the fetched address, however often the jump to it has run: the JIT
// neither translates MMIO nor caches a jump target it could not fetch.
TEST(JitHostileGuest, FetchFromMmioOrAHoleIsAnAccessFaultEveryTime) {
  constexpr uint64_t kHole = 0x40000000; // below RAM, no device
  Trio trio([](Rig& rig) {
    rig.attach_clint();
    rig.put(kHandler, {
        csrrs(28, csr::kMcause, 0),
        csrrs(27, csr::kMtval, 0),
        addi(29, 29, 1),            // faults taken
        csrrw(0, csr::kMepc, 1),    // back to the instruction after the jump
        mret(),
    });
    rig.put(kCode, {
        addi(7, 0, 50),             // 0x00
        jalr(1, 5, 0),              // 0x04 into the CLINT's registers
        addi(7, 7, -1),             // 0x08
        bne(7, 0, -8),              // 0x0c -> 0x04
        jalr(1, 6, 0),              // 0x10 into the hole
        addi(30, 30, 1),            // 0x14
        jal(0, 0),                  // 0x18 parked
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, machine::Clint::kBase);
    rig.hart.set_x(6, kHole);
  });
  trio.run(40, kBudgets);
  for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone}) {
    const machine::Hart& h = rig->hart;
    EXPECT_EQ(h.x(29), 51u);
    EXPECT_EQ(h.x(28), 1u); // instruction access fault
    EXPECT_EQ(h.x(27), kHole);
    EXPECT_EQ(h.x(30), 1u);
    EXPECT_EQ(h.pc(), kCode + 0x18);
  }
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 0u);
}

// A LUI whose upper half is itself an instruction (c.addi x6, 1): the loop enters it at its first
// byte on even turns and at its third byte on odd ones. The two entries are two blocks over the
// same bytes, each translated as what it decodes to.
TEST(JitHostileGuest, JumpingIntoTheSecondHalfOfAnInstruction) {
  constexpr uint32_t kCAddiX6 = 0x0305;                       // c.addi x6, 1
  constexpr uint32_t kLui = kCAddiX6 << 16 | 0x3u << 12 | 10u << 7 | 0x37; // lui x10, 0x3053
  Trio trio([](Rig& rig) {
    rig.put(kCode, {
        addi(7, 0, 200),            // 0x00
        andi(8, 7, 1),              // 0x04 loop
        beq(8, 0, 8),               // 0x08 even -> 0x10: the LUI
        jal(0, 6),                  // 0x0c odd -> 0x12: its upper half
        kLui,                       // 0x10 (0x12: c.addi x6, 1)
        addi(7, 7, -1),             // 0x14
        bne(7, 0, -0x14),           // 0x18 -> 0x04
        jal(0, 0),                  // 0x1c parked
    });
    rig.hart.reset(kCode);
  });
  trio.run(40, kBudgets);
  for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone}) {
    const machine::Hart& h = rig->hart;
    EXPECT_EQ(h.x(6), 100u);          // the odd turns ran the upper half
    EXPECT_EQ(h.x(10), 0x3053000u);   // the even turns ran the LUI
    EXPECT_EQ(h.pc(), kCode + 0x1c);
  }
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 2u);
}

// A loop whose 32-bit `addi x10, x0, 1` straddles a page end: its block is cached by the lower
// half's page (and translated), and each run fetches the upper half again and compares it. At
// x7 == 50 the loop stores a new upper half (`addi x10, x0, 2`) and runs FENCE.I (which drops no
// code on a hart alone once it ran: hart_execute.cpp): the upper page is not the block's page, so
// only that check sees the change, and every later turn adds 2.
TEST(JitHostileGuest, AnInstructionStraddlingPagesSeesItsUpperHalfRewritten) {
  constexpr uint64_t kLoop = kRamBase + 0x10ff0; // the straddling instruction at 0x10ffe
  const uint32_t one = addi(10, 0, 1), two = addi(10, 0, 2);
  ASSERT_EQ(one & 0xffff, two & 0xffff);
  Trio trio([&](Rig& rig) {
    auto put_bytes = [&](uint64_t at, uint32_t value, unsigned length) {
      ASSERT_TRUE(rig.bus.copy_to_ram(at, &value, length));
    };
    put_bytes(kLoop - 0x04, fence_i(), 4);          // so the loop's own FENCE.I drops nothing (one hart)
    put_bytes(kLoop + 0x00, addi(7, 7, -1), 4);
    put_bytes(kLoop + 0x04, addi(8, 8, 1), 4);
    put_bytes(kLoop + 0x08, addi(14, 14, 1), 4);
    put_bytes(kLoop + 0x0c, 0x0001, 2);             // c.nop
    put_bytes(kLoop + 0x0e, one, 4);                // 0x10ffe: across the page end
    put_bytes(kLoop + 0x12, add(9, 9, 10), 4);      // 0x11002
    put_bytes(kLoop + 0x16, bne(7, 11, 12), 4);     // not 50: -> 0x11012
    put_bytes(kLoop + 0x1a, sh(12, 13, 0), 4);      // the new upper half
    put_bytes(kLoop + 0x1e, fence_i(), 4);
    put_bytes(kLoop + 0x22, bne(7, 0, -0x22), 4);   // 0x11012 -> the loop's head
    put_bytes(kLoop + 0x26, jal(0, 0), 4);          // parked
    rig.hart.reset(kLoop - 0x04);
    rig.hart.set_x(7, 100);
    rig.hart.set_x(11, 50);
    rig.hart.set_x(12, two >> 16);
    rig.hart.set_x(13, kRamBase + 0x11000);
  });
  trio.run(40, kBudgets);
  for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone}) {
    const machine::Hart& h = rig->hart;
    EXPECT_EQ(h.x(8), 100u);
    EXPECT_EQ(h.x(14), 100u);
    EXPECT_EQ(h.x(9), 50u * 1 + 50u * 2);
    EXPECT_EQ(h.pc(), kLoop + 0x26);
  }
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 2u);
}

// More code than both caches hold: small loops one after another, a thousand more than the
// decoded-block cache's nursery holds (loads and stores, so each loop's native code is long),
// each run 4 times so the JIT translates it, the whole program again and again. The decoded ops
// exceed the nursery, the translated ones the tenured arena and the native code the code cache,
// so all are emptied and refilled while the guest runs; it computes what the interpreter
// computes, and the cache never holds more than its bound.
TEST(JitHostileGuest, MoreCodeThanTheCachesHold) {
  using machine::BlockCache;
  constexpr unsigned kNurseryOps = BlockCache::kNurseryBytes / sizeof(machine::BlockOp); // more than fit
  constexpr unsigned kLoops = kNurseryOps / 12 + 1000;
  // Its blocks are 11-12 ops long: no more of them fit in both arenas (without the bounds the
  // cache would hold all 2 * kLoops of them).
  constexpr size_t kMaxBlocks =
      (BlockCache::kNurseryBytes + BlockCache::kTenuredBytes) / (sizeof(machine::Block) + 11 * sizeof(machine::BlockOp));
  static_assert(kMaxBlocks < 2 * kLoops);
  constexpr uint64_t kData = kRamBase + 0x400000;
  std::vector<uint32_t> program;
  for (unsigned g = 0; g < kLoops; ++g) {
    const auto body = std::vector<uint32_t>{
        addi(9, 0, 4),                                     // +0x00
        ld(11, 20, 0),                                     // +0x04 loop
        add(12, 12, 11),                                   // +0x08
        sd(12, 20, 8),                                     // +0x0c
        xor_(13, 13, 12),                                  // +0x10
        lw(14, 20, 16),                                    // +0x14
        addi(14, 14, static_cast<int32_t>(g & 0x7ff)),     // +0x18
        sw(14, 20, 16),                                    // +0x1c
        slli(15, 13, 1),                                   // +0x20
        add(13, 15, 14),                                   // +0x24
        addi(9, 9, -1),                                    // +0x28
        bne(9, 0, -0x28),                                  // +0x2c -> +0x04
    };
    program.insert(program.end(), body.begin(), body.end());
  }
  program.push_back(addi(21, 21, 1));  // passes
  program.push_back(jalr(0, 22, 0));   // -> the first loop
  ASSERT_LT(program.size() * 4, kData - kCode);
  Trio trio([&](Rig& rig) {
    rig.put(kCode, program);
    rig.hart.reset(kCode);
    rig.hart.set_x(20, kData);
    rig.hart.set_x(22, kCode);
    const uint64_t seed = 0x0123456789abcdefull;
    ASSERT_TRUE(rig.bus.copy_to_ram(kData, &seed, 8));
  });
  const unsigned ops_per_pass = kLoops * 12;
  ASSERT_GT(ops_per_pass, kNurseryOps);
  for (unsigned round = 0; round < 6; ++round) {
    trio.run(10, {10000});
    for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone})
      ASSERT_LE(rig->hart.decoded_blocks(), kMaxBlocks) << "round " << round;
  }
  const machine::Hart& h = trio.units.hart;
  EXPECT_GE(h.x(21), 1u); // at least one whole pass, so every loop ran and was translated
  // Translated again after the caches were emptied (the first pass alone translates each loop once).
  EXPECT_GT(h.jit_translated_blocks(), uint64_t{kLoops});
  EXPECT_GT(trio.alone.hart.jit_translated_blocks(), uint64_t{kLoops});
}

// A hot loop, then a stream of cold code larger than the decoded-block cache's nursery, round
// after round: the nursery starts over several times a round, but the loop's translated unit
// lives in the tenured arena and is not translated again (before 2026-12-06 every clear dropped
// it with everything else). The cold blocks run once a round and are dropped before their next
// run, so they never get hot.
TEST(JitHostileGuest, ATranslatedLoopOutlivesTheNurserysClears) {
  using machine::BlockCache;
  // Cold blocks of two instructions: enough to fill the nursery twice a round.
  constexpr unsigned kCold = 2 * BlockCache::kNurseryBytes / (sizeof(machine::Block) + 3 * sizeof(machine::BlockOp));
  std::vector<uint32_t> program = {
      addi(9, 0, 300),   // 0x00
      add(12, 12, 9),    // 0x04 loop
      xor_(13, 13, 12),  // 0x08
      addi(9, 9, -1),    // 0x0c
      bne(9, 0, -12),    // 0x10 -> 0x04
      addi(21, 21, 1),   // 0x14 rounds
      jal(0, 4),         // 0x18 -> 0x1c, the cold stream
  };
  for (unsigned i = 0; i < kCold; ++i) {
    program.push_back(addi(14, 14, 1));
    program.push_back(jal(0, 4)); // ends the block
  }
  program.push_back(jalr(0, 22, 0)); // the next round
  ASSERT_LT(kCode + program.size() * 4, kRamBase + (8u << 20));
  Trio trio([&](Rig& rig) {
    rig.put(kCode, program);
    rig.hart.reset(kCode);
    rig.hart.set_x(22, kCode);
  });
  const auto run_rounds = [&](uint64_t rounds) {
    while (trio.interp.hart.x(21) < rounds) {
      trio.run(1, {10000});
      if (::testing::Test::HasFatalFailure()) return;
    }
  };
  run_rounds(2);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t units_after_two = trio.units.hart.jit_translated_blocks();
  const uint64_t alone_after_two = trio.alone.hart.jit_translated_blocks();
  EXPECT_GT(units_after_two, 0u);
  run_rounds(6);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_EQ(trio.units.hart.jit_translated_blocks(), units_after_two);
  EXPECT_EQ(trio.alone.hart.jit_translated_blocks(), alone_after_two);
  for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone}) {
    EXPECT_GE(rig->hart.x(14), 5u * kCold); // five whole cold streams ran
    EXPECT_LT(rig->hart.decoded_blocks(), kCold) << "the nursery never filled";
  }
}

// The JIT's lookup table (indirect jumps, returns, calls to another page) keeps its entries when
// only the nursery starts over, since they lead to tenured code under mappings that still hold.
// A function called and returned from through it, with the nursery cleared between rounds, is
// then rewritten by a store: the next call must run the new code, on every tier.
TEST(JitHostileGuest, LookupsKeptAcrossNurseryClearsDieWithTheCodeTheyLeadTo) {
  using machine::BlockCache;
  constexpr unsigned kCold = 2 * BlockCache::kNurseryBytes / (sizeof(machine::Block) + 3 * sizeof(machine::BlockOp));
  const uint32_t patched = addi(12, 12, 7);
  std::vector<uint32_t> program = {
      addi(9, 0, 300),     // 0x00
      jalr(1, 23, 0),      // 0x04 loop: call f (another page: through the lookup table)
      addi(9, 9, -1),      // 0x08
      bne(9, 0, -8),       // 0x0c -> 0x04
      addi(21, 21, 1),     // 0x10 rounds
      bne(21, 25, 8),      // 0x14 -> 0x1c unless the third round ended
      sw(24, 23, 0),       // 0x18 f's first instruction becomes addi x12, x12, 7
      bne(21, 26, 8),      // 0x1c -> 0x24 unless the sixth round ended
      jal(0, 0),           // 0x20 done: spin here
      jal(0, 4),           // 0x24 -> 0x28, the cold stream
  };
  for (unsigned i = 0; i < kCold; ++i) {
    program.push_back(addi(14, 14, 1));
    program.push_back(jal(0, 4)); // ends the block
  }
  program.push_back(jalr(0, 22, 0)); // the next round
  while (program.size() % 1024 != 0) program.push_back(0);
  const uint64_t f = kCode + 4 * program.size();
  program.push_back(addi(12, 12, 1)); // f
  program.push_back(jalr(0, 1, 0));   // return: through the lookup table
  ASSERT_LT(kCode + program.size() * 4, kRamBase + (8u << 20));
  Trio trio([&](Rig& rig) {
    rig.put(kCode, program);
    rig.hart.reset(kCode);
    rig.hart.set_x(22, kCode);
    rig.hart.set_x(23, f);
    rig.hart.set_x(24, patched);
    rig.hart.set_x(25, 3);
    rig.hart.set_x(26, 6);
  });
  while (trio.interp.hart.pc() != kCode + 0x20) {
    trio.run(1, {10000});
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
  }
  for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone}) {
    EXPECT_EQ(rig->hart.x(12), 3u * 300 * 1 + 3u * 300 * 7); // three rounds of +1, three of +7
    EXPECT_GE(rig->hart.x(14), 5u * kCold);                 // the nursery started over each round
  }
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 0u);
}

// The lookup table keys an entry by the translation epoch's low 13 bits and the context
// (LookupEntry), so an entry made 2^13 epochs ago has today's key: the hart empties the table when
// those bits wrap. f is translated and found through the table, then rewritten (its old native
// code stays in the code cache) and the epoch moves on about 2^13 times (the store one,
// SFENCE.VMA x0, x0 one each); then the translated call site calls f again: the new f must run.
// Fails with the table left as it is at the wrap (one of these counts of fences hits the old key).
TEST(JitHostileGuest, ALookupMadeTwoToTheThirteenEpochsAgoIsNotTaken) {
  static_assert(machine::Hart::kLookupEpochBits == 13);
  for (uint32_t fences = 8185; fences <= 8196; ++fences) {
    const std::vector<uint32_t> program = {
        addi(9, 0, 20),   // 0x00 calls in the first round
        jalr(1, 23, 0),   // 0x04 loop: call f (another page: through the lookup table)
        addi(9, 9, -1),   // 0x08
        bne(9, 0, -8),    // 0x0c -> 0x04
        bne(21, 0, 0x20), // 0x10 -> 0x30 after the second round
        addi(21, 0, 1),   // 0x14
        sw(24, 23, 0),    // 0x18 f's first instruction becomes addi x12, x12, 7
        sfence_vma(),     // 0x1c
        addi(25, 25, -1), // 0x20
        bne(25, 0, -8),   // 0x24 -> 0x1c
        addi(9, 0, 1),    // 0x28 one more call
        jal(0, -0x28),    // 0x2c -> 0x04
        jal(0, 0),        // 0x30 done: spin here
    };
    const uint64_t f = kCode + 0x1000;
    Trio trio([&](Rig& rig) {
      rig.put(kCode, program);
      rig.put(f, {addi(12, 12, 1), jalr(0, 1, 0)});
      rig.hart.reset(kCode);
      rig.hart.set_x(23, f);
      rig.hart.set_x(24, addi(12, 12, 7));
      rig.hart.set_x(25, fences);
    });
    while (trio.interp.hart.pc() != kCode + 0x30) {
      trio.run(1, {10000});
      ASSERT_FALSE(::testing::Test::HasFatalFailure()) << fences << " fences";
    }
    for (const Rig* rig : {&trio.interp, &trio.units, &trio.alone}) EXPECT_EQ(rig->hart.x(12), 20u + 7u);
  }
}

} // namespace
} // namespace nimbus::test
