#pragma once
// A hart on a small bus with a program written into RAM, and helpers to run it to a trap.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>

#include "hart_assembler.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {

class HartTest : public ::testing::Test {
protected:
  static constexpr uint64_t kRamBase = 0x80000000;
  static constexpr uint64_t kRamSize = 8ull << 20;
  static constexpr uint64_t kCode = kRamBase;
  static constexpr uint64_t kMachineTrap = kRamBase + 0x7000; // "j ." : M-mode traps park here
  static constexpr uint64_t kSupervisorTrap = kRamBase + 0x7100;
  static constexpr uint64_t kData = kRamBase + 0x10000;

  machine::Bus bus{kRamBase, kRamSize};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  machine::Hart hart{0, bus, clock, reservations};
  uint64_t cursor = kCode;

  void SetUp() override {
    put32(kMachineTrap, as::jal(0, 0));
    put32(kSupervisorTrap, as::jal(0, 0));
    hart.reset(kCode);
    hart.set_csr(riscv::csr::kMtvec, kMachineTrap);
    hart.set_csr(riscv::csr::kStvec, kSupervisorTrap);
  }

  void put32(uint64_t address, uint32_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 4)); }
  void put16(uint64_t address, uint16_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 2)); }
  void put64(uint64_t address, uint64_t value) { ASSERT_TRUE(bus.copy_to_ram(address, &value, 8)); }
  uint64_t get64(uint64_t address) {
    uint64_t value = 0;
    EXPECT_TRUE(bus.copy_from_ram(address, &value, 8));
    return value;
  }
  uint32_t get32(uint64_t address) {
    uint32_t value = 0;
    EXPECT_TRUE(bus.copy_from_ram(address, &value, 4));
    return value;
  }
  void emit(std::initializer_list<uint32_t> instructions) {
    for (const uint32_t i : instructions) {
      put32(cursor, i);
      cursor += 4;
    }
  }
  void emit16(uint16_t instruction) {
    put16(cursor, instruction);
    cursor += 2;
  }

  // Writes `code` at kCode and runs it from there at `privilege` until it traps (run_to_trap).
  uint64_t run_code(std::initializer_list<uint32_t> code, unsigned privilege) {
    cursor = kCode;
    emit(code);
    hart.set_pc(kCode);
    hart.set_privilege(privilege);
    return run_to_trap();
  }

  // Runs until the hart parks in a trap vector (or the budget runs out). Returns mcause or scause
  // of the trap that parked it; EBREAK (cause 3) is the normal end of a test program.
  uint64_t run_to_trap(uint64_t budget = 100000) {
    for (uint64_t spent = 0; spent < budget; spent += 64) {
      hart.run(64);
      if (hart.pc() == kMachineTrap) return hart.csr(riscv::csr::kMcause);
      if (hart.pc() == kSupervisorTrap) return hart.csr(riscv::csr::kScause);
      if (hart.waiting()) break;
    }
    return ~uint64_t{0};
  }
  uint64_t mepc() const { return hart.csr(riscv::csr::kMepc); }
  uint64_t mtval() const { return hart.csr(riscv::csr::kMtval); }
};

inline constexpr uint64_t kBreakpoint = 3;
inline constexpr uint64_t kIllegal = 2;

} // namespace nimbus::test
