// Snapshots of harts and board devices: a restored copy is indistinguishable from the original.
#include <gtest/gtest.h>

#include "hart_test_support.hpp"
#include "machine/board.hpp"

namespace nimbus::test {
namespace {

using machine::snapshot::FormatError;
using machine::snapshot::Reader;
using machine::snapshot::Section;
using machine::snapshot::Writer;
namespace csr = riscv::csr;

class HartStateTest : public HartTest {
protected:
  machine::ReservationSet other_reservations;
  machine::Hart copy{0, bus, clock, other_reservations};

  void expect_same_state(const machine::Hart& a, const machine::Hart& b) {
    for (unsigned r = 0; r < 32; ++r) {
      EXPECT_EQ(a.x(r), b.x(r)) << "x" << r;
      EXPECT_EQ(a.f(r), b.f(r)) << "f" << r;
    }
    EXPECT_EQ(a.pc(), b.pc());
    EXPECT_EQ(a.privilege(), b.privilege());
    EXPECT_EQ(a.virtualization(), b.virtualization());
    EXPECT_EQ(a.waiting(), b.waiting());
    for (unsigned n = 0; n < 4096; ++n) EXPECT_EQ(a.csr(static_cast<uint16_t>(n)), b.csr(static_cast<uint16_t>(n))) << "CSR 0x" << std::hex << n;
  }
};

TEST_F(HartStateTest, RestoredHartHasEveryRegisterAndContinuesIdentically) {
  // x5 = x5 * 31 + x6 for x6 = 1000 .. 1, then EBREAK.
  emit({as::addi(5, 0, 0), as::addi(6, 0, 1000), as::addi(7, 0, 31), as::mul(5, 5, 7), as::add(5, 5, 6),
        as::addi(6, 6, -1), as::bne(6, 0, -12), as::ebreak()});
  // CSRs of every group, with values that stay as written.
  const std::pair<uint16_t, uint64_t> values[] = {
      {csr::kMscratch, 0x1111}, {csr::kSscratch, 0x2222}, {csr::kSepc, 0x3330}, {csr::kStval, 0x4444},
      {csr::kScause, 5}, {csr::kMedeleg, 0xb1ff}, {csr::kMideleg, 0x222}, {csr::kMie, 0xaaa},
      {csr::kSatp, (uint64_t{8} << 60) | 0x12345}, {csr::kStimecmp, 0x123456789}, {csr::kMenvcfg, csr::menvcfg::kStce},
      {csr::kMcounteren, 7}, {csr::kScounteren, 5}, {csr::kHstatus, 0x200000000ull}, {csr::kHedeleg, 0x100},
      {csr::kHgatp, (uint64_t{8} << 60) | 0x777}, {csr::kVsatp, (uint64_t{8} << 60) | 0x999},
      {csr::kVsscratch, 0xabc}, {csr::kVsepc, 0x1000}, {csr::kVstimecmp, 0x55}, {csr::kHtimedelta, 0x99},
      {csr::kPmpaddr0 + 3, 0x20000000}, {csr::kPmpcfg0, 0x1f000000}, {csr::kFcsr, 0x65}};
  for (const auto& [n, v] : values) hart.set_csr(n, v);
  for (unsigned r = 0; r < 32; ++r) hart.set_f(r, 0x4000000000000000ull + r);
  hart.run(300);
  ASSERT_NE(hart.pc(), kMachineTrap) << "the loop must still be running";

  Writer out;
  hart.save_state(out);
  Section section{machine::snapshot::make_tag("HART"), 0, out.take()};
  Reader in(section);
  copy.restore_state(in);
  expect_same_state(hart, copy);
  for (const auto& [n, v] : values) EXPECT_EQ(copy.csr(n), hart.csr(n)) << "CSR 0x" << std::hex << n;

  // Both run on to the end and agree.
  for (int i = 0; i < 200 && hart.pc() != kMachineTrap; ++i) hart.run(64);
  for (int i = 0; i < 200 && copy.pc() != kMachineTrap; ++i) copy.run(64);
  EXPECT_EQ(hart.pc(), kMachineTrap);
  expect_same_state(hart, copy);
}

TEST_F(HartStateTest, RefusesAnotherHartsStateAndTruncation) {
  machine::Hart other{1, bus, clock, reservations};
  Writer out;
  hart.save_state(out);
  Section section{machine::snapshot::make_tag("HART"), 0, out.take()};
  Reader in(section);
  EXPECT_THROW(other.restore_state(in), FormatError);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{100}, section.payload.size() - 1}) {
    Section truncated = section;
    truncated.payload.resize(cut);
    Reader r(truncated);
    EXPECT_THROW(copy.restore_state(r), FormatError) << cut;
  }
}

uint64_t bus_read(machine::Bus& bus, uint64_t paddr, unsigned size = 4) {
  uint64_t v = 0;
  EXPECT_TRUE(bus.read(paddr, size, v));
  return v;
}

TEST(BoardState, DevicesRestoreRegistersFifosAndInterrupts) {
  constexpr uint64_t kRamSize = 16ull << 20;
  machine::Clock clock{true};
  machine::BoardConfig config;
  config.ram_size = kRamSize;
  config.harts = 1;
  machine::Bus bus_a{machine::Board::kRamBase, kRamSize}, bus_b{machine::Board::kRamBase, kRamSize};
  machine::InterruptPins pins_a, pins_b;
  machine::Board a{config, bus_a, clock, {&pins_a}};
  machine::Board b{config, bus_b, clock, {&pins_b}};
  using machine::Plic;
  using machine::Uart16550;
  using machine::Clint;
  // UART: FIFOs on, RX interrupt enabled, three bytes waiting.
  ASSERT_TRUE(bus_a.write(Uart16550::kBase + Uart16550::kIirFcr, 1, Uart16550::kFcrEnable));
  ASSERT_TRUE(bus_a.write(Uart16550::kBase + Uart16550::kIer, 1, Uart16550::kIerRxData));
  ASSERT_TRUE(bus_a.write(Uart16550::kBase + Uart16550::kScr, 1, 0x5a));
  for (uint8_t c : {'a', 'b', 'c'}) a.uart().push_input(c);
  // PLIC: the UART's source enabled for the S context with priority 3.
  ASSERT_TRUE(bus_a.write(Plic::kBase + 4 * Uart16550::kIrq, 4, 3));
  ASSERT_TRUE(bus_a.write(Plic::kBase + Plic::kEnableOffset + Plic::kEnableStride, 4, 1u << Uart16550::kIrq));
  // CLINT: a timer comparator and a software interrupt.
  ASSERT_TRUE(bus_a.write(Clint::kBase + Clint::kMtimecmpOffset, 8, 0x123456));
  ASSERT_TRUE(bus_a.write(Clint::kBase + Clint::kMsipOffset, 4, 1));
  ASSERT_NE(pins_a.sample() & (uint64_t{1} << Plic::kSeipBit), 0u) << "the UART interrupt reaches SEIP";

  std::vector<Section> sections;
  a.save_state(sections);
  b.restore_state(sections);
  EXPECT_EQ(pins_b.sample() & ~(uint64_t{1} << Clint::kMtipBit), pins_a.sample() & ~(uint64_t{1} << Clint::kMtipBit));
  for (uint64_t off : {0x1, 0x2, 0x3, 0x4, 0x5, 0x7})
    EXPECT_EQ(bus_read(bus_b, Uart16550::kBase + off, 1), bus_read(bus_a, Uart16550::kBase + off, 1)) << off;
  EXPECT_EQ(bus_read(bus_b, Clint::kBase + Clint::kMtimecmpOffset, 8), 0x123456u);
  EXPECT_EQ(bus_read(bus_b, Clint::kBase + Clint::kMsipOffset), 1u);
  EXPECT_EQ(bus_read(bus_b, Plic::kBase + 4 * Uart16550::kIrq), 3u);
  // Claim on both: the same source.
  const uint64_t claim = Plic::kBase + Plic::kContextOffset + Plic::kContextStride + 4;
  EXPECT_EQ(bus_read(bus_b, claim), Uart16550::kIrq);
  EXPECT_EQ(bus_read(bus_a, claim), Uart16550::kIrq);
  // The receive FIFO comes out in order.
  for (char c : {'a', 'b', 'c'}) {
    EXPECT_EQ(bus_read(bus_a, Uart16550::kBase, 1), static_cast<uint64_t>(c));
    EXPECT_EQ(bus_read(bus_b, Uart16550::kBase, 1), static_cast<uint64_t>(c));
  }
}

TEST(BoardState, MissingOrCorruptDeviceSectionsAreRefused) {
  constexpr uint64_t kRamSize = 16ull << 20;
  machine::Clock clock{true};
  machine::BoardConfig config;
  config.ram_size = kRamSize;
  machine::Bus bus{machine::Board::kRamBase, kRamSize};
  machine::InterruptPins pins;
  machine::Board board{config, bus, clock, {&pins}};
  std::vector<Section> sections;
  board.save_state(sections);
  auto missing = sections;
  missing.erase(missing.begin());
  EXPECT_THROW(board.restore_state(missing), FormatError);
  for (size_t i = 0; i < sections.size(); ++i) {
    auto cut = sections;
    cut[i].payload.pop_back();
    EXPECT_THROW(board.restore_state(cut), FormatError) << i;
  }
  auto extra = sections;
  extra.push_back(Section{machine::snapshot::make_tag("VIRT"), 7, {}});
  EXPECT_THROW(board.restore_state(extra), FormatError);
}

} // namespace
} // namespace nimbus::test
