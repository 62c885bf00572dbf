#pragma once
// One RV64IMAFDC hart with M/S/U privilege, the H extension (VS/VU, two-stage translation),
// Sv39/48/57, PMP and Sstc.
//
// Execution: the pc is translated through the fetch soft TLB, the physical address selects a
// decoded basic block (decoded once, cached), and the block's ops run direct-threaded: each
// handler does one instruction and returns the next op. Interrupts, timers, DMA invalidation and
// exit requests are checked between blocks.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "machine/block_cache.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart_privilege.hpp"
#include "machine/hart_reservation_set.hpp"
#include "machine/interrupt_pins.hpp"
#include "machine/host_window.hpp"
#include "machine/jit_threshold.hpp"
#include "machine/pmp.hpp"
#include "machine/snapshot_format.hpp"
#include "machine/tlb.hpp"
#include "riscv/csr.hpp"
#include "riscv/decoded_instruction.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::machine {

namespace jit {
class Translator;
struct Runtime;
} // namespace jit

class Hart {
public:
  Hart(unsigned hart_id, Bus& bus, Clock& clock, ReservationSet& reservations);
  ~Hart();
  Hart(const Hart&) = delete;
  Hart& operator=(const Hart&) = delete;

  unsigned id() const { return id_; }
  InterruptPins& pins() { return pins_; }

  // Power-on reset into M-mode at pc.
  void reset(uint64_t pc);
  // Runs about `budget` instructions, stopping only between blocks. Returns instructions retired.
  // Returns early on WFI with nothing pending, or after request_exit().
  uint64_t run(uint64_t budget);
  // Makes run() return at the next block boundary (callable from inside a device access).
  void request_exit() { exit_requested_ = true; }
  // In WFI with no enabled interrupt pending: the run loop may sleep or skip time.
  bool waiting() const;
  // Earliest time (mtime ticks) at which the Sstc timer fires, UINT64_MAX if it cannot.
  uint64_t timer_deadline() const;
  uint64_t instret() const { return instret_; }

  // VMM exits. With them on, a trap that would enter M-mode is not taken: run() stops at the next
  // block boundary and take_exit() hands the trap to the caller, which plays M-mode (the VMM as
  // firmware in emulate mode, the trap-and-emulate VMM in trap mode). The hart is left exactly at
  // the trap point: pc is the trapping instruction (or, for an interrupt, the next one to run),
  // privilege and CSRs unchanged; the caller resumes it by adjusting pc and calling run() again.
  struct TrapExit {
    uint64_t cause = 0; // exception or interrupt number, without the interrupt bit
    uint64_t tval = 0;  // what mtval (or, for an HS exit, stval: a guest virtual address) would have received
    uint64_t pc = 0;
    bool interrupt = false;
    // H extension: what mtval2/htval and mtinst/htinst would have received, whether the trap came
    // from V=1, whether tval is a guest virtual address (the GVA bit), and whether HS-mode (rather
    // than M-mode) would have taken it.
    uint64_t htval = 0; // guest physical address >> 2 for guest-page faults, else 0
    uint64_t htinst = 0;
    bool virt = false;
    bool gva = false;
    bool to_hs = false;
  };
  void set_vmm_exits(bool on) { vmm_exits_ = on; }
  bool vmm_exits() const { return vmm_exits_; }
  // "hw" mode: the VMM plays HS-mode. A trap from V=1 that would be taken into HS-mode (not
  // delegated to VS by hedeleg/hideleg) stops run() like an M exit, with to_hs set.
  void set_vmm_exits_hs(bool on) { vmm_exits_hs_ = on; }
  bool vmm_exits_hs() const { return vmm_exits_hs_; }
  std::optional<TrapExit> take_exit() {
    std::optional<TrapExit> e = pending_exit_;
    pending_exit_.reset();
    return e;
  }
  // The first exception of the chain the guest has not returned from: recorded when the hart
  // itself takes an exception (not an ECALL, not a VMM exit) while no earlier one is
  // outstanding, forgotten at the next xRET. When a kernel faults inside its own trap handler
  // and ends in a loop (or in a trap bound for the VMM), this is the fault that started it.
  struct FaultRecord {
    uint64_t cause = 0;
    uint64_t tval = 0;
    uint64_t pc = 0;
    uint32_t instruction = 0;   // the faulting instruction, when it could be fetched
    bool have_instruction = false;
    unsigned privilege = 0;     // where it happened (0 U, 1 S, 3 M)
    bool virt = false;
    unsigned handler_privilege = 0; // the mode that took it
    uint64_t nested = 0;        // exceptions taken after it without an xRET
  };
  const std::optional<FaultRecord>& first_fault() const { return first_fault_; }
  // Reads the 16- or 32-bit instruction at virtual address `pc` as an instruction fetch at the
  // current privilege would (translation, PMP, no side effects on A bits of the guest beyond a
  // normal fetch). False if it cannot be fetched. For VMMs that emulate a trapped instruction.
  bool fetch_instruction(uint64_t pc, uint32_t& bits);
  // Drops cached translations only (SFENCE.VMA on behalf of another hart: SBI RFENCE, shadow
  // page-table changes).
  void flush_translations() { flush_tlb(); }
  // Drops the store entries only: the next store to each page takes the slow path once, which
  // marks it in the bus's dirty log (live migration, dirty_log.hpp).
  void flush_store_translations() { tlb_.flush_access(Access::Store); }
  // For a VMM that keeps the hart in U-mode and switches it between shadow roots (trap mode):
  // sets satp to `root` and makes the U-mode soft-TLB context of that root current (tlb.hpp:
  // a few roots keep their translations, so a guest system call, which switches to the guest
  // kernel's root and back, refills nothing). The VMM's part: whenever it removes or narrows a
  // mapping of any root, or frees a root's table, it calls flush_translations() (or
  // flush_translation_page) before the hart runs again, since other roots' contexts are kept.
  void switch_user_root(uint64_t root) {
    satp_ = root;
    bool fresh = false;
    user_context_ = tlb_.user_root_context(root, fresh);
    if (priv_ == Privilege::User && !virt_) fetch_context_ = user_context_;
    update_data_context();
    if (fresh) break_chains(); // links and JIT lookups keyed by this context named the old root's code
  }
  // Drops the load and store translations that root `root` (a switch_user_root value) has
  // cached, wherever it runs now: for a VMM that removed data-only mappings from that root's
  // table (trap mode: guest user pages the guest kernel reached under SUM, never executable).
  // Fetch entries, and so block links and JIT lookups, are kept.
  void flush_user_root_data(uint64_t root) {
    tlb_.flush_user_root(root, Access::Load);
    tlb_.flush_user_root(root, Access::Store);
  }
  // Drops the cached translations of one page, in every V=0 context (a VMM's shadow leaf for
  // `vaddr` changed in every root it keeps; superpage-derived entries go too).
  void flush_translation_page(uint64_t vaddr) { flush_host_tlb_page(vaddr); }
  // Leaves WFI, as an interrupt made pending from outside would.
  void wake() { waiting_ = false; }

  // Debug and test access.
  uint64_t x(unsigned reg) const { return reg < 32 ? x_[reg] : 0; }
  void set_x(unsigned reg, uint64_t value) {
    if (reg != 0 && reg < 32) x_[reg] = value;
  }
  uint64_t pc() const { return pc_; }
  void set_pc(uint64_t pc) { pc_ = pc; }
  uint64_t f(unsigned reg) const { return reg < 32 ? f_[reg] : 0; }
  void set_f(unsigned reg, uint64_t value) {
    if (reg < 32) f_[reg] = value;
  }
  // Debug CSR access: no privilege checks, no side effects beyond the register itself.
  // Unknown CSRs read 0 and ignore writes.
  uint64_t csr(uint16_t number) const;
  void set_csr(uint16_t number, uint64_t value);
  unsigned privilege() const { return static_cast<unsigned>(priv_); }
  void set_privilege(unsigned level);
  // The virtualization mode V. A VMM enters a guest with set_privilege(1), set_virtualization(true)
  // and set_pc(entry): the hart then runs in VS-mode. Ignored (V stays 0) in M-mode.
  bool virtualization() const { return virt_; }
  void set_virtualization(bool on);
  // Drops all decoded code and translations (e.g. after a loader rewrote memory).
  void flush_caches();
  // The JIT's lookup table keys its entries by the translation epoch's low bits (jit/translator.hpp,
  // LookupEntry): when they wrap, the table is emptied.
  static constexpr unsigned kLookupEpochBits = 13;
  // The JIT tier (machine/jit, docs/jit.md): hot blocks run as translated x86-64 code. Off by
  // default. `hot_threshold`: how many times a block is interpreted before it is translated.
  void set_jit(bool on, uint32_t hot_threshold = kJitHotThreshold);
  bool jit_enabled() const { return jit_ != nullptr; }
  // Blocks translated since the JIT was turned on (tests and statistics).
  uint64_t jit_translated_blocks() const;
  // Load sites translated with a site page (docs/jit.md, "Site pages").
  uint64_t jit_site_page_sites() const;
  // Load sites translated through the flat-RAM slot (docs/jit.md, "Flat RAM").
  uint64_t jit_flat_load_sites() const;
  uint64_t jit_flat_store_sites() const; // and store sites through its store range
  // Returns translated to stay in their unit when they go back to a call of it (docs/jit.md,
  // "Calls and returns inside a unit").
  uint64_t jit_internal_return_sites() const;
  // Self-loops translated twice so that their word results stay narrow around the loop (docs/jit.md,
  // "Word results extended where they are read").
  uint64_t jit_narrow_loops() const;
  // Whether units translated from now on may load through the flat-RAM slot (default on; tests
  // of the soft TLB's own load paths in M-mode turn it off).
  void set_jit_flat_ram(bool on) { jit_flat_ram_ = on; }
  // Direct exits patched to jump straight to their successor (tests and statistics).
  uint64_t jit_linked_exits() const;
  // Pointer-chase sites rewritten to look their addend up directly (their prediction kept failing).
  uint64_t jit_rewritten_sites() const { return jit_rewritten_sites_; }
  // Guest pages the host-mapped window maps now (docs/jit.md, "The host-mapped window"; 0 without one).
  unsigned jit_window_pages() const { return window_ ? window_->mapped_pages() : 0; }
  // Accesses through the soft TLB's addend to a page before the window maps it (a page a
  // short-lived process touches a few times is not worth a host mapping call); below 0xfff, so
  // a count never equals a tag. Takes effect with the next set_jit(true) (tests use 1).
  static constexpr uint32_t kJitWindowHeat = 32;
  void set_jit_window_heat(uint32_t accesses) { jit_window_heat_ = accesses < 0xfff ? accesses : 0xffe; }
  // Changes of mapped window slots left in this epoch (tests: spend it, see it come back).
  uint32_t jit_window_budget() const { return jit_window_budget_; }
  void set_jit_window_budget(uint32_t maps) { jit_window_budget_ = maps; }
  // At most `n` blocks of one page per native unit (docs/jit.md, "Regions"; 1: each block alone;
  // tests), and the blocks translated into other blocks' units so far.
  void set_jit_region_blocks(unsigned n);
  uint64_t jit_region_blocks() const;
  uint64_t jit_if_conversions() const;
  // Units the JIT could not emit for a fault of its own (tests expect 0; docs/jit.md).
  uint64_t jit_failed_units() const;
  size_t decoded_blocks() const { return blocks_.size(); }

  // Debugging (the gdb stub, machine/gdb; docs/gdb.md). Between run() calls only.
  // Single-step: run() then executes exactly one instruction in the interpreter (or takes the
  // exception it raises), takes no interrupt, and returns.
  void set_single_step(bool on) { single_step_ = on; }
  // Breakpoints at virtual addresses (any privilege): run() stops before executing an
  // instruction at one of them and stopped_at_breakpoint() turns true until the next run().
  // While any is set, blocks run in the interpreter (native code would run past them).
  void set_breakpoints(std::vector<uint64_t> addresses);
  bool stopped_at_breakpoint() const { return breakpoint_hit_; }
  // Memory as the debugger sees it: through the current translation (data view of the current
  // privilege and V, as if SUM and MXR were set, permissions beyond that ignored), RAM and ROM
  // only (no device access, which could have side effects), no TLB fill and no A/D update.
  // Writes drop decoded code on the pages written. False if any byte cannot be reached; then
  // `done` says how many could.
  bool debug_read(uint64_t vaddr, uint8_t* out, size_t len, size_t& done);
  bool debug_write(uint64_t vaddr, const uint8_t* data, size_t len, size_t& done);

  // Snapshots (hart_state.cpp): every architectural register (GPRs, FPRs, pc, privilege and V,
  // all M/S/H/VS CSRs, PMP, counters, Sstc comparators, WFI, the interrupt pin levels). Only
  // between run() calls, with no VMM exit pending (save throws std::logic_error otherwise).
  // Decoded code and translations are not saved: restore drops them and they are rebuilt.
  void save_state(snapshot::Writer& out) const;
  // Throws snapshot::FormatError for a payload that does not fit.
  void restore_state(snapshot::Reader& in);

  struct Exec; // instruction handlers (hart_execute.cpp)
  friend struct Exec;
  friend class jit::Translator;
  friend struct jit::Runtime;

private:
  static constexpr unsigned kDiscardRegister = 32; // rd = x0 writes land here
  static constexpr unsigned kMaxBlockInstructions = 64;
  static constexpr uint64_t kTimerPollInterval = 4096; // instructions between Sstc checks

  // Every uint64_t CSR field in snapshot order (hart_state.cpp).
  std::vector<uint64_t*> snapshot_csr_fields();

  // ---- execution (hart.cpp)
  Block* fetch_block();
  // The physical address of instruction bytes at `va` through the fetch TLB (filled on a miss);
  // false after taking the fetch's fault, with `va` as its tval.
  bool fetch_address(uint64_t va, uint64_t& paddr);
  Block* build_block(uint64_t paddr, const uint8_t* host);
  Block* scratch_block(uint64_t paddr);
  Block* build_page_crossing_block(uint64_t paddr_low);
  bool decode_page_crossing(uint64_t paddr_low, riscv::DecodedInstruction& d);
  static BlockOp make_op(const riscv::DecodedInstruction& d, uint16_t index, uint16_t offset);
  void finish_block(Block& block, uint16_t offset, uint16_t index);
  void add_lone_instruction(Block& block, const riscv::DecodedInstruction& d);
  void retire(uint64_t count);

  // Translation or decoded code changed: remembered block successors are no longer valid, nor
  // are the JIT's lookups of native code by pc.
  void break_chains() {
    ++global_chain_epoch_;
    global_fetched_pages_.fill(0);
    break_local_chains();
  }
  // Another address space (a satp write, SFENCE.VMA with an ASID): only what depends on
  // non-global mappings goes. Links into code fetched through a global mapping (a kernel's,
  // the same in every address space until an SFENCE.VMA that names its page or every ASID) stay:
  // a system under many short processes switches address spaces thousands of times a second,
  // and each switch broke every link into the kernel (docs/jit.md).
  void break_local_chains() {
    ++chain_epoch_;
    if ((++translation_epoch_ & ((uint64_t{1} << kLookupEpochBits) - 1)) == 0) [[unlikely]]
      lookup_epochs_wrapped();
    fetched_pages_.fill(0);
  }
  void lookup_epochs_wrapped(); // empties the JIT's lookup table (kLookupEpochBits)
  // Only the nursery's blocks went (BlockCache::clear_nursery): links (which may lead into it)
  // die, but the JIT's lookups lead to translated code of tenured blocks under mappings that
  // still hold, so they stay (and the pages they were fetched from stay noted).
  void break_nursery_links() {
    ++chain_epoch_;
    ++global_chain_epoch_;
  }
  // The virtual pages blocks were fetched from in this chain epoch, by a hash of the page number
  // (a false yes costs a needless break): the pcs that block links and the JIT's lookup table
  // hold. Only a flush of one of them can make a remembered successor stale. Pages fetched
  // through global mappings have a filter of their own, kept until the global epoch ends. The
  // upper half of the address space and the lower have bits of their own: a kernel that maps
  // itself without G fetches from hundreds of pages between two breaks, and sharing its bits
  // would make a flush of a process's data page a false yes.
  static constexpr unsigned kFetchedPageBits = 4096; // per half
  using FetchedPages = std::array<uint64_t, 2 * kFetchedPageBits / 64>;
  static unsigned fetched_page_bit(uint64_t vaddr) {
    return static_cast<unsigned>(vaddr >> 63) * kFetchedPageBits + static_cast<unsigned>(vaddr >> 12) % kFetchedPageBits;
  }
  static void note_page(FetchedPages& pages, uint64_t vaddr) {
    const unsigned bit = fetched_page_bit(vaddr);
    pages[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  static bool has_page(const FetchedPages& pages, uint64_t vaddr) {
    const unsigned bit = fetched_page_bit(vaddr);
    return (pages[bit / 64] >> (bit % 64)) & 1;
  }
  void note_fetched_page(uint64_t pc, bool global) { note_page(global ? global_fetched_pages_ : fetched_pages_, pc); }
  void flush_tlb() {
    tlb_.flush();
    tlb_.retag_user_roots(user_context_, satp_);
    flush_g_stage_cache();
    break_chains();
  }
  void flush_guest_tlb() {
    tlb_.flush_guest();
    flush_g_stage_cache();
    break_chains();
  }
  void flush_host_tlb() {
    tlb_.flush_host();
    tlb_.retag_user_roots(user_context_, satp_);
    break_chains();
  }
  // A new address space (satp's ASID or root, SFENCE.VMA x0 with an ASID): global entries stay,
  // and the links into code fetched through them.
  void flush_host_address_space() {
    tlb_.flush_host_address_space();
    tlb_.retag_user_roots(user_context_, satp_);
    break_local_chains();
  }
  // SFENCE.VMA with an address, V=0: that page's entries and every superpage-derived one. Block
  // links and the JIT's lookup table stay unless a block was fetched from the page in this
  // epoch, or superpages went (Linux flushes one user data page after each page fault).
  void flush_host_tlb_page(uint64_t vaddr) {
    if (tlb_.flush_host_page(vaddr) || has_page(global_fetched_pages_, vaddr))
      break_chains();
    else if (has_page(fetched_pages_, vaddr))
      break_local_chains();
  }

  // ---- traps (trap.cpp)
  // Raises a synchronous exception at `op` inside the running block; returns nullptr for the handler.
  const BlockOp* raise(const BlockOp* op, riscv::Exception cause, uint64_t tval);
  void take_trap(uint64_t cause, uint64_t tval, bool interrupt);
  enum class TrapTarget : uint8_t { Machine, Hypervisor, Guest }; // M, HS, VS
  TrapTarget trap_target(uint64_t cause, bool interrupt) const;
  bool take_pending_interrupt();
  uint64_t pending_interrupts() const;
  void poll_timer();
  uint64_t sstc_level() const; // STIP as the Sstc comparator drives it now
  void do_mret();
  void do_sret();
  void set_priv(Privilege p);
  void set_mode(Privilege p, bool virt); // privilege and V together

  // ---- CSRs (csr_file.cpp)
  bool csr_read(uint16_t number, uint64_t& value) const;
  bool csr_write(uint16_t number, uint64_t value);
  enum class CsrAccess : uint8_t { Ok, Illegal, Virtual }; // Virtual: virtual-instruction exception
  CsrAccess csr_accessible(uint16_t number, bool writing) const;
  CsrAccess counter_accessible(unsigned counter) const;
  // The hypervisor and VS CSRs (hart_hypervisor_csr.cpp); false if `number` is none of them.
  bool hypervisor_csr_read(uint16_t number, uint64_t& value) const;
  bool hypervisor_csr_write(uint16_t number, uint64_t value);
  uint64_t read_vsstatus() const;
  void write_vsstatus(uint64_t value);
  // FP disabled by mstatus.FS, or by vsstatus.FS when V=1 (inline: every FP op asks).
  bool fs_off() const {
    return (mstatus_ & riscv::csr::mstatus::kFs) == 0 || (virt_ && (vsstatus_ & riscv::csr::mstatus::kFs) == 0);
  }
  void mark_fs_dirty() {
    mstatus_ |= riscv::csr::mstatus::kFs;
    if (virt_) [[unlikely]] vsstatus_ |= riscv::csr::mstatus::kFs;
  }
  uint64_t read_mstatus() const;
  void write_mstatus(uint64_t value);
  void update_data_context();
  // The soft-TLB context of a privilege and V: SoftTlb::context_of, but U-mode with V=0 uses the
  // context of the current root (user_context_).
  unsigned tlb_context(Privilege p, bool virt) const {
    return p == Privilege::User && !virt ? user_context_ : SoftTlb::context_of(p, virt);
  }

  // ---- memory (mmu.cpp, two_stage_translation.cpp)
  // `virt`: translate as V=1 (VS-stage through vsatp, then G-stage through hgatp). `execute_as_read`
  // (HLVX): a load that needs execute permission instead of read. A guest-page fault leaves the
  // faulting guest physical address in fault_gpa_ and the htinst value in fault_tinst_.
  std::optional<riscv::Exception> translate(uint64_t vaddr, Access access, Privilege privilege, uint64_t& paddr,
                                            bool virt = false, bool execute_as_read = false);
  // One stage of a page walk (mmu.cpp).
  struct Walk {
    uint64_t root = 0;        // physical address of the root table
    unsigned levels = 3;      // 3, 4, 5: Sv39, Sv48, Sv57 (x4 for the G-stage)
    unsigned root_extra = 0;  // 2 for the G-stage: a 16 KiB root indexed by 2 more address bits
    Access access = Access::Load;
    Privilege privilege = Privilege::User; // U for the G-stage
    bool g_stage = false;     // guest-page faults; the address is zero-extended, not sign-extended
    bool nested = false;      // VS-stage: page-table addresses are guest physical (G-stage translated)
    bool sum = false, mxr = false, execute_as_read = false;
  };
  std::optional<riscv::Exception> walk(const Walk& w, uint64_t address, uint64_t& result);
  std::optional<riscv::Exception> translate_guest(uint64_t vaddr, Access access, Privilege privilege,
                                                  bool execute_as_read, uint64_t& paddr);
  std::optional<riscv::Exception> g_stage(uint64_t gpa, Access access, bool execute_as_read, uint64_t& paddr);
  // G-stage translations of guest-physical pages for reads (the VS-stage walk's page-table
  // reads and the final address of a load): a two-stage soft-TLB miss costs a G-stage walk per
  // VS level without it. Only successful walks of plain loads (no MXR, no HLVX) are kept, so a
  // hit grants nothing a walk would refuse; dropped with the guest soft-TLB contexts (hgatp,
  // vsatp, HFENCE, a VMM's flush) and with the whole TLB (PMP, restore).
  struct GStageCacheEntry {
    uint64_t gpa_page = ~uint64_t{0};
    uint64_t host_page = 0;
    bool superpage = false;
  };
  static constexpr unsigned kGStageCacheEntries = 64;
  GStageCacheEntry g_stage_cache_[kGStageCacheEntries];
  void flush_g_stage_cache() {
    for (GStageCacheEntry& e : g_stage_cache_) e.gpa_page = ~uint64_t{0};
  }
  // HLV/HLVX/HSV: one access as VS/VU (hstatus.SPVP) would make it, never through the soft TLB.
  bool hypervisor_load(uint64_t vaddr, unsigned size, bool execute, uint64_t& value, const BlockOp* op);
  bool hypervisor_store(uint64_t vaddr, unsigned size, uint64_t value, const BlockOp* op);
  // Translates and checks PMP for a data access of `size` bytes inside one page; may fill the TLB.
  std::optional<riscv::Exception> translate_data(uint64_t vaddr, unsigned size, Access access, uint64_t& paddr);
  bool load_slow(uint64_t vaddr, unsigned size, uint64_t& value, const BlockOp* op);
  bool store_slow(uint64_t vaddr, unsigned size, uint64_t value, const BlockOp* op);
  bool read_physical(uint64_t paddr, unsigned size, uint64_t& value);
  bool write_physical(uint64_t paddr, unsigned size, uint64_t value);
  // What a store of `size` bytes to RAM at `paddr` implies besides the bytes (made by the caller,
  // e.g. atomically): the dirty log, and dropping this hart's decoded code on the page.
  void note_store_physical(uint64_t paddr, unsigned size);
  // A walk's A/D update: `seen` becomes `updated` only if the PTE still holds `seen` (Changed:
  // another hart wrote it first, and the walk starts over).
  enum class PteUpdate { Done, Changed, Failed };
  PteUpdate update_pte(uint64_t pte_addr, uint64_t seen, uint64_t updated);
  void install_tlb(TlbEntry& entry, uint64_t vaddr, uint64_t paddr, Access access, Privilege privilege);
  Privilege data_privilege() const;
  bool data_virt() const; // V for loads and stores (mstatus.MPV under MPRV)

  // ---- debugging (hart_debug.cpp)
  uint64_t step_one();                              // one instruction, interpreted; returns retired
  bool debug_translate(uint64_t vaddr, uint64_t& paddr);
  bool breakpoint_within(uint64_t pc, uint64_t bytes, uint64_t& at) const;
  std::vector<uint64_t> breakpoints_;
  bool single_step_ = false;
  bool breakpoint_hit_ = false;
  bool debug_access_ = false; // a debugger translation: no A/D updates, SUM and MXR as if set

  // Hot state first.
  uint64_t x_[33] = {};
  uint64_t pc_ = 0;
  uint64_t block_pc_ = 0;       // virtual pc of the running block's first instruction
  uint64_t block_retired_ = 0;  // instructions the running block retires (cut short by a trap)
  unsigned data_context_ = 2;   // TLB context for loads/stores (effective privilege and V)
  // The data context's three tables (fetch, load, store: SoftTlb::entry), kept with
  // data_context_ by update_data_context: the JIT's inline loads and stores start from it.
  const TlbEntry* jit_data_tables_ = nullptr;
  // The data context's part of the host-mapped window (host_window.hpp), or null without one.
  const uint8_t* jit_window_base_ = nullptr;
  unsigned fetch_context_ = 2;  // TLB context for fetches (privilege and V); also the block-link key
  unsigned user_context_ = 0;   // the TLB context of U-mode with V=0 (switch_user_root picks it per root)
  Privilege priv_ = Privilege::Machine;
  bool virt_ = false;           // H extension: V
  bool exit_requested_ = false;
  bool waiting_ = false;
  bool code_modified_ = false;  // a store hit decoded code: end the block after it
  bool vmm_exits_ = false;
  bool vmm_exits_hs_ = false;
  bool hypervisor_access_ = false; // an HLV/HLVX/HSV is running: its faulting address is a guest VA
  bool walked_superpage_ = false;  // the last translate() went through a superpage leaf
  unsigned walked_superpage_shift_ = 12; // and its size's log2 (a host walk's; a guest's may be stale)
  bool walked_global_ = false; // the last translate() gave a global mapping (install_tlb)
  bool walked_user_ = false;   // the last translate()'s leaf was a U page (install_tlb)
  std::optional<TrapExit> pending_exit_;
  std::optional<FaultRecord> first_fault_;
  void record_fault(uint64_t cause, uint64_t tval, unsigned handler_privilege);
  SoftTlb tlb_;

  uint64_t f_[32] = {};
  uint8_t fflags_ = 0;
  uint8_t frm_ = 0;

  // CSR state.
  uint64_t mstatus_ = 0;
  uint64_t mip_ = 0;           // software-writable pending bits (SSIP, STIP without Sstc, SEIP)
  uint64_t sstc_pending_ = 0;  // STIP from stimecmp
  uint64_t mie_ = 0;
  uint64_t medeleg_ = 0, mideleg_ = 0;
  uint64_t mtvec_ = 0, stvec_ = 0;
  uint64_t mepc_ = 0, sepc_ = 0, mcause_ = 0, scause_ = 0, mtval_ = 0, stval_ = 0;
  uint64_t mscratch_ = 0, sscratch_ = 0;
  uint64_t mcounteren_ = 0, scounteren_ = 0, mcountinhibit_ = 0;
  uint64_t menvcfg_ = 0, senvcfg_ = 0;
  uint64_t satp_ = 0;
  uint64_t stimecmp_ = ~uint64_t{0};
  // H extension. VS-level interrupt bits pending by software (hvip) live in mip_ at 2, 6, 10.
  uint64_t hstatus_ = 0, hedeleg_ = 0, hideleg_ = 0, hcounteren_ = 0, htimedelta_ = 0, htval_ = 0, htinst_ = 0;
  uint64_t hgatp_ = 0, henvcfg_ = 0;
  uint64_t vsstatus_ = 0, vstvec_ = 0, vsscratch_ = 0, vsepc_ = 0, vscause_ = 0, vstval_ = 0, vsatp_ = 0;
  uint64_t vstimecmp_ = ~uint64_t{0};
  uint64_t mtval2_ = 0, mtinst_ = 0;
  uint64_t fault_gpa_ = 0, fault_tinst_ = 0; // of the last guest-page fault (htval << 2, htinst)
  uint64_t instret_ = 0, cycle_ = 0;
  // While a CSR instruction executes: instructions of its block retired before it (read bias)
  // and including it (write bias), so counters read and write exactly. Zero otherwise.
  uint64_t csr_read_bias_ = 0, csr_write_bias_ = 0;
  uint64_t next_timer_poll_ = 0;
  // Block links (BlockLink) into code fetched through a non-global mapping; every link and the
  // dispatcher's previous block (which only a global break can drop).
  uint64_t chain_epoch_ = 1;
  uint64_t global_chain_epoch_ = 1;
  bool fetched_global_ = false; // fetch_block's last block came through a global mapping
  uint64_t translation_epoch_ = 1; // the JIT's lookup table and link requests: tenured blocks only
  FetchedPages fetched_pages_{};        // note_fetched_page, this chain epoch
  FetchedPages global_fetched_pages_{}; // the same through global mappings, this global epoch
  uint64_t fence_i_switches_ = ~uint64_t{0}; // reservations_.switches() at the last FENCE.I that dropped code
  uint64_t dma_generation_seen_ = 0;
  void drop_code_written_by_dma();
  Pmp pmp_;

  unsigned id_;
  Bus& bus_;
  Clock& clock_;
  ReservationSet& reservations_;
  InterruptPins pins_;
  BlockCache blocks_;
  Block scratch_block_; // an instruction straddling two pages, or single-stepped (never cached)
  BlockOp scratch_ops_[2];

  // ---- JIT tier (machine/jit). Native code reads and writes these between blocks.
  void run_translated(Block*& block, uint64_t steps, uint64_t budget, uint64_t& retired_total, uint64_t& steps_total);
  std::unique_ptr<jit::Translator> jit_;
  // The host-mapped window of U-mode units' loads and stores (host_window.hpp), with the JIT
  // when the bus's RAM is its own (a bare machine's; a VM's RAM is a view of the VMM's frames).
  // Host mapping calls cost microseconds: a page into an empty slot while the window has room
  // is one call, but changing or unmapping a mapped slot is budgeted, kWindowMapsPerEpoch per
  // kWindowEpoch instructions (past that, accesses take the soft TLB's addend until the next).
  std::unique_ptr<HostWindow> window_;
  static constexpr uint32_t kWindowMapsPerEpoch = 128;
  static constexpr uint64_t kWindowEpoch = uint64_t{1} << 24;
  uint32_t jit_window_budget_ = 0; // changes of mapped slots left in this epoch
  uint32_t jit_window_heat_ = kJitWindowHeat; // set_jit_window_heat
  // Instructions retired whatever mcountinhibit says: the window's epochs are the host's policy,
  // and a guest that stops minstret (Linux's SBI PMU driver has OpenSBI do it) must not stop
  // them (the budget then never came back, and the window stopped taking pages).
  uint64_t executed_ = 0;
  uint64_t window_epoch_end_ = 0;  // executed_ at which the budget is refilled
  // Maps the page of the data context's `access` entry for vaddr into the window and sets the
  // entry's window tag (false, nothing changed but a count reset, when the entry does not map
  // vaddr or the budget or the host refuses). drop_window_tags: the slot's page changes.
  bool jit_map_window(uint64_t vaddr, Access access);
  void drop_window_tags(unsigned context, uint32_t slot);
  // Flat RAM (TlbFlatRam, docs/jit.md): whether the data context reads RAM untranslated (M-mode
  // or satp Bare, V=0, RAM the bus's own); the range around vaddr where PMP treats every access
  // alike and lets this kind (false: none); and the slot's fills, which record a refusal too
  // (until the next flush asks again) but leave an address outside RAM unanswered.
  bool flat_ram_possible() const;
  bool flat_range(uint64_t vaddr, Access access, uint64_t& lo, uint64_t& hi) const;
  void fill_flat_ram(uint64_t vaddr);
  void fill_flat_store(uint64_t vaddr);
  static constexpr uint64_t kFlatStoreReach = 1024; // pages looked at each way from the store
  bool jit_flat_ram_ = true; // set_jit_flat_ram
  uint32_t jit_hot_threshold_ = kJitHotThreshold;
  unsigned jit_region_limit_ = ~0u; // set_jit_region_blocks (the translator's bound when larger)
  // The chain budget counts down in jit_left_ (host register r15 while native code runs, stored
  // at every return and before calls that read it): jit_limit_ - jit_left_ instructions of
  // chained blocks are completed and not yet retired; chaining stops before it reaches 0.
  uint64_t jit_left_ = 0;
  uint64_t jit_committed_ = 0; // instructions already retired into instret by a fallback call
  uint64_t jit_limit_ = 0;
  uint64_t jit_retired() const { return jit_limit_ - jit_left_; }
  // The bus's DMA generation the per-block check expects (the dispatcher's, or ~0 after an
  // out-of-line call went on with the block: the next check then looks at everything).
  uint64_t jit_check_generation_ = 0;
  uint64_t jit_region_pc_ = 0; // virtual pc of the entry block of the native unit running
  // Per load/store site of native code, the soft-TLB index it used last (docs/jit.md, "Loads and
  // stores"): only a hint, checked against the address, so sites may share a slot.
  static constexpr unsigned kJitHints = 4096;
  uint32_t jit_hints_[kJitHints] = {};
  // Wrong hints (another page's entry) a site may still take before it is rewritten to index by
  // the address (set when a site gets the slot): a random access over many pages mispredicts.
  uint16_t jit_hint_budgets_[kJitHints] = {};
  // Per load site through a loaded pointer, the soft-TLB addend it used last (docs/jit.md):
  // a prediction, compared with the address's own entry before the access, so sites may share.
  static constexpr unsigned kJitAddends = 1024;
  uint64_t jit_addends_[kJitAddends] = {};
  // Wrong predictions a site may still make before it is rewritten to look its addend up
  // directly (set when a site gets the slot).
  uint16_t jit_addend_budgets_[kJitAddends] = {};
  uint64_t jit_rewritten_sites_ = 0;
  Block* jit_block_ = nullptr; // the block native code is in (or last ran)
  // An unlinked direct exit asked to be linked to whatever block runs next (docs/jit.md): the
  // block's address | which of its exits (0 or 1: blocks are 16-byte aligned), one store of
  // native code; 0 for none. And the translation epoch when native code returned (the request is void
  // once it changed: the block may have been dropped).
  uintptr_t jit_link_request_ = 0;
  uint64_t jit_link_epoch_ = 0;
};

} // namespace nimbus::machine
