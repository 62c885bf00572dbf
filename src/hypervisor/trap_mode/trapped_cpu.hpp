#pragma once
// Trap-and-emulate vCPU: the unmodified guest kernel runs in the hart's U-mode over shadow page
// tables; everything privileged traps to this class (Hart::set_vmm_exits, nothing delegated).
//   - privileged instructions (S-CSR access, SRET, WFI, SFENCE.VMA) are emulated from the
//     trapped instruction on the virtual supervisor state;
//   - shadow misses walk the guest's tables and fill the shadow, or become virtual page faults;
//   - accesses to guest-physical addresses that are not RAM are emulated on the VM's device bus;
//   - guest exceptions of either virtual privilege, and virtual interrupts (timer, IPI, PLIC),
//     are delivered through the guest's stvec;
//   - ECALL from the guest kernel is handed to the core as an SBI call, except the Nimbus PV
//     extension (pv_abi.hpp), which this class answers itself: a guest kernel that shares its
//     supervisor CSRs in a page and returns from traps with a hypercall (trapped_cpu_pv.cpp).
// The hart runs on a bus over all of machine memory; only the shadow tables (filled with this
// VM's frames alone) give it reach.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hypervisor/guest_cpu.hpp"
#include "hypervisor/guest_cpu_factory.hpp"
#include "hypervisor/trap_mode/guest_page_walk.hpp"
#include "hypervisor/trap_mode/pv_abi.hpp"
#include "hypervisor/machine_memory.hpp"
#include "hypervisor/trap_mode/shadow_page_tables.hpp"
#include "hypervisor/trap_mode/shadow_table_pages.hpp"
#include "hypervisor/trap_mode/trap_mode_context.hpp"
#include "hypervisor/trap_mode/virtual_supervisor.hpp"
#include "machine/hart.hpp"
#include "riscv/decoded_instruction.hpp"

namespace nimbus::hypervisor {

// Events of one trap-mode vCPU beyond the VM counters (for tests, describe() and reports).
struct TrapModeStats {
  uint64_t exits = 0;               // hart exits handled
  uint64_t virtual_traps = 0;       // exceptions delivered to the guest kernel
  uint64_t virtual_interrupts = 0;  // interrupts delivered to the guest kernel
  uint64_t shadow_fills = 0;
  uint64_t virtual_page_faults = 0; // guest-visible page faults (no valid guest mapping)
  uint64_t mmio = 0;
  uint64_t emulated = 0;            // privileged instructions emulated
  uint64_t shadow_resets = 0;       // every shadow dropped at the table limit
  uint64_t pv_calls = 0;            // Nimbus PV hypercalls (probe included) answered here
};

class TrappedCpu final : public GuestCpu {
public:
  explicit TrappedCpu(const TrapModeContext& context);
  ~TrappedCpu() override;

  CpuExit run(uint64_t budget) override;
  uint64_t reg(unsigned index) const override { return hart_.x(index); }
  void set_reg(unsigned index, uint64_t value) override { hart_.set_x(index, value); }
  uint64_t pc() const override { return hart_.pc(); }
  void advance_pc(unsigned bytes) override { hart_.set_pc(hart_.pc() + bytes); }
  void start(uint64_t pc, uint64_t a1) override;
  void stop() override { running_ = false; }
  bool running() const override { return running_; }
  void set_timer(uint64_t deadline) override { timer_deadline_.store(deadline, std::memory_order_release); }
  void raise_software_interrupt() override {
    soft_pending_.fetch_or(riscv::csr::irq::kSsip, std::memory_order_acq_rel);
  }
  void flush_guest_tlb() override { flush_requested_.store(true, std::memory_order_release); }
  void flush_guest_code() override {
    code_flush_requested_.store(true, std::memory_order_release);
    flush_guest_tlb();
  }
  machine::InterruptPins& pins() override { return pins_; }
  bool waiting() const override;
  uint64_t timer_deadline() const override { return timer_deadline_.load(std::memory_order_acquire); }
  uint64_t instret() const override { return hart_.instret(); }
  std::string describe() const override;
  void attach_counters(VmCounters& counters) override { counters_ = &counters; }
  void set_jit(bool on, uint32_t hot_threshold) override { hart_.set_jit(on, hot_threshold); }
  // Live migration: shadow leaves are writable only after a store fault, which marks the page
  // while the log is on; flush_write_translations clears W in every shadow leaf.
  bool tracks_dirty_pages() const override { return true; }
  void flush_write_translations() override;

  // Snapshots: the hart (always in U-mode), the virtual supervisor state, the SBI timer, the
  // pending software interrupt and the interrupt pins. Shadow page tables are not saved: a
  // restored vCPU starts with empty shadows of the saved guest satp, which shadow misses fill
  // again (their leaves point at machine frames, which differ in the new VM).
  void save_state(machine::snapshot::Writer& out) const override;
  void restore_state(machine::snapshot::Reader& in) override;

  // For tests and reports.
  const TrapModeStats& stats() const { return stats_; }
  const VirtualSupervisor& supervisor_state() const { return vs_; }
  const ShadowPageTables& shadows() const { return shadows_; }
  // The guest-physical page this vCPU shares with its guest kernel (nullopt: none).
  std::optional<uint64_t> pv_shared_page() const {
    return pv_page_ == kNoPvPage ? std::nullopt : std::optional<uint64_t>(pv_page_);
  }
  machine::Hart& hart() { return hart_; }

private:
  enum class Step : uint8_t { resume, sbi_call, wait, fatal };

  // Exit handling (trapped_cpu.cpp).
  Step handle_exit(const machine::Hart::TrapExit& exit);
  Step handle_page_fault(uint64_t cause, uint64_t va);
  void deliver_trap(uint64_t cause, uint64_t tval, bool interrupt, uint64_t epc);
  bool deliver_pending_interrupt();
  uint64_t pending_interrupts() const;
  // Points the hart at the shadow root of the current address space and virtual privilege.
  bool enter_root();
  void sync_device_dma();

  // Privileged instructions (trapped_cpu_privileged.cpp).
  Step emulate_privileged(uint32_t bits, uint64_t pc);
  bool csr_read(uint16_t number, uint64_t& value);
  bool csr_write(uint16_t number, uint64_t value);
  void write_sstatus(uint64_t value);
  void write_satp(uint64_t value);
  void sfence(uint64_t rs1_value, bool has_address, uint64_t rs2_value, bool has_asid);
  void do_sret();

  // Nimbus PV interface (trapped_cpu_pv.cpp).
  static constexpr uint64_t kNoPvPage = ~uint64_t{0};
  bool pv_active() const { return pv_page_ != kNoPvPage; }
  // An ECALL of the guest kernel that is a PV hypercall or the probe for it: answered here.
  bool pv_ecall();
  int64_t pv_set_shared_page(uint64_t gpa);
  int64_t pv_set_satp(uint64_t satp, uint64_t flags);
  int64_t pv_mmu_batch(uint64_t list, uint64_t count, uint64_t& done);
  // The page's CSRs: written before each hart run, read back (and applied) after it.
  void pv_push();
  void pv_pull();
  Step pv_map_shared_page(uint64_t va, GuestAccess access);

  // MMIO (trapped_cpu_mmio.cpp).
  Step emulate_mmio(uint64_t va, uint64_t gpa, GuestAccess access);

  void count(ExitReason reason) { counters_->count_exit(reason); }
  uint64_t hart_fs() const;

  TrapModeContext ctx_;
  MachineMemory machine_ram_;
  machine::Bus machine_bus_;
  machine::ReservationSet own_reservations_;
  machine::ReservationSet& reservations_;
  machine::Hart hart_;
  ShadowTablePages table_pages_;
  ShadowPageTables shadows_;
  VirtualSupervisor vs_;
  machine::InterruptPins pins_;
  VmCounters own_counters_;
  VmCounters* counters_ = &own_counters_;
  TrapModeStats stats_;
  bool running_ = false;
  bool waiting_ = false;
  uint64_t hart_satp_ = ~uint64_t{0};    // what the hart's satp holds now
  uint64_t resets_seen_ = 0;
  uint64_t releases_seen_ = 0;           // shadows_.tables_released() when the hart last dropped its translations
  uint64_t device_dma_seen_ = 0;
  uint64_t pv_page_ = kNoPvPage;   // guest-physical shared page
  pv::SharedCsrs pv_pushed_{};     // what the page's CSR block held after the last push
  bool pv_page_stale_ = true;      // the page's CSR block is not known to hold pv_pushed_
  std::atomic<uint64_t> timer_deadline_{~uint64_t{0}};
  std::atomic<uint64_t> soft_pending_{0};  // SSIP (guest sip writes and IPIs)
  std::atomic<bool> flush_requested_{false};
  std::atomic<bool> code_flush_requested_{false};
  std::string fatal_reason_;
  // The first exception delivered to the guest while no earlier one is outstanding (forgotten at
  // the guest's sret): the fault the failure report names (as Hart::first_fault in the other
  // modes; here the VMM delivers the traps and emulates sret, so it keeps the record itself).
  std::optional<machine::Hart::FaultRecord> first_fault_;
  void note_fault(uint64_t cause, uint64_t tval, uint64_t epc);
};

std::unique_ptr<GuestCpu> make_trapped_cpu(const TrapModeContext& context);
// The factory of mode `trap` for Vm (guest_cpu_factory.hpp).
std::unique_ptr<GuestCpu> make_trapped_cpu(const GuestCpuContext& context);

} // namespace nimbus::hypervisor
