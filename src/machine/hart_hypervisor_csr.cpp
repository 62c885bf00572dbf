// H extension CSRs: the hypervisor CSRs (hstatus, hedeleg, hideleg, hvip/hip/hie, hgatp, ...),
// the VS CSRs that stand in for the S CSRs when V=1, and mtval2/mtinst.
//
// VS-level pending bits set by software (hvip.VSSIP/VSTIP/VSEIP) live in mip_ at bits 2, 6, 10,
// so the run loop's interrupt check sees them without an extra load. GEILEN = 0: no guest external
// interrupt files, so hgeie/hgeip and the SGEI bits read zero.
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine {

namespace csr = riscv::csr;
namespace mstatus = riscv::csr::mstatus;
namespace hstatus = riscv::csr::hstatus;
namespace irq = riscv::csr::irq;

namespace {
// Exceptions HS-mode may hand on to VS: not the ecalls from HS/VS/M nor the H causes 20-23.
constexpr uint64_t kHedelegWritable = 0xb1ff; // 0-8, 12, 13, 15
constexpr uint64_t kVsstatusWritable = mstatus::kSstatusWritable;
constexpr uint64_t kVsstatusView = mstatus::kSie | mstatus::kSpie | mstatus::kSpp | mstatus::kFs | mstatus::kSum |
                                   mstatus::kMxr | mstatus::kUxl;
constexpr uint64_t kHenvcfgMask = csr::menvcfg::kFiom | csr::menvcfg::kStce;

bool legal_translation_mode(uint64_t value) {
  const uint64_t mode = value >> csr::satp::kModeShift;
  return mode == csr::satp::kModeBare || mode == csr::satp::kModeSv39 || mode == csr::satp::kModeSv48 ||
         mode == csr::satp::kModeSv57;
}
} // namespace

uint64_t Hart::read_vsstatus() const {
  uint64_t value = vsstatus_ & kVsstatusView;
  if ((value & mstatus::kFs) == mstatus::kFs) value |= mstatus::kSd;
  return value;
}

void Hart::write_vsstatus(uint64_t value) {
  const uint64_t old = vsstatus_;
  vsstatus_ = (old & ~kVsstatusWritable) | (value & kVsstatusWritable);
  // SUM and MXR change what the guest contexts of the soft TLB may hold.
  if ((old ^ vsstatus_) & (mstatus::kSum | mstatus::kMxr)) flush_guest_tlb();
}

bool Hart::hypervisor_csr_read(uint16_t number, uint64_t& value) const {
  switch (number) {
  case csr::kHstatus: value = hstatus_; return true;
  case csr::kHedeleg: value = hedeleg_; return true;
  case csr::kHideleg: value = hideleg_; return true;
  case csr::kHie: value = mie_ & irq::kVsBits; return true;
  case csr::kHip: value = pending_interrupts() & irq::kVsBits; return true;
  case csr::kHvip: value = mip_ & irq::kVsBits; return true;
  case csr::kHtimedelta: value = htimedelta_; return true;
  case csr::kHcounteren: value = hcounteren_; return true;
  case csr::kHgeie:
  case csr::kHgeip: value = 0; return true;
  case csr::kHenvcfg:
    // STCE is read-only zero while menvcfg.STCE is zero.
    value = henvcfg_ & ((menvcfg_ & csr::menvcfg::kStce) ? ~uint64_t{0} : ~csr::menvcfg::kStce);
    return true;
  case csr::kHtval: value = htval_; return true;
  case csr::kHtinst: value = htinst_; return true;
  case csr::kHgatp: value = hgatp_; return true;
  case csr::kVsstatus: value = read_vsstatus(); return true;
  // vsip/vsie: the VS bits HS-mode delegated (hideleg), shifted down to the S positions.
  case csr::kVsie: value = (mie_ & hideleg_ & irq::kVsBits) >> 1; return true;
  case csr::kVsip: value = (pending_interrupts() & hideleg_ & irq::kVsBits) >> 1; return true;
  case csr::kVstvec: value = vstvec_; return true;
  case csr::kVsscratch: value = vsscratch_; return true;
  case csr::kVsepc: value = vsepc_; return true;
  case csr::kVscause: value = vscause_; return true;
  case csr::kVstval: value = vstval_; return true;
  case csr::kVsatp: value = vsatp_; return true;
  case csr::kVstimecmp: value = vstimecmp_; return true;
  case csr::kMtval2: value = mtval2_; return true;
  case csr::kMtinst: value = mtinst_; return true;
  default: return false;
  }
}

bool Hart::hypervisor_csr_write(uint16_t number, uint64_t value) {
  switch (number) {
  case csr::kHstatus: hstatus_ = (hstatus_ & ~hstatus::kWritable) | (value & hstatus::kWritable); return true;
  case csr::kHedeleg: hedeleg_ = value & kHedelegWritable; return true;
  case csr::kHideleg: hideleg_ = value & irq::kVsBits; return true;
  case csr::kHie: mie_ = (mie_ & ~irq::kVsBits) | (value & irq::kVsBits); return true;
  case csr::kHip: mip_ = (mip_ & ~irq::kVssip) | (value & irq::kVssip); return true; // only VSSIP
  case csr::kHvip: mip_ = (mip_ & ~irq::kVsBits) | (value & irq::kVsBits); return true;
  case csr::kHtimedelta:
    htimedelta_ = value;
    poll_timer();
    return true;
  case csr::kHcounteren: hcounteren_ = value & 0xffffffff; return true;
  case csr::kHgeie:
  case csr::kHgeip: return true; // read-only zero (GEILEN = 0)
  case csr::kHenvcfg:
    henvcfg_ = value & kHenvcfgMask & ((menvcfg_ & csr::menvcfg::kStce) ? ~uint64_t{0} : ~csr::menvcfg::kStce);
    poll_timer();
    return true;
  case csr::kHtval: htval_ = value; return true;
  case csr::kHtinst: htinst_ = value; return true;
  case csr::kHgatp: {
    // Unlike satp, an unsupported MODE does not cancel the write: the fields are WARL, and MODE
    // becomes Bare. The root table is 16 KiB aligned: PPN bits 1:0 read as zero.
    const uint64_t mode = legal_translation_mode(value) ? value >> csr::satp::kModeShift : 0;
    hgatp_ = (mode << csr::satp::kModeShift) |
             (value & (csr::hgatp::kVmidMask | (csr::satp::kPpnMask & ~uint64_t{3})));
    flush_guest_tlb();
    return true;
  }
  case csr::kVsstatus: write_vsstatus(value); return true;
  case csr::kVsie: {
    const uint64_t mask = hideleg_ & irq::kVsBits;
    mie_ = (mie_ & ~mask) | ((value << 1) & mask);
    return true;
  }
  case csr::kVsip: {
    const uint64_t mask = hideleg_ & irq::kVssip; // only SSIP is writable through vsip
    mip_ = (mip_ & ~mask) | ((value << 1) & mask);
    return true;
  }
  case csr::kVstvec:
    if ((value & 3) < 2) vstvec_ = value;
    return true;
  case csr::kVsscratch: vsscratch_ = value; return true;
  case csr::kVsepc: vsepc_ = value & ~uint64_t{1}; return true;
  case csr::kVscause: vscause_ = value; return true;
  case csr::kVstval: vstval_ = value; return true;
  case csr::kVsatp:
    if (!legal_translation_mode(value)) return true;
    vsatp_ = value & ((uint64_t{0xf} << csr::satp::kModeShift) | csr::satp::kAsidMask | csr::satp::kPpnMask);
    flush_guest_tlb();
    return true;
  case csr::kVstimecmp:
    vstimecmp_ = value;
    poll_timer();
    return true;
  case csr::kMtval2: mtval2_ = value; return true;
  case csr::kMtinst: mtinst_ = value; return true;
  default: return false;
  }
}

} // namespace nimbus::machine
