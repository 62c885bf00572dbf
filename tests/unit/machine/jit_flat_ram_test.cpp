// Flat RAM (docs/jit.md, "Flat RAM"; machine/tlb_site_pages.hpp, TlbFlatRam): where the data
// context does not translate and PMP lets it read every byte of RAM, a translated load's host
// address is RAM's plus its offset from RAM's base. Each program runs on an interpreting machine
// and two translating ones (jit_trio.hpp), compared after every step: a slot that outlived what
// made it right (a PMP entry written since, MPRV, a satp write) reads what the interpreter does
// not, and a load running past RAM's end must still fault.
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

// A chase (x5 = *x5) through M-mode's own view: a node, then one 3 bytes before a page's end
// (the load straddles two RAM pages), then RAM's last 8 bytes, which point at RAM's last 4: that
// load would run past RAM and faults (the handler skips it, so it faults again until the round
// ends and the chase starts over).
TEST(JitFlatRam, ChaseThroughRamAndPastItsEndMatchesTheInterpreter) {
  constexpr uint64_t kFirst = kRamBase + 0x20000, kStraddling = kRamBase + 0x20ffd, kLast = kRamEnd - 8;
  Trio trio([&](Rig& rig) {
    poke(rig, kFirst, kStraddling);
    poke(rig, kStraddling, kLast);
    poke(rig, kLast, kRamEnd - 4);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(5, 5, 0),         // 0x00 the site: x5 comes from a load, so no site page
        add(10, 10, 5),      // 0x04
        addi(11, 11, 1),     // 0x08
        bltu(11, 12, -0x0c), // 0x0c -> 0x00
        addi(11, 0, 0),      // 0x10
        addi(5, 7, 0),       // 0x14 from the first node again
        jal(0, -0x18),       // 0x18 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kFirst);
    rig.hart.set_x(7, kFirst);
    rig.hart.set_x(12, 6);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 10u);             // the loads past RAM's end faulted
  EXPECT_EQ(h.csr(csr::kMcause), 5u);  // load access fault
  EXPECT_GE(h.csr(csr::kMtval), kRamEnd - 4); // the load's address or its first byte past RAM
  EXPECT_GT(h.jit_flat_load_sites(), 0u);
  EXPECT_GT(trio.alone.hart.jit_flat_load_sites(), 0u);
}

// M-mode chases between two pages; after each round it writes a locked PMP entry that takes
// read access to the second page away (from M-mode too, as locked entries do). The loads of
// that page must fault from then on, and those of the first go on.
TEST(JitFlatRam, ALockedPmpEntryWrittenLaterFaultsTheLoadsOfItsRegion) {
  constexpr uint64_t kOne = kRamBase + 0x20000, kTwo = kRamBase + 0x30008;
  Trio trio([&](Rig& rig) {
    poke(rig, kOne, kTwo);
    poke(rig, kTwo, kOne);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(5, 5, 0),                    // 0x00 the site
        add(10, 10, 5),                 // 0x04
        addi(11, 11, 1),                // 0x08
        bltu(11, 12, -0x0c),            // 0x0c -> 0x00
        addi(11, 0, 0),                 // 0x10
        csrrw(0, csr::kPmpaddr0, 13),   // 0x14 the second page, NAPOT
        csrrw(0, csr::kPmpcfg0, 14),    // 0x18 locked, no access
        addi(5, 7, 0),                  // 0x1c from the first page again
        jal(0, -0x20),                  // 0x20 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kOne);
    rig.hart.set_x(7, kOne);
    rig.hart.set_x(12, 200);
    rig.hart.set_x(13, ((kTwo & ~uint64_t{0xfff}) >> 2) | 0x1ff);
    rig.hart.set_x(14, 0x98); // L, A = NAPOT, no R/W/X
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u); // the second page's loads faulted once the entry was there
  EXPECT_EQ(h.csr(csr::kMcause), 5u);
  EXPECT_EQ(h.csr(csr::kMtval), kTwo);
  EXPECT_GT(h.jit_flat_load_sites(), 0u);
}

// M-mode code whose loads alternate between M's own view and, with mstatus.MPRV set and MPP =
// S, Sv39 translation, which maps the address read to another physical page: a flat slot kept
// across the change of data context reads the untranslated page.
TEST(JitFlatRam, MprvTranslatesTheSameSiteAgain) {
  Trio trio([](Rig& rig) { put_mprv_flipping_loads(rig, /*still_base=*/false); });
  trio.run(60, kBudgets);
  expect_both_views_read(trio.units.hart);
  EXPECT_GT(trio.units.hart.jit_flat_load_sites(), 0u);
  EXPECT_EQ(trio.units.hart.jit_site_page_sites(), 0u);
}

// S-mode with satp Bare and a PMP entry granting all of memory reads RAM flat; each round it
// switches satp between Bare and Sv39 (which maps the page read elsewhere) and fences. A slot
// kept across the satp write reads the untranslated page under Sv39.
TEST(JitFlatRam, ASatpWriteInSupervisorModeTranslatesTheSameSite) {
  constexpr uint64_t root = kRamBase + 0x10000, level1 = root + 0x1000, level0 = root + 0x2000;
  constexpr uint64_t kAddress = kRamBase + 0x20010, kOther = kRamBase + 0x30000;
  Trio trio([&](Rig& rig) {
    poke(rig, root + 8 * 2, pointer(level1));
    poke(rig, level1, pointer(level0));
    poke(rig, level0 + 8 * 0, leaf(kCode, kR | kX)); // the code, where it is
    poke(rig, level0 + 8 * 0x20, leaf(kOther, kR | kW));
    poke(rig, kAddress, 1);
    poke(rig, kOther + 0x10, uint64_t{1} << 32);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(6, 5, 0),              // 0x00 the site
        xor_(5, 5, 17),           // 0x04 (no site page)
        add(10, 10, 6),           // 0x08
        addi(11, 11, 1),          // 0x0c
        bltu(11, 12, -0x10),      // 0x10 -> 0x00
        addi(11, 0, 0),           // 0x14
        csrrs(16, csr::kSatp, 0), // 0x18
        xor_(16, 16, 13),         // 0x1c Bare <-> Sv39
        csrrw(0, csr::kSatp, 16), // 0x20
        sfence_vma(),             // 0x24
        jal(0, -0x28),            // 0x28 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_csr(csr::kPmpaddr0, ~uint64_t{0} >> 10); // NAPOT: everything
    rig.hart.set_csr(csr::kPmpcfg0, 0x1f);                // A = NAPOT, R/W/X
    rig.hart.set_privilege(1);
    rig.hart.set_x(5, kAddress);
    rig.hart.set_x(12, 50);
    rig.hart.set_x(13, (8ull << 60) | (root >> 12));
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.x(10) >> 32, 10u * 50);
  EXPECT_GT(h.x(10) & 0xffffffff, 10u * 50);
  EXPECT_GT(h.jit_flat_load_sites(), 0u);
}

// M-mode code stores an instruction word and calls a function, in one loop: for 50 rounds into
// a data page (the flat store range is filled around it and reaches the pages below, down to the
// code's) while calling a function beside the code; then into the first word of a function two
// pages below the data, which it calls from then on, rewriting it (`addi x11, x0, 1` <-> `2`)
// before every call. The translated loop's stores are its only ones into that page, so only the
// range's own rule (a page that becomes code leaves the range) makes the next store drop the
// decoded function; otherwise the old instruction would go on running.
TEST(JitFlatRam, AStoreIntoAPageThatBecameCodeStillDropsTheCode) {
  constexpr uint64_t kHelper = kCode + 0x100, kFunction = kCode + 0x2000, kData = kCode + 0x3000;
  Trio trio([&](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kHelper, {addi(11, 0, 5), jalr(0, 1, 0)});
    rig.put(kFunction + 4, {jalr(0, 1, 0)}); // its first word comes from the stores
    rig.put(kCode, {
        sw(6, 5, 0),         // 0x00 the store site: the data page, later the function
        jalr(1, 16, 0),      // 0x04 the call: the helper, later the function
        add(10, 10, 11),     // 0x08
        xor_(6, 6, 7),       // 0x0c the other encoding next time
        addi(13, 13, 1),     // 0x10
        bne(13, 14, -0x14),  // 0x14 -> 0x00 (every round but the 50th)
        addi(5, 15, 0),      // 0x18 from now on: the function
        addi(16, 15, 0),     // 0x1c
        jal(0, -0x20),       // 0x20 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kData);
    rig.hart.set_x(6, addi(11, 0, 2));
    rig.hart.set_x(7, addi(11, 0, 1) ^ addi(11, 0, 2));
    rig.hart.set_x(14, 50);
    rig.hart.set_x(15, kFunction);
    rig.hart.set_x(16, kHelper);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.x(13), 1000u);
  EXPECT_GT(h.jit_flat_store_sites(), 0u);
  EXPECT_GT(trio.alone.hart.jit_flat_store_sites(), 0u);
}

// Stores stepping through RAM's last bytes: 8 bytes at RAM's last 8 go through, 8 bytes 4
// further would run past RAM and fault (skipped by the handler), and a load reads back what
// was stored.
TEST(JitFlatRam, StoresUpToRamsEndGoThroughAndPastItFault) {
  Trio trio([&](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        sd(10, 5, 0),        // 0x00 the site
        ld(12, 7, 0),        // 0x04 RAM's last 8 bytes
        add(10, 10, 12),     // 0x08
        addi(10, 10, 1),     // 0x0c
        xor_(5, 5, 6),       // 0x10 kRamEnd - 8 <-> kRamEnd - 4
        jal(0, -0x14),       // 0x14 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kRamEnd - 8);
    rig.hart.set_x(6, (kRamEnd - 8) ^ (kRamEnd - 4));
    rig.hart.set_x(7, kRamEnd - 8);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u);
  EXPECT_EQ(h.csr(csr::kMcause), 7u); // store access fault
  EXPECT_GT(h.jit_flat_store_sites(), 0u);
}

// A firmware's PMP (as OpenSBI sets it): entry 0 covers its own 512 KiB at RAM's base with no
// permissions (unlocked: M-mode ignores it), entry 1 all of memory. S-mode code with satp Bare
// chases through pages above the firmware (a range of flat RAM that stops at entry 0's end) and
// once a round loads from inside the firmware: an access fault in S-mode, where the
// interpreter takes it. `machine`: the same code in M-mode, which reads the firmware too.
void chase_beside_a_firmware(bool machine) {
  constexpr uint64_t kFirmwareEnd = kRamBase + 0x80000, kFirst = kRamBase + 0x100000;
  constexpr uint64_t kSecond = kRamBase + 0x101ff8, kInFirmware = kRamBase + 0x40000;
  constexpr uint64_t kProgram = kRamBase + 0xa0000; // above the firmware (the handler is in it: M-mode)
  Trio trio([&](Rig& rig) {
    poke(rig, kFirst, kSecond);
    poke(rig, kSecond, kFirst);
    poke(rig, kInFirmware, 1000);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kProgram, {
        ld(5, 5, 0),         // 0x00 the chase
        add(10, 10, 5),      // 0x04
        addi(11, 11, 1),     // 0x08
        bltu(11, 12, -0x0c), // 0x0c -> 0x00
        addi(11, 0, 0),      // 0x10
        ld(6, 7, 0),         // 0x14 the firmware's word
        add(13, 13, 6),      // 0x18
        jal(0, -0x1c),       // 0x1c -> 0x00
    });
    rig.hart.reset(kProgram);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_csr(csr::kPmpaddr0, (kRamBase >> 2) | (((kFirmwareEnd - kRamBase) >> 3) - 1)); // NAPOT
    rig.hart.set_csr(csr::kPmpaddr0 + 1, ~uint64_t{0} >> 10);                                    // NAPOT: all
    rig.hart.set_csr(csr::kPmpcfg0, 0x18 | (0x1full << 8)); // entry 0 nothing, entry 1 R/W/X
    if (!machine) rig.hart.set_privilege(1);
    rig.hart.set_x(5, kFirst);
    rig.hart.set_x(7, kInFirmware);
    rig.hart.set_x(12, 100);
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  if (machine) {
    EXPECT_EQ(h.x(29), 0u);
    EXPECT_GT(h.x(13), 1000u * 10);
  } else {
    EXPECT_GT(h.x(29), 10u);
    EXPECT_EQ(h.csr(csr::kMcause), 5u);
    EXPECT_EQ(h.csr(csr::kMtval), kInFirmware);
  }
  EXPECT_GT(h.jit_flat_load_sites(), 0u);
}

TEST(JitFlatRam, SupervisorCodeBesideAFirmwaresPmpEntryFaultsOnlyInsideIt) { chase_beside_a_firmware(false); }
TEST(JitFlatRam, MachineCodeBesideAFirmwaresPmpEntryReadsItToo) { chase_beside_a_firmware(true); }

} // namespace
} // namespace nimbus::test
