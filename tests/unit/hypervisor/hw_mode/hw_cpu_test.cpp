// hw mode end to end on one vCPU: a bare-metal guest in VS-mode over G-stage tables the VMM fills
// on demand, with a device emulated from G-stage faults and SBI calls as exits.
#include "hypervisor/hw_mode/hw_cpu.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "hypervisor/machine_memory.hpp"
#include "machine/hart_assembler.hpp"
#include "machine/mmio_device.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace test::as;
constexpr uint32_t a7 = 17;
namespace csr = riscv::csr;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kDeviceBase = 0x1000'0000;

// A register that remembers the last write and reads back 0x5A5A0000 | last.
class ScratchDevice : public machine::MmioDevice {
public:
  std::string_view name() const override { return "scratch"; }
  bool read(uint64_t, unsigned, uint64_t& value) override {
    value = 0x5A5A0000u | last;
    ++reads;
    return true;
  }
  bool write(uint64_t, unsigned, uint64_t value) override {
    last = value & 0xffff;
    ++writes;
    return true;
  }
  uint64_t last = 0;
  int reads = 0, writes = 0;
};

struct HwVm {
  FramePool pool{32 * kMiB, 2 * kMiB};
  GuestMemory ram{pool, "hw", kRamBase, 8 * kMiB};
  machine::Bus devices{kRamBase, 8 * kMiB, ram};
  MachineMemory machine_memory{pool};
  machine::Bus machine_bus{0, pool.bytes(), machine_memory};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  TablePages pages{pool, ram.vm_id(), 256};
  GStageTable g_stage{pages, pool.base(), 0};
  HwVmContext context{ram, machine_bus, 0, devices, clock, reservations, g_stage, 1};
  ScratchDevice scratch;
  VmCounters counters;

  HwVm() { devices.map(kDeviceBase, 0x1000, &scratch); }

  void load(const std::vector<uint32_t>& program, uint64_t at = kRamBase) {
    ASSERT_EQ(ram.write(at, program.data(), program.size() * 4), GuestMemoryStatus::ok);
  }
};

// li rd, value for values that fit lui+addi (sign-correct for the small constants used here).
void li(std::vector<uint32_t>& p, uint32_t rd, int64_t value) {
  const int32_t low = static_cast<int32_t>(value << 52 >> 52);
  p.push_back(lui(rd, static_cast<int32_t>(static_cast<uint32_t>(value - low))));
  p.push_back(addiw(rd, rd, low));
}

TEST(HwCpu, GuestRunsInVsModeWithGStageFillsMmioAndSbiExits) {
  HwVm vm;
  std::vector<uint32_t> p;
  // RAM store and load far from the code: a second G-stage fill.
  li(p, t1, 0x80500000 - 0x100000000);   // lui sign-extends: 0x80500000 as a negative 32-bit value
  p.push_back(slli(t1, t1, 32));
  p.push_back(srli(t1, t1, 32));
  p.push_back(addi(t2, zero, 42));
  p.push_back(sd(t2, t1, 8));
  p.push_back(ld(a2, t1, 8));
  // Device store and load: G-stage faults emulated by the VMM.
  li(p, t0, kDeviceBase);
  p.push_back(addi(t2, zero, 0x123));
  p.push_back(sw(t2, t0, 0));
  p.push_back(lw(a3, t0, 4));
  li(p, a7, 0x4442434E);   // an SBI extension id the test checks for
  p.push_back(ecall());
  p.push_back(jal(zero, 0));
  vm.load(p);

  HwCpu cpu(0, vm.context);
  cpu.attach_counters(vm.counters);
  cpu.start(kRamBase, 0x1234);
  EXPECT_EQ(cpu.reg(a1), 0x1234u);
  const CpuExit exit = cpu.run(100000);
  ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
  EXPECT_EQ(cpu.reg(a7), 0x4442434Eu);
  EXPECT_EQ(cpu.reg(a2), 42u);
  EXPECT_EQ(cpu.reg(a3), 0x5A5A0123u);   // lw sign-extends bit 31 = 0
  EXPECT_EQ(vm.scratch.writes, 1);
  EXPECT_EQ(vm.scratch.reads, 1);
  EXPECT_TRUE(cpu.hart().virtualization());
  EXPECT_EQ(cpu.hart().privilege(), 1u);
  const auto counters = vm.counters.snapshot();
  EXPECT_EQ(counters.exits_for(ExitReason::mmio), 2u);
  EXPECT_EQ(counters.g_stage_faults, 2u);   // the code's megapage and the data's
  EXPECT_EQ(vm.g_stage.mapped_bytes(), 2 * GStageTable::kMegapage);
  uint64_t value = 0;
  ASSERT_EQ(vm.ram.read(0x80500008, &value, 8), GuestMemoryStatus::ok);
  EXPECT_EQ(value, 42u);
}

TEST(HwCpu, AccessOutsideRamAndDevicesIsAnAccessFaultForTheGuest) {
  HwVm vm;
  std::vector<uint32_t> p;
  // stvec (vstvec under V=1) -> handler at +0x100, then load from nowhere.
  p.push_back(auipc(t0, 0));
  p.push_back(addi(t0, t0, 0x100));
  p.push_back(csrrw(zero, csr::kStvec, t0));
  li(p, t1, 0x20000000);
  p.push_back(ld(a2, t1, 0));
  p.push_back(jal(zero, 0));
  vm.load(p);
  std::vector<uint32_t> handler;
  handler.push_back(csrrs(a4, csr::kScause, zero));
  handler.push_back(csrrs(a5, csr::kStval, zero));
  handler.push_back(ecall());
  vm.load(handler, kRamBase + 0x100);

  HwCpu cpu(0, vm.context);
  cpu.start(kRamBase, 0);
  const CpuExit exit = cpu.run(100000);
  ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
  EXPECT_EQ(cpu.reg(a4), 5u);            // load access fault, delivered through the guest's stvec
  EXPECT_EQ(cpu.reg(a5), 0x20000000u);
  EXPECT_FALSE(vm.g_stage.translate(0x20000000));
}

TEST(HwCpu, TimerFromSbiWakesAWaitingGuest) {
  HwVm vm;
  std::vector<uint32_t> p;
  p.push_back(auipc(t0, 0));
  p.push_back(addi(t0, t0, 0x100));
  p.push_back(csrrw(zero, csr::kStvec, t0));
  p.push_back(addi(t1, zero, 1 << 5));   // sie.STIE
  p.push_back(csrrs(zero, csr::kSie, t1));
  p.push_back(csrrsi(zero, csr::kSstatus, 2));   // sstatus.SIE
  p.push_back(wfi());
  p.push_back(jal(zero, -4));
  vm.load(p);
  std::vector<uint32_t> handler{csrrs(a4, csr::kScause, zero), ecall()};
  vm.load(handler, kRamBase + 0x100);

  HwCpu cpu(0, vm.context);
  cpu.start(kRamBase, 0);
  cpu.set_timer(1000);
  CpuExit exit = cpu.run(100000);
  ASSERT_EQ(exit.kind, CpuExit::Kind::wait) << exit.reason;
  EXPECT_TRUE(cpu.waiting());
  EXPECT_EQ(cpu.timer_deadline(), 1000u);
  vm.clock.skip_to(1000);
  EXPECT_FALSE(cpu.waiting());
  exit = cpu.run(100000);
  ASSERT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
  EXPECT_EQ(cpu.reg(a4), (uint64_t{1} << 63) | 5);   // supervisor timer interrupt, as the guest sees it
}

TEST(HwCpu, StoppedVcpuDoesNotRun) {
  HwVm vm;
  HwCpu cpu(1, vm.context);
  EXPECT_FALSE(cpu.running());
  EXPECT_EQ(cpu.run(1000).kind, CpuExit::Kind::stopped);
}

} // namespace
} // namespace nimbus::hypervisor
