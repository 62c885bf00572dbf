#include "hypervisor/hw_mode/hw_cpu.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "hypervisor/dma_forward.hpp"
#include "hypervisor/fault_report.hpp"
#include "hypervisor/trap_loop.hpp"
#include "riscv/csr.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

namespace csr = riscv::csr;
namespace irq = riscv::csr::irq;

namespace {

// Exceptions the guest kernel handles itself: everything but ECALL from VS (SBI, ours), the
// guest-page faults (G-stage, ours) and virtual-instruction exceptions (ours).
constexpr uint64_t kGuestExceptions = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) |
                                      (1u << 6) | (1u << 7) | (1u << 8) | (1u << 12) | (1u << 13) | (1u << 15);
constexpr uint64_t kCauseEcallFromVs = 10;
constexpr uint64_t kCauseInstructionGuestPageFault = 20;
constexpr uint64_t kCauseLoadGuestPageFault = 21;
constexpr uint64_t kCauseVirtualInstruction = 22;
constexpr uint64_t kCauseStoreGuestPageFault = 23;
constexpr uint64_t kCauseIllegalInstruction = 2;
constexpr uint64_t kCauseInstructionAccessFault = 1;
constexpr uint64_t kCauseLoadAccessFault = 5;
constexpr uint64_t kCauseStoreAccessFault = 7;

} // namespace

HwCpu::HwCpu(unsigned id, HwVmContext& vm)
    : id_(id), vm_(vm), hart_(id, vm.machine_bus, vm.clock, vm.reservations) {
  configure();
  dma_seen_ = vm_.devices.dma_generation();
}

void HwCpu::configure() {
  hart_.reset(0);
  hart_.set_vmm_exits(true);
  hart_.set_vmm_exits_hs(true);
  hart_.set_csr(csr::kMedeleg, kGuestExceptions);
  hart_.set_csr(csr::kHedeleg, kGuestExceptions);
  hart_.set_csr(csr::kHideleg, irq::kVsBits);
  hart_.set_csr(csr::kMcounteren, 7);
  hart_.set_csr(csr::kHcounteren, 7);
  hart_.set_csr(csr::kMenvcfg, hart_.csr(csr::kMenvcfg) | csr::menvcfg::kStce);
  hart_.set_csr(csr::kHenvcfg, hart_.csr(csr::kHenvcfg) | csr::menvcfg::kStce);   // vstimecmp for the guest
  hart_.set_csr(csr::kHgatp, vm_.g_stage.hgatp(vm_.vmid));
  // FP on at the outer level; the guest's vsstatus.FS decides for itself.
  hart_.set_csr(csr::kMstatus, (hart_.csr(csr::kMstatus) & ~csr::mstatus::kFs) | (uint64_t{3} << csr::mstatus::kFsShift));
  hart_.set_csr(csr::kMie, irq::kVsBits);   // the guest's hie/vsie select among these
}

void HwCpu::start(uint64_t pc, uint64_t a1) {
  hart_.set_csr(csr::kVsatp, 0);
  hart_.set_csr(csr::kVsstatus, hart_.csr(csr::kVsstatus) & ~(csr::mstatus::kSie | csr::mstatus::kSpie));
  hart_.set_csr(csr::kHvip, 0);
  hart_.set_x(10, id_);
  hart_.set_x(11, a1);
  hart_.set_privilege(1);
  hart_.set_virtualization(true);
  hart_.set_pc(pc);
  hart_.wake();
  sbi_deadline_ = ~uint64_t{0};
  running_ = true;
}

void HwCpu::set_timer(uint64_t deadline) {
  sbi_deadline_ = deadline;
  update_interrupts();
}

void HwCpu::raise_software_interrupt() {
  hart_.set_csr(csr::kHvip, hart_.csr(csr::kHvip) | irq::kVssip);
  hart_.wake();
}

void HwCpu::flush_guest_tlb() {
  hart_.flush_translations();
  if (counters_) counters_->count_tlb_flush();
}

void HwCpu::update_interrupts() {
  uint64_t hvip = hart_.csr(csr::kHvip) & ~(irq::kVstip | irq::kVseip);
  if (vm_.clock.now() >= sbi_deadline_) hvip |= irq::kVstip;
  if (pins_.sample() & irq::kSeip) hvip |= irq::kVseip;
  hart_.set_csr(csr::kHvip, hvip);
}

void HwCpu::propagate_dma() {
  // Devices write guest RAM through the VM's bus; the hart decodes code from machine memory.
  dma_seen_ = forward_dma_writes(vm_.devices, dma_seen_, vm_.ram, vm_.machine_bus, vm_.machine_base);
}

bool HwCpu::in_trap_loop() const {
  return hart_.virtualization() && hart_.privilege() == 1 &&
         trap_handler_faults_on_itself(hart_.pc(), hart_.csr(csr::kVstvec), hart_.csr(csr::kVsepc),
                                       hart_.csr(csr::kVscause));
}

bool HwCpu::waiting() const {
  if (!running_ || !hart_.waiting()) return false;
  if (vm_.clock.now() >= sbi_deadline_) return false;
  return (pins_.sample() & irq::kSeip) == 0 || (hart_.csr(csr::kHvip) & irq::kVseip) != 0;
}

uint64_t HwCpu::timer_deadline() const { return std::min(sbi_deadline_, hart_.timer_deadline()); }

std::string HwCpu::describe() const {
  return fmt::format("vCPU {}: pc={:#x} {}{}-mode{}", id_, hart_.pc(), hart_.virtualization() ? "V" : "",
                     hart_.privilege() == 0 ? "U" : hart_.privilege() == 1 ? "S" : "M",
                     running_ ? (hart_.waiting() ? ", waiting" : "") : ", stopped");
}

CpuExit HwCpu::run(uint64_t budget) {
  CpuExit result;
  if (!running_) {
    result.kind = CpuExit::Kind::stopped;
    return result;
  }
  if (counters_) counters_->count_world_switch();
  // Bounded even if the guest retires nothing (a storm of faults it handles itself).
  uint64_t spent = 0;
  while (spent < budget) {
    propagate_dma();
    update_interrupts();
    const uint64_t before = hart_.instret();
    const uint64_t ran = hart_.run(budget - spent);
    const uint64_t retired = hart_.instret() - before;
    result.instructions += retired;
    spent += std::max<uint64_t>({ran, retired, 1});
    const auto exit = hart_.take_exit();
    if (hart_.stopped_at_breakpoint()) break; // a gdb breakpoint (docs/gdb.md): the VM stops every vCPU
    if (in_trap_loop()) {
      result.kind = CpuExit::Kind::fatal;
      result.reason = fmt::format("{}: {}", describe(),
                                  death_report(hart_.first_fault(),
                                               fmt::format("the guest's trap handler faults on itself (scause={:#x}, "
                                                           "stval={:#x}): the guest kernel is dead",
                                                           hart_.csr(csr::kVscause), hart_.csr(csr::kVstval))));
      running_ = false;
      break;
    }
    if (!exit) {
      if (hart_.waiting()) {
        update_interrupts();
        if (waiting()) {
          count(ExitReason::wfi);
          result.kind = CpuExit::Kind::wait;
          break;
        }
      }
      continue;
    }
    std::string reason;
    const Handled handled = handle(*exit, reason);
    if (handled == Handled::sbi_call) {
      count(ExitReason::sbi_call);
      result.kind = CpuExit::Kind::sbi_call;
      break;
    }
    if (handled == Handled::fatal) {
      result.kind = CpuExit::Kind::fatal;
      result.reason = fmt::format("{}: {}", describe(), death_report(hart_.first_fault(), reason));
      running_ = false;
      break;
    }
  }
  if (counters_) counters_->count_instructions_retired(result.instructions);
  return result;
}

HwCpu::Handled HwCpu::handle(const machine::Hart::TrapExit& exit, std::string& reason) {
  if (!exit.interrupt) {
    switch (exit.cause) {
    case kCauseEcallFromVs:
      if (exit.virt) return Handled::sbi_call;
      break;
    case kCauseInstructionGuestPageFault:
    case kCauseLoadGuestPageFault:
    case kCauseStoreGuestPageFault:
      return guest_page_fault(exit, reason);
    case kCauseVirtualInstruction:
      // Nothing is emulated for the guest (no VTVM/VTW/VTSR): as under KVM, the guest sees an
      // illegal instruction.
      count(ExitReason::virtual_instruction);
      inject_guest_exception(kCauseIllegalInstruction, exit.tval);
      return Handled::resume;
    default: break;
    }
  }
  reason = fmt::format("unexpected {} {} to {} (tval={:#x}) at pc={:#x}", exit.interrupt ? "interrupt" : "exception",
                       exit.cause, exit.to_hs ? "HS-mode" : "M-mode", exit.tval, exit.pc);
  return Handled::fatal;
}

HwCpu::Handled HwCpu::guest_page_fault(const machine::Hart::TrapExit& exit, std::string& reason) {
  const uint64_t gpa = (exit.htval << 2) | (exit.tval & 3);
  if (vm_.ram.contains(gpa)) {
    count(ExitReason::guest_page_fault);
    if (counters_) counters_->count_g_stage_fault();
    if (vm_.ram.dirty_log() != nullptr) return map_logged_page(exit, gpa, reason);
    // Map the whole 2 MiB around it when it lies inside RAM and one frame backs it contiguously
    // (frames are at least that large when the pool uses 2 MiB frames), else the 4 KiB page.
    const uint64_t mega = gpa & ~(GStageTable::kMegapage - 1);
    uint64_t machine = 0;
    uint64_t base = 0;
    const bool megapage = vm_.ram.contains(mega, GStageTable::kMegapage) &&
                          vm_.ram.machine_address(mega, base) == GuestMemoryStatus::ok &&
                          vm_.ram.machine_address(mega + GStageTable::kMegapage - 1, machine) == GuestMemoryStatus::ok &&
                          machine - base == GStageTable::kMegapage - 1 && base % GStageTable::kMegapage == 0;
    const uint64_t page = megapage ? mega : (gpa & ~uint64_t{4095});
    const uint64_t size = megapage ? GStageTable::kMegapage : 4096;
    const GuestMemoryStatus status = megapage ? GuestMemoryStatus::ok : vm_.ram.machine_address(page, base);
    if (status != GuestMemoryStatus::ok) {
      reason = vm_.ram.describe(status, gpa);
      return Handled::fatal;
    }
    const auto rwx = GStageTable::kRead | GStageTable::kWrite | GStageTable::kExecute;
    auto mapped = vm_.g_stage.map(page, vm_.machine_base + base, size, rwx);
    if (mapped == GStageTable::MapStatus::conflict && megapage) {
      // 4 KiB pages of this megapage were mapped while dirty pages were logged: go on in 4 KiB.
      const uint64_t small = gpa & ~uint64_t{4095};
      const GuestMemoryStatus small_status = vm_.ram.machine_address(small, base);
      if (small_status != GuestMemoryStatus::ok) {
        reason = vm_.ram.describe(small_status, gpa);
        return Handled::fatal;
      }
      mapped = vm_.g_stage.map(small, vm_.machine_base + base, 4096, rwx);
    }
    if (mapped == GStageTable::MapStatus::ok) return Handled::resume;
    reason = fmt::format("cannot map guest-physical {:#x} in the G-stage table ({})", gpa,
                         mapped == GStageTable::MapStatus::no_table_memory ? "table memory limit reached" : "conflict");
    return Handled::fatal;
  }
  return emulate_mmio(exit, gpa, reason);
}

HwCpu::Handled HwCpu::map_logged_page(const machine::Hart::TrapExit& exit, uint64_t gpa, std::string& reason) {
  const uint64_t page = gpa & ~uint64_t{4095};
  uint64_t base = 0;
  const GuestMemoryStatus status = vm_.ram.machine_address(page, base);
  if (status != GuestMemoryStatus::ok) {
    reason = vm_.ram.describe(status, gpa);
    return Handled::fatal;
  }
  // A fault on a page that is already mapped (readable and executable) is a write: an explicit
  // store, or the hart's implicit write of a VS-stage PTE's A/D bits, which it reports as a
  // fault of the original access (a load or fetch) with htinst saying "implicit write".
  const bool write = exit.cause == kCauseStoreGuestPageFault || vm_.g_stage.translate(page).has_value();
  if (write) vm_.ram.mark_dirty(page, 4096);   // before the guest can write it
  const uint64_t permissions =
      GStageTable::kRead | GStageTable::kExecute | (write ? uint64_t{GStageTable::kWrite} : uint64_t{0});
  const auto mapped = vm_.g_stage.map(page, vm_.machine_base + base, 4096, permissions);
  if (mapped == GStageTable::MapStatus::ok) return Handled::resume;
  reason = fmt::format("cannot map guest-physical {:#x} in the G-stage table while logging dirty pages ({})", gpa,
                       mapped == GStageTable::MapStatus::no_table_memory ? "table memory limit reached" : "conflict");
  return Handled::fatal;
}

void HwCpu::flush_write_translations() {
vm_.g_stage.protect_writes();
  hart_.flush_translations();
}

HwCpu::Handled HwCpu::emulate_mmio(const machine::Hart::TrapExit& exit, uint64_t gpa, std::string&) {
  count(ExitReason::mmio);
  const uint64_t fault_cause = exit.cause == kCauseInstructionGuestPageFault ? kCauseInstructionAccessFault
                               : exit.cause == kCauseLoadGuestPageFault      ? kCauseLoadAccessFault
                                                                             : kCauseStoreAccessFault;
  if (exit.cause == kCauseInstructionGuestPageFault) {   // executing from a device: access fault
    inject_guest_exception(fault_cause, exit.tval);
    return Handled::resume;
  }
  // A transformed instruction in htinst says what the access was; else fetch it from the guest.
  uint32_t bits = static_cast<uint32_t>(exit.htinst);
  if ((bits & 1) == 0) {
    // Bit 0 clear: zero or a pseudoinstruction (implicit access) — not an explicit load/store.
    if (!hart_.fetch_instruction(exit.pc, bits)) {
      inject_guest_exception(fault_cause, exit.tval);
      return Handled::resume;
    }
  } else if ((bits & 2) == 0) {
    // A transformed compressed instruction is its 32-bit expansion with bit 1 cleared (the
    // length is taken from that bit below): set it again to decode the expansion.
    bits |= 2;
  }
  auto access = decode_mmio_access(bits);
  if (!access || access->write != (exit.cause == kCauseStoreGuestPageFault)) {
    inject_guest_exception(fault_cause, exit.tval);
    return Handled::resume;
  }
  if ((exit.htinst & 1) != 0) access->length = (exit.htinst & 2) ? 4 : 2;
  const auto value = perform_mmio(vm_.devices, gpa, *access, access->write ? hart_.x(access->reg) : 0);
  propagate_dma();
  if (!value) {
    inject_guest_exception(fault_cause, exit.tval);
    return Handled::resume;
  }
  if (!access->write) hart_.set_x(access->reg, *value);
  hart_.set_pc(exit.pc + access->length);
  return Handled::resume;
}

void HwCpu::inject_guest_exception(uint64_t cause, uint64_t tval) {
  namespace ms = csr::mstatus;
  uint64_t vsstatus = hart_.csr(csr::kVsstatus);
  const bool from_supervisor = hart_.privilege() == 1;
  vsstatus = (vsstatus & ~ms::kSpie) | ((vsstatus & ms::kSie) ? ms::kSpie : 0);
  vsstatus &= ~ms::kSie;
  vsstatus = (vsstatus & ~ms::kSpp) | (from_supervisor ? ms::kSpp : 0);
  hart_.set_csr(csr::kVsstatus, vsstatus);
  hart_.set_csr(csr::kVsepc, hart_.pc());
  hart_.set_csr(csr::kVscause, cause);
  hart_.set_csr(csr::kVstval, tval);
  hart_.set_privilege(1);
  hart_.set_virtualization(true);
  hart_.set_pc(hart_.csr(csr::kVstvec) & ~uint64_t{3});
}

void HwCpu::save_state(machine::snapshot::Writer& out) const {
  out.u32(id_);
  out.boolean(running_);
  out.u64(sbi_deadline_);
  out.u64(pins_.sample());
  hart_.save_state(out);
}

void HwCpu::restore_state(machine::snapshot::Reader& in) {
  const uint32_t id = in.u32();
  if (id != id_) in.fail(fmt::format("holds vCPU {} but restores vCPU {}", id, id_));
  const bool running = in.boolean();
  const uint64_t deadline = in.u64();
  const uint64_t pins = in.u64();
  hart_.restore_state(in);
  running_ = running;
  sbi_deadline_ = deadline;
  for (unsigned bit = 0; bit < 64; ++bit) pins_.set(bit, (pins >> bit) & 1);
  // Shadow structures are rebuilt, not copied: a fresh G-stage table (and VMID) of this VM.
  hart_.set_csr(csr::kHgatp, vm_.g_stage.hgatp(vm_.vmid));
  hart_.flush_caches();
  dma_seen_ = vm_.devices.dma_generation();
}

} // namespace nimbus::hypervisor
