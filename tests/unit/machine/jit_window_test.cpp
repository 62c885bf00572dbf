// The host-mapped window (docs/jit.md, "The host-mapped window"): U-mode units read and write
// guest pages at window + (address mod 4 GiB), through a second mapping of RAM's file. The
// programs run on an interpreting machine and two translating ones, compared after every step
// (jit_trio.hpp); the parts below them (SharedRam, HostWindow) on their own.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "hart_assembler.hpp"
#include "jit_trio.hpp"
#include "machine/host_window.hpp"
#include "machine/shared_ram.hpp"

namespace nimbus::test {
namespace {

using namespace jit_trio;
using machine::HostWindow;
using machine::SharedRam;

TEST(SharedRam, AWindowSeesItsBytesAndADiscardZeroesBoth) {
  SharedRam ram(1 << 20);
  HostWindow w(ram.data(), 1);
  std::optional<HostWindow::Slot> evicted;
  ASSERT_TRUE(w.map(0, 0x7000, 0x3000, evicted));
  const uint8_t* view = w.base(0) + 0x7000;
  std::memset(ram.data() + 0x3000, 0xab, 4096);
  EXPECT_EQ(view[17], 0xab);
  ASSERT_TRUE(ram.discard(0x3000, 4096));
  EXPECT_EQ(view[17], 0);
  EXPECT_EQ(ram.data()[0x3000 + 17], 0);
}

TEST(HostWindow, MapsAPageAtItsAddressModuloFourGibibytesAndRemapsIt) {
  SharedRam ram(1 << 20);
  HostWindow w(ram.data(), 2);
  std::optional<HostWindow::Slot> evicted;
  const uint64_t va = 0x12'3456'7000; // above 4 GiB: its slot is its low 32 bits
  ASSERT_TRUE(w.map(1, va, 0x5000, evicted));
  EXPECT_FALSE(evicted);
  EXPECT_TRUE(w.maps(1, va, 0x5000));
  EXPECT_FALSE(w.maps(0, va, 0x5000)); // contexts apart
  EXPECT_FALSE(w.maps(1, va, 0x6000));
  ram.data()[0x5000 + 9] = 42;
  const uint8_t* slot = w.base(1) + static_cast<uint32_t>(va);
  EXPECT_EQ(slot[9], 42);
  const_cast<uint8_t*>(slot)[10] = 7; // writable: a store through the window reaches RAM
  EXPECT_EQ(ram.data()[0x5000 + 10], 7);
  ASSERT_TRUE(w.map(1, va, 0x6000, evicted)); // the same slot, another page
  ram.data()[0x6000 + 9] = 43;
  EXPECT_EQ(slot[9], 43);
  EXPECT_EQ(w.mapped_pages(), 1u);
}

TEST(HostWindow, UnmapsItsOldestPageWhenFull) {
  SharedRam ram(size_t{HostWindow::kMaxPages + 1} * 4096);
  HostWindow w(ram.data(), 1);
  std::optional<HostWindow::Slot> evicted;
  for (uint64_t i = 0; i < HostWindow::kMaxPages; ++i) {
    ASSERT_TRUE(w.map(0, i << 12, i << 12, evicted));
    ASSERT_FALSE(evicted);
  }
  ASSERT_TRUE(w.map(0, uint64_t{HostWindow::kMaxPages} << 12, uint64_t{HostWindow::kMaxPages} << 12, evicted));
  ASSERT_TRUE(evicted);
  EXPECT_EQ(evicted->slot, 0u);
  EXPECT_FALSE(w.maps(0, 0, 0));
  EXPECT_TRUE(w.maps(0, 1 << 12, 1 << 12));
  EXPECT_EQ(w.mapped_pages(), HostWindow::kMaxPages);
}

// U-mode, Sv39: a loop loads a word of data page D and stores the running sum beside it; every
// 64 rounds an ECALL's M-mode handler points D's PTE at the other of two physical pages (whose
// words differ: 1 and 1000) and runs SFENCE.VMA. A window tag that outlived the fence would read
// and write the old page through the window: the sum (and the stored words, read back at the
// end) would differ from the interpreter's.
// The window's budget comes back every so many instructions retired, whether or not the guest
// counts them: Linux's SBI PMU driver has OpenSBI set mcountinhibit.IR, and when the epochs
// followed minstret the budget never came back and the window stopped taking pages (Debian's
// kernel ran its programs at half speed).
TEST(JitWindow, TheBudgetComesBackWhileTheGuestInhibitsInstret) {
  machine::Bus bus{kRamBase, 8ull << 20};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  machine::Hart hart{0, bus, clock, reservations};
  hart.reset(kRamBase);
  const std::vector<uint32_t> loop = {as::addi(10, 10, 1), as::jal(0, -4)};
  ASSERT_TRUE(bus.copy_to_ram(kRamBase, loop.data(), 4 * loop.size()));
  hart.set_jit(true, 1);
  hart.set_csr(riscv::csr::kMcountinhibit, riscv::csr::counteren::kIr | riscv::csr::counteren::kCy);
  hart.set_jit_window_budget(0);
  uint64_t retired = 0;
  while (retired < (uint64_t{1} << 25)) retired += hart.run(1 << 20);
  EXPECT_EQ(hart.instret(), 0u); // the guest's counter stood still
  EXPECT_GT(hart.jit_window_budget(), 0u);
}

TEST(JitWindow, AFencedRemapSendsLoadsAndStoresToTheNewPage) {
  constexpr uint64_t root = kRamBase + 0x10000, level1 = root + 0x1000, level0 = root + 0x2000;
  constexpr uint64_t kCodeVa = 0x40000000, kDataVa = 0x40003000, kPa1 = kRamBase + 0x20000, kPa2 = kRamBase + 0x50000;
  Trio trio([&](Rig& rig) {
    const auto poke = [&](uint64_t pa, uint64_t value) { ASSERT_TRUE(rig.bus.copy_to_ram(pa, &value, 8)); };
    poke(root + 8 * 1, pointer(level1));
    poke(level1, pointer(level0));
    poke(level0 + 0, leaf(kCode, kR | kX | kU));
    poke(level0 + 24, leaf(kPa1, kR | kW | kU));
    poke(kPa1 + 0x100, 1);
    poke(kPa2 + 0x100, 1000);
    rig.put(kHandler, {
        ld(22, 21, 0),           // the PTE now
        sd(20, 21, 0),           // the other one
        addi(20, 22, 0),
        sfence_vma(),
        csrrs(28, csr::kMepc, 0),
        addi(28, 28, 4),
        csrrw(0, csr::kMepc, 28),
        mret(),
    });
    rig.put(kCode, {
        lw(6, 5, 0x100),         // 0x00 the page's word
        add(10, 10, 6),          // 0x04
        sd(10, 5, 0x108),        // 0x08 the sum, beside it
        ld(7, 5, 0x108),         // 0x0c read back
        sub(13, 7, 10),          // 0x10 0 unless the store went elsewhere
        or_(14, 14, 13),         // 0x14
        addi(11, 11, 1),         // 0x18
        andi(13, 11, 63),        // 0x1c
        bne(13, 0, -0x20),       // 0x20 -> 0x00
        ecall(),                 // 0x24 flip the page
        bltu(11, 12, -0x28),     // 0x28 -> 0x00
        jal(0, 0),               // 0x2c
    });
    rig.hart.reset(kCodeVa);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_csr(csr::kSatp, (8ull << 60) | (root >> 12));
    rig.hart.set_privilege(0);
    rig.hart.set_x(5, kDataVa);
    rig.hart.set_x(12, 20000);
    rig.hart.set_x(20, leaf(kPa2, kR | kW | kU));
    rig.hart.set_x(21, level0 + 24);
  });
  trio.run(150, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GE(h.x(11), 20000u);
  EXPECT_EQ(h.x(14), 0u);
  // Rounds alternate between the pages 64 at a time: 1 and 1000 in turn.
  uint64_t expected = 0;
  for (uint64_t i = 0; i < h.x(11); ++i) expected += (i / 64) % 2 == 0 ? 1 : 1000;
  EXPECT_EQ(h.x(10), expected);
  EXPECT_GT(h.jit_window_pages(), 0u); // the window served the loop
  EXPECT_GT(trio.alone.hart.jit_window_pages(), 0u);
}

} // namespace
} // namespace nimbus::test
