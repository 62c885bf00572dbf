// Trap entry, interrupt selection, xRET and privilege changes.
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine {

using riscv::Exception;
namespace mstatus = riscv::csr::mstatus;
namespace irq = riscv::csr::irq;

void Hart::set_priv(Privilege p) {
  priv_ = p;
  update_data_context();
}

const BlockOp* Hart::raise(const BlockOp* op, Exception cause, uint64_t tval) {
  pc_ = block_pc_ + op->offset;
  block_retired_ = op->index;
  take_trap(static_cast<uint64_t>(cause), tval, false);
  return nullptr;
}

void Hart::take_trap(uint64_t cause, uint64_t tval, bool interrupt) {
  const uint64_t delegation = interrupt ? mideleg_ : medeleg_;
  const bool to_supervisor = priv_ != Privilege::Machine && cause < 64 && ((delegation >> cause) & 1);
  const uint64_t cause_value = cause | (interrupt ? riscv::kInterruptBit : 0);
  if (!to_supervisor && vmm_exits_) {
    pending_exit_ = TrapExit{cause, tval, pc_, interrupt};
    exit_requested_ = true;
    return;
  }
  reservations_.clear();
  waiting_ = false;
  if (to_supervisor) {
    scause_ = cause_value;
    sepc_ = pc_;
    stval_ = tval;
    uint64_t s = mstatus_;
    s = (s & ~mstatus::kSpie) | ((s & mstatus::kSie) ? mstatus::kSpie : 0);
    s &= ~mstatus::kSie;
    s = (s & ~mstatus::kSpp) | (priv_ == Privilege::Supervisor ? mstatus::kSpp : 0);
    mstatus_ = s;
    const bool vectored = (stvec_ & 3) == 1 && interrupt;
    pc_ = (stvec_ & ~uint64_t{3}) + (vectored ? 4 * cause : 0);
    set_priv(Privilege::Supervisor);
  } else {
    mcause_ = cause_value;
    mepc_ = pc_;
    mtval_ = tval;
    uint64_t s = mstatus_;
    s = (s & ~mstatus::kMpie) | ((s & mstatus::kMie) ? mstatus::kMpie : 0);
    s &= ~mstatus::kMie;
    s = (s & ~mstatus::kMpp) | (static_cast<uint64_t>(priv_) << mstatus::kMppShift);
    mstatus_ = s;
    const bool vectored = (mtvec_ & 3) == 1 && interrupt;
    pc_ = (mtvec_ & ~uint64_t{3}) + (vectored ? 4 * cause : 0);
    set_priv(Privilege::Machine);
  }
}

uint64_t Hart::pending_interrupts() const {
  const uint64_t wired = pins_.sample() & (irq::kMsip | irq::kMtip | irq::kSeip | irq::kMeip);
  return mip_ | sstc_pending_ | wired;
}

uint64_t Hart::sstc_level() const {
  return (menvcfg_ & riscv::csr::menvcfg::kStce) && clock_.now() >= stimecmp_ ? irq::kStip : 0;
}

void Hart::poll_timer() { sstc_pending_ = sstc_level(); }

bool Hart::take_pending_interrupt() {
  const uint64_t pending = pending_interrupts() & mie_;
  if (pending == 0) return false;
  const bool machine_enabled = priv_ != Privilege::Machine || (mstatus_ & mstatus::kMie);
  const bool supervisor_enabled =
      priv_ == Privilege::User || (priv_ == Privilege::Supervisor && (mstatus_ & mstatus::kSie));
  uint64_t candidates = machine_enabled ? (pending & ~mideleg_) : 0;
  if (candidates == 0 && supervisor_enabled) candidates = pending & mideleg_;
  if (candidates == 0) return false;
  // Priority order of the privileged spec: MEI, MSI, MTI, SEI, SSI, STI.
  static constexpr unsigned kOrder[] = {irq::kMei, irq::kMsi, irq::kMti, irq::kSei, irq::kSsi, irq::kSti};
  for (const unsigned number : kOrder) {
    if (candidates & (uint64_t{1} << number)) {
      take_trap(number, 0, true);
      return true;
    }
  }
  return false;
}

void Hart::do_mret() {
  uint64_t s = mstatus_;
  const auto target = static_cast<Privilege>((s & mstatus::kMpp) >> mstatus::kMppShift);
  s = (s & ~mstatus::kMie) | ((s & mstatus::kMpie) ? mstatus::kMie : 0);
  s |= mstatus::kMpie;
  s &= ~mstatus::kMpp; // MPP = U
  if (target != Privilege::Machine) s &= ~mstatus::kMprv;
  mstatus_ = s;
  pc_ = mepc_;
  reservations_.clear();
  set_priv(target);
}

void Hart::do_sret() {
  uint64_t s = mstatus_;
  const Privilege target = (s & mstatus::kSpp) ? Privilege::Supervisor : Privilege::User;
  s = (s & ~mstatus::kSie) | ((s & mstatus::kSpie) ? mstatus::kSie : 0);
  s |= mstatus::kSpie;
  s &= ~mstatus::kSpp;
  s &= ~mstatus::kMprv;
  mstatus_ = s;
  pc_ = sepc_;
  reservations_.clear();
  set_priv(target);
}

} // namespace nimbus::machine
