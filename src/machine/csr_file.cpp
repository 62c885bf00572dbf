// The CSR file: access rules, WARL legalization and side effects, looked up by CSR number.
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine {

namespace csr = riscv::csr;
namespace mstatus = riscv::csr::mstatus;
namespace irq = riscv::csr::irq;

namespace {
// 0-10, 12, 13, 15 (as QEMU) and the H causes 20-23 (guest-page faults, virtual instruction).
constexpr uint64_t kDelegableExceptions = 0xb7ff | (0xfull << 20);
constexpr uint64_t kDelegableInterrupts = irq::kSupervisorBits;
// Bits of mideleg that are read-only one with the H extension: the VS-level interrupts (SGEIP too
// only when GEILEN > 0, which it is not here).
constexpr uint64_t kForcedDelegation = irq::kVsBits;
constexpr uint64_t kMieWritable = irq::kAll;
// mip.VSSIP is an alias of hvip.VSSIP; VSTIP/VSEIP are set through hvip only.
constexpr uint64_t kMipWritable = irq::kSsip | irq::kStip | irq::kSeip | irq::kVssip;
constexpr uint64_t kCounterenMask = 0xffffffff;
constexpr uint64_t kCountinhibitMask = csr::counteren::kCy | csr::counteren::kIr;
constexpr uint64_t kMenvcfgMask = csr::menvcfg::kFiom | csr::menvcfg::kStce;
constexpr uint64_t kSenvcfgMask = csr::menvcfg::kFiom;
} // namespace

Privilege Hart::data_privilege() const {
  if (priv_ == Privilege::Machine && (mstatus_ & mstatus::kMprv))
    return static_cast<Privilege>((mstatus_ & mstatus::kMpp) >> mstatus::kMppShift);
  return priv_;
}

bool Hart::data_virt() const {
  if (priv_ == Privilege::Machine && (mstatus_ & mstatus::kMprv))
    return (mstatus_ & mstatus::kMpv) && (mstatus_ & mstatus::kMpp) != mstatus::kMpp;
  return virt_;
}

void Hart::update_data_context() {
  const unsigned context = tlb_context(data_privilege(), data_virt());
  if (context != data_context_) tlb_.site_pages().clear(); // a slot is a translation of the old context
  data_context_ = context;
  jit_data_tables_ = &tlb_.entry(data_context_, Access::Fetch, 0); // Fetch is table 0 of the context
  jit_window_base_ = window_ ? window_->base(data_context_) : nullptr;
}


uint64_t Hart::read_mstatus() const {
  uint64_t value = mstatus_;
  if ((value & mstatus::kFs) == mstatus::kFs) value |= mstatus::kSd;
  return value;
}

void Hart::write_mstatus(uint64_t value) {
  const uint64_t old = mstatus_;
  uint64_t mpp = (value & mstatus::kMpp) >> mstatus::kMppShift;
  if (mpp == 2) mpp = 0; // reserved encoding: legalize to U
  uint64_t next = (old & ~mstatus::kWritable) | (value & mstatus::kWritable);
  next = (next & ~mstatus::kMpp) | (mpp << mstatus::kMppShift);
  mstatus_ = next;
  const uint64_t changed = old ^ next;
  // SUM only changes what S-mode may touch; MXR only changes what loads may read. Setting either
  // only allows more, so every entry installed without it stays right: only clearing drops
  // entries, and clearing SUM only the S-mode entries of user pages (Linux sets and clears SUM
  // around every copy to or from a process; dropping the whole context each time made the kernel
  // walk again for its own pages, about thirty walks a clear).
  const unsigned supervisor = SoftTlb::context_of(Privilege::Supervisor);
  if (changed & old & mstatus::kSum) tlb_.flush_supervisor_user_pages();
  if (changed & old & mstatus::kMxr) {
    tlb_.flush_context(supervisor, Access::Load);
    for (const unsigned user : SoftTlb::kUserRootContexts) tlb_.flush_context(user, Access::Load);
    // mstatus.MXR applies to both stages of guest translation too.
    tlb_.flush_context(SoftTlb::context_of(Privilege::Supervisor, true), Access::Load);
    tlb_.flush_context(SoftTlb::context_of(Privilege::User, true), Access::Load);
  }
  if (changed & (mstatus::kMprv | mstatus::kMpp | mstatus::kMpv)) update_data_context();
}

// mcounteren gates S and U (illegal instruction); with V=1 hcounteren gates VS and VU, and
// scounteren VU (virtual instruction).
Hart::CsrAccess Hart::counter_accessible(unsigned counter) const {
  if (priv_ == Privilege::Machine) return CsrAccess::Ok;
  if (!((mcounteren_ >> counter) & 1)) return CsrAccess::Illegal;
  if (virt_ && !((hcounteren_ >> counter) & 1)) return CsrAccess::Virtual;
  if (priv_ == Privilege::User && !((scounteren_ >> counter) & 1))
    return virt_ ? CsrAccess::Virtual : CsrAccess::Illegal;
  return CsrAccess::Ok;
}

Hart::CsrAccess Hart::csr_accessible(uint16_t number, bool writing) const {
  const unsigned level = (number >> 8) & 3; // 0 U, 1 S, 2 H (and VS), 3 M
  const bool read_only = (number >> 10) == 3;
  if (virt_) {
    if (level == 3) return CsrAccess::Illegal;
    // H and VS CSRs from VS/VU, S CSRs from VU: a virtual-instruction exception when HS-mode
    // could make the same access, else illegal.
    if (level == 2 || (level == 1 && priv_ == Privilege::User)) {
      uint64_t ignored;
      if (!csr_read(number, ignored) || (writing && read_only)) return CsrAccess::Illegal;
      return CsrAccess::Virtual;
    }
  } else {
    const unsigned highest = priv_ == Privilege::Machine ? 3 : priv_ == Privilege::Supervisor ? 2 : 0;
    if (level > highest) return CsrAccess::Illegal;
  }
  if (writing && read_only) return CsrAccess::Illegal;
  if (number <= csr::kFcsr && fs_off()) return CsrAccess::Illegal;
  if (number >= csr::kCycle && number <= csr::kHpmCounter31) return counter_accessible(number - csr::kCycle);
  if (number == csr::kSatp && priv_ == Privilege::Supervisor) {
    if (!virt_ && (mstatus_ & mstatus::kTvm)) return CsrAccess::Illegal;
    if (virt_ && (hstatus_ & csr::hstatus::kVtvm)) return CsrAccess::Virtual;
  }
  if (number == csr::kHgatp && priv_ == Privilege::Supervisor && (mstatus_ & mstatus::kTvm))
    return CsrAccess::Illegal;
  if ((number == csr::kStimecmp || number == csr::kVstimecmp) && priv_ != Privilege::Machine) {
    if (!(mcounteren_ & csr::counteren::kTm) || !(menvcfg_ & csr::menvcfg::kStce)) return CsrAccess::Illegal;
    if (virt_ && (!(hcounteren_ & csr::counteren::kTm) || !(henvcfg_ & csr::menvcfg::kStce)))
      return CsrAccess::Virtual;
  }
  return CsrAccess::Ok;
}

bool Hart::csr_read(uint16_t number, uint64_t& value) const {
  switch (number) {
  case csr::kFflags: value = fflags_; return true;
  case csr::kFrm: value = frm_; return true;
  case csr::kFcsr: value = uint64_t{frm_} << 5 | fflags_; return true;
  case csr::kCycle:
  case csr::kMcycle: value = cycle_ + csr_read_bias_; return true;
  case csr::kInstret:
  case csr::kMinstret: value = instret_ + csr_read_bias_; return true;
  case csr::kTime: value = clock_.now() + (virt_ ? htimedelta_ : 0); return true;
  case csr::kSstatus: value = read_mstatus() & mstatus::kSstatusView; return true;
  case csr::kSie: value = mie_ & mideleg_ & kDelegableInterrupts; return true;
  case csr::kStvec: value = stvec_; return true;
  case csr::kScounteren: value = scounteren_; return true;
  case csr::kSenvcfg: value = senvcfg_; return true;
  case csr::kSscratch: value = sscratch_; return true;
  case csr::kSepc: value = sepc_; return true;
  case csr::kScause: value = scause_; return true;
  case csr::kStval: value = stval_; return true;
  case csr::kSip: value = pending_interrupts() & mideleg_ & kDelegableInterrupts; return true;
  case csr::kStimecmp: value = stimecmp_; return true;
  case csr::kSatp: value = satp_; return true;
  case csr::kMvendorid:
  case csr::kMarchid:
  case csr::kMimpid:
  case csr::kMconfigptr: value = 0; return true;
  case csr::kMhartid: value = id_; return true;
  case csr::kMstatus: value = read_mstatus(); return true;
  case csr::kMisa: value = csr::kMisaValue; return true;
  case csr::kMedeleg: value = medeleg_; return true;
  case csr::kMideleg: value = mideleg_; return true;
  case csr::kMie: value = mie_; return true;
  case csr::kMtvec: value = mtvec_; return true;
  case csr::kMcounteren: value = mcounteren_; return true;
  case csr::kMenvcfg: value = menvcfg_; return true;
  case csr::kMcountinhibit: value = mcountinhibit_; return true;
  case csr::kMscratch: value = mscratch_; return true;
  case csr::kMepc: value = mepc_; return true;
  case csr::kMcause: value = mcause_; return true;
  case csr::kMtval: value = mtval_; return true;
  case csr::kMip: value = pending_interrupts(); return true;
  default: break;
  }
  if (hypervisor_csr_read(number, value)) return true;
  if ((number >= csr::kHpmCounter3 && number <= csr::kHpmCounter31) ||
      (number >= csr::kMhpmcounter3 && number <= csr::kMhpmcounter31) ||
      (number >= csr::kMhpmevent3 && number <= csr::kMhpmevent31)) {
    value = 0;
    return true;
  }
  if (number >= csr::kPmpcfg0 && number <= csr::kPmpcfg15) {
    if (number & 1) return false; // odd pmpcfg registers do not exist on RV64
    value = pmp_.read_cfg(number - csr::kPmpcfg0);
    return true;
  }
  if (number >= csr::kPmpaddr0 && number <= csr::kPmpaddr63) {
    value = pmp_.read_addr(number - csr::kPmpaddr0);
    return true;
  }
  return false;
}

bool Hart::csr_write(uint16_t number, uint64_t value) {
  switch (number) {
  case csr::kFflags: fflags_ = value & 0x1f; mark_fs_dirty(); return true;
  case csr::kFrm: frm_ = value & 7; mark_fs_dirty(); return true;
  case csr::kFcsr:
    fflags_ = value & 0x1f;
    frm_ = (value >> 5) & 7;
    mark_fs_dirty();
    return true;
  case csr::kMcycle: cycle_ = value - csr_write_bias_; return true;
  case csr::kMinstret: instret_ = value - csr_write_bias_; return true;
  case csr::kSstatus:
    write_mstatus((mstatus_ & ~mstatus::kSstatusWritable) | (value & mstatus::kSstatusWritable));
    return true;
  case csr::kSie: {
    const uint64_t mask = mideleg_ & kDelegableInterrupts;
    mie_ = (mie_ & ~mask) | (value & mask);
    return true;
  }
  case csr::kStvec:
    if ((value & 3) < 2) stvec_ = value;
    return true;
  case csr::kScounteren: scounteren_ = value & kCounterenMask; return true;
  case csr::kSenvcfg: senvcfg_ = value & kSenvcfgMask; return true;
  case csr::kSscratch: sscratch_ = value; return true;
  case csr::kSepc: sepc_ = value & ~uint64_t{1}; return true;
  case csr::kScause: scause_ = value; return true;
  case csr::kStval: stval_ = value; return true;
  case csr::kSip: {
    const uint64_t mask = mideleg_ & irq::kSsip;
    mip_ = (mip_ & ~mask) | (value & mask);
    return true;
  }
  case csr::kStimecmp:
    stimecmp_ = value;
    poll_timer();
    return true;
  case csr::kSatp: {
    const uint64_t mode = value >> csr::satp::kModeShift;
    if (mode != csr::satp::kModeBare && mode != csr::satp::kModeSv39 && mode != csr::satp::kModeSv48 &&
        mode != csr::satp::kModeSv57)
      return true; // unsupported mode: the write has no effect
    const uint64_t old_mode = satp_ >> csr::satp::kModeShift;
    satp_ = value & ((uint64_t{0xf} << csr::satp::kModeShift) | csr::satp::kAsidMask | csr::satp::kPpnMask);
    // Guest translations do not use satp. Another address space in the same mode keeps the
    // global mappings (the spec has software fence a change of those); a new mode keeps nothing.
    if (mode == old_mode)
      flush_host_address_space();
    else
      flush_host_tlb();
    return true;
  }
  case csr::kMstatus: write_mstatus(value); return true;
  case csr::kMisa: return true; // fixed
  case csr::kMedeleg: medeleg_ = value & kDelegableExceptions; return true;
  case csr::kMideleg: mideleg_ = (value & kDelegableInterrupts) | kForcedDelegation; return true;
  case csr::kMie: mie_ = value & kMieWritable; return true;
  case csr::kMtvec:
    if ((value & 3) < 2) mtvec_ = value;
    return true;
  case csr::kMcounteren: mcounteren_ = value & kCounterenMask; return true;
  case csr::kMenvcfg:
    menvcfg_ = value & kMenvcfgMask;
    poll_timer();
    return true;
  case csr::kMcountinhibit: mcountinhibit_ = value & kCountinhibitMask; return true;
  case csr::kMscratch: mscratch_ = value; return true;
  case csr::kMepc: mepc_ = value & ~uint64_t{1}; return true;
  case csr::kMcause: mcause_ = value; return true;
  case csr::kMtval: mtval_ = value; return true;
  case csr::kMip: {
    // With Sstc enabled, STIP reflects stimecmp and is not writable.
    const uint64_t mask = (menvcfg_ & csr::menvcfg::kStce) ? (kMipWritable & ~irq::kStip) : kMipWritable;
    mip_ = (mip_ & ~mask) | (value & mask);
    return true;
  }
  default: break;
  }
  if (hypervisor_csr_write(number, value)) return true;
  if ((number >= csr::kMhpmcounter3 && number <= csr::kMhpmcounter31) ||
      (number >= csr::kMhpmevent3 && number <= csr::kMhpmevent31))
    return true; // read-only zero
  if (number >= csr::kPmpcfg0 && number <= csr::kPmpcfg15) {
    if (number & 1) return false;
    pmp_.write_cfg(number - csr::kPmpcfg0, value);
    flush_tlb();
    if (jit_) blocks_.clear(); // native direct links skip PMP checks inside a page (docs/jit.md)
    return true;
  }
  if (number >= csr::kPmpaddr0 && number <= csr::kPmpaddr63) {
    pmp_.write_addr(number - csr::kPmpaddr0, value);
    flush_tlb();
    if (jit_) blocks_.clear(); // native direct links skip PMP checks inside a page (docs/jit.md)
    return true;
  }
  // Read-only CSRs that exist (writes are stopped earlier by the access check).
  uint64_t ignored;
  return csr_read(number, ignored);
}

uint64_t Hart::csr(uint16_t number) const {
  uint64_t value = 0;
  if (!csr_read(number, value)) return 0;
  return value;
}

void Hart::set_csr(uint16_t number, uint64_t value) { csr_write(number, value); }

} // namespace nimbus::machine
