// Trap mode: the guest kernel's privileged instructions, emulated from the trapped encoding on
// the virtual supervisor state (the hart raised an illegal-instruction exit in U-mode).
#include "hypervisor/trap_mode/trapped_cpu.hpp"
#include "riscv/decoder.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

namespace csr = riscv::csr;
namespace mstatus = riscv::csr::mstatus;
namespace irq = riscv::csr::irq;
using riscv::Op;

TrappedCpu::Step TrappedCpu::emulate_privileged(uint32_t bits, uint64_t pc) {
  const riscv::DecodedInstruction d = riscv::decode(bits);
  const auto illegal = [&] {
    deliver_trap(static_cast<uint64_t>(riscv::Exception::IllegalInstruction), bits, false, pc);
    return Step::resume;
  };
  const auto counted = [&] {
    count(ExitReason::privileged_instruction);
    counters_->count_emulated_privileged_instruction();
    ++stats_.emulated;
  };
  switch (d.op) {
  case Op::Csrrw:
  case Op::Csrrs:
  case Op::Csrrc:
  case Op::Csrrwi:
  case Op::Csrrsi:
  case Op::Csrrci: {
    const auto number = static_cast<uint16_t>(d.imm & 0xfff);
    const bool immediate = d.op == Op::Csrrwi || d.op == Op::Csrrsi || d.op == Op::Csrrci;
    const bool is_write = d.op == Op::Csrrw || d.op == Op::Csrrwi;
    const bool is_set = d.op == Op::Csrrs || d.op == Op::Csrrsi;
    const uint64_t source = immediate ? d.rs1 : hart_.x(d.rs1);
    const bool writes = is_write || d.rs1 != 0;
    const bool reads = !is_write || d.rd != 0;
    // The guest kernel has S privilege: M-level CSRs and writes to read-only ones are illegal.
    if (((number >> 8) & 3) > 1 || (writes && (number >> 10) == 3)) return illegal();
    uint64_t old = 0;
    if ((reads || !is_write) && !csr_read(number, old)) return illegal();
    if (writes) {
      const uint64_t value = is_write ? source : is_set ? (old | source) : (old & ~source);
      if (!csr_write(number, value)) return illegal();
    }
    hart_.set_x(d.rd, old);
    hart_.set_pc(pc + d.length);
    counted();
    return Step::resume;
  }
  case Op::Sret:
    do_sret();
    counted();
    return Step::resume;
  case Op::Wfi:
    hart_.set_pc(pc + d.length);
    counted();
    count(ExitReason::wfi);
    if ((pending_interrupts() & vs_.sie) != 0) return Step::resume;
    waiting_ = true;
    return Step::wait;
  case Op::SfenceVma:
    sfence(hart_.x(d.rs1), d.rs1 != 0, hart_.x(d.rs2), d.rs2 != 0);
    hart_.set_pc(pc + d.length);
    counted();
    return Step::resume;
  default:
    return illegal();
  }
}

bool TrappedCpu::csr_read(uint16_t number, uint64_t& value) {
  switch (number) {
  case csr::kSstatus: {
    const uint64_t fs = hart_fs();
    value = (vs_.sstatus & VirtualSupervisor::kSstatusState) | fs | (mstatus::kXlen64 << 32) |
            (fs == mstatus::kFs ? mstatus::kSd : 0);
    return true;
  }
  case csr::kSie: value = vs_.sie; return true;
  case csr::kStvec: value = vs_.stvec; return true;
  case csr::kScounteren: value = vs_.scounteren; return true;
  case csr::kSenvcfg: value = vs_.senvcfg; return true;
  case csr::kSscratch: value = vs_.sscratch; return true;
  case csr::kSepc: value = vs_.sepc; return true;
  case csr::kScause: value = vs_.scause; return true;
  case csr::kStval: value = vs_.stval; return true;
  case csr::kSip: value = pending_interrupts(); return true;
  case csr::kStimecmp: value = timer_deadline(); return true;
  case csr::kSatp: value = vs_.satp; return true;
  case csr::kCycle:
  case csr::kTime:
  case csr::kInstret:
    // Only trapped if the hart refused them; the guest kernel may always read them.
    value = number == csr::kTime ? ctx_.clock.now() : hart_.csr(number);
    return true;
  default: return false; // unknown to S-mode, or FP CSRs with FS off: illegal
  }
}

bool TrappedCpu::csr_write(uint16_t number, uint64_t value) {
  switch (number) {
  case csr::kSstatus: write_sstatus(value); return true;
  case csr::kSie: vs_.sie = value & VirtualSupervisor::kSieWritable; return true;
  case csr::kStvec: vs_.stvec = value & ~uint64_t{2}; return true; // modes 0 and 1 only
  case csr::kScounteren:
    vs_.scounteren = value & 0xffffffff;
    return true;
  case csr::kSenvcfg: vs_.senvcfg = value & csr::menvcfg::kFiom; return true;
  case csr::kSscratch: vs_.sscratch = value; return true;
  case csr::kSepc: vs_.sepc = value & ~uint64_t{1}; return true;
  case csr::kScause: vs_.scause = value; return true;
  case csr::kStval: vs_.stval = value; return true;
  case csr::kSip:
    if (value & irq::kSsip)
      soft_pending_.fetch_or(irq::kSsip, std::memory_order_acq_rel);
    else
      soft_pending_.fetch_and(~irq::kSsip, std::memory_order_acq_rel);
    return true;
  case csr::kStimecmp: set_timer(value); return true;
  case csr::kSatp: write_satp(value); return true;
  case csr::kCycle:
  case csr::kTime:
  case csr::kInstret: return false; // read-only (caught earlier by the number check)
  default: return false;
  }
}

void TrappedCpu::write_sstatus(uint64_t value) {
  const uint64_t old = vs_.sstatus;
  vs_.sstatus = value & VirtualSupervisor::kSstatusState;
  // FS lives in the hart: U-mode FP works exactly when the guest enabled it.
  const uint64_t hart_status = hart_.csr(csr::kMstatus);
  hart_.set_csr(csr::kMstatus, (hart_status & ~mstatus::kFs) | (value & mstatus::kFs));
  const uint64_t changed = old ^ vs_.sstatus;
  if ((changed & mstatus::kMxr) != 0) {
    // MXR changes which pages loads may read: rare, so rebuild every shadow.
    shadows_.invalidate_all();
    hart_satp_ = ~uint64_t{0};
    enter_root();
    counters_->count_tlb_flush();
  } else if ((changed & mstatus::kSum) && !(vs_.sstatus & mstatus::kSum)) {
    // The guest kernel loses access to user pages: drop those it was given under SUM. They
    // were data-only leaves of the supervisor root: only that root's load and store entries
    // can hold them (block links and the other roots' entries stay).
    if (shadows_.clear_sum_leaves()) {
      if (const uint64_t root = shadows_.existing_hart_satp(ShadowPageTables::Root::supervisor))
        hart_.flush_user_root_data(root);
      else
        hart_.flush_translations();
    }
  }
}

void TrappedCpu::write_satp(uint64_t value) {
  const uint64_t mode = value >> csr::satp::kModeShift;
  if (mode != csr::satp::kModeBare && mode != csr::satp::kModeSv39 && mode != csr::satp::kModeSv48 &&
      mode != csr::satp::kModeSv57)
    return; // unsupported mode: the write has no effect (WARL)
  vs_.satp = mode == csr::satp::kModeBare
                 ? 0
                 : value & ((uint64_t{0xf} << csr::satp::kModeShift) | csr::satp::kAsidMask | csr::satp::kPpnMask);
  shadows_.select(vs_.satp);
  if (!enter_root()) fatal_reason_ = "no machine memory for a shadow root";
}

void TrappedCpu::sfence(uint64_t address, bool has_address, uint64_t asid, bool has_asid) {
  if (has_address) {
    shadows_.invalidate_address(address); // in every space: a superset of what is asked
  } else if (has_asid) {
    shadows_.invalidate_asid(asid & 0xffff);
  } else {
    shadows_.invalidate_all();
    hart_satp_ = ~uint64_t{0};
  }
  if (!enter_root()) fatal_reason_ = "no machine memory for a shadow root";
  if (has_address)
    hart_.flush_translation_page(address); // the shadow leaves of that page only, in every root
  else
    hart_.flush_translations();
  counters_->count_tlb_flush();
}

void TrappedCpu::do_sret() {
  first_fault_.reset();
  uint64_t s = vs_.sstatus;
  const bool to_supervisor = s & mstatus::kSpp;
  s = (s & ~mstatus::kSie) | ((s & mstatus::kSpie) ? mstatus::kSie : 0);
  s |= mstatus::kSpie;
  s &= ~mstatus::kSpp;
  vs_.sstatus = s;
  vs_.supervisor = to_supervisor;
  hart_.set_pc(vs_.sepc);
  reservations_.clear(hart_.id());
  if (!enter_root()) fatal_reason_ = "no machine memory for a shadow root";
}

} // namespace nimbus::hypervisor
