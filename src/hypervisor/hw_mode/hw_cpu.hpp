#pragma once
// hw mode: a vCPU that runs the guest in VS/VU-mode on a hart with the H extension.
//
// The VMM plays M- and HS-mode (Hart::set_vmm_exits / set_vmm_exits_hs): the guest's own traps
// and interrupts are delegated to VS through hedeleg/hideleg and never leave the hart; what
// reaches the VMM is what must — SBI calls (ECALL from VS), G-stage faults (the first touch of a
// RAM page, filled here with a megapage of the VM's frames; device pages, emulated here on the
// VM's device bus), and virtual-instruction exceptions. The hart addresses machine memory; the
// G-stage table, built only from this VM's frames, is what keeps the guest inside its RAM.
#include <cstdint>
#include <memory>
#include <string>

#include "hypervisor/guest_cpu.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/hw_mode/g_stage_table.hpp"
#include "hypervisor/mmio_access.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"

namespace nimbus::hypervisor {

// What the vCPUs of one hw-mode VM share.
struct HwVmContext {
  GuestMemory& ram;
  machine::Bus& machine_bus;   // all of machine memory, at machine_base
  uint64_t machine_base;
  machine::Bus& devices;       // the VM's guest-physical bus (its RAM view and its devices)
  machine::Clock& clock;
  machine::ReservationSet& reservations;
  GStageTable& g_stage;
  uint16_t vmid;
};

class HwCpu final : public GuestCpu {
public:
  HwCpu(unsigned id, HwVmContext& vm);

  CpuExit run(uint64_t budget) override;
  uint64_t reg(unsigned index) const override { return hart_.x(index); }
  void set_reg(unsigned index, uint64_t value) override { hart_.set_x(index, value); }
  uint64_t pc() const override { return hart_.pc(); }
  void advance_pc(unsigned bytes) override { hart_.set_pc(hart_.pc() + bytes); }
  void start(uint64_t pc, uint64_t a1) override;
  void stop() override { running_ = false; }
  bool running() const override { return running_; }
  void set_timer(uint64_t deadline) override;
  void raise_software_interrupt() override;
  void flush_guest_tlb() override;
  void flush_guest_code() override { hart_.flush_caches(); }
  machine::InterruptPins& pins() override { return pins_; }
  bool waiting() const override;
  uint64_t timer_deadline() const override;
  uint64_t instret() const override { return hart_.instret(); }
  std::string describe() const override;
  void attach_counters(VmCounters& counters) override { counters_ = &counters; }
  void set_jit(bool on, uint32_t hot_threshold) override { hart_.set_jit(on, hot_threshold); }
  // Live migration: while the log is on, RAM is mapped in 4 KiB G-stage pages, writable only
  // after a store (or implicit VS-stage A/D write) fault that marks the page;
  // flush_write_translations write-protects the VM's G-stage table and flushes this hart.
  bool tracks_dirty_pages() const override { return true; }
  void flush_write_translations() override;

  // Snapshots: the hart (VS and H CSRs included) and the VM-level interrupt pins. The G-stage
  // table is not saved: restore points hgatp at this VM's (empty) table, which G-stage faults
  // fill again as the guest touches its RAM.
  void save_state(machine::snapshot::Writer& out) const override;
  void restore_state(machine::snapshot::Reader& in) override;

  machine::Hart& hart() { return hart_; }
  // The hart runs the guest in VS/VU-mode, so its registers, VS CSRs (seen as the S CSRs with
  // V=1) and two-stage translation are the guest's own view.
  machine::Hart* debug_hart() override { return &hart_; }

private:
  enum class Handled { resume, sbi_call, fatal };
  void configure();
  void update_interrupts();
  bool in_trap_loop() const;
  void propagate_dma();
  Handled handle(const machine::Hart::TrapExit& exit, std::string& reason);
  Handled guest_page_fault(const machine::Hart::TrapExit& exit, std::string& reason);
  Handled map_logged_page(const machine::Hart::TrapExit& exit, uint64_t gpa, std::string& reason);
  Handled emulate_mmio(const machine::Hart::TrapExit& exit, uint64_t gpa, std::string& reason);
  // Delivers an exception to the guest kernel as if its hart had raised it (VS trap entry).
  void inject_guest_exception(uint64_t cause, uint64_t tval);
  void count(ExitReason reason) {
    if (counters_) counters_->count_exit(reason);
  }

  unsigned id_;
  HwVmContext& vm_;
  machine::Hart hart_;
  machine::InterruptPins pins_;
  VmCounters* counters_ = nullptr;
  bool running_ = false;
  uint64_t sbi_deadline_ = ~uint64_t{0};
  uint64_t dma_seen_ = 0;
};

} // namespace nimbus::hypervisor
