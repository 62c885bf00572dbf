// The VMM's SBI, extension by extension, against fake vCPUs: results, side effects on the right
// harts only, and hostile arguments (bad hart masks, addresses outside RAM, huge lengths) that
// must give SBI errors and change nothing.
#include "hypervisor/sbi.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "hypervisor/fake_guest_cpu.hpp"

namespace nimbus::hypervisor {
namespace {

using testing::BufferConsole;
using testing::FakeGuestCpu;

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kRamSize = 1 << 20;

class SbiTest : public ::testing::Test {
protected:
  SbiTest() : pool_(4 << 20), memory_(pool_, "sbi-test", kRamBase, kRamSize) {
    for (int i = 0; i < 3; ++i) cpus_.push_back(std::make_unique<FakeGuestCpu>());
    for (auto& cpu : cpus_) raw_.push_back(cpu.get());
    cpus_[0]->is_running = true;
    sbi_ = std::make_unique<Sbi>(raw_, memory_, console_, [this](const SystemResetRequest& r) { reset_ = r; });
  }

  // Calls from hart 0 and checks the ECALL was stepped over.
  FakeGuestCpu& call(uint64_t eid, uint64_t fid, std::array<uint64_t, 6> args = {}, unsigned hart = 0) {
    FakeGuestCpu& cpu = *cpus_[hart];
    cpu.call(eid, fid, args);
    const uint64_t pc = cpu.pc_value;
    EXPECT_EQ(sbi_->handle(hart), Sbi::Outcome::resume);
    EXPECT_EQ(cpu.pc_value, pc + 4);
    return cpu;
  }

  FramePool pool_;
  GuestMemory memory_;
  BufferConsole console_;
  std::vector<std::unique_ptr<FakeGuestCpu>> cpus_;
  std::vector<GuestCpu*> raw_;
  std::unique_ptr<Sbi> sbi_;
  std::optional<SystemResetRequest> reset_;
};

TEST_F(SbiTest, BaseReportsVersionImplementationAndProbes) {
  EXPECT_EQ(call(sbi::kBase, 0).value(), 0x2000000u); // SBI 2.0
  EXPECT_EQ(call(sbi::kBase, 1).value(), sbi::kImplementationId);
  EXPECT_EQ(call(sbi::kBase, 2).value(), sbi::kImplementationVersion);
  for (uint64_t eid : {sbi::kBase, sbi::kTime, sbi::kIpi, sbi::kRfence, sbi::kHsm, sbi::kSrst, sbi::kDbcn,
                       sbi::kLegacyPutchar, sbi::kLegacyShutdown}) {
    EXPECT_EQ(call(sbi::kBase, 3, {eid}).value(), 1u) << std::hex << eid;
    EXPECT_EQ(cpus_[0]->error(), sbi::kSuccess);
  }
  EXPECT_EQ(call(sbi::kBase, 3, {0x50555253}).value(), 0u); // PMU: not implemented
  EXPECT_EQ(call(sbi::kBase, 3, {sbi::kLegacySendIpi}).value(), 0u);
  EXPECT_EQ(call(sbi::kBase, 4).value(), 0u);
  EXPECT_EQ(call(sbi::kBase, 99).error(), sbi::kErrNotSupported);
}

TEST_F(SbiTest, NimbusPvIsNotOfferedByTheCore) {
  // Trap mode's PV extension (trap_mode/pv_abi.hpp) is answered by the trap-mode vCPU; the core
  // SBI, which emulate and hw mode use, neither offers nor serves it, so a PV kernel keeps its
  // ordinary paths there.
  EXPECT_EQ(call(sbi::kBase, 3, {0x0A4E4D42}).value(), 0u);
  EXPECT_EQ(call(0x0A4E4D42, 0, {kRamBase}).error(), sbi::kErrNotSupported);
}

TEST_F(SbiTest, UnknownExtensionsAndFunctionsAreNotSupported) {
  EXPECT_EQ(call(0x12345678, 0).error(), sbi::kErrNotSupported);
  EXPECT_EQ(call(0x0A000000, 0).error(), sbi::kErrNotSupported); // a vendor extension
  EXPECT_EQ(call(sbi::kTime, 1).error(), sbi::kErrNotSupported);
  EXPECT_EQ(call(sbi::kIpi, 1).error(), sbi::kErrNotSupported);
  EXPECT_EQ(call(sbi::kSrst, 1).error(), sbi::kErrNotSupported);
  EXPECT_EQ(call(sbi::kDbcn, 3).error(), sbi::kErrNotSupported);
  EXPECT_EQ(call(sbi::kHsm, 4).error(), sbi::kErrNotSupported);
}

TEST_F(SbiTest, TimeSetsTheCallersTimerOnly) {
  EXPECT_EQ(call(sbi::kTime, 0, {123456}).error(), sbi::kSuccess);
  EXPECT_EQ(cpus_[0]->timer, 123456u);
  EXPECT_EQ(cpus_[1]->timer, ~uint64_t{0});
  call(sbi::kTime, 0, {777}, 2);
  EXPECT_EQ(cpus_[2]->timer, 777u);
}

TEST_F(SbiTest, IpiReachesExactlyTheMaskedHarts) {
  EXPECT_EQ(call(sbi::kIpi, 0, {0b101, 0}).error(), sbi::kSuccess);
  EXPECT_EQ(cpus_[0]->software_interrupts, 1u);
  EXPECT_EQ(cpus_[1]->software_interrupts, 0u);
  EXPECT_EQ(cpus_[2]->software_interrupts, 1u);
  EXPECT_EQ(call(sbi::kIpi, 0, {0b1, 1}).error(), sbi::kSuccess); // base 1: hart 1
  EXPECT_EQ(cpus_[1]->software_interrupts, 1u);
  EXPECT_EQ(call(sbi::kIpi, 0, {0, ~uint64_t{0}}).error(), sbi::kSuccess); // base -1: all harts
  EXPECT_EQ(cpus_[0]->software_interrupts + cpus_[1]->software_interrupts + cpus_[2]->software_interrupts, 6u);
}

TEST_F(SbiTest, IpiWithBadHartMasksChangesNothing) {
  const std::vector<std::array<uint64_t, 6>> hostile = {
      {0b1001, 0, 0, 0, 0, 0},                  // hart 3 does not exist
      {1, 3, 0, 0, 0, 0},                       // base past the last hart
      {1ull << 63, 1, 0, 0, 0, 0},              // bit 63 + base 1 would wrap around
      {1, ~uint64_t{0} - 1, 0, 0, 0, 0},        // base near 2^64
      {~uint64_t{0}, 0, 0, 0, 0, 0},            // every bit
  };
  for (const auto& args : hostile) {
    EXPECT_EQ(call(sbi::kIpi, 0, args).error(), sbi::kErrInvalidParam) << args[0] << " " << args[1];
    EXPECT_EQ(call(sbi::kRfence, 1, args).error(), sbi::kErrInvalidParam);
  }
  for (auto& cpu : cpus_) {
    EXPECT_EQ(cpu->software_interrupts, 0u);
    EXPECT_EQ(cpu->tlb_flushes, 0u);
  }
}

TEST_F(SbiTest, RfenceFlushesTheTargets) {
  EXPECT_EQ(call(sbi::kRfence, 0, {0b110, 0}).error(), sbi::kSuccess); // remote fence.i
  EXPECT_EQ(cpus_[0]->code_flushes, 0u);
  EXPECT_EQ(cpus_[1]->code_flushes, 1u);
  EXPECT_EQ(cpus_[2]->code_flushes, 1u);
  EXPECT_EQ(call(sbi::kRfence, 1, {0b1, 0, 0x1000, 0x2000}).error(), sbi::kSuccess);
  EXPECT_EQ(call(sbi::kRfence, 2, {0b1, 2, 0, ~uint64_t{0}, 7}).error(), sbi::kSuccess);
  EXPECT_EQ(cpus_[0]->tlb_flushes, 1u);
  EXPECT_EQ(cpus_[2]->tlb_flushes, 1u);
  EXPECT_EQ(cpus_[1]->tlb_flushes, 0u);
  EXPECT_EQ(call(sbi::kRfence, 3, {0b1, 0}).error(), sbi::kErrNotSupported); // HFENCE: no H in guests
}

TEST_F(SbiTest, HsmStartsStopsAndReportsHarts) {
  EXPECT_EQ(call(sbi::kHsm, 2, {1}).value(), sbi::kHartStopped);
  EXPECT_EQ(call(sbi::kHsm, 0, {1, kRamBase + 0x2000, 0xabc}).error(), sbi::kSuccess);
  EXPECT_TRUE(cpus_[1]->is_running);
  EXPECT_EQ(cpus_[1]->pc_value, kRamBase + 0x2000);
  EXPECT_EQ(cpus_[1]->started_a1, 0xabcu);
  EXPECT_EQ(call(sbi::kHsm, 2, {1}).value(), sbi::kHartStarted);
  EXPECT_EQ(call(sbi::kHsm, 0, {1, kRamBase, 0}).error(), sbi::kErrAlreadyAvailable);
  EXPECT_EQ(cpus_[1]->starts, 1u);

  // hart_stop does not return: the caller's pc stays on the ECALL, and it is stopped.
  cpus_[1]->call(sbi::kHsm, 1);
  const uint64_t pc = cpus_[1]->pc_value;
  EXPECT_EQ(sbi_->handle(1), Sbi::Outcome::hart_stopped);
  EXPECT_FALSE(cpus_[1]->is_running);
  EXPECT_EQ(cpus_[1]->pc_value, pc);
  EXPECT_EQ(call(sbi::kHsm, 2, {1}).value(), sbi::kHartStopped);
}

TEST_F(SbiTest, HsmRejectsHostileArguments) {
  EXPECT_EQ(call(sbi::kHsm, 0, {3, kRamBase, 0}).error(), sbi::kErrInvalidParam);
  EXPECT_EQ(call(sbi::kHsm, 0, {~uint64_t{0}, kRamBase, 0}).error(), sbi::kErrInvalidParam);
  EXPECT_EQ(call(sbi::kHsm, 0, {1, 0x1000, 0}).error(), sbi::kErrInvalidAddress);
  EXPECT_EQ(call(sbi::kHsm, 0, {1, kRamBase + kRamSize - 2, 0}).error(), sbi::kErrInvalidAddress);
  EXPECT_EQ(call(sbi::kHsm, 0, {1, ~uint64_t{0}, 0}).error(), sbi::kErrInvalidAddress);
  EXPECT_FALSE(cpus_[1]->is_running);
  EXPECT_EQ(call(sbi::kHsm, 2, {99}).error(), sbi::kErrInvalidParam);
}

TEST_F(SbiTest, HsmSuspend) {
  EXPECT_EQ(call(sbi::kHsm, 3, {sbi::kSuspendRetentive}).error(), sbi::kSuccess);
  EXPECT_EQ(call(sbi::kHsm, 3, {5}).error(), sbi::kErrInvalidParam);            // reserved
  EXPECT_EQ(call(sbi::kHsm, 3, {0x10000000}).error(), sbi::kErrNotSupported);   // platform-specific
  EXPECT_EQ(call(sbi::kHsm, 3, {sbi::kSuspendNonRetentive, 0x10, 0}).error(), sbi::kErrInvalidAddress);
  // Non-retentive: resumes at resume_addr with a1 = opaque.
  cpus_[0]->call(sbi::kHsm, 3, {sbi::kSuspendNonRetentive, kRamBase + 0x40, 0x55});
  sbi_->handle(0);
  EXPECT_EQ(cpus_[0]->pc_value, kRamBase + 0x40);
  EXPECT_EQ(cpus_[0]->started_a1, 0x55u);
}

TEST_F(SbiTest, SrstShutsDownWithReasonAndRejectsReservedTypes) {
  EXPECT_EQ(call(sbi::kSrst, 0, {3, 0}).error(), sbi::kErrInvalidParam);
  EXPECT_EQ(call(sbi::kSrst, 0, {0xF0000000, 0}).error(), sbi::kErrInvalidParam);
  EXPECT_EQ(call(sbi::kSrst, 0, {0, 2}).error(), sbi::kErrInvalidParam);
  EXPECT_EQ(call(sbi::kSrst, 0, {0, ~uint64_t{0}}).error(), sbi::kErrInvalidParam);
  EXPECT_FALSE(reset_);

  cpus_[0]->call(sbi::kSrst, 0, {0, 1});
  EXPECT_EQ(sbi_->handle(0), Sbi::Outcome::system_reset);
  ASSERT_TRUE(reset_);
  EXPECT_EQ(reset_->kind, SystemResetRequest::Kind::shutdown);
  EXPECT_EQ(reset_->exit_code(), 1);

  cpus_[0]->call(sbi::kSrst, 0, {1, 0});
  EXPECT_EQ(sbi_->handle(0), Sbi::Outcome::system_reset);
  EXPECT_EQ(reset_->kind, SystemResetRequest::Kind::cold_reboot);
  EXPECT_EQ(reset_->exit_code(), 0);
}

TEST_F(SbiTest, DbcnWritesAndReadsGuestMemory) {
  const std::string text = "hello, console";
  ASSERT_EQ(memory_.write(kRamBase + 0x100, text.data(), text.size()), GuestMemoryStatus::ok);
  EXPECT_EQ(call(sbi::kDbcn, 0, {text.size(), kRamBase + 0x100, 0}).value(), text.size());
  EXPECT_EQ(cpus_[0]->error(), sbi::kSuccess);
  EXPECT_EQ(call(sbi::kDbcn, 2, {'!'}).error(), sbi::kSuccess);
  EXPECT_EQ(console_.output, text + "!");

  console_.input = {'a', 'b', 'c'};
  EXPECT_EQ(call(sbi::kDbcn, 1, {16, kRamBase + 0x200, 0}).value(), 3u);
  char back[4] = {};
  ASSERT_EQ(memory_.read(kRamBase + 0x200, back, 3), GuestMemoryStatus::ok);
  EXPECT_STREQ(back, "abc");
  EXPECT_EQ(call(sbi::kDbcn, 1, {16, kRamBase + 0x200, 0}).value(), 0u); // nothing more to read
}

TEST_F(SbiTest, DbcnTransfersAtMostOneChunkPerCall) {
  EXPECT_EQ(call(sbi::kDbcn, 0, {100000, kRamBase, 0}).value(), sbi::kMaxConsoleTransfer);
  EXPECT_EQ(console_.output.size(), sbi::kMaxConsoleTransfer);
}

TEST_F(SbiTest, DbcnRejectsMemoryOutsideTheVm) {
  const std::vector<std::array<uint64_t, 6>> hostile = {
      {16, 0x1000, 0, 0, 0, 0},                     // below RAM (devices)
      {16, kRamBase + kRamSize - 8, 0, 0, 0, 0},    // runs off the end of RAM
      {~uint64_t{0}, kRamBase, 0, 0, 0, 0},         // huge length
      {1ull << 63, kRamBase + 16, 0, 0, 0, 0},      // length that wraps the address space
      {16, kRamBase, 1, 0, 0, 0},                   // high half of the address set
      {16, ~uint64_t{0} - 4, 0, 0, 0, 0},           // address near 2^64
  };
  console_.input = {'x'};
  for (const auto& args : hostile) {
    EXPECT_EQ(call(sbi::kDbcn, 0, args).error(), sbi::kErrInvalidParam) << std::hex << args[0] << " " << args[1];
    EXPECT_EQ(call(sbi::kDbcn, 1, args).error(), sbi::kErrInvalidParam);
  }
  EXPECT_TRUE(console_.output.empty());
  EXPECT_EQ(console_.input.size(), 1u); // nothing was consumed
}

TEST_F(SbiTest, LegacyCallsReturnOneValueInA0) {
  call(sbi::kLegacyPutchar, 0, {'L', 0x1234});
  EXPECT_EQ(console_.output, "L");
  EXPECT_EQ(cpus_[0]->regs[11], 0x1234u); // a1 untouched by legacy calls
  EXPECT_EQ(call(sbi::kLegacyGetchar, 0).error(), -1);
  console_.input = {'q'};
  EXPECT_EQ(call(sbi::kLegacyGetchar, 0).error(), 'q');
  call(sbi::kLegacySetTimer, 0, {4242});
  EXPECT_EQ(cpus_[0]->timer, 4242u);
  EXPECT_EQ(call(sbi::kLegacySendIpi, 0, {kRamBase}).error(), sbi::kErrNotSupported);
  cpus_[0]->call(sbi::kLegacyShutdown, 0);
  EXPECT_EQ(sbi_->handle(0), Sbi::Outcome::system_reset);
  ASSERT_TRUE(reset_);
  EXPECT_EQ(reset_->exit_code(), 0);
}

} // namespace
} // namespace nimbus::hypervisor
