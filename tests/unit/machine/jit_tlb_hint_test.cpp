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



// One site loads 8 bytes at RAM's first byte and at 4 bytes below it in turn: the second access
// crosses from an unmapped page into the page the site's hint names, and must fault as in the
// interpreter (a hint checked against the last byte's page instead of the first's would take
// the RAM page's entry and read host memory below guest RAM).
TEST(JitTlbHint, LoadCrossingIntoTheHintedPageStillFaults) {
  Trio trio([](Rig& rig) {
    rig.put(kHandler, kSkippingHandler);
    rig.put(kCode + 0x100, {
        xor_(6, 6, 7),            // 0x00 0 and -4 in turn
        add(8, 5, 6),             // 0x04 the address, computed: a hinted site
        ld(9, 8, 0),              // 0x08 RAM's first 8 bytes, or a crossing access that faults
        add(10, 10, 9),           // 0x0c
        addi(11, 11, 1),          // 0x10
        bltu(11, 12, -0x14),      // 0x14 -> 0x00
        addi(11, 0, 0),           // 0x18
        jal(0, -0x1c),            // 0x1c -> 0x00
    });
    rig.hart.reset(kCode + 0x100);
    rig.hart.set_csr(csr::kMtvec, kHandler);
    rig.hart.set_x(5, kRamBase);
    rig.hart.set_x(7, static_cast<uint64_t>(-4));
    rig.hart.set_x(12, 1000);
  });
  trio.run(40, kBudgets);
  const machine::Hart& h = trio.units.hart;
  EXPECT_GT(h.x(29), 100u);                 // crossing loads faulted
  EXPECT_EQ(h.csr(csr::kMcause), 5u);       // load access fault
  EXPECT_EQ(h.csr(csr::kMtval), kRamBase - 4);
  EXPECT_GT(h.jit_translated_blocks(), 0u);
}

} // namespace
} // namespace nimbus::test
