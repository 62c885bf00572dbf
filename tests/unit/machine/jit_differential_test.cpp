// Differential test of the JIT tier against the interpreter (docs/jit.md): random instruction
// streams run on two identical harts, one interpreting and one translating every block on its
// first run, and all architectural state is compared after every run() step (budget 1 stops
// after one block; larger budgets let the JIT chain blocks).
//
// The streams mix every translated op (RV64I + M ALU, LUI/AUIPC, branches, JAL/JALR, loads and
// stores of every width) with loads and stores across page boundaries and into unmapped memory,
// misaligned AMOs, illegal instructions, ECALL/EBREAK, counter reads, FP ops (interpreter
// fallbacks; FP loads/stores inline while mstatus.FS is Dirty: some streams start it Initial or Off) and stores into the program itself. A trap lands in an M-mode handler that skips
// the faulting instruction, so a stream goes on after each trap. Runs in M-mode (bare) and in
// S-mode under Sv39 with invalid and read-only pages (page faults).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "hart_assembler.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {
namespace {

namespace csr = riscv::csr;

constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kRamSize = 1ull << 20;
constexpr uint64_t kCode = kRamBase;            // the random program
constexpr uint64_t kHandler = kRamBase + 0x7000; // M-mode trap handler: skip the instruction
constexpr uint64_t kData = kRamBase + 0x10000;   // four data pages
constexpr uint64_t kTables = kRamBase + 0x20000; // Sv39 tables
constexpr uint64_t kDataVa = 0x40000000;         // S-mode: data pages 0, 1 RW; 2 unmapped; 3 read-only
constexpr unsigned kProgramLength = 160;         // instructions
constexpr uint32_t kUnmapped = 0x1000;           // no device there: access faults

// Registers with fixed roles: x3 is the trap handler's, x4 holds kCode (JALR base), x5-x7 point
// at data near page boundaries. Random instructions never write them.
bool reserved(uint32_t r) { return r >= 3 && r <= 7; }

struct Rig {
  machine::Bus bus{kRamBase, kRamSize};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  machine::Hart hart{0, bus, clock, reservations};
};

class Generator {
public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  uint32_t dest() {
    if (pick(20) == 0) return 0;
    for (;;) {
      const uint32_t r = 1 + pick(31);
      if (!reserved(r)) return r;
    }
  }
  uint32_t source() { return pick(32); }
  uint64_t value() {
    static constexpr uint64_t kEdges[] = {0, 1, ~0ull, 0x8000000000000000ull, 0x7fffffffffffffffull,
                                          0x80000000ull, 0xffffffff80000000ull, 0x7fffffff, 31, 32, 63, 64};
    if (pick(3) == 0) return kEdges[pick(sizeof(kEdges) / sizeof(kEdges[0]))];
    if (pick(2) == 0) return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(rng_())));
    return rng_() * 0x9e3779b97f4a7c15ull;
  }
  int32_t imm12() { return static_cast<int32_t>(pick(4096)) - 2048; }

  // One instruction at index `i` of the program.
  uint32_t instruction(unsigned i) {
    using namespace as;
    const uint32_t kind = pick(100);
    if (kind < 22) { // register-register
      const uint32_t rd = dest(), a = source(), b = source();
      switch (pick(23)) {
      case 0: return add(rd, a, b);
      case 1: return sub(rd, a, b);
      case 2: return sll(rd, a, b);
      case 3: return slt(rd, a, b);
      case 4: return sltu(rd, a, b);
      case 5: return xor_(rd, a, b);
      case 6: return srl(rd, a, b);
      case 7: return sra(rd, a, b);
      case 8: return or_(rd, a, b);
      case 9: return and_(rd, a, b);
      case 10: return addw(rd, a, b);
      case 11: return subw(rd, a, b);
      case 12: return sllw(rd, a, b);
      case 13: return srlw(rd, a, b);
      case 14: return sraw(rd, a, b);
      case 15: return mul(rd, a, b);
      case 16: return mulh(rd, a, b);
      case 17: return mulhsu(rd, a, b);
      case 18: return mulhu(rd, a, b);
      case 19: return pick(2) ? div(rd, a, b) : divu(rd, a, b);
      case 20: return pick(2) ? rem(rd, a, b) : remu(rd, a, b);
      case 21: return pick(2) ? mulw(rd, a, b) : divw(rd, a, b);
      default: return pick(3) == 0 ? divuw(rd, a, b) : pick(2) ? remw(rd, a, b) : remuw(rd, a, b);
      }
    }
    if (kind < 40) { // register-immediate
      const uint32_t rd = dest(), a = source();
      switch (pick(13)) {
      case 0: return addi(rd, a, imm12());
      case 1: return slti(rd, a, imm12());
      case 2: return sltiu(rd, a, imm12());
      case 3: return xori(rd, a, imm12());
      case 4: return ori(rd, a, imm12());
      case 5: return andi(rd, a, imm12());
      case 6: return slli(rd, a, static_cast<int32_t>(pick(64)));
      case 7: return srli(rd, a, static_cast<int32_t>(pick(64)));
      case 8: return srai(rd, a, static_cast<int32_t>(pick(64)));
      case 9: return addiw(rd, a, imm12());
      case 10: return slliw(rd, a, static_cast<int32_t>(pick(32)));
      case 11: return srliw(rd, a, static_cast<int32_t>(pick(32)));
      default: return sraiw(rd, a, static_cast<int32_t>(pick(32)));
      }
    }
    if (kind < 44) return pick(2) ? lui(dest(), static_cast<int32_t>(rng_() & 0xfffff000u)) : auipc(dest(), static_cast<int32_t>(rng_() & 0xfffff000u));
    if (kind < 70) { // memory: base x5-x7 near page boundaries, small offsets, every width
      const uint32_t base = 5 + pick(3);
      const int32_t offset = static_cast<int32_t>(pick(24)) - 12;
      if (pick(2) == 0) {
        const uint32_t rd = dest();
        switch (pick(7)) {
        case 0: return lb(rd, base, offset);
        case 1: return lh(rd, base, offset);
        case 2: return lw(rd, base, offset);
        case 3: return ld(rd, base, offset);
        case 4: return lbu(rd, base, offset);
        case 5: return lhu(rd, base, offset);
        default: return lwu(rd, base, offset);
        }
      }
      const uint32_t value = source();
      switch (pick(4)) {
      case 0: return sb(value, base, offset);
      case 1: return sh(value, base, offset);
      case 2: return sw(value, base, offset);
      default: return sd(value, base, offset);
      }
    }
    if (kind < 80) { // branches: mostly forward, sometimes back (loops end by budget)
      const int32_t offset = pick(5) == 0 ? -4 * static_cast<int32_t>(pick(8) + 1) : 4 * static_cast<int32_t>(pick(8) + 1);
      const uint32_t a = source(), b = source();
      switch (pick(6)) {
      case 0: return beq(a, b, offset);
      case 1: return bne(a, b, offset);
      case 2: return blt(a, b, offset);
      case 3: return bge(a, b, offset);
      case 4: return bltu(a, b, offset);
      default: return bgeu(a, b, offset);
      }
    }
    if (kind < 84) return jal(pick(2) ? 1 : dest(), 4 * static_cast<int32_t>(pick(6) + 1));
    if (kind < 87) return jalr(pick(2) ? 1 : dest(), 4, 4 * static_cast<int32_t>(pick(kProgramLength))); // x4 = kCode
    // Interpreter fallbacks and traps.
    switch (pick(16)) {
    case 12: return fld(pick(32), 5 + pick(3), static_cast<int32_t>(pick(24)) - 12);
    case 13: return flw(pick(32), 5 + pick(3), static_cast<int32_t>(pick(24)) - 12);
    case 14: return fsd(pick(32), 5 + pick(3), static_cast<int32_t>(pick(24)) - 12);
    case 15: return fsw(pick(32), 5 + pick(3), static_cast<int32_t>(pick(24)) - 12);
    case 0: return csrrs(dest(), pick(2) ? csr::kInstret : csr::kCycle, 0);
    case 1: return fmv_d_x(pick(32), source());
    case 2: return fadd_d(pick(32), pick(32), pick(32));
    case 3: return fmv_x_w(dest(), pick(32));
    case 4: return amo(pick(2) ? kAmoAdd : kAmoSwap, pick(2), dest(), 5 + pick(3), source()); // may be misaligned
    case 5: return 0; // illegal
    case 6: return ecall();
    case 7: return ebreak();
    case 8: return sd(source(), 4, 8 * static_cast<int32_t>(pick(kProgramLength / 2))); // into the program
    case 9: return fence_i();
    case 10: return fcvt_w_d(dest(), pick(32), pick(5));
    default: return sw(source(), 4, 4 * static_cast<int32_t>(i + 1 + pick(4))); // just ahead: self-modifying
    }
  }

  std::mt19937_64 rng_;
};

void put32(machine::Bus& bus, uint64_t address, uint32_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 4)); }
void put64(machine::Bus& bus, uint64_t address, uint64_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 8)); }

// Sv39: VA 0x80000000 gigapage identity (code, handler), VA kDataVa -> four data pages.
uint64_t build_page_tables(machine::Bus& bus) {
  constexpr uint64_t kV = 1, kR = 2, kW = 4, kX = 8, kA = 64, kD = 128;
  const uint64_t root = kTables, level1 = kTables + 0x1000, level0 = kTables + 0x2000;
  put64(bus, root + 8 * 2, ((kRamBase >> 12) << 10) | kV | kR | kW | kX | kA | kD);
  put64(bus, root + 8 * 1, ((level1 >> 12) << 10) | kV);
  put64(bus, level1 + 0, ((level0 >> 12) << 10) | kV);
  put64(bus, level0 + 0, (((kData + 0x0000) >> 12) << 10) | kV | kR | kW | kA | kD);
  put64(bus, level0 + 8, (((kData + 0x1000) >> 12) << 10) | kV | kR | kW | kA); // D clear: first store sets it
  // page 2 unmapped (PTE 0)
  put64(bus, level0 + 24, (((kData + 0x3000) >> 12) << 10) | kV | kR | kA); // read-only
  return (8ull << 60) | (root >> 12);
}

void set_up(Rig& rig, const std::vector<uint32_t>& program, uint64_t seed, bool supervisor) {
  for (size_t i = 0; i < program.size(); ++i) put32(rig.bus, kCode + 4 * i, program[i]);
  put32(rig.bus, kCode + 4 * program.size(), as::jal(0, 0)); // the end: a block looping on itself
  const uint32_t handler[] = {as::csrrs(3, csr::kMepc, 0), as::addi(3, 3, 4), as::csrrw(0, csr::kMepc, 3), as::mret()};
  for (unsigned i = 0; i < 4; ++i) put32(rig.bus, kHandler + 4 * i, handler[i]);
  std::mt19937_64 data(seed ^ 0x5555);
  for (uint64_t a = kData; a < kData + 0x4000; a += 8) put64(rig.bus, a, data());
  machine::Hart& h = rig.hart;
  h.reset(kCode);
  h.set_csr(csr::kMtvec, kHandler);
  h.set_csr(csr::kMcounteren, ~0ull);
  // FP on (Dirty) in most streams; Initial (the first FP write makes it Dirty) or Off (FP ops
  // are illegal) in some: the JIT's inline FP loads/stores run only while it is Dirty.
  const uint64_t fs = seed % 5 == 0 ? 0 : seed % 5 == 1 ? (1ull << 13) : csr::mstatus::kFs;
  h.set_csr(csr::kMstatus, h.csr(csr::kMstatus) | fs);
  Generator values(seed ^ 0xabcdef);
  for (unsigned r = 1; r < 32; ++r) h.set_x(r, values.value());
  h.set_x(4, kCode);
  const uint64_t data_base = supervisor ? kDataVa : kData;
  h.set_x(5, data_base + 0x1000);       // page 0 | page 1
  h.set_x(6, data_base + 0x2000);       // page 1 | page 2 (unmapped in S-mode)
  h.set_x(7, supervisor ? kDataVa + 0x3ff8 : kUnmapped); // read-only page end / no memory
  if (supervisor) {
    h.set_csr(csr::kSatp, build_page_tables(rig.bus));
    h.set_privilege(1);
  }
}

std::string compare(const machine::Hart& a, const machine::Hart& b, machine::Bus& bus_a, machine::Bus& bus_b) {
  std::string diff;
  const auto check = [&diff](const std::string& what, uint64_t x, uint64_t y) {
    if (x != y) diff += what + ": interpreter " + std::to_string(x) + " jit " + std::to_string(y) + "\n";
  };
  check("pc", a.pc(), b.pc());
  for (unsigned r = 1; r < 32; ++r) check("x" + std::to_string(r), a.x(r), b.x(r));
  for (unsigned r = 0; r < 32; ++r) check("f" + std::to_string(r), a.f(r), b.f(r));
  check("instret", a.instret(), b.instret());
  check("privilege", a.privilege(), b.privilege());
  for (const uint16_t c : {csr::kMstatus, csr::kMepc, csr::kMcause, csr::kMtval, csr::kMcycle, csr::kMinstret,
                           csr::kFcsr, csr::kMtvec, csr::kSatp})
    check("csr " + std::to_string(c), a.csr(c), b.csr(c));
  std::vector<uint8_t> ma(0x21000), mb(0x21000);
  if (!bus_a.copy_from_ram(kRamBase, ma.data(), ma.size()) || !bus_b.copy_from_ram(kRamBase, mb.data(), mb.size()))
    return "memory unreadable";
  for (size_t i = 0; i < ma.size(); ++i)
    if (ma[i] != mb[i]) {
      diff += "memory at " + std::to_string(kRamBase + i) + " differs\n";
      break;
    }
  return diff;
}

// Runs `programs` random streams; returns the number of blocks the JIT translated.
uint64_t run_streams(uint64_t first_seed, unsigned programs, bool supervisor) {
  uint64_t translated = 0;
  if (const char* only = getenv("JIT_SEED")) { // reproduce one stream
    first_seed = std::strtoull(only, nullptr, 0);
    programs = 1;
  }
  for (unsigned p = 0; p < programs; ++p) {
    const uint64_t seed = first_seed + p;
    Generator gen(seed);
    std::vector<uint32_t> program(kProgramLength);
    for (unsigned i = 0; i < kProgramLength; ++i) program[i] = gen.instruction(i);
    auto interp = std::make_unique<Rig>();
    auto jit = std::make_unique<Rig>();
    set_up(*interp, program, seed, supervisor);
    set_up(*jit, program, seed, supervisor);
    jit->hart.set_jit(true, 1 + gen.pick(3)); // translate at the 1st, 2nd or 3rd run of a block
    for (unsigned step = 0; step < 60; ++step) {
      const uint64_t budget = gen.pick(3) == 0 ? 1 : 1 + gen.pick(200);
      if (getenv("JIT_TRACE")) fprintf(stderr, "seed %lu step %u budget %lu pc %lx\n", (unsigned long)seed, step, (unsigned long)budget, (unsigned long)jit->hart.pc());
      const uint64_t ra = interp->hart.run(budget);
      const uint64_t rb = jit->hart.run(budget);
      const std::string diff = compare(interp->hart, jit->hart, interp->bus, jit->bus);
      if (ra != rb || !diff.empty()) {
        ADD_FAILURE() << "seed " << seed << (supervisor ? " (S-mode, Sv39)" : " (M-mode)") << " step " << step
                      << " budget " << budget << ": retired " << ra << " vs " << rb << "\n"
                      << diff;
        return translated;
      }
    }
    translated += jit->hart.jit_translated_blocks();
  }
  return translated;
}

TEST(JitDifferential, RandomStreamsInMachineMode) {
  const uint64_t translated = run_streams(1000, 150, false);
  EXPECT_GT(translated, 150u); // the JIT really ran
}

TEST(JitDifferential, RandomStreamsInSupervisorModeWithPageFaults) {
  const uint64_t translated = run_streams(5000, 150, true);
  EXPECT_GT(translated, 150u);
}

// A loop that runs long enough to chain blocks many times over, with loads, stores and a
// counter read inside: the JIT must retire exactly what the interpreter retires.
TEST(JitDifferential, ChainedLoopMatchesInterpreter) {
  using namespace as;
  const std::vector<uint32_t> program = {
      addi(10, 0, 0), addi(11, 0, 1000),
      // loop:
      ld(12, 5, -8), add(10, 10, 12), sd(10, 5, 0), addi(11, 11, -1), bne(11, 0, 8), jal(0, 12),
      csrrs(13, csr::kInstret, 0), jal(0, -28), ebreak()};
  auto interp = std::make_unique<Rig>();
  auto jit = std::make_unique<Rig>();
  set_up(*interp, program, 7, false);
  set_up(*jit, program, 7, false);
  jit->hart.set_jit(true, 1);
  for (unsigned step = 0; step < 20; ++step) {
    EXPECT_EQ(interp->hart.run(1000), jit->hart.run(1000));
    ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "") << "step " << step;
  }
  EXPECT_GT(jit->hart.jit_translated_blocks(), 2u);
}

} // namespace
} // namespace nimbus::test
