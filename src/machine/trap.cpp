// Trap entry (M, HS, VS), interrupt selection, xRET and privilege/virtualization changes.
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine {

using riscv::Exception;
namespace mstatus = riscv::csr::mstatus;
namespace irq = riscv::csr::irq;
namespace hstatus = riscv::csr::hstatus;

void Hart::set_priv(Privilege p) { set_mode(p, virt_); }

void Hart::set_mode(Privilege p, bool virt) {
  priv_ = p;
  virt_ = virt && p != Privilege::Machine;
  fetch_context_ = tlb_context(priv_, virt_);
  update_data_context();
}

const BlockOp* Hart::raise(const BlockOp* op, Exception cause, uint64_t tval) {
  pc_ = block_pc_ + op->offset;
  block_retired_ = op->index;
  take_trap(static_cast<uint64_t>(cause), tval, false);
  return nullptr;
}

// Where a trap goes: M unless medeleg/mideleg delegate it (never from M); a delegated trap from
// V=1 goes on to VS if hedeleg/hideleg delegate it too.
Hart::TrapTarget Hart::trap_target(uint64_t cause, bool interrupt) const {
  if (priv_ == Privilege::Machine || cause >= 64) return TrapTarget::Machine;
  if (!(((interrupt ? mideleg_ : medeleg_) >> cause) & 1)) return TrapTarget::Machine;
  if (virt_ && (((interrupt ? hideleg_ : hedeleg_) >> cause) & 1)) return TrapTarget::Guest;
  return TrapTarget::Hypervisor;
}

namespace {
// Exceptions whose tval is a memory address (the GVA bit says whether it is a guest virtual one).
bool tval_is_address(uint64_t cause, bool interrupt) {
  if (interrupt) return false;
  switch (static_cast<Exception>(cause)) {
  case Exception::InstructionMisaligned:
  case Exception::InstructionAccessFault:
  case Exception::LoadMisaligned:
  case Exception::LoadAccessFault:
  case Exception::StoreMisaligned:
  case Exception::StoreAccessFault:
  case Exception::InstructionPageFault:
  case Exception::LoadPageFault:
  case Exception::StorePageFault:
  case Exception::InstructionGuestPageFault:
  case Exception::LoadGuestPageFault:
  case Exception::StoreGuestPageFault: return true;
  default: return false;
  }
}
bool is_guest_page_fault(uint64_t cause, bool interrupt) {
  return !interrupt && (cause == static_cast<uint64_t>(Exception::InstructionGuestPageFault) ||
                        cause == static_cast<uint64_t>(Exception::LoadGuestPageFault) ||
                        cause == static_cast<uint64_t>(Exception::StoreGuestPageFault));
}
} // namespace

void Hart::take_trap(uint64_t cause, uint64_t tval, bool interrupt) {
  const TrapTarget target = trap_target(cause, interrupt);
  const uint64_t cause_value = cause | (interrupt ? riscv::kInterruptBit : 0);
  const bool gva = tval_is_address(cause, interrupt) && (virt_ || hypervisor_access_);
  const bool guest_page_fault = is_guest_page_fault(cause, interrupt);
  const uint64_t htval = guest_page_fault ? fault_gpa_ >> 2 : 0;
  const uint64_t htinst = guest_page_fault ? fault_tinst_ : 0;
  if ((target == TrapTarget::Machine && vmm_exits_) ||
      (target == TrapTarget::Hypervisor && vmm_exits_hs_ && virt_)) {
    pending_exit_ = TrapExit{cause, tval, pc_, interrupt, htval, htinst, virt_, gva, target == TrapTarget::Hypervisor};
    exit_requested_ = true;
    return;
  }
  if (!interrupt) record_fault(cause, tval, target == TrapTarget::Machine ? 3 : 1);
  reservations_.clear(id_);
  waiting_ = false;
  if (target == TrapTarget::Guest) {
    // VS-level interrupts arrive as the S-level codes (VSSI 2 -> SSI 1, VSTI 6 -> 5, VSEI 10 -> 9).
    const uint64_t vs_cause = interrupt && (cause == irq::kVssi || cause == irq::kVsti || cause == irq::kVsei)
                                  ? cause - 1
                                  : cause;
    vscause_ = vs_cause | (interrupt ? riscv::kInterruptBit : 0);
    vsepc_ = pc_;
    vstval_ = tval;
    uint64_t s = vsstatus_;
    s = (s & ~mstatus::kSpie) | ((s & mstatus::kSie) ? mstatus::kSpie : 0);
    s &= ~mstatus::kSie;
    s = (s & ~mstatus::kSpp) | (priv_ == Privilege::Supervisor ? mstatus::kSpp : 0);
    vsstatus_ = s;
    const bool vectored = (vstvec_ & 3) == 1 && interrupt;
    pc_ = (vstvec_ & ~uint64_t{3}) + (vectored ? 4 * vs_cause : 0);
    set_mode(Privilege::Supervisor, true);
  } else if (target == TrapTarget::Hypervisor) {
    scause_ = cause_value;
    sepc_ = pc_;
    stval_ = tval;
    htval_ = htval;
    htinst_ = htinst;
    uint64_t h = hstatus_ & ~(hstatus::kSpv | hstatus::kGva);
    if (virt_) h = (h & ~hstatus::kSpvp) | (priv_ == Privilege::Supervisor ? hstatus::kSpvp : 0) | hstatus::kSpv;
    if (gva) h |= hstatus::kGva;
    hstatus_ = h;
    uint64_t s = mstatus_;
    s = (s & ~mstatus::kSpie) | ((s & mstatus::kSie) ? mstatus::kSpie : 0);
    s &= ~mstatus::kSie;
    s = (s & ~mstatus::kSpp) | (priv_ == Privilege::Supervisor ? mstatus::kSpp : 0);
    mstatus_ = s;
    const bool vectored = (stvec_ & 3) == 1 && interrupt;
    pc_ = (stvec_ & ~uint64_t{3}) + (vectored ? 4 * cause : 0);
    set_mode(Privilege::Supervisor, false);
  } else {
    mcause_ = cause_value;
    mepc_ = pc_;
    mtval_ = tval;
    mtval2_ = htval;
    mtinst_ = htinst;
    uint64_t s = mstatus_ & ~(mstatus::kMpv | mstatus::kGva);
    s = (s & ~mstatus::kMpie) | ((s & mstatus::kMie) ? mstatus::kMpie : 0);
    s &= ~mstatus::kMie;
    s = (s & ~mstatus::kMpp) | (static_cast<uint64_t>(priv_) << mstatus::kMppShift);
    if (virt_) s |= mstatus::kMpv;
    if (gva) s |= mstatus::kGva;
    mstatus_ = s;
    const bool vectored = (mtvec_ & 3) == 1 && interrupt;
    pc_ = (mtvec_ & ~uint64_t{3}) + (vectored ? 4 * cause : 0);
    set_mode(Privilege::Machine, false);
  }
}

uint64_t Hart::pending_interrupts() const {
  const uint64_t wired = pins_.sample() & (irq::kMsip | irq::kMtip | irq::kSeip | irq::kMeip);
  return mip_ | sstc_pending_ | wired;
}

// STIP from stimecmp and VSTIP from vstimecmp (guest time = time + htimedelta), as Sstc drives them.
uint64_t Hart::sstc_level() const {
  if (!(menvcfg_ & riscv::csr::menvcfg::kStce)) return 0;
  const uint64_t now = clock_.now();
  uint64_t level = now >= stimecmp_ ? irq::kStip : 0;
  if ((henvcfg_ & riscv::csr::menvcfg::kStce) && now + htimedelta_ >= vstimecmp_) level |= irq::kVstip;
  return level;
}

void Hart::poll_timer() {
  sstc_pending_ = sstc_level();
  if (executed_ >= window_epoch_end_) {
    jit_window_budget_ = kWindowMapsPerEpoch;
    window_epoch_end_ = executed_ + kWindowEpoch;
  }
}

bool Hart::take_pending_interrupt() {
  const uint64_t pending = pending_interrupts() & mie_;
  if (pending == 0) return false;
  // Each level's interrupts are enabled when running below that level, or at it with its xIE set.
  const bool machine_enabled = priv_ != Privilege::Machine || (mstatus_ & mstatus::kMie);
  const bool hypervisor_enabled =
      virt_ || priv_ == Privilege::User || (priv_ == Privilege::Supervisor && (mstatus_ & mstatus::kSie));
  const bool guest_enabled =
      virt_ && (priv_ == Privilege::User || (vsstatus_ & mstatus::kSie));
  uint64_t candidates = machine_enabled ? (pending & ~mideleg_) : 0;
  if (candidates == 0 && hypervisor_enabled) candidates = pending & mideleg_ & ~hideleg_;
  if (candidates == 0 && guest_enabled) candidates = pending & mideleg_ & hideleg_;
  if (candidates == 0) return false;
  // Priority order of the privileged spec: MEI, MSI, MTI, SEI, SSI, STI, (SGEI), VSEI, VSSI, VSTI.
  static constexpr unsigned kOrder[] = {irq::kMei, irq::kMsi,  irq::kMti,  irq::kSei,
                                        irq::kSsi, irq::kSti,  irq::kVsei, irq::kVssi, irq::kVsti};
  for (const unsigned number : kOrder) {
    if (candidates & (uint64_t{1} << number)) {
      take_trap(number, 0, true);
      return true;
    }
  }
  return false;
}

void Hart::record_fault(uint64_t cause, uint64_t tval, unsigned handler_privilege) {
  if (first_fault_) {
    ++first_fault_->nested;
    return;
  }
  switch (static_cast<Exception>(cause)) {
  case Exception::EcallFromU:
  case Exception::EcallFromS:
  case Exception::EcallFromVS:
  case Exception::EcallFromM: return; // calls, not faults
  default: break;
  }
  FaultRecord r;
  r.cause = cause;
  r.tval = tval;
  r.pc = pc_;
  r.privilege = static_cast<unsigned>(priv_);
  r.virt = virt_;
  r.handler_privilege = handler_privilege;
  // The instruction, for the report; not for fetch faults (it could not be fetched).
  const bool fetch_fault = cause == static_cast<uint64_t>(Exception::InstructionMisaligned) ||
                           cause == static_cast<uint64_t>(Exception::InstructionAccessFault) ||
                           cause == static_cast<uint64_t>(Exception::InstructionPageFault) ||
                           cause == static_cast<uint64_t>(Exception::InstructionGuestPageFault);
  if (!fetch_fault) r.have_instruction = fetch_instruction(pc_, r.instruction);
  first_fault_ = r;
}

void Hart::do_mret() {
  first_fault_.reset();
  uint64_t s = mstatus_;
  const auto target = static_cast<Privilege>((s & mstatus::kMpp) >> mstatus::kMppShift);
  const bool virt = target != Privilege::Machine && (s & mstatus::kMpv);
  s = (s & ~mstatus::kMie) | ((s & mstatus::kMpie) ? mstatus::kMie : 0);
  s |= mstatus::kMpie;
  s &= ~(mstatus::kMpp | mstatus::kMpv); // MPP = U, MPV = 0
  if (target != Privilege::Machine) s &= ~mstatus::kMprv;
  mstatus_ = s;
  pc_ = mepc_;
  reservations_.clear(id_);
  set_mode(target, virt);
}

void Hart::do_sret() {
  first_fault_.reset();
  if (virt_) { // VS-mode: vsstatus and vsepc; V stays 1
    uint64_t s = vsstatus_;
    const Privilege target = (s & mstatus::kSpp) ? Privilege::Supervisor : Privilege::User;
    s = (s & ~mstatus::kSie) | ((s & mstatus::kSpie) ? mstatus::kSie : 0);
    s |= mstatus::kSpie;
    s &= ~mstatus::kSpp;
    vsstatus_ = s;
    pc_ = vsepc_;
    reservations_.clear(id_);
    set_mode(target, true);
    return;
  }
  uint64_t s = mstatus_;
  const Privilege target = (s & mstatus::kSpp) ? Privilege::Supervisor : Privilege::User;
  const bool virt = (hstatus_ & hstatus::kSpv) != 0;
  s = (s & ~mstatus::kSie) | ((s & mstatus::kSpie) ? mstatus::kSie : 0);
  s |= mstatus::kSpie;
  s &= ~mstatus::kSpp;
  s &= ~mstatus::kMprv;
  mstatus_ = s;
  hstatus_ &= ~hstatus::kSpv;
  pc_ = sepc_;
  reservations_.clear(id_);
  set_mode(target, virt);
}

} // namespace nimbus::machine
