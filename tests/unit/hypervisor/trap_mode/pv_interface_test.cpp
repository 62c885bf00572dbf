// The Nimbus PV interface of trap mode (pv_abi.hpp): the probe, the shared CSR page, the SRET,
// SET_SATP and MMU_BATCH hypercalls, each with the hostile arguments that must be SBI errors.
#include <cstring>

#include "hypervisor/sbi.hpp"
#include "hypervisor/trap_mode/pv_abi.hpp"
#include "machine/snapshot_format.hpp"
#include "trap_mode_test_support.hpp"

namespace nimbus::hypervisor::test {
namespace {

using namespace nimbus::test::as;
namespace csr = riscv::csr;
namespace mst = riscv::csr::mstatus;
constexpr uint32_t a6 = 16, a7 = 17, t3 = 28, t4 = 29, t5 = 30;
constexpr int32_t field(uint64_t offset) { return static_cast<int32_t>(offset) - 4096; } // from x0
constexpr int32_t kSstatusField = field(pv::kCsrBlock), kSepcField = field(pv::kCsrBlock + 24),
                  kScauseField = field(pv::kCsrBlock + 32), kSscratchField = field(pv::kCsrBlock + 48);

class PvInterfaceTest : public TrapModeTest {
protected:
  static constexpr uint64_t kStub = kRamBase + 0x3000; // hypercall, then an exit to the test
  static constexpr uint64_t kPage = kDataA;            // the shared page
  struct Answer {
    int64_t error;
    uint64_t value;
  };
  // One ECALL from the guest kernel with these registers; a PV call is answered without leaving
  // run(), so the stub's second ECALL (an ordinary SBI call) is what hands control back.
  Answer call(uint64_t eid, uint64_t fid, uint64_t arg0 = 0, uint64_t arg1 = 0) {
    code(kStub, {ecall(), addi(a7, 0, 0x10), ecall()});
    if (!cpu) start(kStub);
    cpu->hart().set_pc(kStub);
    cpu->set_reg(a7, eid);
    cpu->set_reg(a6, fid);
    cpu->set_reg(a0, arg0);
    cpu->set_reg(a1, arg1);
    const CpuExit exit = run();
    EXPECT_EQ(exit.kind, CpuExit::Kind::sbi_call) << exit.reason;
    EXPECT_EQ(cpu->pc(), kStub + 8) << "the hypercall was not answered in the vCPU";
    return {static_cast<int64_t>(reg(a0)), reg(a1)};
  }
  Answer pv(uint64_t fid, uint64_t arg0 = 0, uint64_t arg1 = 0) { return call(pv::kExtension, fid, arg0, arg1); }
  void write_ops(uint64_t gpa, std::initializer_list<pv::MmuOp> ops) {
    for (const auto& op : ops) {
      ASSERT_EQ(memory.write(gpa, &op, sizeof op), GuestMemoryStatus::ok);
      gpa += sizeof op;
    }
  }
};

TEST_F(PvInterfaceTest, ProbeOffersTheExtensionOnlyInTrapMode) {
  const Answer a = call(sbi::kBase, 3, pv::kExtension);
  EXPECT_EQ(a.error, sbi::kSuccess);
  EXPECT_EQ(a.value, 1u);
  EXPECT_EQ(cpu->stats().pv_calls, 1u);
  // Any other probe is the core's: the vCPU exits on the first ECALL.
  cpu->hart().set_pc(kStub);
  cpu->set_reg(a7, sbi::kBase);
  cpu->set_reg(a6, 3);
  cpu->set_reg(a0, pv::kExtension + 1);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(cpu->pc(), kStub);
}

TEST_F(PvInterfaceTest, HostileArgumentsAreSbiErrors) {
  EXPECT_EQ(pv(pv::kSetSharedPage, kPage + 8).error, sbi::kErrInvalidParam);             // not a page
  EXPECT_EQ(pv(pv::kSetSharedPage, kRamBase + kRamSize).error, sbi::kErrInvalidAddress); // past RAM
  EXPECT_EQ(pv(pv::kSetSharedPage, kDevice).error, sbi::kErrInvalidAddress);             // MMIO
  EXPECT_EQ(pv(pv::kSetSharedPage, 0).error, sbi::kErrInvalidAddress);
  EXPECT_FALSE(cpu->pv_shared_page());
  EXPECT_EQ(pv(pv::kSret).error, sbi::kErrDenied); // no page to take a6 and a7 from
  EXPECT_EQ(pv(99).error, sbi::kErrNotSupported);
  // SET_SATP: modes the hart does not have, bare with bits, unknown flags.
  EXPECT_EQ(pv(pv::kSetSatp, uint64_t{5} << 60).error, sbi::kErrInvalidParam);
  EXPECT_EQ(pv(pv::kSetSatp, 1).error, sbi::kErrInvalidParam);
  EXPECT_EQ(pv(pv::kSetSatp, sv39(), 2).error, sbi::kErrInvalidParam);
  EXPECT_EQ(cpu->supervisor_state().satp, 0u);
  // MMU_BATCH: too many, misaligned, outside RAM or across its end.
  const uint64_t list = kDataB;
  EXPECT_EQ(pv(pv::kMmuBatch, list, pv::kMaxMmuOps + 1).error, sbi::kErrInvalidParam);
  EXPECT_EQ(pv(pv::kMmuBatch, list + 4, 1).error, sbi::kErrInvalidParam);
  EXPECT_EQ(pv(pv::kMmuBatch, kDevice, 1).error, sbi::kErrInvalidAddress);
  EXPECT_EQ(pv(pv::kMmuBatch, kRamBase + kRamSize - 32, 2).error, sbi::kErrInvalidAddress);
  EXPECT_EQ(pv(pv::kMmuBatch, ~uint64_t{31}, 2).error, sbi::kErrInvalidAddress); // wraps around
  // A bad operation stops the batch there and says how many were done.
  write_ops(list, {{pv::kMmuFlushPage, 0x1000, 0, 0}, {99, 0, 0, 0}, {pv::kMmuFlushAll, 0, 0, 0}});
  Answer a = pv(pv::kMmuBatch, list, 3);
  EXPECT_EQ(a.error, sbi::kErrInvalidParam);
  EXPECT_EQ(a.value, 1u);
  write_ops(list, {{pv::kMmuFlushAsid, 0, 0, 0x10000}});
  EXPECT_EQ(pv(pv::kMmuBatch, list, 1).error, sbi::kErrInvalidParam);
  // PTE writes only to aligned words of the VM's RAM: another VM's frame right after ours in
  // machine memory is out of reach.
  const uint64_t secret_before = get64(kRamBase + kRamSize - 8);
  write_ops(list, {{pv::kMmuWritePte, 0, kRamBase + kRamSize, 0x1111}});
  a = pv(pv::kMmuBatch, list, 1);
  EXPECT_EQ(a.error, sbi::kErrInvalidAddress);
  EXPECT_EQ(a.value, 0u);
  write_ops(list, {{pv::kMmuWritePte, 0, kRamBase + kRamSize - 4, 0x2222}});
  EXPECT_EQ(pv(pv::kMmuBatch, list, 1).error, sbi::kErrInvalidAddress);
  write_ops(list, {{pv::kMmuWritePte, 0, kDataB + 0x803, 0x3333}});
  EXPECT_EQ(pv(pv::kMmuBatch, list, 1).error, sbi::kErrInvalidAddress);
  EXPECT_EQ(get64(kRamBase + kRamSize - 8), secret_before);
  EXPECT_EQ(pv(pv::kMmuBatch, list, 0).error, sbi::kSuccess);
}

TEST_F(PvInterfaceTest, SharedPageHoldsTheCsrsBothWays) {
  const Answer a = pv(pv::kSetSharedPage, kPage);
  ASSERT_EQ(a.error, sbi::kSuccess);
  EXPECT_EQ(a.value, pv::kSharedVa);
  EXPECT_EQ(cpu->pv_shared_page(), kPage);
  EXPECT_EQ(get64(kPage + pv::kAbiVersionOffset), pv::kAbiVersion);
  // A trapped csrw, read back from the page without a trap; a page store, read by a trapped csrr.
  code(kKernel, {csrrwi(0, csr::kSscratch, 17), ld(s0, 0, kSscratchField), addi(t0, 0, 42),
                 sd(t0, 0, kSscratchField), csrrs(s1, csr::kSscratch, 0), ld(a2, 0, kSstatusField),
                 addi(a7, 0, 0x10), ecall()});
  cpu->hart().set_pc(kKernel);
  const uint64_t emulated = cpu->stats().emulated;
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(s0), 17u);
  EXPECT_EQ(reg(s1), 42u);
  EXPECT_EQ(cpu->supervisor_state().sscratch, 42u);
  EXPECT_EQ(reg(a2) & mst::kSie, 0u);
  EXPECT_EQ(cpu->stats().emulated - emulated, 2u); // only the two CSR instructions trapped
  EXPECT_EQ(get64(kPage + pv::kCsrBlock + 48), 42u);
  // A store that sets bits sstatus cannot hold is masked as a csrw would mask it.
  code(kKernel, {addi(t0, 0, -1), sd(t0, 0, kSstatusField), csrrs(s1, csr::kSstatus, 0), addi(a7, 0, 0x10), ecall()});
  cpu->hart().set_pc(kKernel);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(cpu->supervisor_state().sstatus & ~VirtualSupervisor::kSstatusState, 0u);
  // Unregistered: the address is the guest's own again (nothing mapped there: a page fault).
  EXPECT_EQ(pv(pv::kSetSharedPage, ~uint64_t{0}).error, sbi::kSuccess);
  EXPECT_FALSE(cpu->pv_shared_page());
}

TEST_F(PvInterfaceTest, SretHypercallRunsUserCodeAndTrapsComeBackThroughThePage) {
  ASSERT_EQ(pv(pv::kSetSharedPage, kPage).error, sbi::kSuccess);
  // Handler: scause and sepc from the page, then an exit to the test.
  code(kHandler, {ld(a0, 0, kScauseField), ld(a2, 0, kSepcField), addi(a7, 0, 0x10), ecall()});
  // User code: keeps the a6 and a7 it was returned with, then a system call.
  code(kUserCode, {addi(s0, a6, 0), addi(s1, a7, 0), ecall()});
  // Kernel: stvec by csrw (traps), then sepc and sstatus (SPP=0, SPIE) in the page, the user's
  // a6/a7 in the page, and the SRET hypercall.
  code(kKernel, {csrrw(0, csr::kStvec, t0), sd(t1, 0, kSepcField), sd(t2, 0, kSstatusField),
                 sd(t3, 0, field(pv::kSretA6)), sd(t4, 0, field(pv::kSretA7)), addi(a6, 0, pv::kSret),
                 addi(a7, t5, 0), ecall()});
  cpu->hart().set_pc(kKernel);
  cpu->set_reg(t0, kHandler);
  cpu->set_reg(t1, kUserCode);
  cpu->set_reg(t2, mst::kSpie);
  cpu->set_reg(t3, 0x66);
  cpu->set_reg(t4, pv::kExtension); // the user's own a7: its ECALL is still a system call
  cpu->set_reg(t5, pv::kExtension);
  const uint64_t exits = cpu->stats().exits, emulated = cpu->stats().emulated, fills = cpu->stats().shadow_fills;
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(s0), 0x66u);
  EXPECT_EQ(reg(s1), pv::kExtension);
  EXPECT_EQ(reg(a0), kCauseEcallU);
  EXPECT_EQ(reg(a2), kUserCode + 8);
  EXPECT_EQ(cpu->stats().virtual_traps, 1u);
  // Besides shadow fills (code pages, the page's first touch): csrw stvec, SRET, the user's
  // ECALL, the final ECALL. The page stores and loads never exit.
  EXPECT_EQ((cpu->stats().exits - exits) - (cpu->stats().shadow_fills - fills), 4u);
  EXPECT_EQ(cpu->stats().emulated - emulated, 1u);
  const VirtualSupervisor& vs = cpu->supervisor_state();
  EXPECT_TRUE(vs.supervisor);
  EXPECT_NE(vs.sstatus & mst::kSpie, 0u); // the user ran with interrupts on
}

TEST_F(PvInterfaceTest, SetSatpSwitchesAndFlushes) {
  map_kernel();
  map(kStub, kStub, V | R | X | A);
  map(kDataA, kDataA, V | R | W | A | D);
  const uint64_t flushes = counters.snapshot().tlb_flushes;
  EXPECT_EQ(pv(pv::kSetSatp, sv39() | (uint64_t{5} << 44), pv::kSatpFlush).error, sbi::kSuccess);
  EXPECT_EQ(cpu->supervisor_state().satp, sv39() | (uint64_t{5} << 44));
  EXPECT_EQ(counters.snapshot().tlb_flushes, flushes + 1);
  EXPECT_EQ(pv(pv::kSetSatp, 0).error, sbi::kSuccess); // back to bare
  EXPECT_EQ(cpu->supervisor_state().satp, 0u);
}

TEST_F(PvInterfaceTest, MmuBatchWritesPtesAndDropsTheirShadows) {
  map_kernel();
  map(kStub, kStub, V | R | X | A);
  map(kDataB, kDataB, V | R | W | A | D); // the op list
  const uint64_t va = 0x4000'0000;
  const uint64_t pte = map(va, kDataA, V | R | A);
  put64(kDataA, 0xaaaa);
  const uint64_t target = kDataA + 0x2000; // kDataB (between) holds the op list
  put64(target, 0xcccc);
  map(kDataA + 0x2000, kDataA + 0x2000, V | R | A);
  // Read va once under Sv39 (a shadow fill), through the SET_SATP hypercall.
  ASSERT_EQ(pv(pv::kSetSatp, sv39()).error, sbi::kSuccess);
  code(kKernel, {ld(s0, t0, 0), addi(a7, 0, 0x10), ecall()});
  cpu->hart().set_pc(kKernel);
  cpu->set_reg(t0, va);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(s0), 0xaaaau);
  EXPECT_NE(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, va), 0u);
  const uint64_t other = cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kKernel);
  ASSERT_NE(other, 0u);
  // Remap va to the target and flush a page nobody uses, in one call.
  write_ops(kDataB, {{pv::kMmuWritePte, va, pte, ((target >> 12) << 10) | V | R | A},
                     {pv::kMmuFlushPage, 0x5000'0000, 0, 0}});
  const Answer a = pv(pv::kMmuBatch, kDataB, 2);
  EXPECT_EQ(a.error, sbi::kSuccess);
  EXPECT_EQ(a.value, 2u);
  EXPECT_EQ(get64(pte), ((target >> 12) << 10) | V | R | A);
  EXPECT_EQ(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, va), 0u);
  EXPECT_EQ(cpu->shadows().lookup(ShadowPageTables::Root::supervisor, kKernel), other); // the rest stays
  cpu->hart().set_pc(kKernel);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(s0), 0xccccu);
}

TEST_F(PvInterfaceTest, GuestUserModeCannotReachThePageOrTheHypercalls) {
  ASSERT_EQ(pv(pv::kSetSharedPage, kPage).error, sbi::kSuccess);
  install_reporting_handler();
  code(kUserCode, {ld(s0, 0, kSscratchField), ecall()});
  code(kKernel, {csrrw(0, csr::kStvec, t0), csrrw(0, csr::kSepc, t1), sret()});
  cpu->hart().set_pc(kKernel);
  cpu->set_reg(t0, kHandler);
  cpu->set_reg(t1, kUserCode);
  ASSERT_EQ(run().kind, CpuExit::Kind::sbi_call);
  EXPECT_EQ(reg(a0), kLoadAccessFault); // bare guest: not RAM, so an access fault, not the page
  EXPECT_EQ(reg(a2), kUserCode);
}

TEST_F(PvInterfaceTest, SnapshotsKeepTheRegisteredPageAndRejectAForgedOne) {
  ASSERT_EQ(pv(pv::kSetSharedPage, kPage).error, sbi::kSuccess);
  machine::snapshot::Writer w;
  cpu->save_state(w);
  std::vector<uint8_t> bytes = w.take();
  TrappedCpu restored(context);
  machine::snapshot::Reader r(bytes, "test");
  restored.restore_state(r);
  EXPECT_EQ(restored.pv_shared_page(), kPage);
  // The page's address follows the CSR fields: forge it to lie past the VM's RAM.
  const uint64_t offset = 4 + 2 + 3 * 8 + 1 + 10 * 8;
  uint64_t forged = kRamBase + kRamSize;
  ASSERT_EQ(std::memcmp(bytes.data() + offset, &kPage, 8), 0) << "the layout changed";
  std::memcpy(bytes.data() + offset, &forged, 8);
  TrappedCpu victim(context);
  machine::snapshot::Reader bad(bytes, "test");
  EXPECT_THROW(victim.restore_state(bad), std::exception);
}

} // namespace
} // namespace nimbus::hypervisor::test
