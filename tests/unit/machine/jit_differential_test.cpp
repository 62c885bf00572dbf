// Differential test of the JIT tier against the interpreter (docs/jit.md): random instruction
// streams run on two identical harts, one interpreting and one translating every block on its
// first run, and all architectural state is compared after every run() step (budget 1 stops
// after one block; larger budgets let the JIT chain blocks).
//
// The streams mix every translated op (RV64I + M ALU, LUI/AUIPC, branches, JAL/JALR, loads and
// stores of every width) with loads and stores across page boundaries and into unmapped memory,
// misaligned AMOs, illegal instructions, ECALL/EBREAK, counter reads, FP ops (double-precision
// arithmetic, compares, conversions and moves on edge values, with the SSE fast path's conditions
// (fflags.NX, frm) set or not; FP loads/stores inline while mstatus.FS is Dirty: some streams
// start it Initial or Off) and stores into the program itself. A trap lands in an M-mode handler that skips
// the faulting instruction, so a stream goes on after each trap. Runs in M-mode (bare), in
// S-mode under Sv39 with invalid and read-only pages (page faults), and in the two hart set-ups
// the VMM runs guests in (docs/jit.md, "Under the VMM"):
//   - hw mode: VS-mode under two-stage translation (vsatp Sv39, hgatp Sv39x4 with a page the
//     G-stage does not map), the guest's own exceptions delegated to a VS handler, everything
//     else (guest-page faults, ECALL from VS, virtual instructions) a VMM exit;
//   - trap mode: U-mode over Sv39 "shadow" tables with VMM exits for every trap, and a VMM that
//     between runs switches the shadow root (switch_user_root), flushes translations or store
//     entries (dirty logging) and writes the program through the bus (as DMA or a restore would).
// A VMM exit is compared field by field, then both harts skip the trapping instruction.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
constexpr uint64_t kTables = kRamBase + 0x20000; // Sv39 tables (a second set, root at +0x3000)
constexpr uint64_t kGStage = kRamBase + 0x30000; // Sv39x4 tables (16 KiB root), hw mode
constexpr uint64_t kGuestHandler = kRamBase + 0x7800; // hw mode: VS handler, skips the instruction
constexpr uint64_t kCompared = 0x36000;          // RAM compared after each step: all of the above
constexpr uint64_t kDataVa = 0x40000000;         // S-mode: data pages 0, 1 RW; 2 unmapped; 3 read-only
constexpr unsigned kProgramLength = 160;         // instructions
constexpr uint32_t kUnmapped = 0x1000;           // no device there: access faults

// Registers with fixed roles: x3 is the trap handler's, x4 holds kCode (JALR base), x5-x7 point
// at data near page boundaries. Random instructions never write them.
bool reserved(uint32_t r) { return r >= 3 && r <= 7; }

// The nine AMO operations (funct5), for the random streams and AmosMatchInterpreter.
constexpr uint32_t kAmoFunctions[] = {as::kAmoAdd, as::kAmoSwap, as::kAmoXor, as::kAmoOr, as::kAmoAnd,
                                      as::kAmoMin, as::kAmoMax, as::kAmoMinu, as::kAmoMaxu};

// Where a stream runs: the bare machine's M and S modes, or a hart as a VMM mode sets it up.
enum class Mode { machine, supervisor, guest, trapped };

const char* mode_name(Mode m) {
  return m == Mode::machine ? " (M-mode)" : m == Mode::supervisor ? " (S-mode, Sv39)" : m == Mode::guest ? " (VS-mode, two-stage, hw mode exits)" : " (U-mode shadow tables, trap mode exits)";
}

struct Rig {
  machine::Bus bus{kRamBase, kRamSize};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  machine::Hart hart{0, bus, clock, reservations};
};

class Generator {
public:
  // `narrow`: integer operands from x0 and x8-x11 only, so each is used often enough in a block to
  // live in a host register and rd = rs1, rd = rs2 and rs1 = rs2 are common (the JIT computes in
  // rd's host register and reads operands in place: aliasing must not clobber an operand).
  explicit Generator(uint64_t seed, bool narrow = false) : rng_(seed), narrow_(narrow) {}

  uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  uint32_t dest() {
    if (pick(20) == 0) return 0;
    if (narrow_) return 8 + pick(4);
    for (;;) {
      const uint32_t r = 2 + pick(30); // ra only from calls: a return's address is in the program
      if (!reserved(r)) return r;
    }
  }
  uint32_t source() {
    if (narrow_) return pick(6) == 0 ? 0 : 8 + pick(4);
    return pick(32);
  }
  uint64_t value() {
    static constexpr uint64_t kEdges[] = {0, 1, ~0ull, 0x8000000000000000ull, 0x7fffffffffffffffull,
                                          0x80000000ull, 0xffffffff80000000ull, 0x7fffffff, 31, 32, 63, 64};
    if (pick(3) == 0) return kEdges[pick(sizeof(kEdges) / sizeof(kEdges[0]))];
    if (pick(2) == 0) return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(rng_())));
    return rng_() * 0x9e3779b97f4a7c15ull;
  }
  int32_t imm12() { return static_cast<int32_t>(pick(4096)) - 2048; }
  // A double for an FP register: mostly moderate numbers (the JIT's SSE path), else the edges
  // it must leave to the interpreter (zeros, subnormals, the smallest normal, infinities, NaNs,
  // results that overflow or underflow).
  uint64_t fp_value() {
    static constexpr uint64_t kEdges[] = {0, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff8000000000000ull,
                                          0x0010000000000000ull, 0x0018000000000000ull, 0x000fffffffffffffull, 1,
                                          0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
                                          0x7ff0000000000001ull, 0x7fefffffffffffffull, 0x7e37e43c8800759cull,
                                          0x01a56e1fc2f8f359ull, 0x4340000000000000ull};
    if (pick(4) == 0) return kEdges[pick(sizeof(kEdges) / sizeof(kEdges[0]))];
    if (pick(3) == 0) { // a NaN-boxed single (single-precision ops read anything else as NaN)
      static constexpr uint32_t kSingleEdges[] = {0, 0x80000000, 0x00800000, 0x007fffff, 0x7f800000,
                                                  0x7fc00000, 0x7f800001, 0x7f7fffff, 0x3f800000};
      const uint32_t bits = pick(4) == 0 ? kSingleEdges[pick(sizeof(kSingleEdges) / sizeof(kSingleEdges[0]))]
                                         : (pick(2) << 31) | ((127 + pick(61) - 30) << 23) | static_cast<uint32_t>(rng_() >> 41);
      return 0xffffffff00000000ull | bits;
    }
    const uint64_t exponent = 1023 + pick(121) - 60;
    return (uint64_t{pick(2)} << 63) | (exponent << 52) | (rng_() >> 12);
  }
  // A double-precision op the JIT has an inline SSE path for, with the rounding modes it takes
  // (dynamic, RNE) and some it leaves to the handler.
  uint32_t fp_arith() {
    using namespace as;
    const uint32_t rd = pick(32), a = pick(32), b = pick(32);
    const uint32_t rm = pick(4) == 0 ? pick(8) : pick(2) ? 7 : 0;
    const uint32_t fused = std::array<uint32_t, 4>{kMadd, kMsub, kNmsub, kNmadd}[pick(4)];
    if (pick(3) == 0) { // single precision
      switch (pick(12)) {
      case 8: return fused_op(fused, 0, rm, rd, a, b, pick(32)); // FMADD.S and kin
      case 9: return fused_op(fused, 0, rm, rd, a, b, rd);       // an accumulator
      case 0: return fp_op(0x00, rm, rd, a, b); // FADD.S
      case 1: return fp_op(0x04, rm, rd, a, b); // FSUB.S
      case 2: return fp_op(0x08, rm, rd, a, b); // FMUL.S
      case 3: return fp_op(0x0c, rm, rd, a, b); // FDIV.S
      case 4: return fp_op(0x2c, rm, rd, a, 0); // FSQRT.S
      case 5: return pick(2) ? fp_op(0x10, pick(3), rd, a, b) : fp_op(0x50, pick(3), dest(), a, b); // FSGNJ(N/X).S, FLE/FLT/FEQ.S
      case 10: return pick(2) ? fp_op(0x60, pick(2) ? 1 : rm, dest(), a, pick(4))  // FCVT.W/WU/L/LU.S
                              : fp_op(0x68, rm, rd, source(), pick(4));          // FCVT.S.W/WU/L/LU
      case 11: return pick(2) ? fp_op(0x70, pick(2), dest(), a, 0) : fp_op(0x78, 0, rd, source(), 0); // FMV.X.W, FCLASS.S, FMV.W.X
      case 6: return fp_op(0x08, rm, rd, a, a); // squaring: over- and underflows
      default: return pick(2) ? fp_op(0x10, 0, rd, a, a) : fp_op(0x14, pick(2), rd, a, b); // FMV.S, FMIN/FMAX.S
      }
    }
    switch (pick(18)) {
    case 14: return fused_op(fused, 1, rm, rd, a, b, pick(32)); // FMADD.D and kin
    case 15: return fused_op(fused, 1, rm, rd, a, b, rd);       // an accumulator
    case 16: return fused_op(fused, 1, rm, rd, a, a, b);        // a square plus: cancellation near b = -a^2
    case 0: return fp_op(0x01, rm, rd, a, b); // FADD.D
    case 1: return fp_op(0x05, rm, rd, a, b); // FSUB.D
    case 2: return fp_op(0x09, rm, rd, a, b); // FMUL.D
    case 3: return fp_op(0x0d, rm, rd, a, b); // FDIV.D
    case 4: return fp_op(0x2d, rm, rd, a, 0); // FSQRT.D
    case 5: return pick(2) ? fp_op(0x11, pick(3), rd, a, b) : fp_op(0x15, pick(2), rd, a, b); // FSGNJ(N/X).D, FMIN/FMAX.D
    case 6: return fp_op(0x71, pick(2), dest(), a, 0); // FMV.X.D, FCLASS.D
    case 7: return fp_op(0x79, 0, rd, source(), 0); // FMV.D.X
    case 8: return fp_op(0x51, pick(3), dest(), a, b); // FLE/FLT/FEQ.D
    case 9: return fp_op(0x51, pick(3), dest(), a, a); // the same operand: equal unless NaN
    case 10: return pick(2) ? fp_op(0x69, rm, rd, source(), pick(4)) // FCVT.D.W/WU/L/LU
                            : fp_op(0x61, pick(2) ? 1 : rm, dest(), a, pick(4)); // FCVT.W/WU/L/LU.D (casts: RTZ)
    case 13: return pick(2) ? fp_op(0x20, rm, rd, a, 1) : fp_op(0x21, rm, rd, a, 0); // FCVT.S.D, FCVT.D.S
    case 11: return fp_op(0x01, rm, rd, a, a); // doubling: overflows near the top
    case 12: return fp_op(0x09, rm, rd, a, a); // squaring: over- and underflows
    default: return fp_op(0x05, rm, rd, a, a); // x - x: an exact zero (or NaN)
    }
  }

  // A load or store of any width through `base`, at a small offset.
  uint32_t memory(uint32_t base, bool loads) {
    using namespace as;
    const int32_t offset = static_cast<int32_t>(pick(24)) - 12;
    if (loads) {
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

  // One instruction at index `i` of the program.
  uint32_t instruction(unsigned i) {
    using namespace as;
    if (burst_left_ > 0) {
      --burst_left_;
      return memory(burst_base_, burst_loads_);
    }
    if (static_jump_from_ != ~0u) { // after `auipc r, 0`: `jalr rd, off(r)`, a target known at translation
      const uint32_t base = static_jump_base_;
      const int32_t offset = 4 * static_cast<int32_t>(pick(kProgramLength)) - 4 * static_cast<int32_t>(static_jump_from_);
      static_jump_from_ = ~0u;
      return jalr(pick(2) ? 1 : 0, base, offset + static_cast<int32_t>(pick(2))); // bit 0 ignored
    }
    if (skipped_left_ > 0) { // the few ALU ops a forward branch skips: if-conversion in the JIT
      --skipped_left_;
      const uint32_t rd = dest(), a = source(), b = source();
      switch (pick(6)) {
      case 0: return addi(rd, a, imm12());
      case 1: return xor_(rd, a, b);
      case 2: return slli(rd, a, static_cast<int32_t>(pick(64)));
      case 3: return srli(rd, a, static_cast<int32_t>(pick(64)));
      case 4: return addw(rd, a, b);
      default: return sraiw(rd, a, static_cast<int32_t>(pick(32)));
      }
    }
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
      case 9: return addiw(rd, a, pick(3) == 0 ? 0 : imm12()); // sext.w a third of the time
      case 10: return slliw(rd, a, static_cast<int32_t>(pick(32)));
      case 11: return srliw(rd, a, static_cast<int32_t>(pick(32)));
      default: return sraiw(rd, a, static_cast<int32_t>(pick(32)));
      }
    }
    if (kind < 44) return pick(2) ? lui(dest(), static_cast<int32_t>(rng_() & 0xfffff000u)) : auipc(dest(), static_cast<int32_t>(rng_() & 0xfffff000u));
    if (kind < 70) { // memory: base x5-x7 near page boundaries, small offsets, every width
      const uint32_t base = 5 + pick(3);
      const bool loads = pick(2) == 0;
      if (pick(3) == 0) { // a run through one base: one access group in the JIT
        burst_left_ = 1 + pick(5);
        burst_base_ = base;
        burst_loads_ = loads;
      }
      return memory(base, loads);
    }
    if (kind < 80) { // branches: mostly forward, sometimes back (loops end by budget)
      int32_t offset = pick(5) == 0 ? -4 * static_cast<int32_t>(pick(8) + 1) : 4 * static_cast<int32_t>(pick(8) + 1);
      if (pick(3) == 0) { // over 1-4 ALU ops only
        skipped_left_ = 1 + pick(4);
        offset = 4 * static_cast<int32_t>(skipped_left_ + 1);
      }
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
    if (kind < 86) return jalr(pick(2) ? 1 : dest(), 4, 4 * static_cast<int32_t>(pick(kProgramLength))); // x4 = kCode
    if (kind < 87) { // a return to the last call's next instruction, or a `call` as auipc + jalr
      if (pick(2) == 0 || i + 1 >= kProgramLength) return jalr(0, 1, 0);
      static_jump_from_ = i;
      static_jump_base_ = pick(2) ? 1 : dest();
      return auipc(static_jump_base_, 0);
    }
    if (kind < 93) return fp_arith();
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
    case 4: // through the data pointers: a page's first word, a read-only page's end, nothing
      return amo(kAmoFunctions[pick(9)], pick(2), dest(), 5 + pick(3), source());
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
  bool narrow_;
  unsigned burst_left_ = 0; // accesses still to come through burst_base_
  unsigned skipped_left_ = 0; // ALU ops still to come that a forward branch skips
  unsigned static_jump_from_ = ~0u; // the index of an AUIPC the next instruction jumps from
  uint32_t static_jump_base_ = 1;
  uint32_t burst_base_ = 5;
  bool burst_loads_ = false;
};

void put32(machine::Bus& bus, uint64_t address, uint32_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 4)); }
void put64(machine::Bus& bus, uint64_t address, uint64_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 8)); }

constexpr uint64_t kV = 1, kR = 2, kW = 4, kX = 8, kU = 16, kA = 64, kD = 128;

// Sv39: VA 0x80000000 gigapage identity (code, handler), VA kDataVa -> four data pages. `user`:
// every leaf is a U page (trap mode's shadows: the hart runs the guest in U-mode). `page2`: data
// page 2 is mapped too (hw mode: the G-stage leaves it out instead). `swapped` (the second set,
// at kTables + 0x3000): data pages 0 and 1 trade places.
uint64_t build_page_tables(machine::Bus& bus, bool user = false, bool page2 = false, bool swapped = false) {
  const uint64_t u = user ? kU : 0;
  const uint64_t set = swapped ? 0x3000 : 0;
  const uint64_t root = kTables + set, level1 = kTables + set + 0x1000, level0 = kTables + set + 0x2000;
  put64(bus, root + 8 * 2, ((kRamBase >> 12) << 10) | kV | kR | kW | kX | kA | kD | u);
  put64(bus, root + 8 * 1, ((level1 >> 12) << 10) | kV);
  put64(bus, level1 + 0, ((level0 >> 12) << 10) | kV);
  put64(bus, level0 + (swapped ? 8 : 0), (((kData + 0x0000) >> 12) << 10) | kV | kR | kW | kA | kD | u);
  put64(bus, level0 + (swapped ? 0 : 8), (((kData + 0x1000) >> 12) << 10) | kV | kR | kW | kA | u); // D clear: first store sets it
  if (page2) put64(bus, level0 + 16, (((kData + 0x2000) >> 12) << 10) | kV | kR | kW | kA | kD | u);
  // else page 2 unmapped (PTE 0)
  put64(bus, level0 + 24, (((kData + 0x3000) >> 12) << 10) | kV | kR | kA | u); // read-only
  return (8ull << 60) | (root >> 12);
}

// Sv39x4 for hw mode: guest-physical = host-physical for the first 2 MiB of RAM in 4 KiB pages,
// except data page 2 (a guest-page fault behind a valid VS-stage mapping). VMID 1.
uint64_t build_g_stage(machine::Bus& bus) {
  const uint64_t root = kGStage, level1 = kGStage + 0x4000, level0 = kGStage + 0x5000;
  put64(bus, root + 8 * (kRamBase >> 30), ((level1 >> 12) << 10) | kV);
  put64(bus, level1 + 0, ((level0 >> 12) << 10) | kV);
  for (uint64_t page = 0; page < 512; ++page) {
    const uint64_t address = kRamBase + (page << 12);
    if (address == kData + 0x2000) continue;
    put64(bus, level0 + 8 * page, ((address >> 12) << 10) | kV | kR | kW | kX | kU | kA | kD);
  }
  return (8ull << 60) | (1ull << 44) | (root >> 12);
}

void set_up(Rig& rig, const std::vector<uint32_t>& program, uint64_t seed, Mode mode) {
  const bool supervisor = mode != Mode::machine;
  for (size_t i = 0; i < program.size(); ++i) put32(rig.bus, kCode + 4 * i, program[i]);
  put32(rig.bus, kCode + 4 * program.size(), as::jal(0, 0)); // the end: a block looping on itself
  const uint32_t handler[] = {as::csrrs(3, csr::kMepc, 0), as::addi(3, 3, 4), as::csrrw(0, csr::kMepc, 3), as::mret()};
  for (unsigned i = 0; i < 4; ++i) put32(rig.bus, kHandler + 4 * i, handler[i]);
  // The guest kernel's handler in hw mode (sepc is vsepc with V=1).
  const uint32_t guest_handler[] = {as::csrrs(3, csr::kSepc, 0), as::addi(3, 3, 4), as::csrrw(0, csr::kSepc, 3), as::sret()};
  for (unsigned i = 0; i < 4; ++i) put32(rig.bus, kGuestHandler + 4 * i, guest_handler[i]);
  std::mt19937_64 data(seed ^ 0x5555);
  for (uint64_t a = kData; a < kData + 0x4000; a += 8) put64(rig.bus, a, data());
  machine::Hart& h = rig.hart;
  h.reset(kCode);
  h.set_csr(csr::kMtvec, kHandler);
  h.set_csr(csr::kMcounteren, ~0ull);
  // FP on (Dirty) in most streams; Initial (the first FP write makes it Dirty) or Off (FP ops
  // are illegal) in some: the JIT's inline FP loads/stores run only while it is Dirty.
  // fflags with NX set in most streams (the JIT's inline FP arithmetic needs it), frm mostly RNE,
  // else any value (RTZ..RMM, and the reserved 5-7 that make dynamic-rounding ops illegal).
  // Written before mstatus.FS, which writing fcsr marks Dirty.
  Generator values(seed ^ 0xabcdef);
  const uint64_t fflags = values.pick(32) | (values.pick(3) ? 1 : 0);
  const uint64_t frm = values.pick(3) ? 0 : values.pick(8);
  h.set_csr(csr::kFcsr, frm << 5 | fflags);
  const uint64_t fs = seed % 5 == 0 ? 0 : seed % 5 == 1 ? (1ull << 13) : csr::mstatus::kFs;
  h.set_csr(csr::kMstatus, (h.csr(csr::kMstatus) & ~csr::mstatus::kFs) | fs);
  for (unsigned r = 1; r < 32; ++r) h.set_x(r, values.value());
  for (unsigned r = 0; r < 32; ++r) h.set_f(r, values.fp_value());
  h.set_x(4, kCode);
  h.set_x(1, kCode + 4 * values.pick(kProgramLength)); // ra: always an address in the program
  const uint64_t data_base = supervisor ? kDataVa : kData;
  h.set_x(5, data_base + 0x1000);       // page 0 | page 1
  h.set_x(6, data_base + 0x2000);       // page 1 | page 2 (unmapped in S-mode)
  h.set_x(7, supervisor ? kDataVa + 0x3ff8 : kUnmapped); // read-only page end / no memory
  if (mode == Mode::supervisor) {
    h.set_csr(csr::kSatp, build_page_tables(rig.bus));
    h.set_privilege(1);
  } else if (mode == Mode::guest) {
    // As HwCpu configures its hart: the guest's exceptions delegated to VS, the rest exits.
    constexpr uint64_t kGuestExceptions = 0xb1ff;
    h.set_vmm_exits(true);
    h.set_vmm_exits_hs(true);
    h.set_csr(csr::kMedeleg, kGuestExceptions);
    h.set_csr(csr::kHedeleg, kGuestExceptions);
    h.set_csr(csr::kHcounteren, ~0ull);
    // The guest's own FS, independent of mstatus.FS (FP ops need both on with V=1).
    const uint64_t vs_fs = (seed / 5) % 4 == 0 ? 0 : (seed / 5) % 4 == 1 ? (1ull << 13) : csr::mstatus::kFs;
    h.set_csr(csr::kVsstatus, h.csr(csr::kVsstatus) | vs_fs);
    h.set_csr(csr::kVstvec, kGuestHandler);
    h.set_csr(csr::kHgatp, build_g_stage(rig.bus));
    h.set_csr(csr::kVsatp, build_page_tables(rig.bus, false, true));
    h.set_privilege(1);
    h.set_virtualization(true);
  } else if (mode == Mode::trapped) {
    // As TrappedCpu: U-mode, nothing delegated, every trap an exit.
    build_page_tables(rig.bus, true, false, true); // the second root (switch_user_root)
    h.set_vmm_exits(true);
    h.set_csr(csr::kScounteren, ~0ull);
    h.switch_user_root(build_page_tables(rig.bus, true));
    h.set_privilege(0);
  }
}

struct StreamStats {
  uint64_t translated = 0; // blocks the JIT translated
  uint64_t exits = 0;      // VMM exits (trap and hw set-ups)
  uint64_t guest_page_faults = 0;
};

// The VMM's side of a run: the exits both harts took must be the same; each skips its trapping
// instruction. Empty when they agree.
std::string compare_exits(machine::Hart& a, machine::Hart& b, StreamStats& stats) {
  const auto ea = a.take_exit(), eb = b.take_exit();
  if (ea.has_value() != eb.has_value()) return std::string("VMM exit: interpreter ") + (ea ? "yes" : "no") + ", jit " + (eb ? "yes" : "no") + "\n";
  if (!ea) return "";
  ++stats.exits;
  if (ea->cause >= 20 && ea->cause <= 23 && ea->cause != 22) ++stats.guest_page_faults;
  std::string diff;
  const auto check = [&diff](const char* what, uint64_t x, uint64_t y) {
    if (x != y) diff += std::string("exit ") + what + ": interpreter " + std::to_string(x) + " jit " + std::to_string(y) + "\n";
  };
  check("cause", ea->cause, eb->cause);
  check("tval", ea->tval, eb->tval);
  check("pc", ea->pc, eb->pc);
  check("interrupt", ea->interrupt, eb->interrupt);
  check("htval", ea->htval, eb->htval);
  check("htinst", ea->htinst, eb->htinst);
  check("virt", ea->virt, eb->virt);
  check("gva", ea->gva, eb->gva);
  check("to_hs", ea->to_hs, eb->to_hs);
  a.set_pc(ea->pc + 4);
  b.set_pc(eb->pc + 4);
  return diff;
}

// What a VMM does to a stopped hart between runs (trap and hw modes), the same on both rigs.
void vmm_action(Rig& rig, Mode mode, uint32_t action, uint32_t detail) {
  switch (action) {
  case 0: rig.hart.flush_translations(); break; // SBI RFENCE, a shadow reset
  case 1: rig.hart.flush_store_translations(); break; // a dirty-log round
  case 2: { // the VMM (a restore, an incoming page) or a device rewrites an instruction
    const uint32_t instruction = detail % 3 == 0 ? as::addi(8 + detail % 20, 0, static_cast<int32_t>(detail % 2000)) : as::addi(0, 0, 0);
    put32(rig.bus, kCode + 4 * (detail % kProgramLength), instruction);
    break;
  }
  case 3: // trap mode: the guest changed address space (or privilege): another shadow root
    if (mode == Mode::trapped) rig.hart.switch_user_root((8ull << 60) | ((kTables + (detail % 2 ? 0x3000 : 0)) >> 12));
    break;
  default: break;
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
  check("virtualization", a.virtualization(), b.virtualization());
  for (const uint16_t c : {csr::kMstatus, csr::kMepc, csr::kMcause, csr::kMtval, csr::kMcycle, csr::kMinstret,
                           csr::kFcsr, csr::kMtvec, csr::kSatp, csr::kVsstatus, csr::kVsepc, csr::kVscause,
                           csr::kVstval, csr::kHstatus, csr::kHtval, csr::kHtinst, csr::kMtval2, csr::kMtinst,
                           csr::kVsatp, csr::kHgatp})
    check("csr " + std::to_string(c), a.csr(c), b.csr(c));
  std::vector<uint8_t> ma(kCompared), mb(kCompared);
  if (!bus_a.copy_from_ram(kRamBase, ma.data(), ma.size()) || !bus_b.copy_from_ram(kRamBase, mb.data(), mb.size()))
    return "memory unreadable";
  if (ma == mb) return diff;
  for (size_t i = 0; i < ma.size(); ++i)
    if (ma[i] != mb[i]) {
      diff += "memory at " + std::to_string(kRamBase + i) + " differs\n";
      break;
    }
  return diff;
}

// Runs `programs` random streams.
StreamStats run_streams(uint64_t first_seed, unsigned programs, Mode mode, bool narrow = false) {
  const bool vmm = mode == Mode::guest || mode == Mode::trapped;
  StreamStats stats;
  uint64_t& translated = stats.translated;
  if (const char* many = getenv("JIT_STREAMS")) // a longer campaign than CI's (docs/jit.md, "Tests")
    programs = static_cast<unsigned>(std::strtoul(many, nullptr, 0));
  if (const char* base = getenv("JIT_SEED_BASE")) // seeds a campaign has not run yet
    first_seed += std::strtoull(base, nullptr, 0);
  if (const char* only = getenv("JIT_SEED")) { // reproduce one stream
    first_seed = std::strtoull(only, nullptr, 0);
    programs = 1;
  }
  for (unsigned p = 0; p < programs; ++p) {
    const uint64_t seed = first_seed + p;
    Generator gen(seed, narrow);
    std::vector<uint32_t> program(kProgramLength);
    for (unsigned i = 0; i < kProgramLength; ++i) program[i] = gen.instruction(i);
    auto interp = std::make_unique<Rig>();
    auto jit = std::make_unique<Rig>();
    set_up(*interp, program, seed, mode);
    set_up(*jit, program, seed, mode);
    // U-mode units (trap mode) go through the host-mapped window: every other stream maps a page
    // at its first access through the addend, so that short streams run window accesses too.
    jit->hart.set_jit_window_heat(seed % 2 == 0 ? 1 : machine::Hart::kJitWindowHeat);
    jit->hart.set_jit(true, 1 + gen.pick(3)); // translate at the 1st, 2nd or 3rd run of a block
    for (unsigned step = 0; step < 60; ++step) {
      const uint64_t budget = gen.pick(3) == 0 ? 1 : 1 + gen.pick(200);
      if (getenv("JIT_TRACE")) fprintf(stderr, "seed %lu step %u budget %lu pc %lx\n", (unsigned long)seed, step, (unsigned long)budget, (unsigned long)jit->hart.pc());
      const uint64_t ra = interp->hart.run(budget);
      const uint64_t rb = jit->hart.run(budget);
      std::string diff = compare(interp->hart, jit->hart, interp->bus, jit->bus);
      if (vmm) {
        diff += compare_exits(interp->hart, jit->hart, stats);
        if (gen.pick(4) == 0) {
          const uint32_t action = gen.pick(4), detail = gen.pick(1u << 20);
          vmm_action(*interp, mode, action, detail);
          vmm_action(*jit, mode, action, detail);
        }
      }
      if (ra != rb || !diff.empty()) {
        ADD_FAILURE() << "seed " << seed << mode_name(mode) << " step " << step
                      << " budget " << budget << ": retired " << ra << " vs " << rb << "\n"
                      << diff;
        return stats;
      }
    }
    EXPECT_EQ(jit->hart.jit_failed_units(), 0u) << "seed " << seed << mode_name(mode)
                                                 << ": the emitter's layout checks failed";
    translated += jit->hart.jit_translated_blocks();
  }
  return stats;
}

TEST(JitDifferential, RandomStreamsInMachineMode) {
  const StreamStats stats = run_streams(1000, 150, Mode::machine);
  EXPECT_GT(stats.translated, 150u); // the JIT really ran
}

TEST(JitDifferential, RandomStreamsInSupervisorModeWithPageFaults) {
  const StreamStats stats = run_streams(5000, 150, Mode::supervisor);
  EXPECT_GT(stats.translated, 150u);
}

// hw mode's hart: VS-mode, two-stage translation, guest traps delegated, VMM exits for the rest.
TEST(JitDifferential, RandomStreamsInGuestModeWithTwoStageTranslation) {
  const StreamStats stats = run_streams(9000, 150, Mode::guest);
  EXPECT_GT(stats.translated, 150u);
  EXPECT_GT(stats.guest_page_faults, 150u); // the G-stage's hole was hit, and left to the VMM
}

// trap mode's hart: U-mode over shadow tables, every trap a VMM exit, the VMM switching roots,
// flushing and rewriting code between runs.
TEST(JitDifferential, RandomStreamsInTrapModeWithShadowTables) {
  const StreamStats stats = run_streams(13000, 150, Mode::trapped);
  EXPECT_GT(stats.translated, 150u);
  EXPECT_GT(stats.exits, 1000u);
}

// Few registers, so that operands alias and all live in host registers.
TEST(JitDifferential, RandomStreamsWithAliasedOperands) {
  const StreamStats m = run_streams(17000, 100, Mode::machine, true);
  EXPECT_GT(m.translated, 100u);
  const StreamStats s = run_streams(18000, 100, Mode::supervisor, true);
  EXPECT_GT(s.translated, 100u);
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
  set_up(*interp, program, 7, Mode::machine);
  set_up(*jit, program, 7, Mode::machine);
  jit->hart.set_jit(true, 1);
  for (unsigned step = 0; step < 20; ++step) {
    EXPECT_EQ(interp->hart.run(1000), jit->hart.run(1000));
    ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "") << "step " << step;
  }
  EXPECT_GT(jit->hart.jit_translated_blocks(), 2u);
}


// Every division and remainder on edge operands (zero and -1 divisors, the most negative 64-
// and 32-bit dividends, values whose low 32 bits differ in sign from the whole): the JIT divides
// inline, with RISC-V's corner cases branched around the host's divider, and must give exactly
// the interpreter's results (riscv/integer_semantics.hpp).
TEST(JitDifferential, DivisionEdgeCasesMatchInterpreter) {
  using namespace as;
  const std::vector<uint32_t> program = {div(20, 10, 11),  divu(21, 10, 11), rem(22, 10, 11),  remu(23, 10, 11),
                                         divw(24, 10, 11), divuw(25, 10, 11), remw(26, 10, 11), remuw(27, 10, 11)};
  constexpr uint64_t kValues[] = {0, 1, 2, 7, ~0ull, ~0ull - 6, 0x8000000000000000ull, 0x7fffffffffffffffull,
                                  0x80000000ull, 0xffffffff80000000ull, 0x7fffffffull, 0xffffffffull,
                                  0x100000000ull, 0x1ffffffffull, 0x12345678deadbeefull, 0xfffffffe00000007ull};
  auto interp = std::make_unique<Rig>();
  auto jit = std::make_unique<Rig>();
  set_up(*interp, program, 3, Mode::machine);
  set_up(*jit, program, 3, Mode::machine);
  jit->hart.set_jit(true, 1);
  for (const uint64_t a : kValues)
    for (const uint64_t b : kValues)
      for (Rig* rig : {interp.get(), jit.get()}) {
        rig->hart.set_pc(kCode);
        rig->hart.set_x(10, a);
        rig->hart.set_x(11, b);
        rig->hart.run(program.size() + 1); // the divisions, then the closing self-loop once
        ASSERT_EQ(rig->hart.pc(), kCode + 4 * program.size());
        if (rig == jit.get()) {
          ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "") << std::hex << a << " by " << b;
        }
      }
  EXPECT_EQ(jit->hart.x(20), 1u); // the last pair divides a value by itself
  EXPECT_EQ(jit->hart.x(22), 0u);
  EXPECT_GE(jit->hart.jit_translated_blocks(), 1u);
}

// The nine AMOs, word and doubleword, inline (the soft TLB's store entry and a locked host
// instruction) against the interpreter's compare-exchange: edge values in memory and in the
// operand (signed and unsigned orders, words whose sign the result extends), rd equal to rs2
// (the operand read before the old value lands) and to rs1, and addresses the inline path
// leaves to the handler: misaligned (a fault), in the program's own page (decoded code: no
// store entry; the AMO rewrites an instruction past the program) and with no memory behind
// (an access fault).
TEST(JitDifferential, AmosMatchInterpreter) {
  using namespace as;
  constexpr uint64_t kValues[] = {0, 1, ~0ull, 0x7fffffffull, 0x80000000ull, 0xffffffff80000000ull, 0xffffffffull,
                                  0x8000000000000000ull, 0x7fffffffffffffffull, 0x123456789abcdef0ull,
                                  0x00000001fffffffeull};
  const uint64_t kAddresses[] = {kData + 0x100, kData + 0x1ff8, kData + 0x104, kData + 0x101, kData + 0x1ffe,
                                 kCode + 0x400, kUnmapped};
  for (const bool d : {false, true}) {
    std::vector<uint32_t> program;
    for (uint32_t i = 0; i < 9; ++i) { // each old value kept in its own register
      program.push_back(amo(kAmoFunctions[i], d, 13 + 2 * i, 10, 11)); // rd apart
      program.push_back(amo(kAmoFunctions[i], d, 14 + 2 * i, 10, 14 + 2 * i)); // rd = rs2
    }
    program.push_back(amo(kAmoAdd, d, 10, 10, 11)); // rd = rs1
    auto interp = std::make_unique<Rig>();
    auto jit = std::make_unique<Rig>();
    set_up(*interp, program, 3, Mode::machine);
    set_up(*jit, program, 3, Mode::machine);
    jit->hart.set_jit(true, 1);
    for (const uint64_t address : kAddresses)
      for (const uint64_t memory : kValues)
        for (const uint64_t operand : kValues)
          for (Rig* rig : {interp.get(), jit.get()}) {
            if (address != kUnmapped) put64(rig->bus, address & ~7ull, memory);
            rig->hart.set_pc(kCode);
            rig->hart.set_x(10, address);
            rig->hart.set_x(11, operand);
            for (uint32_t i = 0; i < 9; ++i) rig->hart.set_x(14 + 2 * i, operand ^ (0x00000000ffff0000ull << i));
            rig->hart.run(6 * program.size()); // with the handler's 4 for each trapping AMO, then the self-loop
            ASSERT_EQ(rig->hart.pc(), kCode + 4 * program.size());
            if (rig == jit.get()) {
              ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "")
                  << std::hex << (d ? "D" : "W") << " at " << address << " memory " << memory << " operand " << operand;
            }
          }
    EXPECT_GE(jit->hart.jit_translated_blocks(), 1u);
    EXPECT_EQ(jit->hart.jit_failed_units(), 0u);
  }
}

// Runs `program` (dividends in x10 and x12, the divisor in x11) translated with each of
// `divisors` in x11 at its first run, on edge and random dividends, then on other divisors (the
// run-time check's way to the divide, zero among them), and compares with the interpreter.
// `width` is the bits of the divisor the ops read (32 for the W forms).
void expect_division_by_the_translation_time_divisor(const std::vector<uint32_t>& program,
                                                     const std::vector<uint64_t>& divisors_to_translate, int width) {
  std::mt19937_64 rng(5);
  for (const uint64_t d : divisors_to_translate) {
    auto interp = std::make_unique<Rig>();
    auto jit = std::make_unique<Rig>();
    set_up(*interp, program, 3, Mode::machine);
    set_up(*jit, program, 3, Mode::machine);
    jit->hart.set_jit(true, 1); // translated at its first run, with x11 = d
    const uint64_t dw = width == 32 ? static_cast<uint32_t>(d) : d;
    const uint64_t top = width == 32 ? 0xffffffffull : ~0ull;
    std::vector<uint64_t> dividends = {0, 1, dw - 1, dw, dw + 1, 2 * dw, 2 * dw - 1, top, top - 1,
                                       0x80000000ull, 0x7fffffffull, ~0ull, 0x8000000000000000ull,
                                       0x7fffffffffffffffull, dw * (top / (dw ? dw : 1)),
                                       dw * (top / (dw ? dw : 1)) - 1};
    for (int i = 0; i < 300; ++i) dividends.push_back(rng() >> (rng() % 64));
    std::vector<uint64_t> divisors(dividends.size(), d);
    for (int i = 0; i < 40; ++i) { // another divisor now and then: the run-time check fails
      dividends.push_back(rng());
      divisors.push_back(i % 4 == 0 ? 0 : rng() >> (rng() % 64));
    }
    for (size_t i = 0; i < dividends.size(); ++i)
      for (Rig* rig : {interp.get(), jit.get()}) {
        rig->hart.set_pc(kCode);
        rig->hart.set_x(10, dividends[i]);
        rig->hart.set_x(12, ~dividends[i] * 0x9e3779b97f4a7c15ull);
        rig->hart.set_x(11, divisors[i]);
        rig->hart.run(program.size() + 1);
        ASSERT_EQ(rig->hart.pc(), kCode + 4 * program.size());
        if (rig == jit.get()) {
          ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "")
              << std::hex << dividends[i] << " by " << divisors[i] << " (translated with " << d << ")";
        }
      }
    EXPECT_GE(jit->hart.jit_translated_blocks(), 1u);
  }
}

// DIVUW/REMUW are specialised for the divisor rs2 holds when the block is translated (checked at
// run time, multiplication by a reciprocal): for divisors from 1 to 2^32 - 1 (and upper halves
// the W ops ignore).
TEST(JitDifferential, UnsignedWordDivisionByTheTranslationTimeDivisor) {
  using namespace as;
  expect_division_by_the_translation_time_divisor(
      {divuw(20, 10, 11), remuw(21, 10, 11), remuw(22, 12, 11), divuw(23, 12, 11)},
      {1, 2, 3, 5, 7, 10, 641, 65521, 65536, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
       0x123456789abcdef1ull, 0xffffffff00000003ull, 6700417},
      32);
}

// DIVU/REMU the same, with 64-bit divisors: powers of two (a shift and a mask behind the
// run-time check, up to 2^63) and other divisors (the divide), small, above 2^32 and above 2^63.
TEST(JitDifferential, UnsignedDivisionByTheTranslationTimeDivisor) {
  using namespace as;
  expect_division_by_the_translation_time_divisor(
      {divu(20, 10, 11), remu(21, 10, 11), remu(22, 12, 11), divu(23, 12, 11)},
      {1, 2, 3, 5, 7, 10, 641, 65521, 65536, 4294967291ull, 0x100000000ull, 0x100000001ull, 0x123456789abcdef1ull,
       0x7fffffffffffffffull, 0x8000000000000000ull, 0x8000000000000001ull, 0xfffffffffffffffbull, ~0ull, 6700417},
      64);
}

// Single-precision arithmetic and sign injection (an inline SSE path since 2026-12-05) against
// the interpreter's soft FP: every rounding mode (static, and dynamic with every frm, the
// reserved ones included), fflags with and without NX set, NaN-boxed and unboxed operands
// (canonical NaN), NaNs, infinities, zeros, subnormals and the smallest normal, and results
// that overflow, underflow or cancel. Each op's accrued flags are swapped out into an integer
// register right after it, so every op's own flags are compared.
// FMADD/FMSUB/FNMSUB/FNMADD in both precisions on triples of edge and moderate values, every
// static rounding mode the inline path takes or leaves, and fflags with and without NX: the JIT's
// FMA3 path where the host result is the RISC-V result, the handler elsewhere (NaNs, inf * 0, zeros
// and tiny results, overflow, operands not NaN-boxed, other rounding modes), the same state.
TEST(JitDifferential, FusedMultiplyAddMatchesInterpreter) {
  using namespace as;
  constexpr uint64_t kBox = 0xffffffff00000000ull;
  std::vector<uint64_t> doubles = {0, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff8000000000000ull,
                                   0x0010000000000000ull, 0x000fffffffffffffull, 0x7ff0000000000000ull,
                                   0xfff0000000000000ull, 0x7ff8000000000000ull, 0x7ff0000000000001ull,
                                   0x7fefffffffffffffull, 0x2000000000000000ull, 0xc000000000000000ull};
  std::vector<uint64_t> singles = {kBox | 0x00000000, kBox | 0x80000000, kBox | 0x3f800000, kBox | 0xbfc00000,
                                   kBox | 0x00800000, kBox | 0x007fffff, kBox | 0x7f800000, kBox | 0xff800000,
                                   kBox | 0x7fc00000, kBox | 0x7f800001, kBox | 0x7f7fffff, kBox | 0x1e3ce508,
                                   0x000000003f800000ull}; // 1.0f not NaN-boxed: the canonical NaN
  std::mt19937_64 rng(17);
  for (int i = 0; i < 7; ++i) { // moderate numbers: the inline path's own cases
    doubles.push_back((rng() & 1) << 63 | (1023 + rng() % 41 - 20) << 52 | (rng() >> 12));
    singles.push_back(kBox | (rng() & 1) << 31 | (127 + rng() % 21 - 10) << 23 | (rng() & 0x7fffff));
  }
  // b = -a * c rounded: a * c + b cancels to a tiny or zero result (the handler's case).
  doubles.push_back(0xbff0000000000001ull);
  singles.push_back(kBox | 0xbf800001);
  constexpr uint32_t kFlags = 1; // fflags, CSR 0x001
  for (const uint32_t fmt : {0u, 1u}) {
    const std::vector<uint64_t>& values = fmt == 0 ? singles : doubles;
    for (const uint32_t rm : {0u, 1u, 7u}) {
      // f(4+k) = f1 * f2 +- f3 by each variant, then x(16+k) = fflags, fflags = x12.
      std::vector<uint32_t> program;
      const uint32_t opcodes[] = {kMadd, kMsub, kNmsub, kNmadd};
      for (uint32_t k = 0; k < 4; ++k) {
        program.push_back(fused_op(opcodes[k], fmt, rm, 4 + k, 1, 2, 3));
        program.push_back(csrrw(16 + k, kFlags, 12));
      }
      program.push_back(fused_op(kMadd, fmt, rm, 3, 1, 2, 3)); // an accumulator: rd = rs3
      program.push_back(csrrw(20, kFlags, 12));
      program.push_back(fp_op(0x14 | fmt, 0, 10, 1, 3)); // FMIN of the first operand and the addend
      program.push_back(csrrw(21, kFlags, 12));
      program.push_back(fp_op(0x14 | fmt, 1, 11, 1, 3)); // FMAX
      program.push_back(csrrw(22, kFlags, 12));
      auto interp = std::make_unique<Rig>();
      auto jit = std::make_unique<Rig>();
      set_up(*interp, program, 3, Mode::machine); // seed 3: mstatus.FS Dirty
      set_up(*jit, program, 3, Mode::machine);
      jit->hart.set_jit(true, 1);
      for (const uint32_t frm : {0u, 2u})
        for (const uint64_t flags : {1ull, 0ull}) {
          if (rm != 7 && frm != 0) continue; // frm matters for dynamic rounding only
          for (const uint64_t a : values)
            for (const uint64_t b : values)
              for (size_t c = 0; c < values.size(); c += 2)
                for (Rig* rig : {interp.get(), jit.get()}) {
                  rig->hart.set_pc(kCode);
                  rig->hart.set_csr(csr::kFcsr, frm << 5 | flags);
                  rig->hart.set_x(12, flags);
                  rig->hart.set_f(1, a);
                  rig->hart.set_f(2, values[c]);
                  rig->hart.set_f(3, b);
                  rig->hart.run(program.size() + 1); // the program, then the closing self-loop once
                  ASSERT_EQ(rig->hart.pc(), kCode + 4 * program.size());
                  if (rig == jit.get()) {
                    ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "")
                        << std::hex << "fmt " << fmt << " rm " << rm << " frm " << frm << " fflags " << flags
                        << " a " << a << " b " << values[c] << " c " << b;
                  }
                }
        }
      EXPECT_GE(jit->hart.jit_translated_blocks(), 1u);
      EXPECT_EQ(jit->hart.jit_failed_units(), 0u);
    }
  }
}

// FCVT.W.D, FCVT.L.D, FCVT.W.S, FCVT.L.S (C's truncating casts, and by the mode), their
// unsigned forms, FCVT.S.D, FCVT.D.S, FCVT.S.W/WU/L/LU, FMV.X.W, FMV.W.X and FCLASS.S/D on edge
// and moderate values: ties, the integer ranges' ends and beyond (negative values that round to
// 0 for the unsigned ones), NaNs, infinities, subnormals and zeros of both signs, singles'
// overflow and underflow, operands not NaN-boxed; static RNE and RTZ and dynamic rounding;
// fflags with and without NX. The JIT's inline path or the handler, the same state.
TEST(JitDifferential, ConversionsMatchInterpreter) {
  using namespace as;
  constexpr uint64_t kBox = 0xffffffff00000000ull;
  const auto bits = [](double d) { uint64_t u; std::memcpy(&u, &d, 8); return u; };
  std::vector<uint64_t> values;
  for (const double d : {0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.7, -3.7, 2147483647.0, 2147483647.5, 2147483648.0,
                         -2147483648.0, -2147483648.5, -2147483649.0, 9.2233720368547748e18, 9.2233720368547758e18,
                         -9.2233720368547758e18, -9.2233720368547779e18, 1e300, -1e300, 3.4028235677973366e38,
                         3.5e38, 1.1754943508222875e-38, 1.17549e-38, 1e-40, 1e-46, 123456.789, -0.000123,
                         -0.4, -0.6, -1.0, 4294967295.0, 4294967295.5, 4294967296.0, 9.3e18,
                         1.8446744073709550e19, 1.8446744073709552e19})
    values.push_back(bits(d));
  for (const uint64_t special : {0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
                                 0x7ff0000000000001ull, 0x0000000000000001ull, 0x0010000000000000ull,
                                 0x8000000000000001ull, 0xfff8000000000000ull, 0xfff0000000000001ull,
                                 0x800fffffffffffffull})
    values.push_back(special);
  for (const uint32_t single : {0x3fc00000u, 0xc0200000u, 0x7f800000u, 0x7fc00000u, 0x7f800001u, 0x00000001u,
                                0x80800000u, 0x4b000001u, 0x80000001u, 0xff800001u, 0xffc00000u, 0x80000000u,
                                0x00400000u, 0x4f800000u, 0x5f800000u})
    values.push_back(kBox | single);
  values.push_back(0x000000003f800000ull); // 1.0f not NaN-boxed
  std::mt19937_64 rng(23);
  for (int i = 0; i < 8; ++i) values.push_back((rng() & 1) << 63 | (1023 + rng() % 70 - 10) << 52 | (rng() >> 12));
  constexpr uint32_t kFlags = 1; // fflags, CSR 0x001
  for (const uint32_t rm : {0u, 1u, 7u})
    for (const bool unsigned_and_class : {false, true}) {
    std::vector<uint32_t> program = {
        fp_op(0x61, rm, 20, 1, 0), csrrw(16, kFlags, 12), // FCVT.W.D x20, f1
        fp_op(0x61, rm, 21, 1, 2), csrrw(17, kFlags, 12), // FCVT.L.D x21, f1
        fp_op(0x20, rm, 4, 1, 1),  csrrw(18, kFlags, 12), // FCVT.S.D f4, f1
        fp_op(0x21, rm, 5, 1, 0),  csrrw(19, kFlags, 12), // FCVT.D.S f5, f1
        fp_op(0x21, rm, 6, 4, 0),  csrrw(22, kFlags, 12), // FCVT.D.S f6, f4 (the single just made)
        fp_op(0x60, rm, 23, 1, 0), csrrw(24, kFlags, 12), // FCVT.W.S x23, f1
        fp_op(0x60, rm, 25, 4, 2), csrrw(26, kFlags, 12), // FCVT.L.S x25, f4
        fp_op(0x68, rm, 7, 21, 0), csrrw(27, kFlags, 12), // FCVT.S.W f7, x21
        fp_op(0x68, rm, 8, 21, 2), csrrw(28, kFlags, 12), // FCVT.S.L f8, x21
        fp_op(0x70, 0, 29, 1, 0),                         // FMV.X.W x29, f1
        fp_op(0x78, 0, 9, 21, 0),  csrrw(30, kFlags, 12), // FMV.W.X f9, x21
    };
    if (unsigned_and_class)
      program = {
          fp_op(0x61, rm, 20, 1, 1), csrrw(16, kFlags, 12), // FCVT.WU.D x20, f1
          fp_op(0x61, rm, 21, 1, 3), csrrw(17, kFlags, 12), // FCVT.LU.D x21, f1
          fp_op(0x20, rm, 4, 1, 1),  csrrw(18, kFlags, 12), // FCVT.S.D f4, f1
          fp_op(0x60, rm, 23, 1, 1), csrrw(24, kFlags, 12), // FCVT.WU.S x23, f1
          fp_op(0x60, rm, 25, 4, 3), csrrw(26, kFlags, 12), // FCVT.LU.S x25, f4
          fp_op(0x68, rm, 7, 21, 1), csrrw(27, kFlags, 12), // FCVT.S.WU f7, x21
          fp_op(0x68, rm, 8, 21, 3), csrrw(28, kFlags, 12), // FCVT.S.LU f8, x21
          fp_op(0x69, rm, 9, 21, 3), csrrw(22, kFlags, 12), // FCVT.D.LU f9, x21
          fp_op(0x71, 1, 29, 1, 0),                         // FCLASS.D x29, f1
          fp_op(0x70, 1, 30, 4, 0),                         // FCLASS.S x30, f4
          fp_op(0x70, 1, 31, 1, 0),                         // FCLASS.S x31, f1
          fp_op(0x71, 1, 19, 9, 0),                         // FCLASS.D x19, f9
      };
    auto interp = std::make_unique<Rig>();
    auto jit = std::make_unique<Rig>();
    set_up(*interp, program, 3, Mode::machine); // seed 3: mstatus.FS Dirty
    set_up(*jit, program, 3, Mode::machine);
    jit->hart.set_jit(true, 1);
    for (const uint32_t frm : {0u, 1u, 3u})
      for (const uint64_t flags : {1ull, 0ull, 0x10ull}) {
        if (rm != 7 && frm != 0) continue; // frm matters for dynamic rounding only
        for (const uint64_t a : values)
          for (Rig* rig : {interp.get(), jit.get()}) {
            rig->hart.set_pc(kCode);
            rig->hart.set_csr(csr::kFcsr, frm << 5 | flags);
            rig->hart.set_x(12, flags);
            rig->hart.set_f(1, a);
            rig->hart.run(program.size() + 1); // the program, then the closing self-loop once
            ASSERT_EQ(rig->hart.pc(), kCode + 4 * program.size());
            if (rig == jit.get()) {
              ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "")
                  << std::hex << "rm " << rm << " frm " << frm << " fflags " << flags << " a " << a;
            }
          }
      }
    EXPECT_GE(jit->hart.jit_translated_blocks(), 1u);
    EXPECT_EQ(jit->hart.jit_failed_units(), 0u);
  }
}

TEST(JitDifferential, SinglePrecisionMatchesInterpreter) {
  using namespace as;
  constexpr uint64_t kBox = 0xffffffff00000000ull;
  constexpr uint32_t kSingles[] = {0x00000000, 0x80000000, 0x3f800000, 0xbfc00000, 0x00800000, 0x00800001,
                                   0x007fffff, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001,
                                   0x7f7fffff, 0x3f800001, 0x40400000, 0x1e3ce508, 0x5f000000, 0xa0000000,
                                   0x3eaaaaab, 0xc2f6e979, 0x0c000000, 0x72000000};
  std::vector<uint64_t> values;
  for (const uint32_t v : kSingles) values.push_back(kBox | v);
  values.push_back(0x000000003f800000ull); // 1.0f not NaN-boxed: the canonical NaN
  values.push_back(0xfffffffe40400000ull);
  values.push_back(0x4000000000000000ull); // a double
  std::mt19937_64 rng(11);
  for (int i = 0; i < 10; ++i) { // moderate numbers: the inline path's own cases
    const uint32_t exponent = 127 + static_cast<uint32_t>(rng() % 61) - 30;
    values.push_back(kBox | (static_cast<uint32_t>(rng() & 1) << 31) | (exponent << 23) | (rng() & 0x7fffff));
  }
  constexpr uint32_t kFlags = 1; // fflags, CSR 0x001
  for (const uint32_t rm : {0u, 1u, 2u, 3u, 4u, 7u}) {
    // each op, then x(16+k) (x3-x5 for the last) = fflags, fflags = x12: each starts from the same flags.
    std::vector<uint32_t> program;
    const uint32_t ops[] = {fp_op(0x00, rm, 3, 1, 2),  fp_op(0x04, rm, 4, 1, 2), fp_op(0x08, rm, 5, 1, 2),
                            fp_op(0x0c, rm, 6, 1, 2),  fp_op(0x2c, rm, 7, 1, 0), fp_op(0x10, 0, 8, 1, 2),
                            fp_op(0x10, 1, 9, 1, 2),   fp_op(0x10, 2, 10, 1, 2), fp_op(0x10, 0, 11, 2, 2),
                            fp_op(0x00, rm, 12, 1, 1), fp_op(0x08, rm, 13, 2, 2), fp_op(0x04, rm, 14, 2, 2),
                            fp_op(0x50, 0, 6, 1, 2),   fp_op(0x50, 1, 7, 1, 2),  fp_op(0x50, 2, 8, 1, 2), // FLE/FLT/FEQ.S
                            fp_op(0x50, 2, 9, 2, 2),   fp_op(0x14, 0, 15, 1, 2), fp_op(0x14, 1, 16, 1, 2), // FMIN/FMAX.S
                            fp_op(0x00, rm, 1, 1, 2)};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; ++k) {
      program.push_back(ops[k]);
      program.push_back(csrrw(static_cast<uint32_t>(k < 16 ? 16 + k : k - 13), kFlags, 12)); // x16-x31, x3-x5
    }
    auto interp = std::make_unique<Rig>();
    auto jit = std::make_unique<Rig>();
    set_up(*interp, program, 3, Mode::machine); // seed 3: mstatus.FS Dirty
    set_up(*jit, program, 3, Mode::machine);
    jit->hart.set_jit(true, 1);
    for (const uint32_t frm : {0u, 1u, 2u, 3u, 4u, 5u})
      for (const uint64_t flags : {1ull, 0ull, 0x1full, 0x10ull}) {
        if (rm != 7 && frm != 0) continue; // frm matters for dynamic rounding only
        for (const uint64_t a : values)
          for (const uint64_t b : values)
            for (Rig* rig : {interp.get(), jit.get()}) {
              rig->hart.set_pc(kCode);
              rig->hart.set_csr(csr::kFcsr, frm << 5 | flags);
              rig->hart.set_x(12, flags);
              rig->hart.set_f(1, a);
              rig->hart.set_f(2, b);
              rig->hart.run(program.size() + 1); // the program, then the closing self-loop once
              // (a reserved frm makes the dynamic ops illegal: the handler's instructions count too)
              if (rm != 7 || frm < 5) {
                ASSERT_EQ(rig->hart.pc(), kCode + 4 * program.size());
              }
              if (rig == jit.get()) {
                ASSERT_EQ(compare(interp->hart, jit->hart, interp->bus, jit->bus), "")
                    << std::hex << "rm " << rm << " frm " << frm << " fflags " << flags << " a " << a << " b " << b;
              }
            }
      }
    EXPECT_GE(jit->hart.jit_translated_blocks(), 1u);
  }
}

} // namespace
} // namespace nimbus::test
