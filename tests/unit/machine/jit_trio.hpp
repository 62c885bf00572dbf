#pragma once
// The JIT's side-by-side tests (jit_region_test.cpp, jit_tlb_hint_test.cpp): one program on an
// interpreting machine and on two translating ones (units of several blocks, and every block
// alone), compared after every step. jit_link_test.cpp uses its compare().
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hart_assembler.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/devices/clint.hpp"
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test::jit_trio {

namespace csr = riscv::csr;
using namespace as;

constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kCode = kRamBase;             // the program (one page)
constexpr uint64_t kHandler = kRamBase + 0x8000; // M-mode trap handler

struct Rig {
  Rig() : hart(0, bus, clock, reservations) {}
  machine::Bus bus{kRamBase, 8ull << 20};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  machine::Hart hart;
  std::unique_ptr<machine::Clint> clint;

  void put(uint64_t address, const std::vector<uint32_t>& words) {
    for (size_t i = 0; i < words.size(); ++i) ASSERT_TRUE(bus.copy_to_ram(address + 4 * i, &words[i], 4));
  }
  void attach_clint() {
    clint = std::make_unique<machine::Clint>(clock, std::vector<machine::InterruptPins*>{&hart.pins()});
    bus.map(machine::Clint::kBase, machine::Clint::kSize, clint.get());
  }
};

inline std::string compare(const machine::Hart& a, const machine::Hart& b) {
  std::string diff;
  const auto check = [&diff](const std::string& what, uint64_t x, uint64_t y) {
    if (x != y) diff += what + ": interpreter " + std::to_string(x) + " jit " + std::to_string(y) + "\n";
  };
  check("pc", a.pc(), b.pc());
  for (unsigned r = 1; r < 32; ++r) check("x" + std::to_string(r), a.x(r), b.x(r));
  check("instret", a.instret(), b.instret());
  check("privilege", a.privilege(), b.privilege());
  check("mcause", a.csr(csr::kMcause), b.csr(csr::kMcause));
  check("mepc", a.csr(csr::kMepc), b.csr(csr::kMepc));
  check("mtval", a.csr(csr::kMtval), b.csr(csr::kMtval));
  check("mstatus", a.csr(csr::kMstatus), b.csr(csr::kMstatus));
  return diff;
}

// An interpreting machine, one translating with units (threshold 3: a loop's other blocks have
// been decoded when its head is translated) and one translating every block alone (and, in
// U-mode, putting a page into the host-mapped window at its first access).
struct Trio {
  explicit Trio(const std::function<void(Rig&)>& load) {
    for (Rig* rig : {&interp, &units, &alone}) load(*rig);
    units.hart.set_jit(true, 3);
    alone.hart.set_jit_region_blocks(1);
    alone.hart.set_jit_window_heat(1); // U-mode: a page into the window at its first access
    alone.hart.set_jit(true, 3);
  }
  // Steps with budgets cycling through `budgets`; compares all three after each.
  void run(unsigned steps, const std::vector<uint64_t>& budgets) {
    for (unsigned s = 0; s < steps; ++s) {
      const uint64_t budget = budgets[s % budgets.size()];
      const uint64_t a = interp.hart.run(budget);
      for (Rig* rig : {&units, &alone}) {
        const char* name = rig == &units ? "units" : "alone";
        ASSERT_EQ(a, rig->hart.run(budget)) << "retired, step " << s << " budget " << budget << " " << name;
        const std::string diff = compare(interp.hart, rig->hart);
        ASSERT_EQ(diff, "") << "step " << s << " budget " << budget << " " << name;
      }
    }
  }
  Rig interp, units, alone;
};

inline const std::vector<uint64_t> kBudgets = {1, 1, 2, 3, 5, 7, 11, 37, 100, 1000, 10000, 10000};

// Skips the trapping instruction (all 4 bytes long here) and counts the traps in x29.
inline const std::vector<uint32_t> kSkippingHandler = {
    csrrs(28, csr::kMepc, 0),
    addi(28, 28, 4),
    csrrw(0, csr::kMepc, 28),
    addi(29, 29, 1),
    mret(),
};

// Sv39 page-table entries for the programs' tables, and an 8-byte store into RAM to write them.
constexpr uint64_t kV = 1, kR = 2, kW = 4, kX = 8, kU = 16, kA = 64, kD = 128;
constexpr uint64_t leaf(uint64_t pa, uint64_t bits) { return ((pa >> 12) << 10) | kV | kA | kD | bits; }
constexpr uint64_t pointer(uint64_t table) { return ((table >> 12) << 10) | kV; }
inline void poke(Rig& rig, uint64_t pa, uint64_t value) { ASSERT_TRUE(rig.bus.copy_to_ram(pa, &value, 8)); }

// M-mode code whose loads alternate between M's own view and, with mstatus.MPRV set and MPP =
// S, Sv39 translation, which maps the page read to another physical page: one load site, two
// data contexts (jit_site_page_test.cpp, jit_flat_ram_test.cpp). The site reads 1 through M's
// view and 1 << 32 through the translation, into x10's two halves; after x12 = 50 loads the
// program flips MPRV. `still_base`: the site's base register never changes (a site page's
// case); otherwise an xor with zero rewrites it each time round (not a step: no site page).
inline void put_mprv_flipping_loads(Rig& rig, bool still_base) {
  constexpr uint64_t root = kRamBase + 0x10000, level1 = root + 0x1000, level0 = root + 0x2000;
  constexpr uint64_t kAddress = kRamBase + 0x20010, kOther = kRamBase + 0x30000;
  poke(rig, root + 8 * 2, pointer(level1)); // 0x80000000..: through level 1 and 0
  poke(rig, level1, pointer(level0));
  poke(rig, level0 + 8 * 0x20, leaf(kOther, kR | kW)); // kAddress's page -> kOther
  poke(rig, kAddress, 1);
  poke(rig, kOther + 0x10, uint64_t{1} << 32);
  rig.put(kHandler, kSkippingHandler);
  rig.put(kCode, {
      ld(6, 5, 0),                                  // 0x00 the site
      still_base ? addi(0, 0, 0) : xor_(5, 5, 17),  // 0x04 x17 = 0
      add(10, 10, 6),                               // 0x08
      addi(11, 11, 1),                              // 0x0c
      bltu(11, 12, -0x10),                          // 0x10 -> 0x00
      addi(11, 0, 0),                               // 0x14
      csrrs(16, csr::kMstatus, 0),                  // 0x18
      xor_(16, 16, 13),                             // 0x1c MPRV flipped
      csrrw(0, csr::kMstatus, 16),                  // 0x20
      jal(0, -0x24),                                // 0x24 -> 0x00
  });
  rig.hart.reset(kCode);
  rig.hart.set_csr(csr::kMtvec, kHandler);
  rig.hart.set_csr(csr::kSatp, (8ull << 60) | (root >> 12));
  rig.hart.set_csr(csr::kMstatus, uint64_t{1} << csr::mstatus::kMppShift); // MPP = S
  rig.hart.set_x(5, kAddress);
  rig.hart.set_x(12, 50);
  rig.hart.set_x(13, csr::mstatus::kMprv);
}
// After put_mprv_flipping_loads ran: no trap, and many loads through each view.
inline void expect_both_views_read(const machine::Hart& h) {
  EXPECT_EQ(h.x(29), 0u);
  EXPECT_GT(h.x(10) >> 32, 10u * 50);        // through the translation
  EXPECT_GT(h.x(10) & 0xffffffff, 10u * 50); // through M's own view
}

} // namespace nimbus::test::jit_trio
