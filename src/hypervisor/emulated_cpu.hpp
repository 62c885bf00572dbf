#pragma once
// emulate mode's vCPU: a machine::Hart on the VM's bus running the guest kernel in S-mode, with
// the VMM playing its M-mode (DESIGN.md, "three ways to run a guest"). Everything the spec lets
// M-mode delegate goes to the guest's S-mode, Sstc gives the guest its own timer comparator, and
// VMM exits hand over whatever is still bound for M-mode: an ECALL from S-mode is an SBI call;
// any other such trap means the guest broke something only firmware could fix, and ends its VM.
#include <cstdint>
#include <string>

#include "hypervisor/guest_cpu.hpp"
#include "machine/hart.hpp"

namespace nimbus::hypervisor {

class EmulatedCpu final : public GuestCpu {
public:
  EmulatedCpu(unsigned index, machine::Bus& bus, machine::Clock& clock, machine::ReservationSet& reservations);

  CpuExit run(uint64_t budget) override;
  uint64_t reg(unsigned index) const override { return hart_.x(index); }
  void set_reg(unsigned index, uint64_t value) override { hart_.set_x(index, value); }
  uint64_t pc() const override { return hart_.pc(); }
  void advance_pc(unsigned bytes) override { hart_.set_pc(hart_.pc() + bytes); }
  void start(uint64_t pc, uint64_t a1) override;
  bool power_on_in_machine_mode(uint64_t reset_pc) override;
  void stop() override { running_ = false; }
  bool running() const override { return running_; }
  void set_timer(uint64_t deadline) override;
  void raise_software_interrupt() override;
  void flush_guest_tlb() override;
  void flush_guest_code() override;
  bool tracks_dirty_pages() const override { return true; }
  void flush_write_translations() override { hart_.flush_store_translations(); }
  machine::InterruptPins& pins() override { return hart_.pins(); }
  bool waiting() const override { return running_ && hart_.waiting(); }
  uint64_t timer_deadline() const override { return hart_.timer_deadline(); }
  uint64_t instret() const override { return hart_.instret(); }
  std::string describe() const override;
  void attach_counters(VmCounters& counters) override { counters_ = &counters; }
  machine::Hart* debug_hart() override { return &hart_; }
  void set_jit(bool on, uint32_t hot_threshold) override { hart_.set_jit(on, hot_threshold); }

  void save_state(machine::snapshot::Writer& out) const override;
  void restore_state(machine::snapshot::Reader& in) override;

  // The hart itself, for tests.
  machine::Hart& hart() { return hart_; }

private:
  // A trap handler that faults on its own first instruction traps to itself forever without
  // ever leaving S-mode (a garbage kernel, or a guest that zeroed stvec): the guest is dead.
  bool in_trap_loop() const;
  void count_exit(ExitReason reason) {
    if (counters_ != nullptr) counters_->count_exit(reason);
  }

  unsigned index_;
  machine::Hart hart_;
  bool running_ = false;
  bool own_firmware_ = false; // the guest has its own M-mode (no VMM exits)
  VmCounters* counters_ = nullptr;
};

} // namespace nimbus::hypervisor
