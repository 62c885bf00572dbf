// Trap-mode vCPU: the run loop, exit dispatch, shadow fills and virtual trap delivery.
#include "hypervisor/trap_mode/trapped_cpu.hpp"

#include <fmt/format.h>

#include "hypervisor/dma_forward.hpp"
#include "hypervisor/fault_report.hpp"
#include "hypervisor/trap_loop.hpp"
#include "riscv/csr.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

namespace csr = riscv::csr;
namespace mstatus = riscv::csr::mstatus;
namespace irq = riscv::csr::irq;
using riscv::Exception;

namespace {
// Instructions per hart run while a timer is armed: the hart does not know the guest's timer,
// so it must come back often enough to deliver it on time (~1 ms of guest code or less).
constexpr uint64_t kTimerSlice = 16384;
constexpr uint64_t code(Exception e) { return static_cast<uint64_t>(e); }
} // namespace

TrappedCpu::TrappedCpu(const TrapModeContext& context)
    : ctx_(context), machine_ram_(context.pool), machine_bus_(0, context.pool.bytes(), machine_ram_),
      reservations_(context.reservations ? *context.reservations : own_reservations_),
      hart_(context.hart_id, machine_bus_, context.clock, reservations_),
      table_pages_(context.pool, context.memory.vm_id(), context.shadow_table_limit),
      shadows_(table_pages_, context.shadow_spaces) {
  hart_.set_vmm_exits(true);
}

TrappedCpu::~TrappedCpu() = default;

std::unique_ptr<GuestCpu> make_trapped_cpu(const TrapModeContext& context) {
  return std::make_unique<TrappedCpu>(context);
}

std::unique_ptr<GuestCpu> make_trapped_cpu(const GuestCpuContext& context) {
  TrapModeContext trap{context.memory.pool(), context.memory, context.bus, context.clock, context.index};
  trap.reservations = &context.reservations;
  return std::make_unique<TrappedCpu>(trap);
}

void TrappedCpu::start(uint64_t pc, uint64_t a1) {
  hart_.reset(pc);
  hart_.set_vmm_exits(true);
  // Counters readable from U-mode as the guest kernel would read them from S-mode; the guest's
  // own scounteren applies while it runs its user mode (enter_root).
  hart_.set_csr(csr::kMcounteren, 0xffffffff);
  hart_.set_privilege(0);
  hart_.set_x(10, ctx_.hart_id);
  hart_.set_x(11, a1);
  vs_ = VirtualSupervisor{};
  // What firmware leaves behind (OpenSBI's mstatus_init): cycle, time and instret readable by
  // the guest's user mode until the kernel decides otherwise (the vDSO reads time directly).
  vs_.scounteren = csr::counteren::kCy | csr::counteren::kTm | csr::counteren::kIr;
  shadows_.invalidate_all();
  shadows_.select(0);
  hart_satp_ = ~uint64_t{0};
  timer_deadline_.store(~uint64_t{0}, std::memory_order_release);
  soft_pending_.store(0, std::memory_order_release);
  flush_requested_.store(false, std::memory_order_release);
  device_dma_seen_ = ctx_.device_bus.dma_generation();
  waiting_ = false;
  pv_page_ = kNoPvPage;
  fatal_reason_.clear();
  first_fault_.reset();
  running_ = enter_root();
  if (!running_) fatal_reason_ = "no machine memory for the first shadow page table";
}

bool TrappedCpu::enter_root() {
  ShadowPageTables::Result result;
  const uint64_t satp =
      shadows_.hart_satp(vs_.supervisor ? ShadowPageTables::Root::supervisor : ShadowPageTables::Root::user, result);
  if (satp == 0) return false;
  if (shadows_.resets() != resets_seen_) {
    stats_.shadow_resets += shadows_.resets() - resets_seen_;
    resets_seen_ = shadows_.resets();
    hart_satp_ = ~uint64_t{0}; // the same root address may now hold a fresh table
  }
  if (shadows_.tables_released() != releases_seen_) {
    // The hart keeps translations per root address, and a freed root's address may now hold
    // another space's table.
    releases_seen_ = shadows_.tables_released();
    hart_.flush_translations();
    hart_satp_ = ~uint64_t{0};
  }
  if (satp != hart_satp_) {
    hart_.switch_user_root(satp); // the root's own soft-TLB context: nothing is dropped
    hart_satp_ = satp;
  }
  hart_.set_csr(csr::kScounteren, vs_.supervisor ? 0xffffffff : vs_.scounteren);
  return true;
}

void TrappedCpu::sync_device_dma() {
  // Devices write guest RAM through the VM's bus; the hart decodes code from machine memory
  // through its own bus, which must hear of it to drop stale decoded blocks.
  device_dma_seen_ = forward_dma_writes(ctx_.device_bus, device_dma_seen_, ctx_.memory, machine_bus_, 0);
}

uint64_t TrappedCpu::hart_fs() const { return hart_.csr(csr::kMstatus) & mstatus::kFs; }

uint64_t TrappedCpu::pending_interrupts() const {
  uint64_t pending = soft_pending_.load(std::memory_order_acquire) & irq::kSsip;
  if (ctx_.clock.now() >= timer_deadline_.load(std::memory_order_acquire)) pending |= irq::kStip;
  pending |= pins_.sample() & irq::kSeip;
  return pending;
}

bool TrappedCpu::waiting() const { return waiting_ && (pending_interrupts() & vs_.sie) == 0; }

std::string TrappedCpu::describe() const {
  return fmt::format("pc={:#x} {}-mode (trap mode: hart in U-mode), satp={:#x}", hart_.pc(),
                     vs_.supervisor ? 'S' : 'U', vs_.satp);
}

void TrappedCpu::note_fault(uint64_t cause, uint64_t tval, uint64_t epc) {
  using riscv::Exception;
  if (cause == static_cast<uint64_t>(Exception::EcallFromU) || cause == static_cast<uint64_t>(Exception::EcallFromS))
    return; // calls, not faults
  if (first_fault_) {
    ++first_fault_->nested;
    return;
  }
  machine::Hart::FaultRecord r;
  r.cause = cause;
  r.tval = tval;
  r.pc = epc;
  r.privilege = vs_.supervisor ? 1 : 0;
  r.handler_privilege = 1;
  if (cause == static_cast<uint64_t>(Exception::IllegalInstruction) && tval != 0) {
    r.instruction = static_cast<uint32_t>(tval);
    r.have_instruction = true;
  }
  first_fault_ = r;
}

void TrappedCpu::deliver_trap(uint64_t cause, uint64_t tval, bool interrupt, uint64_t epc) {
  const uint64_t handler = vs_.stvec & ~uint64_t{3};
  if (!interrupt) note_fault(cause, tval, epc);
  if (!interrupt && vs_.supervisor && trap_handler_faults_on_itself(epc, vs_.stvec, vs_.sepc, cause)) {
    fatal_reason_ = death_report(first_fault_, fmt::format("the guest's trap handler at {:#x} faults on itself "
                                                           "(scause={:#x}, stval={:#x}): the guest kernel is dead",
                                                           handler, cause, tval));
    return;
  }
  vs_.scause = cause | (interrupt ? riscv::kInterruptBit : 0);
  vs_.sepc = epc;
  vs_.stval = tval;
  uint64_t s = vs_.sstatus;
  s = (s & ~mstatus::kSpie) | ((s & mstatus::kSie) ? mstatus::kSpie : 0);
  s &= ~mstatus::kSie;
  s = (s & ~mstatus::kSpp) | (vs_.supervisor ? mstatus::kSpp : 0);
  vs_.sstatus = s;
  vs_.supervisor = true;
  const bool vectored = (vs_.stvec & 3) == 1 && interrupt;
  hart_.set_pc((vs_.stvec & ~uint64_t{3}) + (vectored ? 4 * cause : 0));
  reservations_.clear(hart_.id());
  if (interrupt)
    ++stats_.virtual_interrupts;
  else
    ++stats_.virtual_traps;
  if (!enter_root()) fatal_reason_ = "no machine memory for a shadow page table";
}

bool TrappedCpu::deliver_pending_interrupt() {
  const uint64_t pending = pending_interrupts() & vs_.sie;
  if (pending == 0 || (vs_.supervisor && !vs_.sie_enabled())) return false;
  for (const unsigned number : {irq::kSei, irq::kSsi, irq::kSti}) {
    if (pending & (uint64_t{1} << number)) {
      deliver_trap(number, 0, true, hart_.pc());
      return true;
    }
  }
  return false;
}

CpuExit TrappedCpu::run(uint64_t budget) {
  CpuExit out;
  if (!running_) {
    out.kind = fatal_reason_.empty() ? CpuExit::Kind::stopped : CpuExit::Kind::fatal;
    out.reason = fatal_reason_;
    return out;
  }
  if (code_flush_requested_.exchange(false, std::memory_order_acq_rel)) hart_.flush_caches();
  if (flush_requested_.exchange(false, std::memory_order_acq_rel)) {
    shadows_.invalidate_all();
    hart_satp_ = ~uint64_t{0};
    enter_root();
    counters_->count_tlb_flush();
  }
  if (waiting_) {
    if ((pending_interrupts() & vs_.sie) == 0) {
      out.kind = CpuExit::Kind::wait;
      return out;
    }
    waiting_ = false;
  }
  uint64_t retired_total = 0;
  uint64_t steps = 0; // retired instructions plus exits, so a guest that only traps still yields
  while (steps < budget) {
    sync_device_dma();
    deliver_pending_interrupt();
    if (!fatal_reason_.empty()) break;
    uint64_t chunk = budget - steps;
    if (timer_deadline_.load(std::memory_order_relaxed) != ~uint64_t{0} && chunk > kTimerSlice) chunk = kTimerSlice;
    if (pv_active()) pv_push();
    const uint64_t retired = hart_.run(chunk);
    if (pv_active()) pv_pull();
    retired_total += retired;
    steps += retired;
    const auto exit = hart_.take_exit();
    if (!exit) {
      if (retired == 0) ++steps; // cannot happen (the hart never waits in U-mode); never spin
      continue;
    }
    ++steps;
    ++stats_.exits;
    counters_->count_world_switch();
    const Step step = handle_exit(*exit);
    if (step == Step::resume && fatal_reason_.empty()) continue;
    if (step == Step::sbi_call) out.kind = CpuExit::Kind::sbi_call;
    if (step == Step::wait) out.kind = CpuExit::Kind::wait;
    break;
  }
  if (!fatal_reason_.empty()) {
    out.kind = CpuExit::Kind::fatal;
    out.reason = fatal_reason_ + " at " + describe();
    running_ = false;
  }
  out.instructions = retired_total;
  counters_->count_instructions_retired(retired_total);
  return out;
}

TrappedCpu::Step TrappedCpu::handle_exit(const machine::Hart::TrapExit& exit) {
  if (exit.interrupt) return Step::resume; // the hart's own interrupts are never enabled
  switch (static_cast<Exception>(exit.cause)) {
  case Exception::IllegalInstruction: {
    uint32_t bits = static_cast<uint32_t>(exit.tval);
    if (bits == 0 && !hart_.fetch_instruction(exit.pc, bits)) bits = 0;
    if (vs_.supervisor) return emulate_privileged(bits, exit.pc);
    deliver_trap(exit.cause, exit.tval, false, exit.pc);
    return Step::resume;
  }
  case Exception::EcallFromU:
    if (vs_.supervisor) { // pc stays on the ECALL: the core advances it
      count(ExitReason::sbi_call);
      if (pv_ecall()) return Step::resume;
      return Step::sbi_call;
    }
    deliver_trap(exit.cause, 0, false, exit.pc);
    return Step::resume;
  case Exception::InstructionPageFault:
  case Exception::LoadPageFault:
  case Exception::StorePageFault:
    return handle_page_fault(exit.cause, exit.tval);
  default:
    deliver_trap(exit.cause, exit.tval, false, exit.pc);
    return Step::resume;
  }
}

TrappedCpu::Step TrappedCpu::handle_page_fault(uint64_t cause, uint64_t va) {
  const GuestAccess access = cause == code(Exception::InstructionPageFault) ? GuestAccess::fetch
                             : cause == code(Exception::LoadPageFault)      ? GuestAccess::load
                                                                            : GuestAccess::store;
  const uint64_t pc = hart_.pc();
  if (pv_active() && vs_.supervisor && (va & ~uint64_t{0xfff}) == pv::kSharedVa) return pv_map_shared_page(va, access);
  const GuestWalkRequest request{vs_.satp, !vs_.supervisor, vs_.sum(), vs_.mxr()};
  const GuestTranslation t = walk_guest(ctx_.memory, request, va, access);
  const uint64_t access_fault = access == GuestAccess::fetch  ? code(Exception::InstructionAccessFault)
                                : access == GuestAccess::load ? code(Exception::LoadAccessFault)
                                                              : code(Exception::StoreAccessFault);
  if (t.status != GuestTranslation::Status::ok) count(ExitReason::guest_page_fault);
  if (t.status == GuestTranslation::Status::page_fault) {
    ++stats_.virtual_page_faults;
    deliver_trap(cause, va, false, pc);
    return Step::resume;
  }
  if (t.status == GuestTranslation::Status::access_fault) {
    deliver_trap(access_fault, va, false, pc);
    return Step::resume;
  }
  const uint64_t page_gpa = t.gpa & ~uint64_t{0xfff};
  if (!ctx_.memory.contains(page_gpa, 4096)) {
    if (access != GuestAccess::fetch) return emulate_mmio(va, t.gpa, access); // counted as mmio
    count(ExitReason::guest_page_fault);
    deliver_trap(access_fault, va, false, pc);
    return Step::resume;
  }
  count(ExitReason::guest_page_fault);
  uint64_t machine = 0;
  const GuestMemoryStatus status = ctx_.memory.machine_address(page_gpa, machine);
  if (status != GuestMemoryStatus::ok) {
    fatal_reason_ = ctx_.memory.describe(status, page_gpa, 4096);
    return Step::fatal;
  }
  const bool bare = (vs_.satp >> csr::satp::kModeShift) == csr::satp::kModeBare;
  const bool user_page = !bare && (t.pte & pte::kU);
  ShadowPageTables::Leaf leaf;
  leaf.machine_page = machine;
  leaf.read = (t.pte & pte::kR) || (vs_.mxr() && (t.pte & pte::kX));
  // Writable only once the guest's D bit is set, so the first write still reaches the walker;
  // while live migration logs dirty pages, only for a store, which marks the page first.
  const bool logging = ctx_.memory.dirty_log() != nullptr;
  leaf.write = (t.pte & pte::kW) && (t.pte & pte::kD) && (!logging || access == GuestAccess::store);
  if (leaf.write) ctx_.memory.mark_dirty(page_gpa, 4096);
  // Guest user pages are never executable from the guest kernel's root.
  leaf.execute = (t.pte & pte::kX) && !(vs_.supervisor && user_page);
  leaf.global = t.global;
  leaf.sum_user = vs_.supervisor && user_page;
  const auto root = vs_.supervisor ? ShadowPageTables::Root::supervisor : ShadowPageTables::Root::user;
  if (shadows_.map(root, va, leaf) == ShadowPageTables::Result::failed || !enter_root()) {
    fatal_reason_ = fmt::format("cannot shadow va {:#x} (shadow table limit {} pages)", va, table_pages_.limit());
    return Step::fatal;
  }
  ++stats_.shadow_fills;
  counters_->count_shadow_page_fault();
  return Step::resume;
}

void TrappedCpu::save_state(machine::snapshot::Writer& out) const {
  out.u32(ctx_.hart_id);
  out.boolean(running_);
  out.boolean(waiting_);
  out.u64(timer_deadline_.load(std::memory_order_acquire));
  out.u64(soft_pending_.load(std::memory_order_acquire));
  out.u64(pins_.sample());
  out.boolean(vs_.supervisor);
  for (const uint64_t value : {vs_.sstatus, vs_.sie, vs_.stvec, vs_.sepc, vs_.scause, vs_.stval, vs_.sscratch, vs_.satp,
                               vs_.scounteren, vs_.senvcfg})
    out.u64(value);
  out.u64(pv_page_);
  hart_.save_state(out); // last: it checks the section ends with it
}

void TrappedCpu::restore_state(machine::snapshot::Reader& in) {
  const uint32_t id = in.u32();
  if (id != ctx_.hart_id) in.fail(fmt::format("holds vCPU {} but restores vCPU {}", id, ctx_.hart_id));
  const bool running = in.boolean();
  const bool waiting = in.boolean();
  const uint64_t deadline = in.u64();
  const uint64_t soft = in.u64();
  const uint64_t pins = in.u64();
  VirtualSupervisor vs;
  vs.supervisor = in.boolean();
  for (uint64_t* field : {&vs.sstatus, &vs.sie, &vs.stvec, &vs.sepc, &vs.scause, &vs.stval, &vs.sscratch, &vs.satp,
                          &vs.scounteren, &vs.senvcfg})
    *field = in.u64();
  // Only values the emulated CSR writes can produce (the shadow code relies on them).
  const uint64_t mode = vs.satp >> csr::satp::kModeShift;
  if (mode != csr::satp::kModeBare && mode != csr::satp::kModeSv39 && mode != csr::satp::kModeSv48 &&
      mode != csr::satp::kModeSv57)
    in.fail(fmt::format("virtual satp {:#x} has an unsupported mode", vs.satp));
  if (mode == csr::satp::kModeBare && vs.satp != 0) in.fail(fmt::format("virtual satp {:#x} is bare with bits set", vs.satp));
  if ((vs.sstatus & ~VirtualSupervisor::kSstatusState) != 0 || (vs.sie & ~VirtualSupervisor::kSieWritable) != 0 ||
      (soft & ~irq::kSsip) != 0 || (vs.stvec & 2) != 0 || (vs.scounteren >> 32) != 0 ||
      (vs.senvcfg & ~csr::menvcfg::kFiom) != 0)
    in.fail("virtual supervisor state holds bits its CSRs cannot hold");
  const uint64_t pv_page = in.u64();
  if (pv_page != kNoPvPage && ((pv_page & (pv::kPageSize - 1)) != 0 || !ctx_.memory.contains(pv_page, pv::kPageSize)))
    in.fail(fmt::format("PV shared page {:#x} is not a page of the VM's RAM", pv_page));
  hart_.restore_state(in);
  if (hart_.privilege() != 0 || hart_.virtualization())
    in.fail("the trap-mode hart must be in U-mode (the guest's privilege is virtual)");
  running_ = running;
  waiting_ = waiting;
  timer_deadline_.store(deadline, std::memory_order_release);
  soft_pending_.store(soft, std::memory_order_release);
  for (unsigned bit = 0; bit < 64; ++bit) pins_.set(bit, (pins >> bit) & 1);
  vs_ = vs;
  pv_page_ = pv_page;
  pv_page_stale_ = true;
  // Shadows are rebuilt, not copied: empty tables for the saved guest address space.
  shadows_.invalidate_all();
  shadows_.select(vs_.satp);
  resets_seen_ = shadows_.resets();
  hart_satp_ = ~uint64_t{0};
  hart_.flush_caches();
  flush_requested_.store(false, std::memory_order_release);
  code_flush_requested_.store(false, std::memory_order_release);
  device_dma_seen_ = ctx_.device_bus.dma_generation();
  fatal_reason_.clear();
  first_fault_.reset();
  if (running_ && !enter_root()) in.fail("no machine memory for the first shadow page table");
}

void TrappedCpu::flush_write_translations() {
shadows_.protect_writes();
  hart_.flush_translations();
}

} // namespace nimbus::hypervisor
