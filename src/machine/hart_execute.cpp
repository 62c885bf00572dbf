// Instruction semantics for the interpreter tier: one small handler per operation, dispatched
// direct-threaded from a decoded block. Integer arithmetic comes from riscv/integer_semantics.hpp
// and FP arithmetic from riscv/fp, so a later JIT tier shares the definitions.
#include "machine/hart_execute.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "machine/hart.hpp"
#include "riscv/csr.hpp"
#include "riscv/fp/fp.hpp"
#include "riscv/integer_semantics.hpp"

namespace nimbus::machine {

using riscv::Exception;
using riscv::Op;
namespace sem = riscv::sem;
namespace fp = riscv::fp;
namespace mstatus = riscv::csr::mstatus;
namespace hstatus = riscv::csr::hstatus;

struct Hart::Exec {
  using P = const BlockOp*;

  static uint64_t pc_of(const Hart& h, P op) { return h.block_pc_ + op->offset; }
  static uint64_t next_pc(const Hart& h, P op) { return h.block_pc_ + op->offset + op->length; }
  static P leave(Hart& h, P op, uint64_t pc) {
    (void)op;
    h.pc_ = pc;
    return nullptr;
  }
  static P illegal(Hart& h, P op) { return h.raise(op, Exception::IllegalInstruction, op->bits); }
  // H extension: an instruction HS-mode could execute but VS/VU may not (tval as for illegal).
  static P virtual_instruction(Hart& h, P op) { return h.raise(op, Exception::VirtualInstruction, op->bits); }
  // After a store that hit decoded code, the rest of this block may be stale: leave it.
  static P after_store(Hart& h, P op) {
    if (h.code_modified_) [[unlikely]] {
      h.code_modified_ = false;
      h.block_retired_ = op->index + 1u;
      return leave(h, op, next_pc(h, op));
    }
    return op + 1;
  }

  // ---- memory access with the soft TLB fast path
  // An entry's host address for va: through the host-mapped window when generated code maps
  // its page there (one mapping for the tiers' accesses: the host forwards a store to a load
  // only through the same virtual address).
  static void* host_address(Hart& h, const TlbEntry& e, uint64_t va) {
    if (h.jit_window_base_ != nullptr && h.tlb_.window_tag(e) == e.tag)
      return const_cast<uint8_t*>(h.jit_window_base_) + static_cast<uint32_t>(va);
    return reinterpret_cast<void*>(e.addend + va);
  }
  template <typename T> static bool read(Hart& h, P op, uint64_t va, T& value) {
    const TlbEntry& e = h.tlb_.entry(h.data_context_, Access::Load, va);
    if (e.maps(va) && (va & 0xfff) <= 4096 - sizeof(T)) [[likely]] {
      std::memcpy(&value, host_address(h, e, va), sizeof(T));
      return true;
    }
    uint64_t raw;
    if (!h.load_slow(va, sizeof(T), raw, op)) return false;
    value = static_cast<T>(raw);
    return true;
  }
  template <typename T> static bool write(Hart& h, P op, uint64_t va, T value) {
    const TlbEntry& e = h.tlb_.entry(h.data_context_, Access::Store, va);
    if (e.maps(va) && (va & 0xfff) <= 4096 - sizeof(T)) [[likely]] {
      std::memcpy(host_address(h, e, va), &value, sizeof(T));
      return true;
    }
    return h.store_slow(va, sizeof(T), static_cast<uint64_t>(value), op);
  }

  // ---- integer
  template <uint64_t (*F)(uint64_t, uint64_t)> static P reg_reg(Hart& h, P op) {
    h.x_[op->rd] = F(h.x_[op->rs1], h.x_[op->rs2]);
    return op + 1;
  }
  template <uint64_t (*F)(uint64_t, uint64_t)> static P reg_imm(Hart& h, P op) {
    h.x_[op->rd] = F(h.x_[op->rs1], static_cast<uint64_t>(op->imm));
    return op + 1;
  }
  static P lui(Hart& h, P op) {
    h.x_[op->rd] = static_cast<uint64_t>(op->imm);
    return op + 1;
  }
  static P auipc(Hart& h, P op) {
    h.x_[op->rd] = pc_of(h, op) + static_cast<uint64_t>(op->imm);
    return op + 1;
  }
  static P jal(Hart& h, P op) {
    const uint64_t pc = pc_of(h, op);
    h.x_[op->rd] = pc + op->length;
    return leave(h, op, pc + static_cast<uint64_t>(op->imm));
  }
  static P jalr(Hart& h, P op) {
    const uint64_t target = (h.x_[op->rs1] + static_cast<uint64_t>(op->imm)) & ~uint64_t{1};
    h.x_[op->rd] = next_pc(h, op);
    return leave(h, op, target);
  }
  template <bool (*C)(uint64_t, uint64_t)> static P branch(Hart& h, P op) {
    const uint64_t pc = pc_of(h, op);
    return leave(h, op, C(h.x_[op->rs1], h.x_[op->rs2]) ? pc + static_cast<uint64_t>(op->imm) : pc + op->length);
  }
  template <typename T> static P load(Hart& h, P op) {
    T value;
    if (!read<T>(h, op, h.x_[op->rs1] + static_cast<uint64_t>(op->imm), value)) return nullptr;
    if constexpr (std::is_signed_v<T>)
      h.x_[op->rd] = static_cast<uint64_t>(static_cast<int64_t>(value));
    else
      h.x_[op->rd] = value;
    return op + 1;
  }
  template <typename T> static P store(Hart& h, P op) {
    if (!write<T>(h, op, h.x_[op->rs1] + static_cast<uint64_t>(op->imm), static_cast<T>(h.x_[op->rs2])))
      return nullptr;
    return after_store(h, op);
  }

  // ---- atomics
  // RAM is shared with harts on other host threads: LR loads atomically, SC is one host
  // compare-and-swap against the value LR read, AMOs are host atomic read-modify-writes
  // (sequentially consistent, which covers .aq and .rl). Device registers have no atomicity to
  // give beyond their device's lock: there the plain bus accesses stay.
  template <typename T> static P load_reserved(Hart& h, P op) {
    const uint64_t va = h.x_[op->rs1];
    if (va & (sizeof(T) - 1)) return h.raise(op, Exception::LoadMisaligned, va);
    uint64_t pa, raw;
    if (const auto fault = h.translate_data(va, sizeof(T), Access::Load, pa)) return h.raise(op, *fault, va);
    if (uint8_t* host = h.bus_.ram_pointer(pa, sizeof(T)))
      raw = std::atomic_ref<T>(*reinterpret_cast<T*>(host)).load(std::memory_order_seq_cst);
    else if (!h.read_physical(pa, sizeof(T), raw))
      return h.raise(op, Exception::LoadAccessFault, va);
    h.reservations_.reserve(h.id_, pa, raw);
    h.x_[op->rd] = sizeof(T) == 4 ? sem::sext32(raw) : raw;
    return op + 1;
  }
  template <typename T> static P store_conditional(Hart& h, P op) {
    const uint64_t va = h.x_[op->rs1];
    if (va & (sizeof(T) - 1)) return h.raise(op, Exception::StoreMisaligned, va);
    uint64_t pa;
    if (const auto fault = h.translate_data(va, sizeof(T), Access::Store, pa)) return h.raise(op, *fault, va);
    uint64_t result = 1;
    uint64_t reserved_value = 0;
    bool value_known = false;
    if (h.reservations_.claim(h.id_, pa, reserved_value, value_known)) {
      const auto value = static_cast<T>(h.x_[op->rs2]);
      if (uint8_t* host = h.bus_.ram_pointer(pa, sizeof(T))) {
        std::atomic_ref<T> cell(*reinterpret_cast<T*>(host));
        T expected = value_known ? static_cast<T>(reserved_value) : cell.load(std::memory_order_seq_cst);
        if (cell.compare_exchange_strong(expected, value, std::memory_order_seq_cst)) {
          h.note_store_physical(pa, sizeof(T));
          result = 0;
        }
      } else {
        if (!h.write_physical(pa, sizeof(T), value)) return h.raise(op, Exception::StoreAccessFault, va);
        result = 0;
      }
    }
    h.x_[op->rd] = result;
    return after_store(h, op);
  }
  template <typename T, uint64_t (*F)(uint64_t, uint64_t)> static P amo(Hart& h, P op) {
    const uint64_t va = h.x_[op->rs1];
    if (va & (sizeof(T) - 1)) return h.raise(op, Exception::StoreMisaligned, va);
    const auto widen = [](uint64_t v) { return sizeof(T) == 4 ? sem::sext32(v) : v; };
    const uint64_t operand = widen(h.x_[op->rs2]);
    const auto update = [&](uint8_t* host) {
      std::atomic_ref<T> cell(*reinterpret_cast<T*>(host));
      T seen = cell.load(std::memory_order_relaxed);
      while (!cell.compare_exchange_weak(seen, static_cast<T>(F(widen(seen), operand)), std::memory_order_seq_cst,
                                         std::memory_order_relaxed)) {
      }
      return widen(seen);
    };
    uint64_t old;
    const TlbEntry& e = h.tlb_.entry(h.data_context_, Access::Store, va);
    if (e.maps(va)) {
      old = update(reinterpret_cast<uint8_t*>(e.addend + va));
    } else {
      uint64_t pa, raw;
      if (const auto fault = h.translate_data(va, sizeof(T), Access::Store, pa)) return h.raise(op, *fault, va);
      if (uint8_t* host = h.bus_.ram_pointer(pa, sizeof(T))) {
        old = update(host);
        h.note_store_physical(pa, sizeof(T));
      } else {
        if (!h.read_physical(pa, sizeof(T), raw)) return h.raise(op, Exception::StoreAccessFault, va);
        old = widen(raw);
        if (!h.write_physical(pa, sizeof(T), static_cast<T>(F(old, operand))))
          return h.raise(op, Exception::StoreAccessFault, va);
      }
    }
    h.x_[op->rd] = old;
    return after_store(h, op);
  }

  // ---- system
  // The host (x86-64, TSO) keeps every order RVWMO asks for except a store before a later load:
  // a FENCE whose predecessor set has W and successor set has R (fence rw,rw: Linux's smp_mb)
  // needs a host full fence when other harts run on other threads.
  static P fence(Hart& h, P op) {
    if (fence_orders_store_load(op->bits) && h.reservations_.parallel())
      std::atomic_thread_fence(std::memory_order_seq_cst);
    return op + 1;
  }
  // This hart's own stores into decoded code drop it as they happen (write_physical), and DMA
  // drops it at the next block boundary: only another hart's stores can have left stale code.
  // So decoded (and translated) code is dropped only if another hart ran since the last drop;
  // a FENCE.I flood on one hart costs no retranslation.
  // With harts on other threads any of them may have written code at any time: then FENCE.I
  // always drops it (a flood of them slows only the hart that issues them).
  static P fence_i(Hart& h, P op) {
    if (h.reservations_.parallel() || h.reservations_.switches() != h.fence_i_switches_) {
      h.blocks_.clear(); // the running block stays alive until the next block boundary
      h.break_chains();
      h.fence_i_switches_ = h.reservations_.switches();
    }
    return leave(h, op, next_pc(h, op));
  }
  static P ecall(Hart& h, P op) {
    const Exception cause = h.priv_ == Privilege::User         ? Exception::EcallFromU
                            : h.priv_ == Privilege::Supervisor ? (h.virt_ ? Exception::EcallFromVS : Exception::EcallFromS)
                                                               : Exception::EcallFromM;
    return h.raise(op, cause, 0);
  }
  // mtval = 0 for EBREAK (allowed by the spec; what QEMU 7.2 reports).
  static P ebreak(Hart& h, P op) { return h.raise(op, Exception::Breakpoint, 0); }
  static P mret(Hart& h, P op) {
    if (h.priv_ != Privilege::Machine) return illegal(h, op);
    h.do_mret();
    return nullptr;
  }
  // With V=1, mstatus.TSR/TVM give way to hstatus.VTSR/VTVM (virtual instruction); mstatus.TW
  // still applies (illegal), then hstatus.VTW.
  static P sret(Hart& h, P op) {
    if (h.virt_) {
      if (h.priv_ == Privilege::User || (h.hstatus_ & hstatus::kVtsr)) return virtual_instruction(h, op);
    } else if (h.priv_ == Privilege::User || (h.priv_ == Privilege::Supervisor && (h.mstatus_ & mstatus::kTsr))) {
      return illegal(h, op);
    }
    h.do_sret();
    return nullptr;
  }
  static P wfi(Hart& h, P op) {
    if (h.priv_ != Privilege::Machine && (h.mstatus_ & mstatus::kTw)) return illegal(h, op);
    if (h.virt_) {
      if (h.priv_ == Privilege::User || (h.hstatus_ & hstatus::kVtw)) return virtual_instruction(h, op);
    } else if (h.priv_ == Privilege::User) {
      return illegal(h, op);
    }
    h.waiting_ = true;
    return leave(h, op, next_pc(h, op));
  }
  static P sfence_vma(Hart& h, P op) {
    if (h.virt_) {
      if (h.priv_ == Privilege::User || (h.hstatus_ & hstatus::kVtvm)) return virtual_instruction(h, op);
      h.flush_guest_tlb(); // the guest's own fence: its translations only
      return leave(h, op, next_pc(h, op));
    }
    if (h.priv_ == Privilege::User || (h.priv_ == Privilege::Supervisor && (h.mstatus_ & mstatus::kTvm)))
      return illegal(h, op);
    // HS-level translations only; guests' need HFENCE. With an address (Linux after changing
    // one PTE), that page's and the superpage-derived entries only; the ASID is ignored (a superset).
    // With an ASID and no address, every non-global entry (of any ASID: a superset).
    if (op->rs1 != 0)
      h.flush_host_tlb_page(h.x_[op->rs1]);
    else if (op->rs2 != 0)
      h.flush_host_address_space();
    else
      h.flush_host_tlb();
    return leave(h, op, next_pc(h, op));
  }

  // ---- H extension: HFENCE, HLV/HLVX/HSV. Legal in M and HS (and U with hstatus.HU for the
  // loads and stores); from VS/VU a virtual-instruction exception.
  static P hfence(Hart& h, P op) {
    if (h.virt_) return virtual_instruction(h, op);
    if (h.priv_ == Privilege::User) return illegal(h, op);
    if (op->op == Op::HfenceGvma && h.priv_ == Privilege::Supervisor && (h.mstatus_ & mstatus::kTvm))
      return illegal(h, op);
    h.flush_guest_tlb();
    return leave(h, op, next_pc(h, op));
  }
  static bool hypervisor_memory_allowed(Hart& h, P op) {
    if (h.virt_) {
      virtual_instruction(h, op);
      return false;
    }
    if (h.priv_ == Privilege::User && !(h.hstatus_ & hstatus::kHu)) {
      illegal(h, op);
      return false;
    }
    return true;
  }
  template <typename T, bool Execute> static P hlv(Hart& h, P op) {
    if (!hypervisor_memory_allowed(h, op)) return nullptr;
    uint64_t raw;
    if (!h.hypervisor_load(h.x_[op->rs1], sizeof(T), Execute, raw, op)) return nullptr;
    if constexpr (std::is_signed_v<T>)
      h.x_[op->rd] = static_cast<uint64_t>(static_cast<int64_t>(static_cast<T>(raw)));
    else
      h.x_[op->rd] = static_cast<T>(raw);
    return op + 1;
  }
  template <typename T> static P hsv(Hart& h, P op) {
    if (!hypervisor_memory_allowed(h, op)) return nullptr;
    if (!h.hypervisor_store(h.x_[op->rs1], sizeof(T), static_cast<T>(h.x_[op->rs2]), op)) return nullptr;
    return after_store(h, op);
  }
  enum CsrKind { kWrite, kSet, kClear };
  template <CsrKind Kind, bool Immediate> static P csr_op(Hart& h, P op) {
    auto number = static_cast<uint16_t>(op->imm & 0xfff);
    const uint64_t source = Immediate ? op->rs1 : h.x_[op->rs1];
    const bool writes = Kind == kWrite || op->rs1 != 0;
    const bool reads = Kind != kWrite || op->rd != kDiscardRegister;
    const CsrAccess access = h.csr_accessible(number, writes);
    if (access != CsrAccess::Ok) return access == CsrAccess::Virtual ? virtual_instruction(h, op) : illegal(h, op);
    if (h.virt_) number = riscv::csr::vs_substitute(number); // VS-mode's sstatus is vsstatus, etc.
    h.csr_read_bias_ = op->index;
    h.csr_write_bias_ = op->index + 1u;
    uint64_t old = 0;
    bool ok = !reads || h.csr_read(number, old);
    if (ok && writes) {
      // mip.SEIP reads as the software bit OR the PLIC's line, but a read-modify-write must use
      // the software bit alone (privileged spec, mip): otherwise setting SSIP while a device
      // interrupt is pending would latch SEIP forever.
      const uint64_t base = number == riscv::csr::kMip ? (old & ~riscv::csr::irq::kSeip) | (h.mip_ & riscv::csr::irq::kSeip) : old;
      const uint64_t value = Kind == kWrite ? source : Kind == kSet ? (base | source) : (base & ~source);
      ok = h.csr_write(number, value);
    }
    h.csr_read_bias_ = h.csr_write_bias_ = 0;
    if (!ok) return illegal(h, op);
    h.x_[op->rd] = old;
    return leave(h, op, next_pc(h, op));
  }
  static P fall_through(Hart& h, P op) { return leave(h, op, h.block_pc_ + op->offset); }
  // A block holding one 32-bit instruction whose upper half lies on the next virtual page is
  // cached by its lower half's physical address, and links and the JIT's lookups enter it with
  // no fetch: so each run fetches the upper half here, through the current mapping (the fetch
  // TLB; a fault is the instruction's), and compares it with the decoded bits. Changed bytes (the
  // upper page is not tracked as code) drop the block's page and leave for the dispatcher, which
  // decodes them anew.
  static P upper_half_check(Hart& h, P op) {
    const uint64_t pc = h.block_pc_ + op->offset;
    const uint64_t pc_before = h.pc_;
    h.pc_ = pc; // the fetch's fault, if any, is taken at the instruction
    uint64_t upper_paddr;
    if (!h.fetch_address(pc + 2, upper_paddr)) {
      h.block_retired_ = op->index;
      return nullptr;
    }
    uint16_t upper;
    std::memcpy(&upper, h.bus_.code_pointer(upper_paddr, 2), 2);
    if (upper == op->bits >> 16) [[likely]] {
      h.pc_ = pc_before;
      return op + 1;
    }
    h.block_retired_ = op->index;
    uint64_t lower_paddr;
    if (!h.fetch_address(pc, lower_paddr)) return nullptr;
    h.blocks_.invalidate_page(lower_paddr & ~uint64_t{0xfff});
    h.break_chains();
    return nullptr;
  }

  // ---- floating point
  static bool fp_off(const Hart& h) { return h.fs_off(); }
  static void fp_dirty(Hart& h) { h.mark_fs_dirty(); }
  static bool rounding(const Hart& h, P op, fp::Rounding& rm) {
    const unsigned r = op->rm() == 7 ? h.frm_ : op->rm();
    if (r > 4) return false;
    rm = static_cast<fp::Rounding>(r);
    return true;
  }
  static uint32_t unbox(uint64_t v) { return (v >> 32) == 0xffffffffu ? static_cast<uint32_t>(v) : fp::kCanonicalNaN32; }
  static uint64_t box(uint32_t v) { return 0xffffffff00000000ull | v; }
  // Common prologue: FP enabled and (if the op rounds) a valid rounding mode.
  static bool fp_begin(Hart& h, P op, fp::Rounding& rm) {
    if (fp_off(h)) return false;
    if (riscv::uses_rounding_mode(op->op)) return rounding(h, op, rm);
    return true;
  }
  static P fp_done(Hart& h, P op, uint8_t flags) {
    h.fflags_ |= flags;
    fp_dirty(h);
    return op + 1;
  }

  template <typename T> static P fp_load(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    T value;
    if (!read<T>(h, op, h.x_[op->rs1] + static_cast<uint64_t>(op->imm), value)) return nullptr;
    h.f_[op->rd] = sizeof(T) == 4 ? box(static_cast<uint32_t>(value)) : static_cast<uint64_t>(value);
    fp_dirty(h);
    return op + 1;
  }
  template <typename T> static P fp_store(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    if (!write<T>(h, op, h.x_[op->rs1] + static_cast<uint64_t>(op->imm), static_cast<T>(h.f_[op->rs2])))
      return nullptr;
    return after_store(h, op);
  }
  template <uint32_t (*F)(uint32_t, uint32_t, fp::Rounding, uint8_t&)> static P s_binary(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = box(F(unbox(h.f_[op->rs1]), unbox(h.f_[op->rs2]), rm, flags));
    return fp_done(h, op, flags);
  }
  template <uint64_t (*F)(uint64_t, uint64_t, fp::Rounding, uint8_t&)> static P d_binary(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = F(h.f_[op->rs1], h.f_[op->rs2], rm, flags);
    return fp_done(h, op, flags);
  }
  static P s_sqrt(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = box(fp::f32_sqrt(unbox(h.f_[op->rs1]), rm, flags));
    return fp_done(h, op, flags);
  }
  static P d_sqrt(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = fp::f64_sqrt(h.f_[op->rs1], rm, flags);
    return fp_done(h, op, flags);
  }
  template <bool NegateProduct, bool NegateAddend> static P s_fma(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = box(fp::f32_fma(unbox(h.f_[op->rs1]), unbox(h.f_[op->rs2]), unbox(h.f_[op->rs3()]), NegateProduct,
                                   NegateAddend, rm, flags));
    return fp_done(h, op, flags);
  }
  template <bool NegateProduct, bool NegateAddend> static P d_fma(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = fp::f64_fma(h.f_[op->rs1], h.f_[op->rs2], h.f_[op->rs3()], NegateProduct, NegateAddend, rm, flags);
    return fp_done(h, op, flags);
  }
  template <uint32_t (*F)(uint32_t, uint32_t, uint8_t&)> static P s_minmax(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = box(F(unbox(h.f_[op->rs1]), unbox(h.f_[op->rs2]), flags));
    return fp_done(h, op, flags);
  }
  template <uint64_t (*F)(uint64_t, uint64_t, uint8_t&)> static P d_minmax(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = F(h.f_[op->rs1], h.f_[op->rs2], flags);
    return fp_done(h, op, flags);
  }
  template <bool (*F)(uint32_t, uint32_t, uint8_t&)> static P s_compare(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    uint8_t flags = 0;
    h.x_[op->rd] = F(unbox(h.f_[op->rs1]), unbox(h.f_[op->rs2]), flags) ? 1 : 0;
    return fp_done(h, op, flags);
  }
  template <bool (*F)(uint64_t, uint64_t, uint8_t&)> static P d_compare(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    uint8_t flags = 0;
    h.x_[op->rd] = F(h.f_[op->rs1], h.f_[op->rs2], flags) ? 1 : 0;
    return fp_done(h, op, flags);
  }
  static P s_classify(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    h.x_[op->rd] = fp::f32_classify(unbox(h.f_[op->rs1]));
    return op + 1;
  }
  static P d_classify(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    h.x_[op->rd] = fp::f64_classify(h.f_[op->rs1]);
    return op + 1;
  }
  template <uint64_t (*F)(uint32_t, fp::Rounding, uint8_t&)> static P s_to_int(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.x_[op->rd] = F(unbox(h.f_[op->rs1]), rm, flags);
    return fp_done(h, op, flags);
  }
  template <uint64_t (*F)(uint64_t, fp::Rounding, uint8_t&)> static P d_to_int(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.x_[op->rd] = F(h.f_[op->rs1], rm, flags);
    return fp_done(h, op, flags);
  }
  template <typename Source, uint32_t (*F)(Source, fp::Rounding, uint8_t&)> static P s_from_int(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = box(F(static_cast<Source>(h.x_[op->rs1]), rm, flags));
    return fp_done(h, op, flags);
  }
  template <typename Source, uint64_t (*F)(Source, fp::Rounding, uint8_t&)> static P d_from_int(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = F(static_cast<Source>(h.x_[op->rs1]), rm, flags);
    return fp_done(h, op, flags);
  }
  static P s_from_d(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = box(fp::f64_to_f32(h.f_[op->rs1], rm, flags));
    return fp_done(h, op, flags);
  }
  static P d_from_s(Hart& h, P op) {
    fp::Rounding rm{};
    if (!fp_begin(h, op, rm)) return illegal(h, op);
    uint8_t flags = 0;
    h.f_[op->rd] = fp::f32_to_f64(unbox(h.f_[op->rs1]), flags);
    return fp_done(h, op, flags);
  }
  enum SignKind { kInject, kNegate, kXor };
  template <SignKind Kind> static P s_sign(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    const uint32_t a = unbox(h.f_[op->rs1]), b = unbox(h.f_[op->rs2]);
    constexpr uint32_t kSign = 0x80000000u;
    const uint32_t sign = Kind == kInject ? (b & kSign) : Kind == kNegate ? (~b & kSign) : ((a ^ b) & kSign);
    h.f_[op->rd] = box((a & ~kSign) | sign);
    fp_dirty(h);
    return op + 1;
  }
  template <SignKind Kind> static P d_sign(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    const uint64_t a = h.f_[op->rs1], b = h.f_[op->rs2];
    constexpr uint64_t kSign = 0x8000000000000000ull;
    const uint64_t sign = Kind == kInject ? (b & kSign) : Kind == kNegate ? (~b & kSign) : ((a ^ b) & kSign);
    h.f_[op->rd] = (a & ~kSign) | sign;
    fp_dirty(h);
    return op + 1;
  }
  static P fmv_x_w(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    h.x_[op->rd] = sem::sext32(h.f_[op->rs1]);
    return op + 1;
  }
  static P fmv_w_x(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    h.f_[op->rd] = box(static_cast<uint32_t>(h.x_[op->rs1]));
    fp_dirty(h);
    return op + 1;
  }
  static P fmv_x_d(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    h.x_[op->rd] = h.f_[op->rs1];
    return op + 1;
  }
  static P fmv_d_x(Hart& h, P op) {
    if (fp_off(h)) return illegal(h, op);
    h.f_[op->rd] = h.x_[op->rs1];
    fp_dirty(h);
    return op + 1;
  }

  static std::array<OpHandler, riscv::kOpCount> build_table();
};

std::array<OpHandler, riscv::kOpCount> Hart::Exec::build_table() {
  std::array<OpHandler, riscv::kOpCount> t{};
  t.fill(&illegal);
  const auto set = [&t](Op op, OpHandler handler) { t[static_cast<unsigned>(op)] = handler; };
  set(Op::Lui, &lui);
  set(Op::Auipc, &auipc);
  set(Op::Jal, &jal);
  set(Op::Jalr, &jalr);
  set(Op::Beq, &branch<sem::beq>);
  set(Op::Bne, &branch<sem::bne>);
  set(Op::Blt, &branch<sem::blt>);
  set(Op::Bge, &branch<sem::bge>);
  set(Op::Bltu, &branch<sem::bltu>);
  set(Op::Bgeu, &branch<sem::bgeu>);
  set(Op::Lb, &load<int8_t>);
  set(Op::Lh, &load<int16_t>);
  set(Op::Lw, &load<int32_t>);
  set(Op::Ld, &load<uint64_t>);
  set(Op::Lbu, &load<uint8_t>);
  set(Op::Lhu, &load<uint16_t>);
  set(Op::Lwu, &load<uint32_t>);
  set(Op::Sb, &store<uint8_t>);
  set(Op::Sh, &store<uint16_t>);
  set(Op::Sw, &store<uint32_t>);
  set(Op::Sd, &store<uint64_t>);
  set(Op::Addi, &reg_imm<sem::add>);
  set(Op::Slti, &reg_imm<sem::slt>);
  set(Op::Sltiu, &reg_imm<sem::sltu>);
  set(Op::Xori, &reg_imm<sem::bxor>);
  set(Op::Ori, &reg_imm<sem::bor>);
  set(Op::Andi, &reg_imm<sem::band>);
  set(Op::Slli, &reg_imm<sem::sll>);
  set(Op::Srli, &reg_imm<sem::srl>);
  set(Op::Srai, &reg_imm<sem::sra>);
  set(Op::Add, &reg_reg<sem::add>);
  set(Op::Sub, &reg_reg<sem::sub>);
  set(Op::Sll, &reg_reg<sem::sll>);
  set(Op::Slt, &reg_reg<sem::slt>);
  set(Op::Sltu, &reg_reg<sem::sltu>);
  set(Op::Xor, &reg_reg<sem::bxor>);
  set(Op::Srl, &reg_reg<sem::srl>);
  set(Op::Sra, &reg_reg<sem::sra>);
  set(Op::Or, &reg_reg<sem::bor>);
  set(Op::And, &reg_reg<sem::band>);
  set(Op::Addiw, &reg_imm<sem::addw>);
  set(Op::Slliw, &reg_imm<sem::sllw>);
  set(Op::Srliw, &reg_imm<sem::srlw>);
  set(Op::Sraiw, &reg_imm<sem::sraw>);
  set(Op::Addw, &reg_reg<sem::addw>);
  set(Op::Subw, &reg_reg<sem::subw>);
  set(Op::Sllw, &reg_reg<sem::sllw>);
  set(Op::Srlw, &reg_reg<sem::srlw>);
  set(Op::Sraw, &reg_reg<sem::sraw>);
  set(Op::Fence, &fence);
  set(Op::FenceI, &fence_i);
  set(Op::Ecall, &ecall);
  set(Op::Ebreak, &ebreak);
  set(Op::Mret, &mret);
  set(Op::Sret, &sret);
  set(Op::Wfi, &wfi);
  set(Op::SfenceVma, &sfence_vma);
  set(Op::Csrrw, &csr_op<kWrite, false>);
  set(Op::Csrrs, &csr_op<kSet, false>);
  set(Op::Csrrc, &csr_op<kClear, false>);
  set(Op::Csrrwi, &csr_op<kWrite, true>);
  set(Op::Csrrsi, &csr_op<kSet, true>);
  set(Op::Csrrci, &csr_op<kClear, true>);
  set(Op::Mul, &reg_reg<sem::mul>);
  set(Op::Mulh, &reg_reg<sem::mulh>);
  set(Op::Mulhsu, &reg_reg<sem::mulhsu>);
  set(Op::Mulhu, &reg_reg<sem::mulhu>);
  set(Op::Div, &reg_reg<sem::div>);
  set(Op::Divu, &reg_reg<sem::divu>);
  set(Op::Rem, &reg_reg<sem::rem>);
  set(Op::Remu, &reg_reg<sem::remu>);
  set(Op::Mulw, &reg_reg<sem::mulw>);
  set(Op::Divw, &reg_reg<sem::divw>);
  set(Op::Divuw, &reg_reg<sem::divuw>);
  set(Op::Remw, &reg_reg<sem::remw>);
  set(Op::Remuw, &reg_reg<sem::remuw>);
  set(Op::LrW, &load_reserved<uint32_t>);
  set(Op::ScW, &store_conditional<uint32_t>);
  set(Op::AmoswapW, &amo<uint32_t, sem::amo_swap>);
  set(Op::AmoaddW, &amo<uint32_t, sem::add>);
  set(Op::AmoxorW, &amo<uint32_t, sem::bxor>);
  set(Op::AmoandW, &amo<uint32_t, sem::band>);
  set(Op::AmoorW, &amo<uint32_t, sem::bor>);
  set(Op::AmominW, &amo<uint32_t, sem::amo_min>);
  set(Op::AmomaxW, &amo<uint32_t, sem::amo_max>);
  set(Op::AmominuW, &amo<uint32_t, sem::amo_minu>);
  set(Op::AmomaxuW, &amo<uint32_t, sem::amo_maxu>);
  set(Op::LrD, &load_reserved<uint64_t>);
  set(Op::ScD, &store_conditional<uint64_t>);
  set(Op::AmoswapD, &amo<uint64_t, sem::amo_swap>);
  set(Op::AmoaddD, &amo<uint64_t, sem::add>);
  set(Op::AmoxorD, &amo<uint64_t, sem::bxor>);
  set(Op::AmoandD, &amo<uint64_t, sem::band>);
  set(Op::AmoorD, &amo<uint64_t, sem::bor>);
  set(Op::AmominD, &amo<uint64_t, sem::amo_min>);
  set(Op::AmomaxD, &amo<uint64_t, sem::amo_max>);
  set(Op::AmominuD, &amo<uint64_t, sem::amo_minu>);
  set(Op::AmomaxuD, &amo<uint64_t, sem::amo_maxu>);
  set(Op::Flw, &fp_load<uint32_t>);
  set(Op::Fld, &fp_load<uint64_t>);
  set(Op::Fsw, &fp_store<uint32_t>);
  set(Op::Fsd, &fp_store<uint64_t>);
  set(Op::FmaddS, &s_fma<false, false>);
  set(Op::FmsubS, &s_fma<false, true>);
  set(Op::FnmsubS, &s_fma<true, false>);
  set(Op::FnmaddS, &s_fma<true, true>);
  set(Op::FaddS, &s_binary<fp::f32_add>);
  set(Op::FsubS, &s_binary<fp::f32_sub>);
  set(Op::FmulS, &s_binary<fp::f32_mul>);
  set(Op::FdivS, &s_binary<fp::f32_div>);
  set(Op::FsqrtS, &s_sqrt);
  set(Op::FsgnjS, &s_sign<kInject>);
  set(Op::FsgnjnS, &s_sign<kNegate>);
  set(Op::FsgnjxS, &s_sign<kXor>);
  set(Op::FminS, &s_minmax<fp::f32_min>);
  set(Op::FmaxS, &s_minmax<fp::f32_max>);
  set(Op::FcvtWS, &s_to_int<fp::f32_to_i32>);
  set(Op::FcvtWuS, &s_to_int<fp::f32_to_u32>);
  set(Op::FcvtLS, &s_to_int<fp::f32_to_i64>);
  set(Op::FcvtLuS, &s_to_int<fp::f32_to_u64>);
  set(Op::FmvXW, &fmv_x_w);
  set(Op::FeqS, &s_compare<fp::f32_eq>);
  set(Op::FltS, &s_compare<fp::f32_lt>);
  set(Op::FleS, &s_compare<fp::f32_le>);
  set(Op::FclassS, &s_classify);
  set(Op::FcvtSW, &s_from_int<int32_t, fp::i32_to_f32>);
  set(Op::FcvtSWu, &s_from_int<uint32_t, fp::u32_to_f32>);
  set(Op::FcvtSL, &s_from_int<int64_t, fp::i64_to_f32>);
  set(Op::FcvtSLu, &s_from_int<uint64_t, fp::u64_to_f32>);
  set(Op::FmvWX, &fmv_w_x);
  set(Op::FmaddD, &d_fma<false, false>);
  set(Op::FmsubD, &d_fma<false, true>);
  set(Op::FnmsubD, &d_fma<true, false>);
  set(Op::FnmaddD, &d_fma<true, true>);
  set(Op::FaddD, &d_binary<fp::f64_add>);
  set(Op::FsubD, &d_binary<fp::f64_sub>);
  set(Op::FmulD, &d_binary<fp::f64_mul>);
  set(Op::FdivD, &d_binary<fp::f64_div>);
  set(Op::FsqrtD, &d_sqrt);
  set(Op::FsgnjD, &d_sign<kInject>);
  set(Op::FsgnjnD, &d_sign<kNegate>);
  set(Op::FsgnjxD, &d_sign<kXor>);
  set(Op::FminD, &d_minmax<fp::f64_min>);
  set(Op::FmaxD, &d_minmax<fp::f64_max>);
  set(Op::FcvtWD, &d_to_int<fp::f64_to_i32>);
  set(Op::FcvtWuD, &d_to_int<fp::f64_to_u32>);
  set(Op::FcvtLD, &d_to_int<fp::f64_to_i64>);
  set(Op::FcvtLuD, &d_to_int<fp::f64_to_u64>);
  set(Op::FmvXD, &fmv_x_d);
  set(Op::FeqD, &d_compare<fp::f64_eq>);
  set(Op::FltD, &d_compare<fp::f64_lt>);
  set(Op::FleD, &d_compare<fp::f64_le>);
  set(Op::FclassD, &d_classify);
  set(Op::FcvtDW, &d_from_int<int32_t, fp::i32_to_f64>);
  set(Op::FcvtDWu, &d_from_int<uint32_t, fp::u32_to_f64>);
  set(Op::FcvtDL, &d_from_int<int64_t, fp::i64_to_f64>);
  set(Op::FcvtDLu, &d_from_int<uint64_t, fp::u64_to_f64>);
  set(Op::FmvDX, &fmv_d_x);
  set(Op::FcvtSD, &s_from_d);
  set(Op::FcvtDS, &d_from_s);
  set(Op::HlvB, &hlv<int8_t, false>);
  set(Op::HlvBu, &hlv<uint8_t, false>);
  set(Op::HlvH, &hlv<int16_t, false>);
  set(Op::HlvHu, &hlv<uint16_t, false>);
  set(Op::HlvW, &hlv<int32_t, false>);
  set(Op::HlvWu, &hlv<uint32_t, false>);
  set(Op::HlvD, &hlv<uint64_t, false>);
  set(Op::HlvxHu, &hlv<uint16_t, true>);
  set(Op::HlvxWu, &hlv<uint32_t, true>);
  set(Op::HsvB, &hsv<uint8_t>);
  set(Op::HsvH, &hsv<uint16_t>);
  set(Op::HsvW, &hsv<uint32_t>);
  set(Op::HsvD, &hsv<uint64_t>);
  set(Op::HfenceVvma, &hfence);
  set(Op::HfenceGvma, &hfence);
  return t;
}

OpHandler handler_for(riscv::Op op) {
  static const std::array<OpHandler, riscv::kOpCount> table = Hart::Exec::build_table();
  const auto index = static_cast<unsigned>(op);
  return index < table.size() ? table[index] : table[0];
}

OpHandler fall_through_handler() { return &Hart::Exec::fall_through; }
OpHandler upper_half_check_handler() { return &Hart::Exec::upper_half_check; }

} // namespace nimbus::machine
