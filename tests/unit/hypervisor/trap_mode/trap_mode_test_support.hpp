#pragma once
// A trap-mode vCPU over a small VM (16 MiB of guest RAM from a machine frame pool, one test
// device), and helpers to write a bare-metal guest kernel and its Sv39 tables into guest memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "hypervisor/frame_pool.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/trap_mode/trapped_cpu.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart_assembler.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor::test {

namespace as = nimbus::test::as;

// A register window that remembers the last write and answers reads with a fixed pattern.
class ScratchDevice final : public machine::MmioDevice {
public:
  std::string_view name() const override { return "scratch"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override {
    ++reads;
    value = (0x8877665544332211ull + offset) & (size == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * size)) - 1));
    return true;
  }
  bool write(uint64_t offset, unsigned size, uint64_t value) override {
    ++writes;
    last_offset = offset;
    last_size = size;
    last_value = value;
    return true;
  }
  uint64_t last_offset = 0, last_value = 0;
  unsigned last_size = 0;
  unsigned reads = 0, writes = 0;
};

class TrapModeTest : public ::testing::Test {
protected:
  static constexpr uint64_t kRamBase = 0x8000'0000;
  static constexpr uint64_t kRamSize = 16ull << 20;
  static constexpr uint64_t kKernel = kRamBase;              // guest kernel code
  static constexpr uint64_t kHandler = kRamBase + 0x1000;    // its stvec
  static constexpr uint64_t kUserCode = kRamBase + 0x2000;   // a user program (physical)
  static constexpr uint64_t kTables = kRamBase + 0x10000;    // Sv39 root, then tables after it
  static constexpr uint64_t kDataA = kRamBase + 0x100000;
  static constexpr uint64_t kDataB = kRamBase + 0x101000;
  static constexpr uint64_t kDevice = 0x1000'0000;
  // Sv39 PTE bits.
  static constexpr uint64_t V = 1, R = 2, W = 4, X = 8, U = 16, G = 32, A = 64, D = 128;

  FramePool pool{64ull << 20};
  GuestMemory memory{pool, "guest", kRamBase, kRamSize};
  machine::Bus device_bus{kRamBase, kRamSize, memory};
  ScratchDevice device;
  machine::Clock clock{true};
  TrapModeContext context{pool, memory, device_bus, clock, 0};
  std::unique_ptr<TrappedCpu> cpu;
  VmCounters counters;
  uint64_t next_table_ = kTables + 0x1000;

  void SetUp() override {
    device_bus.map(kDevice, 0x1000, &device);
  }
  void make_cpu(uint64_t table_limit = 4096) {
    context.shadow_table_limit = table_limit;
    cpu = std::make_unique<TrappedCpu>(context);
  }

  void put32(uint64_t gpa, uint32_t value) { ASSERT_EQ(memory.write(gpa, &value, 4), GuestMemoryStatus::ok); }
  void put64(uint64_t gpa, uint64_t value) { ASSERT_EQ(memory.write(gpa, &value, 8), GuestMemoryStatus::ok); }
  uint64_t get64(uint64_t gpa) {
    uint64_t value = 0;
    EXPECT_EQ(memory.read(gpa, &value, 8), GuestMemoryStatus::ok);
    return value;
  }
  // Writes code as a loader or a device would (DMA: harts drop stale decoded code).
  void code(uint64_t gpa, std::initializer_list<uint32_t> instructions) {
    for (const uint32_t i : instructions) {
      put32(gpa, i);
      gpa += 4;
    }
    device_bus.note_dma_write();
  }

  // Maps va -> pa with a 4 KiB leaf in the guest's Sv39 table at kTables; returns the PTE's gpa.
  uint64_t map(uint64_t va, uint64_t pa, uint64_t flags) {
    uint64_t table = kTables;
    for (int level = 2; level > 0; --level) {
      const uint64_t slot = table + ((va >> (12 + 9 * level)) & 0x1ff) * 8;
      uint64_t entry = get64(slot);
      if (!(entry & V)) {
        entry = ((next_table_ >> 12) << 10) | V;
        next_table_ += 0x1000;
        put64(slot, entry);
      }
      table = (entry >> 10) << 12;
    }
    const uint64_t slot = table + ((va >> 12) & 0x1ff) * 8;
    put64(slot, ((pa >> 12) << 10) | flags);
    return slot;
  }
  // Identity-maps the kernel's code pages (kernel, handler) as a guest kernel would.
  void map_kernel() {
    for (uint64_t page = kRamBase; page < kRamBase + 0x2000; page += 0x1000) map(page, page, V | R | W | X | A | D);
  }
  static uint64_t sv39() { return (uint64_t{8} << 60) | (kTables >> 12); }

  // A standard stvec handler: a0 = scause, a1 = stval, a2 = sepc, then an SBI call (ecall)
  // hands control back to the test.
  void install_reporting_handler() {
    code(kHandler, {as::csrrs(as::a0, riscv::csr::kScause, 0), as::csrrs(as::a1, riscv::csr::kStval, 0),
                    as::csrrs(as::a2, riscv::csr::kSepc, 0), as::ecall()});
  }

  // Starts the guest kernel at `pc` in virtual S-mode (registers may be set before run()).
  void start(uint64_t pc = kKernel) {
    if (!cpu) make_cpu();
    cpu->attach_counters(counters);
    cpu->start(pc, 0);
  }
  CpuExit run(uint64_t budget = 100000) { return cpu->run(budget); }
  // After an SBI-call exit (the handler's ecall): skip the ecall and go on at `pc` if given.
  CpuExit resume(uint64_t pc = 0, uint64_t budget = 100000) {
    cpu->advance_pc(4);
    if (pc != 0) cpu->hart().set_pc(pc);
    return cpu->run(budget);
  }
  uint64_t reg(unsigned r) const { return cpu->reg(r); }
};

inline constexpr uint64_t kCauseEcallU = 8, kCauseIllegal = 2, kLoadPageFault = 13, kStorePageFault = 15,
                          kFetchPageFault = 12, kLoadAccessFault = 5;

} // namespace nimbus::hypervisor::test
