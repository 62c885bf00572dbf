// Site pages (docs/jit.md, "Site pages"; machine/tlb_site_pages.hpp): a load in a loop through
// a register the loop only steps by a constant keeps the page it touched last and checks the
// address against it instead of indexing the soft TLB. Each program runs on an interpreting
// machine and two translating ones (jit_trio.hpp), compared after every step: a slot that
// outlived the translation it copies (a remapped page, another data context) reads the wrong
// host page, and an access crossing the page's end must still take the slow path.
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

// An 8-byte load stepping 12 bytes at a time over RAM's last three pages: most steps stay in
// the slot's page; walks from kStart + 4 and kStart + 8 take turns (the outer block starts the
// next from x7, a write the inner loop does not see). The first straddles two RAM pages once
// (the slow path, the right value), the second RAM's end (a fault, where the interpreter
// faults: a slot that let an access run into its page's last 7 bytes would read past guest RAM).
TEST(JitSitePage, StridedLoadOverPagesAndPastRamsEndMatchesTheInterpreter) {
  constexpr uint64_t kRamEnd = kRamBase + (8ull << 20), kStart = kRamEnd - 0x3000;
  Trio trio([&](Rig& rig) {
    for (uint64_t a = kStart; a < kRamEnd; a += 8) poke(rig, a, a * 0x9e3779b97f4a7c15ull);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(6, 5, 0),           // 0x00 the site: x5 only steps
        add(10, 10, 6),        // 0x04
        addi(5, 5, 12),        // 0x08
        addi(11, 11, 1),       // 0x0c
        bltu(11, 12, -0x10),   // 0x10 -> 0x00
        addi(11, 0, 0),        // 0x14
        xori(7, 7, 12),        // 0x18 kStart + 4 <-> kStart + 8
        addi(5, 7, 0),         // 0x1c from there
        jal(0, -0x20),         // 0x20 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kStart + 4);
    rig.hart.set_x(7, kStart + 4);
    rig.hart.set_x(12, 0x3000 / 12 + 3); // a few steps past RAM's end
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 3u);            // loads crossing RAM's end faulted
  EXPECT_EQ(h.csr(csr::kMcause), 5u); // load access fault
  EXPECT_GT(h.jit_site_page_sites(), 0u);
  EXPECT_GT(trio.alone.hart.jit_site_page_sites(), 0u);
}

// S-mode under Sv39: the site reads one virtual page 50 times, then the program points the
// page's PTE at the other of two physical pages (1 and 1000 at the address read) and fences,
// and reads again. A slot kept across the fence reads the old page. `one_page`: SFENCE.VMA with
// the page's address (SoftTlb::flush_host_page), else with none (every entry).
void remapped_page_is_read_after_the_fence(bool one_page) {
  constexpr uint64_t root = kRamBase + 0x10000, level1 = root + 0x1000, level0 = root + 0x2000;
  constexpr uint64_t kCodeVa = 0x40000000, kPage = 0x40001000;
  constexpr uint64_t kPa1 = kRamBase + 0x20000, kPa2 = kRamBase + 0x30000;
  Trio trio([&](Rig& rig) {
    poke(rig, root + 8 * 2, leaf(kRamBase, kR | kW)); // identity gigapage: the tables, by address
    poke(rig, root + 8 * 1, pointer(level1));
    poke(rig, level1, pointer(level0));
    poke(rig, level0 + 0, leaf(kCode, kR | kX));
    poke(rig, level0 + 8, leaf(kPa1, kR | kW));
    poke(rig, kPa1 + 0x10, 1);
    poke(rig, kPa2 + 0x10, 1000);
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(6, 5, 0),                                   // 0x00 the site: x5 never changes
        add(10, 10, 6),                                // 0x04
        addi(11, 11, 1),                               // 0x08
        bltu(11, 12, -0x0c),                           // 0x0c -> 0x00
        addi(11, 0, 0),                                // 0x10
        sd(15, 13, 0),                                 // 0x14 the page's PTE: the other page
        xor_(14, 14, 15),                              // 0x18 swap x14 and x15
        xor_(15, 15, 14),                              // 0x1c
        xor_(14, 14, 15),                              // 0x20
        one_page ? sfence_vma(5, 0) : sfence_vma(),    // 0x24
        jal(0, -0x28),                                 // 0x28 -> 0x00
    });
    rig.hart.reset(kCodeVa);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_csr(csr::kSatp, (8ull << 60) | (root >> 12));
    rig.hart.set_privilege(1);
    rig.hart.set_x(5, kPage + 0x10);
    rig.hart.set_x(12, 50);
    rig.hart.set_x(13, level0 + 8);
    rig.hart.set_x(14, leaf(kPa1, kR | kW));
    rig.hart.set_x(15, leaf(kPa2, kR | kW));
  });
  trio.run(60, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_EQ(h.x(29), 0u); // no trap
  EXPECT_GT(h.x(10) / 1000, 10u * 50); // many rounds through the second page
  EXPECT_GT(h.x(10) % 1000, 10u * 50); // and through the first
  EXPECT_GT(h.jit_site_page_sites(), 0u);
}

TEST(JitSitePage, RemappedPageIsReadAfterSfenceVmaOfThePage) { remapped_page_is_read_after_the_fence(true); }
TEST(JitSitePage, RemappedPageIsReadAfterSfenceVmaOfEverything) { remapped_page_is_read_after_the_fence(false); }

// M-mode code whose loads alternate between M's own view (physical addresses) and, with
// mstatus.MPRV set and MPP = S, Sv39 translation, which maps the address read to another
// physical page: the same site, the same code, two data contexts. A slot kept across the change
// of context reads the other context's page.
TEST(JitSitePage, AChangeOfDataContextEmptiesTheSlots) {
  Trio trio([](Rig& rig) { put_mprv_flipping_loads(rig, /*still_base=*/true); });
  trio.run(60, kBudgets);
  expect_both_views_read(trio.units.hart);
  EXPECT_GT(trio.units.hart.jit_site_page_sites(), 0u);
}

// Which loads get a site page: a load in a loop stepping its base by `step` bytes, with a store
// into the array in the loop when `stores`. Returns the units machine's count of site-page sites
// after the run (the loop sums 64 words and starts again).
uint64_t site_page_sites_for(int32_t step, bool stores) {
  Trio trio([&](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode, {
        ld(6, 5, 0),                           // 0x00 the load
        add(10, 10, 6),                        // 0x04
        stores ? sd(10, 5, 0) : addi(0, 0, 0), // 0x08 a store into the array, or a nop
        addi(5, 5, step),                      // 0x0c
        addi(11, 11, 1),                       // 0x10
        bltu(11, 12, -0x14),                   // 0x14 -> 0x00
        addi(11, 0, 0),                        // 0x18
        addi(5, 7, 0),                         // 0x1c from the start again
        jal(0, -0x20),                         // 0x20 -> 0x00
    });
    rig.hart.reset(kCode);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kRamBase + 0x100000);
    rig.hart.set_x(7, kRamBase + 0x100000);
    rig.hart.set_x(12, 64);
  });
  trio.run(30, kBudgets);
  EXPECT_EQ(trio.units.hart.x(29), 0u);
  EXPECT_GT(trio.units.hart.jit_translated_blocks(), 0u);
  return trio.units.hart.jit_site_page_sites();
}

// A step of up to 256 bytes stays in a page for 16 accesses or more: the load gets a site page.
// A larger step leaves the page within a few passes (a column walk through 1 KiB rows ran at half
// the direct lookup's speed with one), and a loop that stores keeps the direct lookup (the
// suite's memcpy ran slower with site pages): neither gets one.
TEST(JitSitePage, OnlyStoreFreeLoopsWithSmallStepsGetOne) {
  EXPECT_GT(site_page_sites_for(8, false), 0u);
  EXPECT_GT(site_page_sites_for(-256, false), 0u);
  EXPECT_EQ(site_page_sites_for(1024, false), 0u);
  EXPECT_EQ(site_page_sites_for(8, true), 0u);
}

} // namespace
} // namespace nimbus::test
