#pragma once
// One RV64IMAFDC hart with M/S/U privilege, Sv39/48/57, PMP and Sstc.
//
// Execution: the pc is translated through the fetch soft TLB, the physical address selects a
// decoded basic block (decoded once, cached), and the block's ops run direct-threaded: each
// handler does one instruction and returns the next op. Interrupts, timers, DMA invalidation and
// exit requests are checked between blocks.
#include <cstdint>
#include <memory>
#include <optional>

#include "machine/block_cache.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart_privilege.hpp"
#include "machine/hart_reservation_set.hpp"
#include "machine/interrupt_pins.hpp"
#include "machine/pmp.hpp"
#include "machine/tlb.hpp"
#include "riscv/decoded_instruction.hpp"
#include "riscv/trap_cause.hpp"

namespace nimbus::machine {

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
    uint64_t tval = 0;  // what mtval would have received
    uint64_t pc = 0;
    bool interrupt = false;
  };
  void set_vmm_exits(bool on) { vmm_exits_ = on; }
  bool vmm_exits() const { return vmm_exits_; }
  std::optional<TrapExit> take_exit() {
    std::optional<TrapExit> e = pending_exit_;
    pending_exit_.reset();
    return e;
  }
  // Reads the 16- or 32-bit instruction at virtual address `pc` as an instruction fetch at the
  // current privilege would (translation, PMP, no side effects on A bits of the guest beyond a
  // normal fetch). False if it cannot be fetched. For VMMs that emulate a trapped instruction.
  bool fetch_instruction(uint64_t pc, uint32_t& bits);
  // Drops cached translations only (SFENCE.VMA on behalf of another hart: SBI RFENCE, shadow
  // page-table changes).
  void flush_translations() { flush_tlb(); }
  // For a VMM that keeps the hart in U-mode and switches it between shadow roots (trap mode):
  // sets satp and drops only U-mode translations, the only ones such a hart holds (a third of a
  // full flush, which dominated every guest system call).
  void switch_user_satp(uint64_t satp) {
    satp_ = satp;
    for (const Access access : {Access::Fetch, Access::Load, Access::Store})
      tlb_.flush_context(SoftTlb::context_of(Privilege::User), access);
    break_chains();
  }
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
  // Drops all decoded code and translations (e.g. after a loader rewrote memory).
  void flush_caches();
  size_t decoded_blocks() const { return blocks_.size(); }

  struct Exec; // instruction handlers (hart_execute.cpp)
  friend struct Exec;

private:
  static constexpr unsigned kDiscardRegister = 32; // rd = x0 writes land here
  static constexpr unsigned kMaxBlockInstructions = 64;
  static constexpr uint64_t kTimerPollInterval = 4096; // instructions between Sstc checks

  // ---- execution (hart.cpp)
  Block* fetch_block();
  Block* build_block(uint64_t paddr, const uint8_t* host);
  Block* build_page_crossing_block(uint64_t paddr_low);
  static BlockOp make_op(const riscv::DecodedInstruction& d, uint16_t index, uint16_t offset);
  void finish_block(Block& block, uint16_t offset, uint16_t index);
  void retire(uint64_t count);

  // Translation or decoded code changed: remembered block successors are no longer valid.
  void break_chains() { ++chain_epoch_; }
  void flush_tlb() {
    tlb_.flush();
    break_chains();
  }

  // ---- traps (trap.cpp)
  // Raises a synchronous exception at `op` inside the running block; returns nullptr for the handler.
  const BlockOp* raise(const BlockOp* op, riscv::Exception cause, uint64_t tval);
  void take_trap(uint64_t cause, uint64_t tval, bool interrupt);
  bool take_pending_interrupt();
  uint64_t pending_interrupts() const;
  void poll_timer();
  uint64_t sstc_level() const; // STIP as the Sstc comparator drives it now
  void do_mret();
  void do_sret();
  void set_priv(Privilege p);

  // ---- CSRs (csr_file.cpp)
  bool csr_read(uint16_t number, uint64_t& value) const;
  bool csr_write(uint16_t number, uint64_t value);
  bool csr_accessible(uint16_t number, bool writing) const;
  bool counter_accessible(unsigned counter) const;
  uint64_t read_mstatus() const;
  void write_mstatus(uint64_t value);
  void update_data_context();

  // ---- memory (mmu.cpp)
  std::optional<riscv::Exception> translate(uint64_t vaddr, Access access, Privilege privilege, uint64_t& paddr);
  // Translates and checks PMP for a data access of `size` bytes inside one page; may fill the TLB.
  std::optional<riscv::Exception> translate_data(uint64_t vaddr, unsigned size, Access access, uint64_t& paddr);
  bool load_slow(uint64_t vaddr, unsigned size, uint64_t& value, const BlockOp* op);
  bool store_slow(uint64_t vaddr, unsigned size, uint64_t value, const BlockOp* op);
  bool read_physical(uint64_t paddr, unsigned size, uint64_t& value);
  bool write_physical(uint64_t paddr, unsigned size, uint64_t value);
  void install_tlb(TlbEntry& entry, uint64_t vaddr, uint64_t paddr, Access access, Privilege privilege);
  Privilege data_privilege() const;

  // Hot state first.
  uint64_t x_[33] = {};
  uint64_t pc_ = 0;
  uint64_t block_pc_ = 0;       // virtual pc of the running block's first instruction
  uint64_t block_retired_ = 0;  // instructions the running block retires (cut short by a trap)
  unsigned data_context_ = 2;   // TLB context for loads/stores (effective privilege)
  Privilege priv_ = Privilege::Machine;
  bool exit_requested_ = false;
  bool waiting_ = false;
  bool code_modified_ = false;  // a store hit decoded code: end the block after it
  bool vmm_exits_ = false;
  std::optional<TrapExit> pending_exit_;
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
  uint64_t instret_ = 0, cycle_ = 0;
  // While a CSR instruction executes: instructions of its block retired before it (read bias)
  // and including it (write bias), so counters read and write exactly. Zero otherwise.
  uint64_t csr_read_bias_ = 0, csr_write_bias_ = 0;
  uint64_t next_timer_poll_ = 0;
  uint64_t chain_epoch_ = 1;
  uint64_t dma_generation_seen_ = 0;
  Pmp pmp_;

  unsigned id_;
  Bus& bus_;
  Clock& clock_;
  ReservationSet& reservations_;
  InterruptPins pins_;
  BlockCache blocks_;
  std::unique_ptr<Block> scratch_block_; // an instruction straddling two pages (never cached)
};

} // namespace nimbus::machine
