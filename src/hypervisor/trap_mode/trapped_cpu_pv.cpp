// Trap mode: the Nimbus PV interface (pv_abi.hpp). A guest kernel that probes the extension
// shares its virtual supervisor CSRs in a page and returns from traps, switches address space
// and flushes translations with one hypercall each, so its trap paths cost two exits (the trap
// and the return) instead of one per CSR access. Arguments are the guest's and hostile: each
// bad one is an SBI error, nothing is done beyond the VM's own RAM and shadows.
#include <fmt/format.h>

#include <array>
#include <cstring>

#include "hypervisor/sbi.hpp"
#include "hypervisor/trap_mode/trapped_cpu.hpp"
#include "riscv/csr.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::hypervisor {

namespace csr = riscv::csr;

namespace {
constexpr uint64_t kProbeExtension = 3; // BASE function
constexpr unsigned kA0 = 10, kA1 = 11, kA6 = 16, kA7 = 17;
} // namespace

bool TrappedCpu::pv_ecall() {
  const uint64_t eid = hart_.x(kA7), fid = hart_.x(kA6);
  if (eid == sbi::kBase && fid == kProbeExtension && hart_.x(kA0) == pv::kExtension) {
    // Only a trap-mode vCPU offers it; every other probe is the core's.
    hart_.set_x(kA0, sbi::kSuccess);
    hart_.set_x(kA1, 1);
    hart_.set_pc(hart_.pc() + 4);
    ++stats_.pv_calls;
    return true;
  }
  if (eid != pv::kExtension) return false;
  ++stats_.pv_calls;
  int64_t error = sbi::kErrNotSupported;
  uint64_t value = 0;
  switch (fid) {
  case pv::kSetSharedPage:
    error = pv_set_shared_page(hart_.x(kA0));
    value = error == sbi::kSuccess && pv_active() ? pv::kSharedVa : 0;
    break;
  case pv::kSret:
    if (!pv_active()) {
      error = sbi::kErrDenied; // no page to take a6 and a7 from
      break;
    }
    {
      uint64_t a6 = 0, a7 = 0;
      if (ctx_.memory.read(pv_page_ + pv::kSretA6, &a6, 8) != GuestMemoryStatus::ok ||
          ctx_.memory.read(pv_page_ + pv::kSretA7, &a7, 8) != GuestMemoryStatus::ok) {
        error = sbi::kErrFailed;
        break;
      }
      hart_.set_x(kA6, a6);
      hart_.set_x(kA7, a7);
    }
    do_sret();
    return true; // pc is sepc, every register the guest's
  case pv::kSetSatp: error = pv_set_satp(hart_.x(kA0), hart_.x(kA1)); break;
  case pv::kMmuBatch: error = pv_mmu_batch(hart_.x(kA0), hart_.x(kA1), value); break;
  default: break;
  }
  hart_.set_x(kA0, static_cast<uint64_t>(error));
  hart_.set_x(kA1, value);
  hart_.set_pc(hart_.pc() + 4);
  return true;
}

int64_t TrappedCpu::pv_set_shared_page(uint64_t gpa) {
  if (gpa == kNoPvPage) {
    pv_page_ = kNoPvPage;
  } else {
    if ((gpa & (pv::kPageSize - 1)) != 0) return sbi::kErrInvalidParam;
    if (!ctx_.memory.contains(gpa, pv::kPageSize)) return sbi::kErrInvalidAddress;
    uint64_t machine = 0;
    if (ctx_.memory.machine_address(gpa, machine) != GuestMemoryStatus::ok) return sbi::kErrFailed;
    const uint64_t version = pv::kAbiVersion;
    if (ctx_.memory.write(gpa + pv::kAbiVersionOffset, &version, 8) != GuestMemoryStatus::ok) return sbi::kErrFailed;
    pv_page_ = gpa;
    pv_page_stale_ = true;
  }
  // A page registered before (or none) may still be mapped at kSharedVa.
  shadows_.invalidate_address(pv::kSharedVa);
  hart_.flush_translations();
  return sbi::kSuccess;
}

int64_t TrappedCpu::pv_set_satp(uint64_t satp, uint64_t flags) {
  const uint64_t mode = satp >> csr::satp::kModeShift;
  if ((flags & ~pv::kSatpFlush) != 0) return sbi::kErrInvalidParam;
  if (mode != csr::satp::kModeBare && mode != csr::satp::kModeSv39 && mode != csr::satp::kModeSv48 &&
      mode != csr::satp::kModeSv57)
    return sbi::kErrInvalidParam; // a csrw would ignore it (WARL); a hypercall says so
  if (mode == csr::satp::kModeBare && satp != 0) return sbi::kErrInvalidParam;
  write_satp(satp);
  if (flags & pv::kSatpFlush) sfence(0, false, 0, false);
  return fatal_reason_.empty() ? sbi::kSuccess : sbi::kErrFailed;
}

int64_t TrappedCpu::pv_mmu_batch(uint64_t list, uint64_t count, uint64_t& done) {
  done = 0;
  if (count > pv::kMaxMmuOps || (list & 7) != 0) return sbi::kErrInvalidParam;
  if (count == 0) return sbi::kSuccess;
  if (!ctx_.memory.contains(list, count * sizeof(pv::MmuOp))) return sbi::kErrInvalidAddress;
  std::array<pv::MmuOp, pv::kMaxMmuOps> ops;
  if (ctx_.memory.read(list, ops.data(), count * sizeof(pv::MmuOp)) != GuestMemoryStatus::ok) return sbi::kErrFailed;
  int64_t error = sbi::kSuccess;
  bool dropped_all = false;
  bool flush_everything = false; // an ASID or all: else only the pages named changed
  for (; done < count; ++done) {
    const pv::MmuOp& op = ops[done];
    if (op.op == pv::kMmuFlushPage) {
      shadows_.invalidate_address(op.va);
    } else if (op.op == pv::kMmuFlushAsid) {
      if (op.value > 0xffff) { // 16 ASID bits
        error = sbi::kErrInvalidParam;
        break;
      }
      shadows_.invalidate_asid(op.value);
      flush_everything = true;
    } else if (op.op == pv::kMmuFlushAll) {
      shadows_.invalidate_all();
      dropped_all = true;
      flush_everything = true;
    } else if (op.op == pv::kMmuWritePte) {
      if ((op.gpa & 7) != 0 || !ctx_.memory.contains(op.gpa, 8)) {
        error = sbi::kErrInvalidAddress;
        break;
      }
      if (ctx_.memory.write(op.gpa, &op.value, 8) != GuestMemoryStatus::ok) {
        error = sbi::kErrFailed;
        break;
      }
      shadows_.invalidate_address(op.va);
    } else {
      error = sbi::kErrInvalidParam;
      break;
    }
  }
  if (done > 0) {
    if (dropped_all) hart_satp_ = ~uint64_t{0};
    if (!enter_root()) fatal_reason_ = "no machine memory for a shadow root";
    if (flush_everything) {
      hart_.flush_translations();
    } else {
      for (uint64_t i = 0; i < done; ++i) hart_.flush_translation_page(ops[i].va);
    }
    counters_->count_tlb_flush();
  }
  return error;
}

void TrappedCpu::pv_push() {
  pv::SharedCsrs page{};
  csr_read(csr::kSstatus, page.sstatus);
  page.sie = vs_.sie;
  page.sip = pending_interrupts();
  page.sepc = vs_.sepc;
  page.scause = vs_.scause;
  page.stval = vs_.stval;
  page.sscratch = vs_.sscratch;
  page.stvec = vs_.stvec;
  page.satp = vs_.satp;
  if (!pv_page_stale_ && std::memcmp(&page, &pv_pushed_, sizeof page) == 0) return;
  if (ctx_.memory.write(pv_page_ + pv::kCsrBlock, &page, sizeof page) == GuestMemoryStatus::ok) {
    pv_pushed_ = page;
    pv_page_stale_ = false;
  }
}

void TrappedCpu::pv_pull() {
  if (pv_page_stale_) return; // never pushed: nothing the guest wrote can be told apart
  pv::SharedCsrs page{};
  if (ctx_.memory.read(pv_page_ + pv::kCsrBlock, &page, sizeof page) != GuestMemoryStatus::ok) return;
  if (std::memcmp(&page, &pv_pushed_, sizeof page) == 0) return;
  // What the guest changed, as if it had written the CSR (same masks and side effects). An
  // unchanged sstatus is not written back: the hart may have set FS dirty meanwhile.
  if (page.sstatus != pv_pushed_.sstatus) csr_write(csr::kSstatus, page.sstatus);
  if (page.sie != pv_pushed_.sie) csr_write(csr::kSie, page.sie);
  if (page.sepc != pv_pushed_.sepc) csr_write(csr::kSepc, page.sepc);
  if (page.scause != pv_pushed_.scause) csr_write(csr::kScause, page.scause);
  if (page.stval != pv_pushed_.stval) csr_write(csr::kStval, page.stval);
  if (page.sscratch != pv_pushed_.sscratch) csr_write(csr::kSscratch, page.sscratch);
  // sip, stvec and satp are mirrors: the next push puts them back.
  pv_pushed_ = page;
}

TrappedCpu::Step TrappedCpu::pv_map_shared_page(uint64_t va, GuestAccess access) {
  count(ExitReason::guest_page_fault);
  const uint64_t pc = hart_.pc();
  if (access == GuestAccess::fetch) {
    deliver_trap(static_cast<uint64_t>(riscv::Exception::InstructionAccessFault), va, false, pc);
    return Step::resume;
  }
  uint64_t machine = 0;
  if (ctx_.memory.machine_address(pv_page_, machine) != GuestMemoryStatus::ok) {
    fatal_reason_ = fmt::format("no machine frame for the PV shared page {:#x}", pv_page_);
    return Step::fatal;
  }
  ShadowPageTables::Leaf leaf;
  leaf.machine_page = machine;
  leaf.read = true;
  leaf.write = true;
  leaf.global = true; // in every address space: survives ASID fences
  ctx_.memory.mark_dirty(pv_page_, pv::kPageSize);
  if (shadows_.map(ShadowPageTables::Root::supervisor, va, leaf) == ShadowPageTables::Result::failed ||
      !enter_root()) {
    fatal_reason_ = fmt::format("cannot shadow the PV shared page (shadow table limit {} pages)", table_pages_.limit());
    return Step::fatal;
  }
  ++stats_.shadow_fills;
  counters_->count_shadow_page_fault();
  return Step::resume;
}

} // namespace nimbus::hypervisor
