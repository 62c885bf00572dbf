// SBI HSM hart_start through the board's default firmware (Debian's OpenSBI 1.1) under the worst
// interleaving a parallel machine can produce: the calling hart stopped after any one of its
// instructions while the started hart runs on for a long slice, as when the host deschedules one
// hart's thread (docs/smp.md). OpenSBI 1.1 publishes START_PENDING before it writes the start
// address and argument; a target spinning in its wait loop could then leave with the stale ones
// (Linux's primary entry: a second kernel boot over the running one, the hang after OpenSBI's
// banner). The board applies the upstream ordering when it loads that firmware
// (firmware_errata.hpp); the test runs the firmware both ways.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "hart_assembler.hpp"
#include "machine/board.hpp"
#include "machine/bus.hpp"
#include "machine/hart.hpp"
#include "machine/machine.hpp"

namespace nimbus::test {
namespace {

using namespace as;

constexpr uint32_t a6 = 16, a7 = 17;
constexpr uint64_t kPayload = 0x80200000; // where the board loads a raw kernel after OpenSBI
constexpr uint64_t kResults = kPayload + 0x800;
constexpr uint64_t kOpaque = 0x123;

class NullConsole final : public machine::ConsoleBackend {
public:
  void write(uint8_t) override {}
  std::optional<uint8_t> read() override { return std::nullopt; }
  void wait_for_input(std::chrono::nanoseconds) override {}
};

// The S-mode payload OpenSBI jumps to. The boot hart (a0 = 0) starts hart 1 at `secondary` with
// a1 = kOpaque and notes hart_start's error code; `secondary` notes a0 and a1; any hart that
// enters the primary entry with a0 != 0 came through a stale start address.
std::vector<uint8_t> payload() {
  const std::vector<uint32_t> code = {
      bne(a0, zero, 0x48),        // 0x00 not the boot hart: stale entry
      lui(a7, 0x485000),          // 0x04 a7 = 0x48534d: HSM
      addi(a7, a7, 0x34d),        // 0x08
      addi(a6, zero, 0),          // 0x0c HART_START
      addi(a0, zero, 1),          // 0x10 hart 1
      auipc(a1, 0),               // 0x14
      addi(a1, a1, 0x1c),         // 0x18 a1 = secondary
      addi(a2, zero, kOpaque),    // 0x1c
      ecall(),                    // 0x20
      auipc(t0, 0),               // 0x24
      sd(a0, t0, 0x800 - 0x24),   // 0x28 results + 0: error code
      jal(zero, 0x60 - 0x2c),     // 0x2c park
      auipc(t0, 0),               // 0x30 secondary:
      sd(a0, t0, 0x808 - 0x30),   // 0x34 results + 8: hart id
      sd(a1, t0, 0x810 - 0x30),   // 0x38 results + 16: opaque
      addi(t1, zero, 1),          // 0x3c
      sd(t1, t0, 0x818 - 0x30),   // 0x40 results + 24: entered secondary
      jal(zero, 0x60 - 0x44),     // 0x44 park
      auipc(t0, 0),               // 0x48 stale:
      sd(a0, t0, 0x820 - 0x48),   // 0x4c results + 32: hart id
      addi(t1, zero, 1),          // 0x50
      sd(t1, t0, 0x828 - 0x48),   // 0x54 results + 40: entered the primary entry
      jal(zero, 0x60 - 0x58),     // 0x58 park
      addi(zero, zero, 0),        // 0x5c
      wfi(),                      // 0x60 park:
      jal(zero, -4),              // 0x64
  };
  std::vector<uint8_t> bytes(0x830, 0);
  for (size_t i = 0; i < code.size(); ++i)
    for (unsigned b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<uint8_t>(code[i] >> (8 * b));
  for (unsigned b = 0; b < 8; ++b) bytes[0x800 + b] = 0xff; // error code: not returned yet
  return bytes;
}

uint64_t ram64(machine::Machine& m, uint64_t address) {
  uint64_t value = 0;
  EXPECT_TRUE(m.bus().copy_from_ram(address, &value, 8));
  return value;
}

// One instruction of `hart`, interpreted. `in_lrsc` says whether it is between an LR and its
// SC: another hart running there would drop the reservation (interleaved harts lose theirs on a
// switch), which parallel harts do not, so the adversary leaves that pair alone.
void step(machine::Hart& hart, bool& in_lrsc, unsigned& lrsc_steps) {
  uint32_t bits = 0;
  const bool fetched = hart.fetch_instruction(hart.pc(), bits);
  const bool amo = fetched && (bits & 0x7f) == 0x2f;
  hart.set_single_step(true);
  hart.run(1);
  hart.set_single_step(false);
  if (amo && (bits >> 27) == 0x02) {
    in_lrsc = true;
    lrsc_steps = 0;
  } else if ((amo && (bits >> 27) == 0x03) || ++lrsc_steps > 16) {
    in_lrsc = false;
  }
}

// Parameter: the firmware as the board loads it (true), or as Debian ships it (false: the test
// then restores the file's bytes, and the race must show, or this test no longer exercises it).
class OpenSbiHartStartTest : public ::testing::TestWithParam<bool> {};

TEST_P(OpenSbiHartStartTest, StartedHartLeavesWithItsStartAddressWhateverTheInterleaving) {
  const bool fixed = GetParam();
  std::ifstream firmware(machine::Board::kDefaultOpenSbi, std::ios::binary);
  if (!firmware) GTEST_SKIP() << "Debian's opensbi is not installed";
  const std::vector<uint8_t> shipped((std::istreambuf_iterator<char>(firmware)), std::istreambuf_iterator<char>());
  const std::string path = ::testing::TempDir() + "nimbus_hsm_payload." + std::to_string(::getpid()) + ".bin";
  {
    const std::vector<uint8_t> bytes = payload();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  machine::MachineConfig config;
  config.ram_size = 64ull << 20;
  config.harts = 2;
  config.bios = "opensbi";
  config.kernel = path;
  config.jit = false;
  config.deterministic = true; // time stands still: nothing here depends on the host
  NullConsole console;
  machine::Machine m(config, console);
  std::remove(path.c_str());
  if (!fixed) {
    ASSERT_TRUE(m.bus().copy_to_ram(machine::Board::kRamBase, shipped.data(), shipped.size()));
  }
  machine::Hart& boot = m.hart(0);
  machine::Hart& other = m.hart(1);
  bool in_lrsc = false;
  unsigned lrsc_steps = 0;

  // Cold boot: hart 0 first (it wins OpenSBI's lottery), hart 1 in slices between, until OpenSBI
  // enters the payload on hart 0. Hart 1 ends up in OpenSBI's warm-boot wait for hart_start.
  for (unsigned i = 0; i < 3000 && boot.privilege() != 1; ++i) {
    for (unsigned n = 0; n < 20000 && boot.privilege() != 1; ++n) step(boot, in_lrsc, lrsc_steps);
    if (!in_lrsc) other.run(20000);
  }
  ASSERT_EQ(boot.privilege(), 1u) << "OpenSBI did not enter the payload; hart 0 at " << std::hex << boot.pc();
  ASSERT_EQ(boot.pc(), kPayload);
  for (unsigned i = 0; i < 20; ++i) other.run(20000); // well into its wait loop

  // The hart_start call, one instruction of hart 0 at a time, with a long slice of hart 1 after
  // each: if hart 1 can see START_PENDING before its start address is written, it leaves now.
  for (unsigned n = 0; n < 100000 && !(boot.privilege() == 1 && boot.pc() == kPayload + 0x24); ++n) {
    step(boot, in_lrsc, lrsc_steps);
    if (!in_lrsc) other.run(20000);
  }
  ASSERT_EQ(boot.pc(), kPayload + 0x24) << "hart_start did not return";
  EXPECT_EQ(boot.x(a0), 0u) << "hart_start failed";

  for (unsigned i = 0; i < 100 && ram64(m, kResults + 24) == 0 && ram64(m, kResults + 40) == 0; ++i) {
    boot.run(20000);
    other.run(20000);
  }
  if (!fixed) { // OpenSBI 1.1's race: hart 1 left with the boot hart's start address
    EXPECT_EQ(ram64(m, kResults + 40), 1u) << "the race did not show with the firmware as shipped";
    EXPECT_EQ(ram64(m, kResults + 32), 1u);
    return;
  }
  EXPECT_EQ(ram64(m, kResults + 40), 0u) << "hart " << ram64(m, kResults + 32)
                                         << " entered the payload's primary entry: a stale start address";
  ASSERT_EQ(ram64(m, kResults + 24), 1u) << "hart 1 never reached its start address";
  EXPECT_EQ(ram64(m, kResults + 8), 1u);
  EXPECT_EQ(ram64(m, kResults + 16), kOpaque);
}

INSTANTIATE_TEST_SUITE_P(Firmware, OpenSbiHartStartTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "AsLoaded" : "AsShipped"; });

} // namespace
} // namespace nimbus::test
