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

} // namespace nimbus::test::jit_trio
