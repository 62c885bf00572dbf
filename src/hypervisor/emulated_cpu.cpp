#include "hypervisor/emulated_cpu.hpp"

#include <fmt/format.h>

#include "hypervisor/fault_report.hpp"
#include "hypervisor/guest_cpu_factory.hpp"
#include "hypervisor/trap_loop.hpp"
#include "riscv/csr.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

namespace csr = riscv::csr;
using riscv::Exception;

namespace {

// Every exception M-mode may delegate except ECALL from S-mode, which is the SBI: instruction
// misaligned/access fault, illegal instruction, breakpoint, load/store misaligned and access
// faults, ECALL from U, and the three page faults (bits 0-8, 12, 13, 15).
constexpr uint64_t kDelegatedExceptions = 0xb1ff;
constexpr uint64_t kDelegatedInterrupts = csr::irq::kSupervisorBits;
// cycle, time and instret readable from S-mode (scounteren then decides for U-mode).
constexpr uint64_t kCounters = csr::counteren::kCy | csr::counteren::kTm | csr::counteren::kIr;

} // namespace

std::unique_ptr<GuestCpu> make_emulated_cpu(const GuestCpuContext& context) {
  return std::make_unique<EmulatedCpu>(context.index, context.bus, context.clock, context.reservations);
}

EmulatedCpu::EmulatedCpu(unsigned index, machine::Bus& bus, machine::Clock& clock,
                         machine::ReservationSet& reservations)
    : index_(index), hart_(index, bus, clock, reservations) {
  hart_.set_vmm_exits(true);
}

void EmulatedCpu::start(uint64_t pc, uint64_t a1) {
  // What firmware leaves behind for an S-mode kernel (as OpenSBI does): delegation, Sstc,
  // counters, and the SBI boot protocol's a0 = hart id, a1 = opaque (the DTB for hart 0).
  hart_.reset(pc);
  hart_.set_csr(csr::kMedeleg, kDelegatedExceptions);
  hart_.set_csr(csr::kMideleg, kDelegatedInterrupts);
  hart_.set_csr(csr::kMenvcfg, csr::menvcfg::kStce);
  hart_.set_csr(csr::kMcounteren, kCounters);
  // Linux leaves scounteren to its SBI PMU driver, which we do not offer; without TM its vDSO's
  // rdtime in U-mode would be an illegal instruction. OpenSBI + PMU ends in the same state.
  hart_.set_csr(csr::kScounteren, kCounters);
  hart_.set_privilege(static_cast<unsigned>(machine::Privilege::Supervisor));
  hart_.set_x(10, index_);
  hart_.set_x(11, a1);
  running_ = true;
}

bool EmulatedCpu::power_on_in_machine_mode(uint64_t reset_pc) {
  // As the bare machine: every hart starts at the reset vector in M-mode and the guest's own
  // firmware (or M-mode kernel) takes every trap, SBI calls included.
  own_firmware_ = true;
  hart_.set_vmm_exits(false);
  hart_.reset(reset_pc);
  running_ = true;
  return true;
}

CpuExit EmulatedCpu::run(uint64_t budget) {
  CpuExit exit;
  if (!running_) {
    exit.kind = CpuExit::Kind::stopped;
    return exit;
  }
  if (counters_ != nullptr) counters_->count_world_switch();
  exit.instructions = hart_.run(budget);
  if (counters_ != nullptr) counters_->count_instructions_retired(exit.instructions);
  if (const auto trap = hart_.take_exit()) {
    if (!trap->interrupt && trap->cause == static_cast<uint64_t>(Exception::EcallFromS)) {
      count_exit(ExitReason::sbi_call);
      exit.kind = CpuExit::Kind::sbi_call;
      return exit;
    }
    exit.kind = CpuExit::Kind::fatal;
    const std::string ending =
        fmt::format("{} {} bound for M-mode at pc={:#x} (tval={:#x}); {}", trap->interrupt ? "interrupt" : "exception",
                    trap->interrupt ? std::to_string(trap->cause) : exception_name(trap->cause), trap->pc, trap->tval,
                    describe());
    std::optional<machine::Hart::FaultRecord> first = hart_.first_fault();
    if (!first && !trap->interrupt) {
      // This trap is itself the first fault: describe it with its instruction.
      machine::Hart::FaultRecord r;
      r.cause = trap->cause;
      r.tval = trap->tval;
      r.pc = trap->pc;
      r.privilege = hart_.privilege();
      r.handler_privilege = 3;
      r.have_instruction = hart_.fetch_instruction(trap->pc, r.instruction);
      first = r;
    }
    exit.reason = fmt::format("vCPU {}: {}", index_, death_report(first, ending));
    return exit;
  }
  if (in_trap_loop()) {
    exit.kind = CpuExit::Kind::fatal;
    exit.reason = fmt::format("vCPU {}: {}", index_,
                              death_report(hart_.first_fault(),
                                           hart_.privilege() == static_cast<unsigned>(machine::Privilege::Machine)
                                               ? fmt::format("the guest's M-mode trap handler at {:#x} faults on "
                                                             "itself (mcause={:#x}, mtval={:#x}): the guest is dead",
                                                             hart_.pc(), hart_.csr(csr::kMcause),
                                                             hart_.csr(csr::kMtval))
                                               : fmt::format("the guest's trap handler at {:#x} faults on itself "
                                                             "(scause={:#x}, stval={:#x}): the guest kernel is dead",
                                                             hart_.pc(), hart_.csr(csr::kScause),
                                                             hart_.csr(csr::kStval))));
    return exit;
  }
  if (hart_.waiting()) {
    count_exit(ExitReason::wfi);
    exit.kind = CpuExit::Kind::wait;
  }
  return exit;
}

bool EmulatedCpu::in_trap_loop() const {
  if (own_firmware_ && hart_.privilege() == static_cast<unsigned>(machine::Privilege::Machine))
    return trap_handler_faults_on_itself(hart_.pc(), hart_.csr(csr::kMtvec), hart_.csr(csr::kMepc),
                                         hart_.csr(csr::kMcause));
  if (hart_.privilege() != static_cast<unsigned>(machine::Privilege::Supervisor)) return false;
  return trap_handler_faults_on_itself(hart_.pc(), hart_.csr(csr::kStvec), hart_.csr(csr::kSepc),
                                       hart_.csr(csr::kScause));
}

void EmulatedCpu::set_timer(uint64_t deadline) {
  // Sstc's comparator drives STIP from now on; a deadline in the future clears a pending one.
  hart_.set_csr(csr::kStimecmp, deadline);
}

void EmulatedCpu::raise_software_interrupt() {
  // A read of mip includes the PLIC's SEIP line: written back, it latched SEIP into mip's software
  // bit while a device interrupt was pending, an endless storm of supervisor external interrupts
  // once the line dropped (two-vCPU Linux VMs hung mid-boot). This VMM (the guest's M-mode) never
  // sets the software SEIP, so the write clears it and leaves the line to the PLIC.
  hart_.set_csr(csr::kMip, (hart_.csr(csr::kMip) & ~csr::irq::kSeip) | csr::irq::kSsip);
  hart_.wake();
}

void EmulatedCpu::flush_guest_tlb() {
  hart_.flush_translations();
  if (counters_ != nullptr) counters_->count_tlb_flush();
}

void EmulatedCpu::flush_guest_code() {
  hart_.flush_caches();
  if (counters_ != nullptr) counters_->count_tlb_flush();
}

std::string EmulatedCpu::describe() const {
  return fmt::format("pc={:#x} {}-mode{}{}", hart_.pc(), "US?M"[hart_.privilege() & 3],
                     hart_.waiting() ? ", waiting (wfi)" : "", running_ ? "" : ", stopped");
}

} // namespace nimbus::hypervisor

namespace nimbus::hypervisor {

void EmulatedCpu::save_state(machine::snapshot::Writer& out) const {
  out.u32(index_);
  out.boolean(running_);
  out.boolean(own_firmware_);
  hart_.save_state(out);
}

void EmulatedCpu::restore_state(machine::snapshot::Reader& in) {
  const uint32_t index = in.u32();
  if (index != index_) in.fail(fmt::format("holds vCPU {} but restores vCPU {}", index, index_));
  const bool running = in.boolean();
  const bool own_firmware = in.boolean();
  hart_.restore_state(in);
  running_ = running;
  own_firmware_ = own_firmware;
}

} // namespace nimbus::hypervisor
