#pragma once
// One virtual hart of a VM as the VMM core sees it, whatever the virtualization mode.
//
// The core (Vm, the SBI implementation, the scheduler glue) only ever talks to this interface;
// each mode implements it over a machine::Hart in its own way:
//   emulate — the hart runs the guest kernel in S-mode on the VM's bus; the VMM is its M-mode
//             (Hart::set_vmm_exits), so only SBI calls and fatal traps come out.
//   trap    — the hart runs the guest kernel in U-mode over shadow page tables; privileged
//             instructions, shadow misses and MMIO are handled inside the mode's GuestCpu.
//   hw      — the hart runs the guest in VS-mode with G-stage tables built by the VMM.
// As with KVM_RUN, run() returns an exit; everything a mode can resolve by itself (shadow fills,
// emulated CSR accesses, MMIO to the VM's devices) stays inside run() and is only counted.
#include <cstdint>
#include <string>
#include <stdexcept>

#include "hypervisor/vm_counters.hpp"
#include "machine/interrupt_pins.hpp"

namespace nimbus::machine {
class Hart;
}
#include "machine/snapshot_format.hpp"

namespace nimbus::hypervisor {

class SnapshotUnsupported : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct CpuExit {
  enum class Kind {
    budget,    // the instruction budget ran out; still runnable
    wait,      // WFI with nothing pending: block until an interrupt or timer_deadline()
    sbi_call,  // ECALL from the guest kernel: registers a0-a7 hold the call; the core handles it
               // (sets a0/a1, then advance_pc(4)) and runs the vCPU again
    stopped,   // the vCPU is not running (HSM stopped, or never started)
    fatal,     // the guest did something the VMM cannot continue from (reason says what);
               // only this VM stops
  };
  Kind kind = Kind::budget;
  uint64_t instructions = 0; // retired during this run()
  std::string reason;        // for fatal
};

class GuestCpu {
public:
  virtual ~GuestCpu() = default;

  // Runs the guest for about `budget` instructions (stopping early at an exit).
  virtual CpuExit run(uint64_t budget) = 0;

  // Guest general registers and pc as the guest kernel sees them (for SBI calls).
  virtual uint64_t reg(unsigned index) const = 0;
  virtual void set_reg(unsigned index, uint64_t value) = 0;
  virtual uint64_t pc() const = 0;
  virtual void advance_pc(unsigned bytes) = 0;

  // HSM: start in guest S-mode at `pc` with a0 = hart id, a1 = opaque, MMU off, interrupts off.
  virtual void start(uint64_t pc, uint64_t a1) = 0;
  // The VM brings its own M-mode firmware (VmConfig::bios other than "vmm"): power the hart on
  // in M-mode at `reset_pc` as the bare machine does, with no SBI exits to the VMM. Returns false
  // for a mode that cannot run guest M-mode (only emulate can).
  virtual bool power_on_in_machine_mode(uint64_t reset_pc) {
    (void)reset_pc;
    return false;
  }
  // HSM: stop (hart_stop); run() returns stopped until start() again.
  virtual void stop() = 0;
  virtual bool running() const = 0;

  // SBI TIME: raise the guest's supervisor timer interrupt once the VM clock reaches
  // `deadline` (mtime ticks); setting a new deadline clears a pending one.
  virtual void set_timer(uint64_t deadline) = 0;
  // SBI IPI: make the guest's supervisor software interrupt pending (wakes WFI).
  virtual void raise_software_interrupt() = 0;
  // SBI RFENCE: drop the guest's cached translations (all of them: a superset is allowed).
  virtual void flush_guest_tlb() = 0;
  // SBI RFENCE remote_fence_i: drop decoded guest code too (another vCPU rewrote it). The
  // default is enough for a mode that decodes nothing of its own beyond the TLB.
  virtual void flush_guest_code() { flush_guest_tlb(); }
  // Live migration: whether every guest write to RAM reaches the VM's dirty log while it is on
  // (GuestMemory::dirty_log). emulate: its harts write through the VM's bus (soft-TLB store
  // entries and slow paths mark it). trap and hw: their harts write machine frames through
  // shadow or G-stage leaves, which are mapped writable only by a write fault that marks the
  // page while the log is on.
  virtual bool tracks_dirty_pages() const { return false; }
  // Drops every cached write permission (soft-TLB store entries; in trap and hw mode also the W
  // bit of every shadow or G-stage leaf), so the next store to each page faults or goes slow
  // and marks the log. Called at the start of logging and at every take, at a round boundary.
  virtual void flush_write_translations() {}

  // The pins the VM's PLIC drives (its supervisor-context external interrupt line).
  virtual machine::InterruptPins& pins() = 0;

  // True in WFI with nothing pending; timer_deadline() then says when to run it again
  // (UINT64_MAX: only an interrupt can wake it).
  virtual bool waiting() const = 0;
  virtual uint64_t timer_deadline() const = 0;
  virtual uint64_t instret() const = 0;

  // Where the vCPU is, for logs and fatal-exit messages ("pc=... S-mode").
  virtual std::string describe() const = 0;

  // Snapshots (docs/migration.md): the vCPU's whole state between run() calls. A mode that
  // cannot snapshot yet throws SnapshotUnsupported saying so; restore throws
  // machine::snapshot::FormatError for a payload that does not fit.
  virtual void save_state(machine::snapshot::Writer& out) const {
    (void)out;
    throw SnapshotUnsupported("snapshots are not supported in this mode");
  }
  virtual void restore_state(machine::snapshot::Reader& in) {
    (void)in;
    throw SnapshotUnsupported("restoring a snapshot is not supported in this mode");
  }

  // The hart that holds this vCPU's architectural state as the guest sees it, for the gdb stub
  // (machine/gdb); nullptr for a mode whose hart does not (trap: the hart runs the guest kernel
  // in U-mode over shadow tables).
  virtual machine::Hart* debug_hart() { return nullptr; }

  // Per-VM counters this vCPU adds to (exits by reason, emulated instructions, faults...).
  virtual void attach_counters(VmCounters& counters) = 0;

  // The JIT tier (docs/jit.md) for the hart that runs the guest: on translates its hot blocks to
  // host code, after `hot_threshold` interpreted runs. A vCPU without a hart ignores it.
  virtual void set_jit(bool on, uint32_t hot_threshold) {
    (void)on;
    (void)hot_threshold;
  }
};

} // namespace nimbus::hypervisor
